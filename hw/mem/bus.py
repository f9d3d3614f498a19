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
STATUS     --                                                     ``corrected_count |
                                                                  detected_count << cb |
                                                                  overflow_count << 2cb |
                                                                  error << 3cb |
                                                                  fault_overflow << 3cb+1``
COUNTS     --                                                     ``read_count |
                                                                  write_count << ab``
CLEAR      zero status, sticky flags and access counters           none
=========  =====================================================  ==========================

WRITE, READ, STATUS, COUNTS and CLEAR are accepted only while ``enable`` is high (the
owner is idle: the host port overrides the owner's ports). FAULT is accepted at any
time, as the fault port arbitrates with the owner itself. A request naming an index
outside the group is accepted and answers (when it expects an answer) with ``error``
set. One request is in flight at a time; a READ answers two cycles after acceptance.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .fault_sram import FaultKind

__all__ = ["BusOp", "MemoryBus", "bus_request_layout", "bus_response_layout"]


class BusOp(enum.Enum, shape=3):
    WRITE = 0
    READ = 1
    FAULT = 2
    STATUS = 3
    COUNTS = 4
    CLEAR = 5


def bus_request_layout(n_mems: int, addr_bits: int, data_bits: int) -> data.StructLayout:
    return data.StructLayout({"op": BusOp, "mem": max(1, (n_mems - 1).bit_length()),
                              "addr": addr_bits, "data": data_bits, "kind": FaultKind})


def bus_response_layout(data_bits: int) -> data.StructLayout:
    return data.StructLayout({"data": data_bits, "corrected": 1, "detected": 1, "error": 1})


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
        self.data_bits = max(max(s.width, s.stored_width, 3 * s.counter_bits + 2,
                                 2 * s.access_bits) for s in self.srams)
        super().__init__({
            "req": In(stream.Signature(bus_request_layout(len(self.srams), self.addr_bits,
                                                          self.data_bits))),
            "resp": Out(stream.Signature(bus_response_layout(self.data_bits))),
            "enable": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        req = self.req.payload
        resp = Signal.like(self.resp.payload)
        m.d.comb += self.resp.payload.eq(resp)
        known = req.mem < len(self.srams)
        read_mem = Signal.like(req.mem)
        with m.FSM():
            with m.State("IDLE"):
                with m.Switch(req.op):
                    with m.Case(BusOp.FAULT):
                        for i, s in enumerate(self.srams):
                            with m.If(req.mem == i):
                                m.d.comb += [s.fault.valid.eq(self.req.valid),
                                             s.fault.payload.addr.eq(req.addr),
                                             s.fault.payload.mask.eq(req.data),
                                             s.fault.payload.kind.eq(req.kind),
                                             self.req.ready.eq(s.fault.ready)]
                        with m.If(~known):
                            m.d.comb += self.req.ready.eq(1)
                    with m.Case(BusOp.WRITE, BusOp.CLEAR):
                        m.d.comb += self.req.ready.eq(self.enable)
                        for i, s in enumerate(self.srams):
                            with m.If((req.mem == i) & self.req.valid & self.enable):
                                with m.If(req.op == BusOp.WRITE):
                                    m.d.comb += [s.host.we.eq(1), s.host.addr.eq(req.addr),
                                                 s.host.data.eq(req.data)]
                                with m.Else():
                                    m.d.comb += s.clear_status.eq(1)
                                    if s.access_bits:
                                        m.d.comb += s.clear_access.eq(1)
                    with m.Case(BusOp.READ):
                        m.d.comb += self.req.ready.eq(self.enable)
                        with m.If(self.req.valid & self.enable):
                            for i, s in enumerate(self.srams):
                                with m.If(req.mem == i):
                                    m.d.comb += [s.host.re.eq(1), s.host.addr.eq(req.addr)]
                            m.d.sync += [read_mem.eq(req.mem), resp.eq(0),
                                         resp.error.eq(~known)]
                            m.next = "READ"
                    with m.Case(BusOp.STATUS, BusOp.COUNTS):
                        m.d.comb += self.req.ready.eq(self.enable)
                        with m.If(self.req.valid & self.enable):
                            m.d.sync += [resp.eq(0), resp.error.eq(~known)]
                            for i, s in enumerate(self.srams):
                                status = Cat(s.corrected_count, s.detected_count,
                                             s.overflow_count, s.error, s.fault_overflow)
                                counts = Cat(s.read_count, s.write_count) if s.access_bits \
                                    else 0
                                with m.If(req.mem == i):
                                    with m.If(req.op == BusOp.COUNTS):
                                        m.d.sync += resp.data.eq(counts)
                                    with m.Else():
                                        m.d.sync += resp.data.eq(status)
                            m.next = "RESP"
                    with m.Default():
                        m.d.comb += self.req.ready.eq(1)
            with m.State("READ"):
                for i, s in enumerate(self.srams):
                    with m.If(read_mem == i):
                        m.d.sync += [resp.data.eq(s.read[0].data),
                                     resp.corrected.eq(s.read[0].corrected),
                                     resp.detected.eq(s.read[0].detected)]
                m.next = "RESP"
            with m.State("RESP"):
                m.d.comb += self.resp.valid.eq(1)
                with m.If(self.resp.ready):
                    m.next = "IDLE"
        return m
