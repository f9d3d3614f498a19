"""Boards: does the chip fit, and how fast does it clock after place and route.

Each board is built as ``python -m hw.build --board NAME`` builds it (its default design
and configuration, :mod:`boards`): ECP5 and iCE40 boards through the open flow to a
bitstream (post-route Fmax and utilization from nextpnr's report), the Arty A7 through
yosys ``synth_xilinx`` (resource estimate against the xc7a35t; no open place and route
exists for 7-series, so no Fmax). Figures: ``fmax_mhz_<board>`` of every open-flow board
built, ``luts_arty_a7`` and ``fits_arty_a7``, and ``fmax_mhz_core_ulx3s``: the 4-lane
core alone (``--design core`` on the ULX3S, the timing target's 75 MHz measure).

``--quick`` (CI) builds only the iCEBreaker, the smallest and fastest build; the full run
builds every board, plus the chip on the iCEBreaker to show by how much it misses the
UP5K (tens of minutes: the ECP5-85F build of the 4-lane chip dominates).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from boards import board_names, get_board
from hw.build import build

QUICK_BUILDS = (("icebreaker", None),)
#: builds reported as ``fmax_mhz_<design>_<board>`` besides the boards' default designs
EXTRA_FIGURES = (("ulx3s", "core"),)


def full_builds() -> tuple:
    """(board, design) pairs of the full run: every board's default design, the chip
    on boards whose default is something else, and :data:`EXTRA_FIGURES`."""
    builds = [(n, None) for n in board_names()]
    builds += [(n, "chip") for n in board_names() if get_board(n).design != "chip"]
    builds += [b for b in EXTRA_FIGURES if b[0] in board_names()]
    return tuple(builds)


def measure(name: str, out: Path, design: str | None = None) -> dict:
    board = get_board(name)
    command = f"python -m hw.build --board {name}" + (f" --design {design}" if design else "")
    rep = build(board, board.config, out / f"{name}-{design or board.design}",
                design_name=design, log=lambda *a: None, command=command)
    res = rep.get("resources", {})
    row = {"kind": "board", "board": name, "device": board.device, "family": board.family,
           "design": rep["design"], "config_hash": rep["config_hash"],
           "clock_mhz": board.clock_hz / 1e6, "fits": rep.get("fits"),
           "seconds": rep["seconds"], "command": command}
    if board.family == "xc7":
        row.update({"lut": res.get("lut"), "ff": res.get("ff"), "bram": res.get("bram36"),
                    "dsp": res.get("dsp"), "tool": rep.get("tool")})
    else:
        fmax = rep.get("fmax_mhz", {})
        row.update({"fmax_mhz": min(fmax.values()) if fmax else None,
                    "timing_met": rep.get("timing_met"), "tool": rep.get("tool"),
                    **{k: v["used"] for k, v in res.items()},
                    **{f"{k}_available": v["available"] for k, v in res.items()}})
        if rep.get("critical_path"):
            cp = rep["critical_path"][0]
            row["critical_path"] = f"{cp['from']} -> {cp['to']} ({cp['delay_ns']} ns)"
    return row


def run(quick: bool = False) -> dict:
    builds = QUICK_BUILDS if quick else full_builds()
    with tempfile.TemporaryDirectory(prefix="spikeforge-boards-") as tmp:
        rows = [measure(n, Path(tmp), d) for n, d in builds]
    figures, units = {}, {}
    for r in rows:
        if (r["board"], r["design"]) in EXTRA_FIGURES:
            key = f"fmax_mhz_{r['design']}_{r['board']}"
            figures[key] = r["fmax_mhz"]
            units[key] = f"post-route Fmax of the {r['design']} design on {r['device']} (nextpnr), MHz"
            continue
        if r["design"] != get_board(r["board"]).design:
            continue
        if r["family"] == "xc7":
            figures[f"luts_{r['board']}"] = r["lut"]
            figures[f"fits_{r['board']}"] = r["fits"]
            units[f"luts_{r['board']}"] = (f"LUTs of the {r['design']} design on {r['device']} "
                                           f"(yosys synth_xilinx estimate)")
            units[f"fits_{r['board']}"] = "every resource within the device (estimate)"
        else:
            figures[f"fmax_mhz_{r['board']}"] = r["fmax_mhz"]
            units[f"fmax_mhz_{r['board']}"] = (f"post-route Fmax of the {r['design']} design on "
                                               f"{r['device']} (nextpnr), MHz")
    return {"config": {"builds": [list(b) for b in builds]}, "figures": figures, "units": units,
            "rows": rows}


def table(result: dict) -> str:
    lines = [f"boards ({result['command']})",
             f"{'board':<12}{'design':<10}{'device':<20}{'fits':>6}{'Fmax MHz':>10}{'clock':>7}"
             f"{'LUT':>8}{'BRAM':>6}{'DSP':>5}"]
    for r in result["rows"]:
        fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"
        lines.append(f"{r['board']:<12}{r['design']:<10}{r['device']:<20}{str(r['fits']):>6}{fmax:>10}"
                     f"{r['clock_mhz']:>7g}{r.get('lut') or '-':>8}{r.get('bram') or '-':>6}"
                     f"{r.get('dsp') if r.get('dsp') is not None else '-':>5}")
    return "\n".join(lines)
