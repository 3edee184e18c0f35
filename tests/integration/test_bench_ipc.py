# SPDX-License-Identifier: MIT
"""``clove-bench ipc --json`` runs end to end on a small count: every figure is measured (or
skipped with a reason), each sits next to its same-run baseline, and the CAS counter ends exact. Speeds are not asserted."""

import json
import os
import subprocess

import pytest


@pytest.mark.timeout(300)
def test_clove_bench_ipc_json():
    bench, cloved = os.environ.get("CLOVE_BENCH"), os.environ.get("CLOVED")
    if not bench or not cloved:
        pytest.skip("CLOVE_BENCH and CLOVED must name the built binaries")
    r = subprocess.run([bench, "ipc", "--json", "--iterations", "200", "--cloved", cloved],
                       capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    res = {x["name"]: x for x in doc["results"]}
    assert set(res) == {"baseline.noop_rtt.uds", "ipc.msg_rtt.uds",
                        "baseline.noop_rtt.shm", "ipc.msg_rtt.shm",
                        "baseline.noop_throughput.8agents", "ipc.msg_throughput",
                        "baseline.state.cas_ops.1agent", "state.cas_ops"}
    for name, x in res.items():
        assert "error" not in x and "skipped" not in x, x
        assert x["n"] > 0 and x["p50"] > 0, x
    for fig, base in [("ipc.msg_rtt.uds", "baseline.noop_rtt.uds"),
                      ("ipc.msg_rtt.shm", "baseline.noop_rtt.shm"),
                      ("ipc.msg_throughput", "baseline.noop_throughput.8agents"),
                      ("state.cas_ops", "baseline.state.cas_ops.1agent")]:
        assert res[fig]["baseline"] == res[base]["p50"]
    assert res["state.cas_ops"]["final_value"] == res["state.cas_ops"]["n"] == 800
