"""python -m benchmarks sdsp --quick reports every figure the issue asks for, read from
the RTL's counters and within the physical limits (no timing assertions)."""

import json

import pytest

from benchmarks.__main__ import main

pytestmark = pytest.mark.verilator


def test_sdsp_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "sdsp.json"
    assert main(["sdsp", "--quick", "--json", str(out),
                 "--report", str(tmp_path / "report")]) == 0
    assert "## sdsp\n" in (tmp_path / "report" / "index.md").read_text()   # report section renders
    r = json.loads(out.read_text())
    assert r["name"] == "sdsp"
    assert r["command"].startswith(f"python -m benchmarks sdsp --quick --json {out}")
    for key in ("digits_accuracy_sdsp", "synaptic_updates_per_cycle",
                "cycles_per_input_event", "speedup_vs_odin"):
        assert key in r["figures"] and key in r["units"]
    f = r["figures"]
    assert 1 <= f["synaptic_updates_per_cycle"] <= 8       # 8 synapses per word
    assert f["cycles_per_input_event"] >= 256 / 8
    assert f["digits_accuracy_sdsp"] > 0.3                  # chance is 0.1
    for row in r["rows"]:
        if row["kind"] == "throughput":
            assert row["synops"] == row["events"] * 256
            assert row["synaptic_updates_per_cycle"] <= row["lanes"]
    assert "SDSP core" in capsys.readouterr().out
