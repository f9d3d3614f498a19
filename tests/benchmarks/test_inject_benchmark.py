"""python -m benchmarks inject --quick reports every figure the issue asks for."""

import json

import pytest

from benchmarks.__main__ import main

pytestmark = pytest.mark.verilator


def test_inject_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "inject.json"
    assert main(["inject", "--quick", "--json", str(out),
                 "--report", str(tmp_path / "report")]) == 0
    assert "## inject\n" in (tmp_path / "report" / "index.md").read_text()   # report section renders
    r = json.loads(out.read_text())
    f = r["figures"]
    for key in ("golden_runs_per_second", "replay_matches", "mean_time_to_failure_s_none",
                "mean_time_to_failure_s_parity", "mean_time_to_failure_s_secded",
                "core_golden_runs_per_second", "core_replay_matches"):
        assert key in f and key in r["units"]
    assert f["golden_runs_per_second"] > 0
    assert f["replay_matches"] == 2            # of 2 (20 in tests/sw/campaign/test_replay_rtl.py)
    assert f["core_golden_runs_per_second"] > 0
    assert f["core_replay_matches"] == 2
    for prot in ("none", "parity", "secded"):
        assert 0 < f[f"mean_time_to_failure_s_{prot}"] <= 7200
    assert "fault campaigns" in capsys.readouterr().out
