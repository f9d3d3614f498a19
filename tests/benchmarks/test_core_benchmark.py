"""python -m benchmarks core --quick runs and reports every figure it promises, read from
the RTL's counters and within the physical limits (no timing assertions)."""

import json

import pytest

from benchmarks.__main__ import main

pytestmark = pytest.mark.verilator


def test_core_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "core.json"
    assert main(["core", "--quick", "--json", str(out),
                 "--report", str(tmp_path / "report")]) == 0
    assert "## core\n" in (tmp_path / "report" / "index.md").read_text()   # report section renders
    r = json.loads(out.read_text())
    assert r["name"] == "core"
    assert r["command"].startswith(f"python -m benchmarks core --quick --json {out}")
    for key in ("synops_per_cycle_lanes4", "neuron_updates_per_cycle_lanes4",
                "overhead_cycles_per_event_lanes4", "isolated_event_overhead_cycles_lanes4"):
        assert key in r["figures"] and key in r["units"]
    for row in r["rows"]:
        if row["kind"] == "events":
            assert 0 < row["synops_per_cycle"] <= row["lanes"]
            assert row["synops"] == row["events"] * row["fanout"]
        else:
            assert row["neurons"] == 1024
            assert 0 < row["neuron_updates_per_cycle"] <= row["lanes"]
    spiking = next(x for x in r["rows"] if x.get("tick") == "all_spiking")
    assert spiking["spikes"] == 1024              # one spike per cycle bounds this tick
    assert "core throughput" in capsys.readouterr().out
