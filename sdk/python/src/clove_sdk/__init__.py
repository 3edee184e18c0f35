# SPDX-License-Identifier: MIT
"""clove_sdk: the Python client of Clove, the kernel that runs AI agents as
isolated Linux processes. ``CloveClient`` speaks the wire protocol of
docs/protocol.md; inside an agent spawned by the kernel ``CloveClient()``
uses the inherited ``CLOVE_FD`` on its own.

    from clove_sdk import CloveClient
    with CloveClient() as client:
        print(client.exec("uname -a").stdout)
"""

from .client import AgentOSClient, CloveClient
from .errors import CloveConnectionError, CloveError, CloveTimeoutError
from .protocol import HEADER_SIZE, MAGIC, Opcode, opcode_name
from .results import (AgentInfo, AsyncAccepted, AsyncResult, AsyncResults,
                      ExecResult, HelloResult, HttpResult, KillResult,
                      PauseResult, PermissionsResult, ReadResult, Result,
                      ResumeResult, SpawnResult, ThinkResult, WriteResult)
from .llm import ThinkStream
from .transport import default_socket_path

__version__ = "0.1.0"

__all__ = [
    "AgentInfo", "AgentOSClient", "AsyncAccepted", "AsyncResult",
    "AsyncResults", "CloveClient", "CloveConnectionError", "CloveError",
    "CloveTimeoutError", "ExecResult", "HEADER_SIZE", "HelloResult",
    "HttpResult",
    "KillResult", "MAGIC", "Opcode", "PauseResult", "PermissionsResult",
    "ReadResult", "Result",
    "ResumeResult", "SpawnResult", "ThinkResult", "ThinkStream", "WriteResult",
    "__version__",
    "default_socket_path", "opcode_name",
]
