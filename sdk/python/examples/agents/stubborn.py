# SPDX-License-Identifier: MIT
"""Ignores SIGTERM, as runaway agents do. KILL still ends it: SIGTERM, then
SIGKILL when the grace period is over, without stalling the kernel."""
import signal
import time

signal.signal(signal.SIGTERM, lambda *_: print("stubborn: ignoring SIGTERM", flush=True))
print("stubborn: running", flush=True)
while True:
    time.sleep(0.1)
