"""python -m benchmarks meshes --quick builds and cross-checks a mesh and reports the
build's cost (seconds, modules before and after sim.dedup) and the load's link bytes
and cycles (no timing assertions)."""

import json

import pytest

from benchmarks.__main__ import main

pytestmark = pytest.mark.verilator


def test_meshes_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "meshes.json"
    assert main(["meshes", "--quick", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["name"] == "meshes" and r["config"]["meshes"] == ["2x1"]
    f = r["figures"]
    for key in ("build_seconds_2x1", "crosscheck_seconds_2x1", "modules_kept_2x1",
                "rtl_equals_golden_2x1"):
        assert key in f and key in r["units"]
    assert f["rtl_equals_golden_2x1"] is True
    row = r["rows"][0]
    assert row["first_divergence"] is None and row["run_cycles"] > 0
    assert 0 < row["load_link_bytes"] and 0 < row["load_cycles"]
    if "kept" in row:                           # present when this run built the model
        assert row["kept"] < row["modules"]
    assert "mesh build and cross-check" in capsys.readouterr().out
