# SPDX-License-Identifier: MIT
"""Untrusted code that tries what untrusted code tries: read a host secret
(directly and through the kernel), open a network connection (to a listener
the demo opened on this machine's loopback — never off the machine), and
fork without end (bounded at 200 children, each of which only sleeps and
exits). Every attempt is harmless if it succeeds; the demo shows that each
one is denied. Prints one JSON line of outcomes."""
import json
import os
import socket
import sys
import time

from clove_sdk import CloveClient, CloveError

port = int(sys.argv[2])
outcome = {}

try:
    with open("/etc/shadow") as f:
        f.read(1)
    outcome["read /etc/shadow"] = "READ IT"
except OSError as e:
    outcome["read /etc/shadow"] = f"denied ({e.strerror})"

try:
    with CloveClient() as client:
        client.read_file("/etc/shadow")
    outcome["READ syscall of /etc/shadow"] = "READ IT"
except CloveError as e:
    outcome["READ syscall of /etc/shadow"] = f"denied ({e.code})"

try:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.close()
    outcome["connect to the host's loopback"] = "CONNECTED"
except OSError as e:
    outcome["connect to the host's loopback"] = f"denied ({e.strerror})"

children, error = 0, None
for _ in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        error = e.strerror
        break
    if pid == 0:
        time.sleep(2)
        os._exit(0)
    children += 1
outcome["fork bomb"] = (f"stopped after {children} processes ({error})" if error
                        else f"FORKED {children}")
print(json.dumps(outcome), flush=True)
for _ in range(children):
    os.wait()
time.sleep(3600)
