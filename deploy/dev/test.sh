#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (deploy/dev/setup.sh), then runs every test suite through
# `meson test`, the C and integration suites once more under ASan+UBSan, and
# ends with one "N passed, N failed, N skipped" line. Arguments go to
# `meson test` (e.g. --suite unit).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
"$top/deploy/dev/setup.sh"

rc=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || rc=$?

# Once more under ASan+UBSan (STYLE.md): the C suites and the integration
# suite, whose kernels then abort on memory errors and fail on leaks at exit.
if [ ! -f build-asan/build.ninja ]; then
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
		-Ddefault_python="$top/.venv/bin/python" >/dev/null
fi
meson compile -C build-asan >/dev/null
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --num-processes 2 \
	--suite unit --suite fuzz --suite integration "$@" || rc=$?

# meson's own summary is not a line CI reads; give the plain one, counting
# individual test cases of both runs.
"$top/.venv/bin/python" "$top/tests/tools/summary.py" \
	"$top/build/meson-logs/testlog.json" "$top/build-asan/meson-logs/testlog.json"
exit $rc
