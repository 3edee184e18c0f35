# SPDX-License-Identifier: MIT
"""Counts ticks into its log, ten a second. The demo pauses it (its count
freezes) and resumes it (the count goes on)."""
import time

n = 0
while True:
    n += 1
    print(f"tick {n}", flush=True)
    time.sleep(0.1)
