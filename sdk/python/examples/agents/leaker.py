# SPDX-License-Identifier: MIT
"""An agent with a memory leak: it grows by 8 MiB at a time and never frees.
With a memory limit the kernel's OOM killer ends it alone; in a Python
framework it would take the whole process down. Bounded (2 GiB) so that it
stops by itself even on a machine where the limit is not in force."""
import time

hoard = []
for i in range(256):
    hoard.append(bytearray(8 << 20))
    print(f"leaker: holding {8 * (i + 1)} MiB", flush=True)
    time.sleep(0.02)
print("leaker: reached 2 GiB without being stopped", flush=True)
