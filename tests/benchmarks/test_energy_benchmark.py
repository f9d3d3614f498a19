"""python -m benchmarks energy --quick: the energy model of the digits demo, its parts
adding up, and its section of the report."""

import json

import pytest

from benchmarks.__main__ import main


def test_energy_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "energy.json"
    assert main(["energy", "--quick", "--json", str(out), "--report", str(tmp_path / "r")]) == 0
    r = json.loads(out.read_text())
    f = r["figures"]
    parts = {x["part"]: x["pj_per_inference"] for x in r["rows"] if x["kind"] == "breakdown"}
    assert set(parts) == {"memories", "synaptic_arithmetic", "neuron_arithmetic", "noc"}
    assert sum(parts.values()) / 1e3 == pytest.approx(f["nj_per_inference_model"], rel=1e-3)
    assert f["pj_per_sop_model"] == pytest.approx(
        sum(parts.values()) / f["synops_per_inference"], rel=1e-3)
    # the synaptic arithmetic alone is 0.3 pJ per SOP in the 45 nm table
    assert parts["synaptic_arithmetic"] == pytest.approx(0.3 * f["synops_per_inference"])
    mems = [x for x in r["rows"] if x["kind"] == "memory"]
    assert sum(x["pj_per_inference"] for x in mems) == pytest.approx(parts["memories"])
    assert {x["chip"] for x in r["rows"] if x["kind"] == "anchor"} == {"SENECA", "ODIN", "ReckOn"}
    assert "a model, not a measurement" in capsys.readouterr().out
    index = (tmp_path / "r" / "index.md").read_text()
    assert "## energy" in index and "pj_per_sop_model" in index
    assert (tmp_path / "r" / "energy_pj_per_sop.png").exists()
