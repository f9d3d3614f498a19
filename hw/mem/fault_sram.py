"""FaultSRAM: the one memory primitive of the chip, with fault injection and protection.

Every memory of the chip (neuron state, weights, tables, microcode, queues) is a
FaultSRAM. It wraps :class:`amaranth.lib.memory.Memory` and adds

* a **fault port** (a :mod:`~amaranth.lib.stream`) that flips stored bits (SEU / MBU),
  forces stuck-at-0/1 bits on read, or clears the stuck-at faults;
* optional **protection** (none, parity, SECDED Hamming; layouts in
  :mod:`hw.spec.protection`) with saturating corrected/detected counters and a sticky
  error flag;
* registration in a :class:`~hw.spec.directory.MemoryDirectory`, which is exported as
  JSON with each build and is how software addresses memories.

The golden twin is :class:`sim.golden.fault_sram.GoldenFaultSRAM`; its docstring states
the transaction-level semantics that both implement.

Cycle behaviour
---------------
* **Write port**: ``write.en`` high in cycle *c* stores ``encode(write.data)`` at
  ``write.addr`` at the end of *c*. Always accepted (no back-pressure).
* **Read ports**: ``read[i].en`` high in cycle *c* presents the word at
  ``read[i].addr`` on ``read[i].data`` in cycle *c+1* (synchronous, like block RAM), with
  ``corrected``/``detected`` for that word. Read-before-write: a read of the address
  written in the same cycle returns the old word. Data hold while ``en`` is low.
* **Fault port**: ``fault.ready = ~fault_pending & ~write.en``. A stuck-at or clear
  fault takes effect at the end of the accepting cycle. A flip reads the raw stored word
  in the accepting cycle and writes ``raw ^ mask`` back in the first later cycle in which
  the write port is free; ``fault_pending`` is high meanwhile. If the owner writes the
  same address before the write-back, the flip is void (its data overwrote the upset,
  as in silicon). The flip's read shares its address with the write port, so synthesis
  maps the memory as one simple-dual-port-plus-RMW block RAM, not two.
* **Host port**: while ``host.we`` is high, the host's address and data replace the
  owner's write; while ``host.re`` is high, the host's address replaces the owner's on
  read port 0 (data on ``read[0].data`` the next cycle). It is how images are loaded and
  read back; the owner must be idle meanwhile (its access in that cycle is lost).
* **Status**: counters count the reads whose data (``en`` was high the cycle before)
  decode as corrected/detected, summed over the ports, saturating at
  ``2**counter_bits - 1``. ``clear_status`` zeroes counters and sticky flags at the
  end of the cycle and wins over same-cycle events.
* **Access counters** (when ``access_bits > 0``): ``read_count`` and ``write_count``
  count the owner's enabled reads (all ports) and writes, not host accesses nor fault
  read-modify-writes; they wrap at ``2**access_bits`` and clear with
  ``clear_access``.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..counters import saturating
from ..spec.config import Protection
from ..spec.memory import FaultKind, fault_layout
from ..spec.protection import code_layout, encode_word

__all__ = ["FaultKind", "FaultSRAM", "WritePortSignature", "ReadPortSignature",
           "HostPortSignature", "fault_layout"]


class WritePortSignature(wiring.Signature):
    """Write port, seen from the memory's owner: ``addr``, ``data``, ``en``."""

    def __init__(self, addr_width: int, width: int):
        super().__init__({"addr": Out(addr_width), "data": Out(width), "en": Out(1)})


class ReadPortSignature(wiring.Signature):
    """Read port, seen from the memory's owner.

    ``addr``/``en`` go out; ``data`` (decoded), ``corrected`` and ``detected`` come
    back one cycle later.
    """

    def __init__(self, addr_width: int, width: int):
        super().__init__({"addr": Out(addr_width), "en": Out(1), "data": In(width),
                          "corrected": In(1), "detected": In(1)})


class HostPortSignature(wiring.Signature):
    """Host access (image load and read-back), seen from the host."""

    def __init__(self, addr_width: int, width: int):
        super().__init__({"addr": Out(addr_width), "data": Out(width), "we": Out(1),
                          "re": Out(1)})


