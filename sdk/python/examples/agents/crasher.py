# SPDX-License-Identifier: MIT
"""An agent with a bug: it works for a moment, then dies with an exception.
Spawned with restart_policy "on-failure", the kernel restarts it with
backoff until its restart budget is spent, then marks it failed."""
import time

from clove_sdk import CloveClient

with CloveClient() as client:
    print(f"crasher: agent {client.hello()['agent_id']} starting work", flush=True)
    time.sleep(0.3)
    raise RuntimeError("simulated bug: the agent crashed")
