#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (deploy/dev/setup.sh), then runs the demo: a kernel on a temporary
# socket and a handful of agents showing restart, pause/resume and kill.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
"$top/deploy/dev/setup.sh"
exec "$top/.venv/bin/python" "$top/sdk/python/examples/demo.py" "$@"
