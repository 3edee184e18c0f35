# SPDX-License-Identifier: MIT
"""A well-behaved agent: every 0.2 s it asks the kernel for a round trip and
logs a heartbeat. The demo checks that its heartbeats never stop while its
neighbours crash, get paused or killed."""
import sys
import time

from clove_sdk import CloveClient

with CloveClient() as client:
    me = client.hello()
    print(f"steady: agent {me['agent_id']} up", flush=True)
    beat = 0
    while True:
        client.echo(b"ping")
        beat += 1
        print(f"heartbeat {beat}", flush=True)
        time.sleep(0.2)
