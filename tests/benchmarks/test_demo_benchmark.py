"""python -m benchmarks demo --quick: the end-to-end digits demo (NIR file -> quantized
network -> 2x1 chip) with the issue's acceptance: RTL == golden chip on every one of
20 samples, quantized accuracy within 2 points of the float model's."""

import json

import pytest

from benchmarks.__main__ import main
from benchmarks.demo import FIGURES

pytestmark = pytest.mark.verilator


def test_demo_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "demo.json"
    assert main(["demo", "--quick", "--json", str(out),
                 "--report", str(tmp_path / "report")]) == 0
    assert "## demo\n" in (tmp_path / "report" / "index.md").read_text()   # report section renders
    r = json.loads(out.read_text())
    f = r["figures"]
    assert set(FIGURES) <= set(f) and set(FIGURES) <= set(r["units"])
    assert r["rows"][1]["rtl"] >= 20
    assert f["rtl_golden_agreement"] == 1.0, r["rows"][1]["disagreeing"]
    assert abs(f["accuracy_golden"] - f["accuracy_float"]) <= 0.02
    assert f["accuracy_float"] > 0.9
    assert 0 < f["synops_per_inference"] and 0 < f["cycles_per_inference"]
    # the harness ran the chip's cycles and the link's: more than the chip's busy ones
    assert f["harness_cycles_per_inference"] > f["cycles_per_inference"]
    assert f["rtl_inferences_per_second"] > 0 and f["verilator_cycles_per_second"] > 0
    assert 0 < f["link_bytes_per_inference"] < 2000, "STEP and CLEAR_STATE frames"
    nb = r["rows"][0]
    assert 0 < nb["effective_synops"] <= nb["dense_synops"]
    assert 0 < nb["activation_sparsity"] < 1
    assert "digits demo" in capsys.readouterr().out
