"""The board build: python -m hw.build --board arty_a7 (plan, directory, estimate, fit)."""

import dataclasses
import json
import re

import pytest

import boards
from hw.build import main
from hw.config import ChipConfig
from hw.mem import MemoryDirectory


def test_list_boards(capsys):
    assert main(["--list-boards"]) == 0
    assert "arty_a7      Digilent Arty A7-35T (xc7a35ticsg324-1L, xc7, 100 MHz)" \
        in capsys.readouterr().out


def test_unknown_board_lists_known_boards(capsys):
    assert main(["--board", "arty_a8"]) == 2
    assert capsys.readouterr().err == \
        "error: Unknown board 'arty_a8'; known boards: arty_a7\n"


def test_bad_config_names_the_field(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[core]\nlanes = 6\n")
    assert main(["--board", "arty_a7", "--config", str(cfg)]) == 2
    assert capsys.readouterr().err == \
        "error: core.lanes: 6 is out of range: must be a power of two in 1..64\n"


def test_board_required(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "--board is required" in capsys.readouterr().err


def test_arty_build_writes_plan_directory_and_measured_report(tmp_path, capsys):
    """The README's main job, on the default design (the chip behind its UART host
    link)."""
    out = tmp_path / "arty"
    assert main(["--board", "arty_a7", "--out", str(out), "--no-bitstream"]) == 0
    for f in ["top.v", "top.xdc", "top.tcl", "build_top.sh"]:
        assert (out / "vendor" / f).exists(), f
    assert "xc7a35ticsg324-1L" in (out / "vendor" / "top.tcl").read_text()
    assert ChipConfig.load(out / "config.toml") == boards.get_board("arty_a7").config

    directory = MemoryDirectory.load(out / "memories.json")
    report = json.loads((out / "report.json").read_text())
    assert report["design"] == "chip"
    assert [m.name for m in directory][:4] == ["tile0_0.microcode", "tile0_0.axon_table",
                                                "tile0_0.layer_table", "tile0_0.target_table"]
    # per tile: 4 core tables, 3 memories per lane (4 lanes), route and destination tables
    assert report["memories"] == len(directory) == 4 + 3 * 4 + 2
    assert "uart" in (out / "vendor" / "top.xdc").read_text().lower()
    assert report["memory_bits"] == directory.total_bits
    assert report["command"] == f"python -m hw.build --board arty_a7 --out {out} --no-bitstream"

    # Counts come from yosys's own statistics file, not from anywhere else.
    cells = json.loads((out / "stat.json").read_text())["design"]["num_cells_by_type"]
    res = report["resources"]
    assert res["lut_logic"] == sum(n for c, n in cells.items() if c.startswith("LUT")) > 0
    assert res["ff"] == sum(n for c, n in cells.items() if c.startswith("FD")) > 0
    assert res["bram36"] == cells.get("RAMB36E1", 0) + cells.get("RAMB18E1", 0) / 2 > 0
    assert report["fits"] is True
    assert report["utilization"]["lut"] == res["lut"] / 20800
    assert "End of script" in (out / "synth.log").read_text()
    printed = capsys.readouterr().out
    assert re.search(rf"\n  LUT +{res['lut']} +20800 +", printed)
    assert "fits xc7a35ticsg324-1L: yes" in printed


def test_design_that_does_not_fit_exits_1(tmp_path, monkeypatch, capsys):
    arty = boards.get_board("arty_a7")
    tiny = dataclasses.replace(arty, name="tiny", capacity={**arty.capacity, "lut": 10})
    monkeypatch.setitem(boards.BOARDS, "tiny", tiny)
    assert main(["--board", "tiny", "--out", str(tmp_path), "--no-bitstream",
                 "--design", "selftest"]) == 1
    assert json.loads((tmp_path / "report.json").read_text())["fits"] is False
    assert "fits xc7a35ticsg324-1L: NO" in capsys.readouterr().out
