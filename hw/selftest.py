"""Memory self-test: a board bring-up design for FaultSRAM fault injection and ECC.

Three FaultSRAMs of the same shape, one per protection mode (none, parity, SECDED), run
an endless loop of passes. Each pass

1. writes a pattern that depends on the address and the pass number to every word;
2. flips one stored bit in each memory through its fault port (the target word and bit
   advance every pass, so over ``depth * stored_width`` passes every bit is hit once);
3. reads every word back and compares it with the pattern.

A read that returns wrong data without flagging ``detected`` is *silent corruption*.
The sticky ``silent`` flags show what each protection buys: the unprotected memory
corrupts silently from the first pass, parity flags the upset, SECDED corrects it.
On a board: ``leds[0]`` toggles every pass, ``leds[1..3]`` are the silent flags of
none/parity/SECDED.

Memory shape comes from the config: ``core.state_bits`` wide, ``core.neurons`` deep.
One pass takes ``2 * depth + 4`` cycles: the write sweep, the fault transfer, two
cycles for the flip's write-back, the read sweep, and the last compare.
"""


from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from .spec.config import ChipConfig, Protection
from .spec.memory import FaultKind
from .mem import FaultSRAM
from .spec.directory import MemoryDirectory

__all__ = ["MemorySelfTest"]


class MemorySelfTest(wiring.Component):
    """Endless write / inject / read-and-compare passes over three FaultSRAMs.

    Members
    -------
    leds : ``Out(4)``
        ``[0]`` pass parity; ``[1 + i]`` sticky silent corruption of memory ``i``
        (none, parity, SECDED).
    """

    leds: Out(4)

    def __init__(self, config: ChipConfig, directory=None):
        super().__init__()
        self.config = config
        self.directory = directory if directory is not None else MemoryDirectory(config.hash)
        width, depth = config.core.state_bits, config.core.neurons
        self.srams = [
            FaultSRAM(width, depth, name=f"selftest.{p.value}", protection=p, role="other",
                      fault_slots=config.memory.fault_slots,
                      counter_bits=config.memory.counter_bits, directory=self.directory)
            for p in Protection]
        self.passes = Signal(16)
        self.silent = Signal(len(self.srams))

    def elaborate(self, platform):
        m = Module()
        srams = self.srams
        for i, s in enumerate(srams):
            m.submodules[f"mem_{s.protection.value}"] = s
        width, depth = srams[0].width, srams[0].depth
        addr = Signal(srams[0].addr_width)
        last = addr == depth - 1
        cmp_valid = Signal()
        cmp_addr = Signal.like(addr)
        target = Signal.like(addr)
        bits = [Signal(range(s.stored_width), name=f"bit_{i}") for i, s in enumerate(srams)]

        def pattern(a):
            return (Cat(a, a, a) ^ Cat(self.passes, ~self.passes))[:width]

        m.d.comb += self.leds.eq(Cat(self.passes[0], self.silent))
        for s in srams:
            m.d.comb += [s.write.addr.eq(addr), s.write.data.eq(pattern(addr)),
                         s.read[0].addr.eq(addr),
                         s.fault.payload.addr.eq(target),
                         s.fault.payload.kind.eq(FaultKind.FLIP)]
        for s, b in zip(srams, bits):
            m.d.comb += s.fault.payload.mask.eq(1 << b)

        # Compare the word read in the previous cycle.
        m.d.sync += [cmp_valid.eq(0), cmp_addr.eq(addr)]
        for i, s in enumerate(srams):
            port = s.read[0]
            with m.If(cmp_valid & (port.data != pattern(cmp_addr)) & ~port.detected):
                m.d.sync += self.silent[i].eq(1)

        with m.FSM():
            with m.State("WRITE"):
                m.d.comb += [s.write.en.eq(1) for s in srams]
                m.d.sync += addr.eq(addr + 1)
                with m.If(last):
                    m.d.sync += addr.eq(0)
                    m.next = "INJECT"
            with m.State("INJECT"):
                m.d.comb += [s.fault.valid.eq(1) for s in srams]
                # every fault port is ready here: no writes, no flip pending
                m.next = "SETTLE"
            with m.State("SETTLE"):
                with m.If(~Cat(*(s.fault_pending for s in srams)).any()):
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += [s.read[0].en.eq(1) for s in srams]
                m.d.sync += [cmp_valid.eq(1), addr.eq(addr + 1)]
                with m.If(last):
                    m.d.sync += addr.eq(0)
                    m.next = "NEXT"
            with m.State("NEXT"):
                m.d.sync += [self.passes.eq(self.passes + 1),
                             target.eq((target + 1) % depth)]
                for s, b in zip(srams, bits):
                    with m.If(target == depth - 1):
                        m.d.sync += b.eq((b + 1) % s.stored_width)
                m.next = "WRITE"
        return m
