"""python -m benchmarks noc --quick runs and reports every figure the issue names, read
from the RTL's counters and the testbench, within physical limits (no timing
assertions)."""

import json

import pytest

from benchmarks.__main__ import main

pytestmark = pytest.mark.verilator


def test_noc_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "noc.json"
    assert main(["noc", "--quick", "--json", str(out),
                 "--report", str(tmp_path / "report")]) == 0
    assert "## noc\n" in (tmp_path / "report" / "index.md").read_text()   # report section renders
    r = json.loads(out.read_text())
    assert r["name"] == "noc"
    f = r["figures"]
    for key in ("cycles_per_hop", "saturation_flits_per_node_cycle_uniform",
                "saturation_flits_per_node_cycle_transpose", "chip_synops_per_cycle_2x2"):
        assert key in f and key in r["units"]
    assert 1 <= f["cycles_per_hop"] <= 2                  # the target
    for p in ("uniform", "transpose"):
        curve = [x for x in r["rows"] if x["kind"] == "load" and x["pattern"] == p]
        assert len(curve) == len(r["config"]["loads"])
        # one flit per cycle per link bounds what a node can receive
        assert all(0 < x["accepted_per_node_cycle"] <= 1.0 for x in curve)
        assert f[f"saturation_flits_per_node_cycle_{p}"] == round(max(
            x["accepted_per_node_cycle"] for x in curve), 3)
    chip = next(x for x in r["rows"] if x["kind"] == "chip")
    assert chip["synops"] > 0 and chip["output_spikes"] > 0
    assert 0 < f["chip_synops_per_cycle_2x2"] <= 16       # 4 cores x 4 lanes
    assert "saturation" in capsys.readouterr().out