class FaultSRAM(wiring.Component):
    """A fault-injectable, optionally protected synchronous SRAM.

    Parameters
    ----------
    width : int
        Data bits per word.
    depth : int
        Number of words.
    name : str
        Hierarchical name (``"core0.weights"``), as listed in the memory directory.
    protection : Protection
        ``NONE``, ``PARITY`` or ``SECDED``; sets ``stored_width``.
    read_ports : int
        Number of independent read ports (1..4).
    fault_slots : int
        Stuck-at faults held at once, each (address, mask, value) (0 disables them).
    counter_bits : int
        Width of the saturating status counters.
    init : sequence of int, optional
        Initial data words.
    role : str
        What the memory holds (``weights``, ``state``, ``tables``, ``microcode``, ...);
        campaigns select targets by it.
    directory : MemoryDirectory, optional
        Registers the memory and assigns its ``id``.
    access_bits : int
        Width of the read/write access counters (0: no counters).

    Members
    -------
    write : ``In(WritePortSignature(addr_width, width))``
    read : ``In(ReadPortSignature(addr_width, width)).array(read_ports)``
    fault : ``In(stream.Signature(fault_layout(addr_width, stored_width)))``
    fault_pending : ``Out(1)``, a flip waits for its write-back.
    clear_status : ``In(1)``
    corrected_count, detected_count : ``Out(counter_bits)``
    overflow_count : ``Out(counter_bits)``, stuck-at faults refused for lack of a slot.
    error : ``Out(1)``, sticky: a read detected an uncorrectable error.
    fault_overflow : ``Out(1)``, sticky: a stuck-at fault was refused.
    host : ``In(HostPortSignature(addr_width, width))``
    read_count, write_count, clear_access : with ``access_bits > 0`` only.
    """

    def __init__(self, width: int, depth: int, *, name: str, protection=Protection.NONE,
                 read_ports: int = 1, fault_slots: int = 4, counter_bits: int = 16,
                 init=(), role: str = "other", directory=None, access_bits: int = 0):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"FaultSRAM {name!r}: width must be a positive integer, not {width!r}")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"FaultSRAM {name!r}: depth must be a positive integer, not {depth!r}")
        if not 1 <= read_ports <= 4:
            raise ValueError(f"FaultSRAM {name!r}: read_ports must be in 1..4, not {read_ports}")
        if not 0 <= fault_slots <= 64:
            raise ValueError(f"FaultSRAM {name!r}: fault_slots must be in 0..64, not {fault_slots}")
        if not 1 <= counter_bits <= 32:
            raise ValueError(f"FaultSRAM {name!r}: counter_bits must be in 1..32, not {counter_bits}")
        if not 0 <= access_bits <= 64:
            raise ValueError(f"FaultSRAM {name!r}: access_bits must be in 0..64, not {access_bits}")
        init = list(init)
        if len(init) > depth:
            raise ValueError(f"FaultSRAM {name!r}: {len(init)} initial words exceed depth {depth}")
        for i, v in enumerate(init):
            if not 0 <= v < 1 << width:
                raise ValueError(f"FaultSRAM {name!r}: initial word {i} = {v} does not fit "
                                 f"in {width} unsigned bits")
        self.name, self.role = name, role
        self.width, self.depth = width, depth
        self.layout = code_layout(width, Protection(protection))
        self.protection = self.layout.protection
        self.stored_width = self.layout.stored_width
        self.addr_width = max(1, ceil_log2(depth))
        self.read_ports = read_ports
        self.fault_slots, self.counter_bits = fault_slots, counter_bits
        self.init = init
        self.access_bits = access_bits
        access = {"read_count": Out(access_bits), "write_count": Out(access_bits),
                  "clear_access": In(1)} if access_bits else {}
        super().__init__({
            "host": In(HostPortSignature(self.addr_width, width)),
            **access,
            "write": In(WritePortSignature(self.addr_width, width)),
            "read": In(ReadPortSignature(self.addr_width, width)).array(read_ports),
            "fault": In(stream.Signature(fault_layout(self.addr_width, self.stored_width))),
            "fault_pending": Out(1),
            "clear_status": In(1),
            "corrected_count": Out(counter_bits),
            "detected_count": Out(counter_bits),
            "overflow_count": Out(counter_bits),
            "error": Out(1),
            "fault_overflow": Out(1),
        })
        self.id = None
        if directory is not None:
            directory.add(self)

    @classmethod
    def for_chip(cls, spec, config, directory=None, read_ports: int = 1,
                 images=None) -> "FaultSRAM":
        """The FaultSRAM for a :class:`hw.spec.memmap.MemorySpec` of a chip configured by
        ``config`` (protection by role, fault slots, counter widths); ``images``
        (``{name: words}``) gives initial contents."""
        m = config.memory
        init = [int(w) for w in images[spec.name]] if images and spec.name in images else ()
        return cls(spec.width, spec.depth, name=spec.name, role=spec.role, init=init,
                   protection=m.protection.for_role(spec.role), read_ports=read_ports,
                   fault_slots=m.fault_slots, counter_bits=m.counter_bits,
                   directory=directory, access_bits=config.core.counter_bits)

    # -- code -------------------------------------------------------------------------

    def _encode(self, d):
        lay = self.layout
        bits = [Const(0, 1)] * lay.stored_width
        for i, p in enumerate(lay.data_pos):
            bits[p] = d[i]
        if self.protection is Protection.PARITY:
            bits[lay.width] = d.xor()
        elif self.protection is Protection.SECDED:
            for j, members in enumerate(lay.check_sets):
                bits[1 << j] = Cat(*(bits[p] for p in members if p & (p - 1))).xor()
            bits[0] = Cat(*bits[1:]).xor()
        return Cat(*bits)

    def _decode(self, m, raw, prefix):
        """Decoded (data, corrected, detected) of a stored word; combinational."""
        lay = self.layout
        if self.protection is Protection.NONE:
            return raw, Const(0, 1), Const(0, 1)
        if self.protection is Protection.PARITY:
            return raw[:lay.width], Const(0, 1), raw.xor()
        n = lay.hamming_n
        syndrome = Signal(len(lay.check_sets), name=f"{prefix}_syndrome")
        q = Signal(name=f"{prefix}_parity")
        m.d.comb += [
            syndrome.eq(Cat(*(Cat(*(raw[p] for p in members)).xor()
                              for members in lay.check_sets))),
            q.eq(raw.xor()),
        ]
        out = Cat(*(raw[p] ^ (q & (syndrome == p)) for p in lay.data_pos))
        corrected = q & (syndrome <= n)
        detected = (~q & syndrome.any()) | (q & (syndrome > n))
        return out, corrected, detected

    # -- elaboration --------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        sw, aw = self.stored_width, self.addr_width
        m.submodules.mem = mem = Memory(
            shape=unsigned(sw), depth=self.depth,
            init=[encode_word(self.layout, v) for v in self.init])

        # --- write port, shared by the owner and the flip write-back -------------------
        wp = mem.write_port()
        rmw = mem.read_port()  # flip read; address tied to the write port's
        # The owner's write port as seen after the host override.
        w_en = Signal()
        w_addr = Signal(aw)
        w_data = Signal(self.width)
        m.d.comb += [
            w_en.eq(self.write.en | self.host.we),
            w_addr.eq(Mux(self.host.we, self.host.addr, self.write.addr)),
            w_data.eq(Mux(self.host.we, self.host.data, self.write.data)),
        ]
        pending = Signal()
        f_addr = Signal(aw)
        f_mask = Signal(sw)
        fault = self.fault.payload
        accept = Signal()
        m.d.comb += [
            self.fault.ready.eq(~pending & ~w_en),
            accept.eq(self.fault.valid & self.fault.ready),
            self.fault_pending.eq(pending),
            wp.addr.eq(Mux(w_en, w_addr, Mux(pending, f_addr, fault.addr))),
            wp.data.eq(Mux(w_en, self._encode(w_data), rmw.data ^ f_mask)),
            wp.en.eq(w_en | pending),
            rmw.addr.eq(wp.addr),
            rmw.en.eq(accept & (fault.kind == FaultKind.FLIP)),
        ]
        with m.If(rmw.en):
            m.d.sync += [pending.eq(1), f_addr.eq(fault.addr), f_mask.eq(fault.mask)]
        with m.Elif(pending):
            # Written back now if the port was free; void if the owner overwrote the word.
            with m.If(~w_en | (w_addr == f_addr)):
                m.d.sync += pending.eq(0)

        # --- stuck-at slots ----------------------------------------------------------------
        # Each stuck-at fault takes the lowest free slot: (address, mask, value). Slots
        # are freed only all at once (CLEAR), so slot order is injection order and a
        # later fault wins where masks overlap.
        k = self.fault_slots
        slot_valid = Signal(max(k, 1))
        slot_addr = [Signal(aw, name=f"slot{i}_addr") for i in range(k)]
        slot_mask = [Signal(sw, name=f"slot{i}_mask") for i in range(k)]
        slot_one = [Signal(name=f"slot{i}_one") for i in range(k)]
        stuck = accept & ((fault.kind == FaultKind.STUCK_AT_0) | (fault.kind == FaultKind.STUCK_AT_1))
        refused = Signal()
        if k:
            with m.If(accept & (fault.kind == FaultKind.CLEAR)):
                m.d.sync += slot_valid.eq(0)
            with m.If(stuck):
                with m.Switch(~slot_valid):
                    for i in range(k):
                        with m.Case("-" * (k - 1 - i) + "1" + "0" * i):
                            m.d.sync += [slot_valid[i].eq(1), slot_addr[i].eq(fault.addr),
                                         slot_mask[i].eq(fault.mask),
                                         slot_one[i].eq(fault.kind == FaultKind.STUCK_AT_1)]
                    with m.Default():
                        m.d.comb += refused.eq(1)
        else:
            m.d.comb += refused.eq(stuck)

        # --- read ports: forcing, decoding ---------------------------------------------
        corrected_n = []
        detected_n = []
        for i, port in enumerate(self.read):
            rp = mem.read_port()
            addr_q = Signal(aw, name=f"r{i}_addr_q")
            valid_q = Signal(name=f"r{i}_valid_q")
            r_en, r_addr = port.en, port.addr
            if i == 0:
                r_en = port.en | self.host.re
                r_addr = Mux(self.host.re, self.host.addr, port.addr)
            m.d.comb += [rp.addr.eq(r_addr), rp.en.eq(r_en)]
            m.d.sync += valid_q.eq(r_en)
            with m.If(r_en):
                m.d.sync += addr_q.eq(r_addr)
            forced = rp.data
            for j in range(k):
                hit = slot_valid[j] & (slot_addr[j] == addr_q)
                stuck_bits = Mux(slot_one[j], slot_mask[j], 0)
                forced = Mux(hit, (forced & ~slot_mask[j]) | stuck_bits, forced)
            forced_sig = Signal(sw, name=f"r{i}_forced")
            m.d.comb += forced_sig.eq(forced)
            forced = forced_sig
            d, c, e = self._decode(m, forced, f"r{i}")
            m.d.comb += [port.data.eq(d), port.corrected.eq(c), port.detected.eq(e)]
            corrected_n.append(valid_q & c)
            detected_n.append(valid_q & e)

        # --- access counters ---------------------------------------------------------------
        if self.access_bits:
            reads = sum((p.en & ~self.host.re).as_unsigned() if i == 0 else p.en.as_unsigned()
                        for i, p in enumerate(self.read))
            with m.If(self.clear_access):
                m.d.sync += [self.read_count.eq(0), self.write_count.eq(0)]
            with m.Else():
                m.d.sync += [self.read_count.eq(self.read_count + reads),
                             self.write_count.eq(self.write_count
                                                 + (self.write.en & ~self.host.we))]

        # --- status ----------------------------------------------------------------------
        # the counters add one per port reporting in the cycle (up to read_ports)
        for counter, events in ((self.corrected_count, corrected_n),
                                (self.detected_count, detected_n),
                                (self.overflow_count, [refused])):
            saturating(m, counter, sum(e.as_unsigned() for e in events), self.clear_status)
        with m.If(Cat(*detected_n).any()):
            m.d.sync += self.error.eq(1)
        with m.If(refused):
            m.d.sync += self.fault_overflow.eq(1)
        with m.If(self.clear_status):
            m.d.sync += [self.error.eq(0), self.fault_overflow.eq(0)]
        return m
