# SPDX-License-Identifier: MIT
"""An agent stuck in an infinite loop. With a CPU quota of 20% the kernel
throttles it there; its neighbours keep their share of the machine."""
print("spinner: looping forever", flush=True)
n = 0
while True:
    n += 1
