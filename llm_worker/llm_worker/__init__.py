# SPDX-License-Identifier: MIT
"""llm_worker: the process cloved starts to call LLM providers. It reads
`think` and `cancel` frames on stdin and answers `ready`, `chunk` and
`result` frames on stdout, as docs/llm.md describes (protocol version 1)."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
