# SPDX-License-Identifier: MIT
"""``clove-bench llm --json`` runs end to end: it starts the fake provider and a kernel, every
figure is measured, the light callers' p99 sits next to its same-run baseline, and the tokens
served add up to the index it reports. Speeds and the index itself are not asserted here (the
fairness test of test_think.py asserts fairness)."""

import json
import os
import subprocess

import pytest


@pytest.mark.timeout(300)
def test_clove_bench_llm_json():
    bench, cloved = os.environ.get("CLOVE_BENCH"), os.environ.get("CLOVED")
    if not bench or not cloved:
        pytest.skip("CLOVE_BENCH and CLOVED must name the built binaries")
    r = subprocess.run([bench, "llm", "--json", "--seconds", "4", "--cloved", cloved],
                       capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    res = {x["name"]: x for x in doc["results"]}
    assert set(res) == {"llm.fairness.jain", "llm.light_p99_ms.with_heavy",
                        "llm.light_p99_ms.alone", "llm.sched_overhead_us"}
    for x in res.values():
        assert "error" not in x and x["n"] > 0 and x["p50"] > 0, x
    served = res["llm.fairness.jain"]["tokens_served"]
    assert len(served) == 10 and min(served) > 0
    index = sum(served) ** 2 / (len(served) * sum(v * v for v in served))
    assert abs(index - res["llm.fairness.jain"]["p50"]) < 1e-3
    assert res["llm.light_p99_ms.with_heavy"]["baseline"] == res["llm.light_p99_ms.alone"]["p50"]
    assert "kernel_us_p50_under_contention" in res["llm.sched_overhead_us"]
