"""python -m benchmarks boards --quick: the iCEBreaker through the open flow to a
bitstream, Fmax and utilization copied from nextpnr's report."""

import json

from benchmarks.__main__ import main


def test_boards_benchmark_quick(tmp_path, capsys):
    out = tmp_path / "boards.json"
    assert main(["boards", "--quick", "--json", str(out), "--report", str(tmp_path / "r")]) == 0
    r = json.loads(out.read_text())
    (row,) = r["rows"]
    assert row["board"] == "icebreaker" and row["design"] == "selftest"
    assert row["fits"] is True and row["timing_met"] is True
    assert row["fmax_mhz"] >= row["clock_mhz"] == 12
    assert 0 < row["lut"] <= row["lut_available"] == 5280
    assert r["figures"] == {"fmax_mhz_icebreaker": row["fmax_mhz"]}
    index = (tmp_path / "r" / "index.md").read_text()
    assert f"| `fmax_mhz_icebreaker` | {row['fmax_mhz']:.4g} |" in index
    assert (tmp_path / "r" / "boards_fmax.png").stat().st_size > 1000
    assert "icebreaker" in capsys.readouterr().out
