# SPDX-License-Identifier: MIT
"""An agent that needs the LLM. `thinker.py light` asks one question at a
time; `thinker.py heavy N` keeps N questions in flight (async THINK, then
ASYNC_POLL) — ten times the demand of a light agent. Each answer is logged
as `answer <tokens>`, so the demo can count what each agent was served."""
import sys
import time

from clove_sdk import CloveClient, CloveError

# argv[1] is the kernel socket (as in the original Clove); ours follow.
mode = sys.argv[2] if len(sys.argv) > 2 else "light"
depth = int(sys.argv[3]) if len(sys.argv) > 3 else 1

with CloveClient() as client:
    me = client.hello()["agent_id"]
    print(f"thinker {mode}: agent {me} up", flush=True)
    if mode == "light":
        while True:
            try:
                r = client.think(f"agent {me}: summarise the news", max_tokens=32)
                print(f"answer {r.tokens['total']}", flush=True)
            except CloveError as e:
                print(f"error {e.code}", flush=True)
                time.sleep(0.2)
    else:
        for _ in range(depth):
            client.think(f"agent {me}: write a long report", max_tokens=32, async_=True)
        while True:
            for res in client.poll_async(max=depth):
                try:
                    print(f"answer {res.result()['tokens']['total']}", flush=True)
                except CloveError as e:
                    print(f"error {e.code}", flush=True)
                client.think(f"agent {me}: write a long report", max_tokens=32, async_=True)
            time.sleep(0.01)
