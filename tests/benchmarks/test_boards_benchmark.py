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


def test_full_run_reports_the_core_build_apart(monkeypatch):
    """The full run also builds the 4-lane core alone on the ULX3S and reports it as
    fmax_mhz_core_ulx3s, separate from the chip's fmax_mhz_ulx3s (builds faked)."""
    from benchmarks import boards as B
    from boards import get_board
    builds = B.full_builds()
    assert ("ulx3s", "core") in builds and ("ulx3s", None) in builds

    def fake(name, out, design=None):
        board = get_board(name)
        design = design or board.design
        fmax = {("ulx3s", "chip"): 40.0, ("ulx3s", "core"): 80.0}.get((name, design), 50.0)
        return {"board": name, "design": design, "family": board.family,
                "device": board.device, "fmax_mhz": fmax, "lut": 1, "fits": True}
    monkeypatch.setattr(B, "measure", fake)
    figures = B.run(quick=False)["figures"]
    assert figures["fmax_mhz_ulx3s"] == 40.0
    assert figures["fmax_mhz_core_ulx3s"] == 80.0
