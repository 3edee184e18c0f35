# SPDX-License-Identifier: MIT
"""Entry point of `python -m llm_worker`."""

import sys

from llm_worker.worker import main

if __name__ == "__main__":
    sys.exit(main())
