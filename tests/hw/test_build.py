"""The board build: python -m hw.build --board arty_a7 (plan, directory, estimate, fit)."""

import dataclasses
import json
import re

import pytest

import boards
from hw.build import main
from hw.spec.config import ChipConfig
from hw.spec.directory import MemoryDirectory


def test_list_boards(capsys):
    assert main(["--list-boards"]) == 0
    out = capsys.readouterr().out
    assert "arty_a7      Digilent Arty A7-35T (xc7a35ticsg324-1L, xc7, 100 MHz)" in out
    assert "ulx3s        Radiona ULX3S (ECP5-85F) (LFE5U-85F-6BG381C, ecp5, 12.5 MHz)" in out
    assert "icebreaker   1BitSquared iCEBreaker (iCE40 UP5K) (iCE40UP5K-SG48, ice40, 12 MHz)" \
        in out
    assert "orangecrab   OrangeCrab r0.2 (ECP5-25F) (LFE5U-25F-8MG285C, ecp5, 24 MHz)" in out


def test_unknown_board_lists_known_boards(capsys):
    assert main(["--board", "arty_a8"]) == 2
    assert capsys.readouterr().err == \
        "error: Unknown board 'arty_a8'; known boards: arty_a7, icebreaker, orangecrab, ulx3s\n"


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


@pytest.mark.parametrize("name", ["ulx3s", "orangecrab", "icebreaker"])
def test_open_flow_board_plan(name, tmp_path):
    """Every open-flow board's default design elaborates into a plan for its toolchain,
    with the chip's UART and the LEDs on the board's pins (--no-synth: no tools run)."""
    out = tmp_path / name
    assert main(["--board", name, "--out", str(out), "--no-synth"]) == 0
    board = boards.get_board(name)
    script = (out / "vendor" / "build_top.sh").read_text()
    assert f"nextpnr-{board.family}" in script and "--report top.pnr.json" in script
    assert board.nextpnr_opts in script
    constraints = next((out / "vendor").glob("top.[lp][cp]f")).read_text()
    if board.design == "chip":
        assert "uart_0__rx" in constraints and "uart_0__tx" in constraints
    assert "led_0" in constraints
    assert ChipConfig.load(out / "config.toml") == board.config
    if board.family == "ecp5":        # the chip's clock comes from a PLL, constrained
        assert "EHXPLLL" in (out / "vendor" / "top.il").read_text()
        assert f'FREQUENCY NET "clocks.pll_out" {board.clock_hz:.1f} HZ' in constraints


def _fake_flow(result=None, error=None):
    def run(plan, build_dir, family):
        plan.extract(build_dir)
        if error:
            raise error
        return {"fmax_mhz": {"clk": 10.0}, "constraint_mhz": {"clk": 12.0},
                "utilization": {"ICESTORM_LC": {"used": 100, "available": 5280}},
                "critical_path": [], "bitstream": str(build_dir / "top.bin"), **(result or {})}
    return run


def test_open_flow_timing_miss_exits_1_naming_the_clock(tmp_path, monkeypatch, capsys):
    import hw.build
    monkeypatch.setattr(hw.build, "run_open_flow", _fake_flow())
    assert main(["--board", "icebreaker", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error: timing not met on icebreaker at the board clock (12 MHz): clock clk " \
           "reaches 10.00 MHz after routing, below the required 12.00 MHz" in err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["timing_met"] is False and report["fmax_mhz"] == {"clk": 10.0}
    assert report["resources"] == {"lut": {"used": 100, "available": 5280}}


def test_open_flow_design_that_does_not_fit_exits_1(tmp_path, monkeypatch, capsys):
    import hw.build
    from hw.pnr import PlaceRouteError
    err = PlaceRouteError("ERROR: Unable to place cell 'x', no BELs remaining",
                          {"ICESTORM_LC": {"used": 9944, "available": 5280},
                           "ICESTORM_RAM": {"used": 20, "available": 30}})
    monkeypatch.setattr(hw.build, "run_open_flow", _fake_flow(error=err))
    assert main(["--board", "icebreaker", "--out", str(tmp_path)]) == 1
    cap = capsys.readouterr()
    assert "error: the design does not fit iCE40UP5K-SG48" in cap.err
    assert re.search(r"LUT \(ICESTORM_LC\) +9944 +5280 +188\.3%", cap.out)
    assert json.loads((tmp_path / "report.json").read_text())["fits"] is False


def test_program_without_programmer_says_how(tmp_path, monkeypatch, capsys):
    import hw.build
    monkeypatch.setattr(hw.build, "run_open_flow", _fake_flow({"fmax_mhz": {"clk": 50.0}}))
    monkeypatch.setenv("PATH", str(tmp_path))          # no openFPGALoader, no iceprog
    assert main(["--board", "icebreaker", "--out", str(tmp_path / "b"), "--program"]) == 0
    out = capsys.readouterr().out
    assert f"openFPGALoader is not on PATH; to program the board run: openFPGALoader " \
           f"--board ice40_generic {tmp_path / 'b' / 'vendor' / 'top.bin'}" in out
