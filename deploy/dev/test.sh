#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (deploy/dev/setup.sh), then runs every test suite through
# `meson test`, and ends with one "N passed, N failed, N skipped" line.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
"$top/deploy/dev/setup.sh"

rc=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || rc=$?

# meson's own summary is not a line CI reads; give the plain one too.
"$top/.venv/bin/python" - "$top/build/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "ERROR": 0, "EXPECTEDFAIL": 0, "UNEXPECTEDPASS": 0}
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        counts[r["result"]] = counts.get(r["result"], 0) + 1
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["ERROR"] + counts["UNEXPECTEDPASS"]
print(f"{counts['OK'] + counts['EXPECTEDFAIL']} passed, {failed} failed, {counts['SKIP']} skipped")
PY
exit $rc
