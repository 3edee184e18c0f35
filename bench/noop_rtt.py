# SPDX-License-Identifier: MIT
"""NOOP round trips through the Python SDK, for clove-bench.

clove-bench runs this with the project's virtual environment against its
private cloved: one CloveClient, a warm-up, then ``--iterations`` calls of
``echo()``, each timed with ``time.perf_counter_ns``. It prints one JSON
object on stdout: ``{"n", "p50_us", "p99_us", "python_version", "fast_path"}``
(nearest-rank percentiles, as the C side computes them), ``{"skipped": reason}``
when clove_sdk cannot be imported or ``--fast-path`` was asked for and could
not be used, or ``{"error": reason}`` when a call fails. ``--socket-only``
(the default) measures the socket; ``--fast-path`` the shared-memory rings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time


def percentile(sorted_ns: list[int], p: float) -> float:
    rank = max(1, min(len(sorted_ns), math.ceil(p / 100.0 * len(sorted_ns))))
    return sorted_ns[rank - 1] / 1000.0


def import_client(sdk_path: str | None):
    try:
        from clove_sdk import CloveClient
    except ImportError:
        if not sdk_path:
            raise
        # Not installed in this interpreter: try the source tree's copy.
        sys.path.insert(0, sdk_path)
        from clove_sdk import CloveClient
    return CloveClient


class NoFastPath(Exception):
    pass


def measure(client_cls, socket_path: str, iterations: int, warmup: int,
            payload: bytes, fast_path: bool) -> list[int]:
    samples = [0] * iterations
    now = time.perf_counter_ns
    with client_cls(socket_path, fast_path=fast_path) as client:
        if fast_path and not client.fast_path_active:
            raise NoFastPath("the fast path was not attached (LIBCLOVE=%s)"
                             % os.environ.get("LIBCLOVE"))
        for _ in range(warmup):
            client.echo(payload)
        for i in range(iterations):
            t0 = now()
            reply = client.echo(payload)
            samples[i] = now() - t0
            if reply != payload:
                raise RuntimeError(f"echo returned {reply!r}, sent {payload!r}")
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--payload", type=int, default=16)
    ap.add_argument("--sdk-path", default=None)
    ap.add_argument("--fast-path", action="store_true")
    ap.add_argument("--socket-only", dest="fast_path", action="store_false")
    args = ap.parse_args()

    try:
        client_cls = import_client(args.sdk_path)
    except ImportError as e:
        print(json.dumps({"skipped": f"clove_sdk cannot be imported by "
                                     f"{sys.executable}: {e}"}))
        return 0

    payload = (b"clove-bench-noop" * (args.payload // 16 + 1))[:args.payload]
    try:
        samples = measure(client_cls, args.socket, args.iterations,
                          args.warmup, payload, args.fast_path)
    except NoFastPath as e:
        print(json.dumps({"skipped": str(e)}))
        return 0
    except Exception as e:  # reported, not raised: the C side parses stdout
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 1

    samples.sort()
    print(json.dumps({
        "n": len(samples),
        "p50_us": percentile(samples, 50),
        "p99_us": percentile(samples, 99),
        "python_version": platform.python_version(),
        "fast_path": args.fast_path,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
