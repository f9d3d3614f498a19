"""sim/dedup.py: identical modules merged, the rest untouched, ports still connect."""

import re

from amaranth import Array, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from hw.host import HostChip
from sim.dedup import dedup_modules


class Picker(wiring.Component):
    """Enough logic for Yosys to invent '$' names (an Array index, a memory-like mux)."""

    def __init__(self, width):
        self.width = width
        super().__init__({"sel": In(2), "data": In(4 * width), "o": Out(width)})

    def elaborate(self, platform):
        m = Module()
        acc = Signal(self.width)
        words = Array(self.data[k * self.width:(k + 1) * self.width] for k in range(4))
        m.d.sync += acc.eq(acc + words[self.sel])
        m.d.comb += self.o.eq(acc ^ words[~self.sel])
        return m


class Pair(wiring.Component):
    def __init__(self, width):
        self.width = width
        super().__init__({"sel": In(2), "data": In(4 * width), "o": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.a = a = Picker(self.width)
        m.submodules.b = b = Picker(self.width)
        for p in (a, b):
            m.d.comb += [p.sel.eq(self.sel), p.data.eq(self.data)]
        m.d.comb += self.o.eq(a.o + b.o)
        return m


class Top(wiring.Component):
    def __init__(self):
        super().__init__({"sel": In(2), "data": In(32), "o": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.p0 = p0 = Pair(8)
        m.submodules.p1 = p1 = Pair(8)
        m.submodules.odd = odd = Pair(7)          # another circuit: kept apart
        for p in (p0, p1, odd):
            m.d.comb += [p.sel.eq(self.sel), p.data.eq(self.data)]
        m.d.comb += self.o.eq(p0.o ^ p1.o ^ odd.o)
        return m


def _modules(text):
    return dict(re.findall(r"^module (\S+?)\s*\((.*?)\);", text, flags=re.M | re.S))


def _check_connections(text):
    """Every instance names a module that exists, and every port it connects is one of
    that module's ports."""
    mods = {name: {p.strip() for p in ports.split(",")} for name, ports in
            _modules(text).items()}
    inst, n = None, 0
    for line in text.split("\n"):
        m = re.match(r"^  (\S+) +(\S+) \($", line)
        if m and not m.group(1).startswith("("):
            inst = m.group(1)
            assert inst in mods, f"instance of a module that is gone: {inst}"
            n += 1
            continue
        if inst:
            p = re.match(r"^\s+\.(\\\S+|[A-Za-z_][A-Za-z0-9_$]*)\s?\(", line)
            if p:
                assert p.group(1) in mods[inst], f"{inst} has no port {p.group(1)}"
            elif line.strip() == ");":
                inst = None
    return n


def test_identical_modules_are_merged_and_ports_still_connect():
    text = verilog.convert(Top(), name="top")
    before = _modules(text)
    merged, stats = dedup_modules(text)
    after = _modules(merged)
    # top, 3 pairs and 6 pickers before; top, one pair and one picker of each width
    assert stats == {"modules": len(before), "kept": len(after)} == {"modules": 10, "kept": 5}
    assert "top" in after
    # top: p0, p1, odd; each kept pair: a, b (the merged copy of p1 is gone)
    assert _check_connections(merged) == 3 + 2 + 2
    assert sum(merged.count(f" {i} (") for i in ("p0", "p1", "odd")) == 3


def test_a_chip_keeps_one_module_per_distinct_circuit():
    """On a mesh the tiles' cores and lanes are one module each (issue 19: Verilator
    compiled every tile and lane of a 3x2 mesh separately)."""
    cfg = ChipConfig(core=CoreConfig(lanes=2, neurons=16, axons=64, synapses=256,
                                     microcode_depth=16, layers=2, out_fifo_depth=16),
                     noc=NocConfig(width=3, height=1, routes=64))
    merged, stats = dedup_modules(verilog.convert(HostChip(cfg), name="top"))
    names = list(_modules(merged))
    assert stats["kept"] < stats["modules"] / 2
    assert sum(n.endswith(".controller") for n in names) == 1
    assert sum(re.search(r"\.core\d+_\d+\.lane\d+$", n) is not None for n in names) == 1
    _check_connections(merged)
