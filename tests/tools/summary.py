# SPDX-License-Identifier: MIT
"""Reads meson's testlog.json and prints one closing line counting individual
test cases: TAP lines of the cmocka and fuzz suites, pytest's own summary of
the Python suites. A suite that crashed before reporting counts as one failure.
Usage: summary.py TESTLOG.json [TESTLOG.json ...]"""
import json
import re
import sys

PYTEST = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed)\b")


def count(entry):
    passed = failed = skipped = 0
    out = entry.get("stdout") or ""
    tap = [line for line in out.splitlines() if re.match(r"(not )?ok \d+", line)]
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if tap:
        for line in tap:
            if line.startswith("not ok"):
                failed += 1
            elif "# SKIP" in line.upper():
                skipped += 1
            else:
                passed += 1
    elif PYTEST.search(last):
        for n, word in PYTEST.findall(last):
            n = int(n)
            if word in ("passed", "xfailed"):
                passed += n
            elif word == "skipped":
                skipped += n
            else:
                failed += n
    elif entry["result"] == "SKIP":
        skipped = 1
    elif entry["result"] in ("OK", "EXPECTEDFAIL"):
        passed = 1
    if entry["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and failed == 0:
        failed = 1  # crashed or timed out before saying what failed
    return passed, failed, skipped


def main(paths):
    totals = [0, 0, 0]
    for path in paths:
        with open(path) as f:
            for line in f:
                for i, n in enumerate(count(json.loads(line))):
                    totals[i] += n
    print("%d passed, %d failed, %d skipped" % tuple(totals))


if __name__ == "__main__":
    main(sys.argv[1:])
