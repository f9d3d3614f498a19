"""Memory bus: host access to a group of FaultSRAMs by index.

The host (a testbench, the host interface) loads images, reads them back, injects
faults and reads each memory's status and access counters through one request stream
and one response stream. Index ``i`` is the ``i``-th memory of the group (for a core,
directory order; the chip adds the core's position).

Requests (:class:`BusOp`):

=========  =====================================================  ==========================
op         effect                                                 response ``data``
=========  =====================================================  ==========================
WRITE      ``mem[addr] = data`` (encoded)                          none
READ       read ``mem[addr]`` through faults and decoder           word, corrected, detected
FAULT      fault-port transfer (``mask`` = ``data``, ``kind``)      none
STATUS     --                                                     the status word
                                                                  (:func:`~hw.spec.memory.
                                                                  status_layout`)
COUNTS     --                                                     the counts word
                                                                  (:func:`~hw.spec.memory.
                                                                  counts_layout`)
CLEAR      zero status, sticky flags and access counters           none
=========  =====================================================  ==========================

WRITE, READ, STATUS, COUNTS and CLEAR are accepted only while ``enable`` is high (the
owner is idle: the host port overrides the owner's ports). FAULT is accepted at any
time, as the fault port arbitrates with the owner itself. A request naming an index
outside the group is accepted and answers (when it expects an answer) with ``error``
set. One request is in flight at a time; a READ answers two cycles after acceptance.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.memory import (BusOp, bus_request_layout, bus_response_layout, counts_layout,
                           status_layout, word_bits)

__all__ = ["MemoryBus"]


class MemoryBus(wiring.Component):
    """Host access to ``srams`` (a list of FaultSRAMs owned elsewhere in the design).

    Members
    -------
    req : ``In(stream.Signature(bus_request_layout))``
    resp : ``Out(stream.Signature(bus_response_layout))``
    enable : ``In(1)``, the owners are idle.
    """

    def __init__(self, srams):
        self.srams = list(srams)
        if not self.srams:
            raise ValueError("MemoryBus needs at least one memory")
        self.addr_bits = max(s.addr_width for s in self.srams)
        self.data_bits = max(max(s.width, s.stored_width, word_bits(s.counter_bits, s.access_bits))
                             for s in self.srams)
        super().__init__({
            "req": In(stream.Signature(bus_request_layout(len(self.srams), self.addr_bits,
                                                          self.data_bits))),
            "resp": Out(stream.Signature(bus_response_layout(self.data_bits))),
            "enable": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = len(self.srams)
        req = self.req.payload
        resp = Signal.like(self.resp.payload)
        m.d.comb += self.resp.payload.eq(resp)
        known = req.mem < n
        sel = Signal(n)                       # one-hot: the addressed memory
        m.d.comb += sel.eq(Mux(known, 1 << req.mem, 0))
        op_ok = Signal()                      # the request can be taken this cycle
        take = Signal()
        m.d.comb += take.eq(self.req.valid & op_ok)

        # Address, data and fault payload fan out to every memory unconditionally;
        # only the strobes are decoded (cheaper than gating each memory's buses). The
        # host strobes do not go through `take`: a fault port's ready depends on them.
        idle_req = Signal()      # a request the owners' idleness allows, in state IDLE
        for i, s in enumerate(self.srams):
            m.d.comb += [
                s.host.addr.eq(req.addr), s.host.data.eq(req.data),
                s.host.we.eq(idle_req & sel[i] & (req.op == BusOp.WRITE)),
                s.host.re.eq(idle_req & sel[i] & (req.op == BusOp.READ)),
                s.fault.payload.addr.eq(req.addr), s.fault.payload.mask.eq(req.data),
                s.fault.payload.kind.eq(req.kind),
                s.fault.valid.eq(self.req.valid & sel[i] & (req.op == BusOp.FAULT)),
                s.clear_status.eq(idle_req & sel[i] & (req.op == BusOp.CLEAR)),
            ]
            if s.access_bits:
                m.d.comb += s.clear_access.eq(idle_req & sel[i] & (req.op == BusOp.CLEAR))
        fault_ready = Array(s.fault.ready for s in self.srams)[req.mem]
        read_data = Array(s.read[0].data for s in self.srams)
        read_corr = Array(s.read[0].corrected for s in self.srams)
        read_det = Array(s.read[0].detected for s in self.srams)
        status = Array(self._status_word(s) for s in self.srams)
        counts = Array(self._counts_word(s) for s in self.srams)
        read_mem = Signal.like(req.mem)
        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += idle_req.eq(self.req.valid & self.enable)
                with m.Switch(req.op):
                    with m.Case(BusOp.FAULT):
                        m.d.comb += op_ok.eq(Mux(known, fault_ready, 1))
                    with m.Case(BusOp.WRITE, BusOp.CLEAR):
                        m.d.comb += op_ok.eq(self.enable)
                    with m.Case(BusOp.READ):
                        m.d.comb += op_ok.eq(self.enable)
                        with m.If(take):
                            m.d.sync += [read_mem.eq(req.mem), resp.eq(0),
                                         resp.error.eq(~known)]
                            m.next = "READ"
                    with m.Case(BusOp.STATUS, BusOp.COUNTS):
                        m.d.comb += op_ok.eq(self.enable)
                        with m.If(take):
                            m.d.sync += [resp.eq(0), resp.error.eq(~known),
                                         resp.data.eq(Mux(req.op == BusOp.COUNTS,
                                                          counts[req.mem], status[req.mem]))]
                            m.next = "RESP"
                    with m.Default():
                        m.d.comb += op_ok.eq(1)
                m.d.comb += self.req.ready.eq(op_ok)
            with m.State("READ"):
                m.d.sync += [resp.data.eq(read_data[read_mem]),
                             resp.corrected.eq(read_corr[read_mem]),
                             resp.detected.eq(read_det[read_mem])]
                m.next = "RESP"
            with m.State("RESP"):
                m.d.comb += self.resp.valid.eq(1)
                with m.If(self.resp.ready):
                    m.next = "IDLE"
        return m

    @staticmethod
    def _word(layout, fields):
        """The word of ``layout`` (a :class:`~amaranth.lib.data.StructLayout`) with
        ``fields`` (name -> value, each as wide as its field): the values concatenated
        in the layout's field order, lowest first."""
        parts, offset = [], 0
        for name, field in layout:
            value = fields[name]
            assert field.offset == offset and len(value) == field.width, (name, field)
            parts.append(value)
            offset += field.width
        assert set(fields) == {name for name, _ in layout}
        return Cat(*parts)

    @classmethod
    def _status_word(cls, sram):
        """``sram``'s status word (:func:`hw.spec.memory.status_layout`)."""
        return cls._word(status_layout(sram.counter_bits), {
            "corrected": sram.corrected_count, "detected": sram.detected_count,
            "fault_overflows": sram.overflow_count, "error": sram.error,
            "fault_overflow": sram.fault_overflow})

    @classmethod
    def _counts_word(cls, sram):
        """``sram``'s counts word (:func:`hw.spec.memory.counts_layout`); a 1-bit 0
        without access counters."""
        if not sram.access_bits:
            return Const(0, 1)
        return cls._word(counts_layout(sram.access_bits),
                         {"reads": sram.read_count, "writes": sram.write_count})
