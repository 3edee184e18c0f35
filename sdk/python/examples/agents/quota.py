# SPDX-License-Identifier: MIT
"""An agent allowed three LLM calls (its policy's llm.max_calls): it tries
five and logs what each attempt got."""
from clove_sdk import CloveClient, CloveError

with CloveClient() as client:
    for i in range(5):
        try:
            client.think(f"question {i}", max_tokens=8)
            print(f"call {i}: ok", flush=True)
        except CloveError as e:
            print(f"call {i}: {e.code}", flush=True)
    print("done", flush=True)
