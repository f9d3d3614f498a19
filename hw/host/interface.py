"""Host interface: the chip behind the framed command protocol of
:mod:`hw.spec.host`, on a byte stream.

:class:`HostChip` holds a :class:`~hw.chip.Chip` and exposes only ``rx``/``tx`` (byte
streams; a UART on a board, a pipe in Verilator) and ``busy``. Blocks:

* receiver: SLIP decoding, CRC-16 of the body, a frame buffer of
  ``host.max_payload + 5`` bytes (a ``lib.memory.Memory``) and the first 16 payload
  bytes in registers. At ``END`` it classifies the frame (TOO_LONG, BAD_ESCAPE, SHORT,
  BAD_CRC, BAD_LENGTH, in that order) and holds it (``rx.ready`` low) until the
  executor is done with it. Bytes of an over-long frame are dropped until its ``END``.
* executor: checks the command (UNKNOWN_OP, BAD_LENGTH, BAD_MEMORY, BAD_ADDRESS /
  BAD_TILE / BAD_ARGUMENT, in that order, before it changes anything), then runs it on
  the chip's memory bus, host port, step/step_done and counters, and builds the reply.
* sender and framer: reply bytes from a shift register, CRC appended, SLIP escaping.
* output FIFO (``host.out_fifo_depth`` packets) between the chip's ``host_out`` and the
  transmitter, so that the chip keeps moving while a frame goes out; when it is full the
  chip waits (back-pressure, never loss).

Cycle behaviour: every received byte takes one cycle; a buffered byte is read back in
two cycles; a reply byte leaves when ``tx.ready`` (one cycle each, two for escaped
bytes). ``busy`` is low only when the interface waits for input with nothing to send:
a simulation harness may then block on its input.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..chip import Chip
from ..spec.config import ChipConfig
from ..spec.memory import BusOp, FaultKind, bus_widths
from ..spec.memmap import chip_memories, state_clears
from ..spec.packet import packet_layout
from ..spec.host import (END, ESC, ESC_END, ESC_ESC, OVERHEAD, PROTOCOL_VERSION, SYNC_BYTES,
                         Error, Op, build_id, host_geometry)

__all__ = ["HostChip", "SlipFramer"]

def _crc_step(crc: int, byte: int) -> int:
    crc ^= byte << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


# The byte update is linear over GF(2) in (crc, byte): output bit i is the XOR of the
# input bits listed here (found by pushing unit vectors through the software CRC).
# Written as XOR trees it stays a few dozen gates; an unrolled Mux chain would not.
_CRC_TAPS = [[j for j in range(24)
              if (_crc_step(1 << j, 0) if j < 16 else _crc_step(0, 1 << (j - 16))) >> i & 1]
             for i in range(16)]


def _crc_next(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte (combinational XOR network)."""
    bits = Cat(crc, byte)
    out = []
    for taps in _CRC_TAPS:
        v = bits[taps[0]]
        for j in taps[1:]:
            v = v ^ bits[j]
        out.append(v)
    return Cat(*out)


class SlipFramer(wiring.Component):
    """Reply bytes (``i``: data, last) -> a SLIP frame on ``o``: ``END``, the escaped
    bytes, the escaped CRC-16 of the bytes (big-endian), ``END``. ``busy`` is high from
    the first byte until the closing ``END`` has left."""

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"data": 8, "last": 1}))),
            "o": Out(stream.Signature(8)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(16, init=0xFFFF)
        pend, pend_valid = Signal(8), Signal()

        def emit(byte, then=None, consume=False):
            special = (byte == END) | (byte == ESC)
            m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(Mux(special, ESC, byte))]
            with m.If(self.o.ready):
                with m.If(special):
                    m.d.sync += [pend_valid.eq(1), pend.eq(Mux(byte == END, ESC_END, ESC_ESC))]
                if then is not None:
                    m.next = then

        with m.FSM() as fsm:
            with m.State("START"):
                with m.If(self.i.valid):
                    m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(END)]
                    with m.If(self.o.ready):
                        m.d.sync += crc.eq(0xFFFF)
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(pend_valid):
                    m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(pend)]
                    with m.If(self.o.ready):
                        m.d.sync += pend_valid.eq(0)
                with m.Elif(self.i.valid):
                    b = self.i.payload.data
                    emit(b)
                    with m.If(self.o.ready):
                        m.d.comb += self.i.ready.eq(1)
                        m.d.sync += crc.eq(_crc_next(crc, b))
                        with m.If(self.i.payload.last):
                            m.next = "CRC_HI"
            for state, byte, nxt in (("CRC_HI", crc[8:], "CRC_LO"), ("CRC_LO", crc[:8], "CLOSE")):
                with m.State(state):
                    with m.If(pend_valid):
                        m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(pend)]
                        with m.If(self.o.ready):
                            m.d.sync += pend_valid.eq(0)
                    with m.Else():
                        emit(byte, then=nxt)
            with m.State("CLOSE"):
                with m.If(pend_valid):
                    m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(pend)]
                    with m.If(self.o.ready):
                        m.d.sync += pend_valid.eq(0)
                with m.Else():
                    m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(END)]
                    with m.If(self.o.ready):
                        m.next = "START"
        m.d.comb += self.busy.eq(~fsm.ongoing("START") | pend_valid)
        return m


class HostChip(wiring.Component):
    """The chip behind the host protocol.

    Members
    -------
    rx : ``In(stream.Signature(8))``, bytes from the host.
    tx : ``Out(stream.Signature(8))``, bytes to the host.
    busy : ``Out(1)``, see the module docstring.
    errors : ``Out(16)``, error replies sent (saturating).
    """

    HEADER_BYTES = 16

    def __init__(self, config: ChipConfig, *, directory=None, images=None):
        self.config = config
        self.chip = Chip(config, directory=directory, images=images)
        self.directory = self.chip.directory
        g = host_geometry(config)
        if g["data_bits"] != self.chip.bus.data_bits:
            raise AssertionError("host_geometry disagrees with the chip's memory bus")
        self.geometry = g
        self.build_id = build_id(config)
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
                          "busy": Out(1), "errors": Out(16)})

    def elaborate(self, platform):
        m = Module()
        cfg, g = self.config, self.geometry
        chip = self.chip
        WB, PB = g["word_bytes"], g["packet_bytes"]
        MAXP = cfg.host.max_payload
        BUF = MAXP + OVERHEAD
        n_mems, n_tiles = g["memories"], cfg.noc.tiles
        K = max(1, min(cfg.host.out_fifo_depth, (MAXP - 4) // PB))

        chip_rst = Signal()
        m.submodules.chip = ResetInserter(chip_rst)(chip)
        m.submodules.framer = framer = SlipFramer()
        wiring.connect(m, framer.o, wiring.flipped(self.tx))
        pkt_bits = packet_layout(cfg).size
        m.submodules.ofifo = ofifo = ResetInserter(chip_rst)(
            fifo.SyncFIFOBuffered(width=pkt_bits, depth=cfg.host.out_fifo_depth))
        m.d.comb += [ofifo.w_data.eq(chip.host_out.payload.as_value()),
                     ofifo.w_en.eq(chip.host_out.valid),
                     chip.host_out.ready.eq(ofifo.w_rdy)]

        # -- receiver --------------------------------------------------------------------
        m.submodules.buf = buf = Memory(shape=8, depth=BUF, init=[])
        wr = buf.write_port()
        rd = buf.read_port(transparent_for=())
        cnt = Signal(range(BUF + 2))           # body bytes so far; BUF + 1: too long
        crc = Signal(16, init=0xFFFF)
        esc, bad_esc = Signal(), Signal()
        have = Signal()                        # a frame waits for the executor
        rx_err = Signal(8)
        op = Signal(8)
        length = Signal(16)
        hdr = Signal(8 * self.HEADER_BYTES)
        ack = Signal()                         # executor: done with the frame
        w_rem, w_quo = Signal(range(WB)), Signal(range(BUF // WB + 2))
        p_rem, p_quo = Signal(range(PB)), Signal(range(BUF // PB + 2))
        s_rem, s_quo = Signal(range(PB)), Signal(range(BUF // PB + 2))
        m.d.comb += self.rx.ready.eq(~have)
        byte = self.rx.payload
        with m.If(self.rx.valid & ~have):
            with m.If(byte == END):
                # an ESC right before END escapes nothing: a bad escape, not a no-op
                with m.If((cnt != 0) | bad_esc | esc):
                    m.d.sync += have.eq(1)
                    with m.If(cnt > BUF):
                        m.d.sync += rx_err.eq(Error.TOO_LONG)
                    with m.Elif(bad_esc | esc):
                        m.d.sync += rx_err.eq(Error.BAD_ESCAPE)
                    with m.Elif(cnt < OVERHEAD):
                        m.d.sync += rx_err.eq(Error.SHORT)
                    with m.Elif(crc != 0):
                        m.d.sync += rx_err.eq(Error.BAD_CRC)
                    with m.Elif(length != cnt - OVERHEAD):
                        m.d.sync += rx_err.eq(Error.BAD_LENGTH)
                    with m.Else():
                        m.d.sync += rx_err.eq(0)
                m.d.sync += esc.eq(0)
            with m.Elif(~esc & (byte == ESC)):
                m.d.sync += esc.eq(1)
            with m.Else():
                value = Signal(8)
                m.d.comb += value.eq(byte)
                with m.If(esc):
                    m.d.sync += esc.eq(0)
                    with m.If(byte == ESC_END):
                        m.d.comb += value.eq(END)
                    with m.Elif(byte == ESC_ESC):
                        m.d.comb += value.eq(ESC)
                    with m.Else():
                        m.d.sync += bad_esc.eq(1)
                with m.If(cnt < BUF):
                    m.d.comb += [wr.addr.eq(cnt), wr.data.eq(value), wr.en.eq(1)]
                with m.If(cnt <= BUF):
                    m.d.sync += [cnt.eq(cnt + 1), crc.eq(_crc_next(crc, value))]
                # Payload bytes counted in words (from offset 6, WRITE) and in packets
                # (from offset 0, EVENTS; from offset 4, STEP) as they arrive, two bytes
                # late so that the CRC is left out: no divider in the command checks.
                for rem, quo, n, first in ((w_rem, w_quo, WB, 9), (p_rem, p_quo, PB, 3),
                                           (s_rem, s_quo, PB, 7)):
                    with m.If((cnt >= first + 2) & (cnt <= BUF)):
                        with m.If(rem == n - 1):
                            m.d.sync += [rem.eq(0), quo.eq(quo + 1)]
                        with m.Else():
                            m.d.sync += rem.eq(rem + 1)
                with m.Switch(cnt):
                    with m.Case(0):
                        m.d.sync += op.eq(value)
                    with m.Case(1):
                        m.d.sync += length[:8].eq(value)
                    with m.Case(2):
                        m.d.sync += length[8:].eq(value)
                    for k in range(self.HEADER_BYTES):
                        with m.Case(3 + k):
                            m.d.sync += hdr[8 * k:8 * k + 8].eq(value)
        with m.If(ack):
            m.d.sync += [have.eq(0), cnt.eq(0), crc.eq(0xFFFF), esc.eq(0), bad_esc.eq(0),
                         w_rem.eq(0), w_quo.eq(0), p_rem.eq(0), p_quo.eq(0),
                         s_rem.eq(0), s_quo.eq(0)]

        # -- sender ----------------------------------------------------------------------
        S = 8 * max(3 + 21, 3 + g["core_counter_bytes"], 3 + g["chip_counter_bytes"],
                    3 + WB + 1, 3 + 8, PB, 7)
        sr = Signal(S)
        left = Signal(range(S // 8 + 1))
        last = Signal()
        m.d.comb += [framer.i.valid.eq(left != 0), framer.i.payload.data.eq(sr[:8]),
                     framer.i.payload.last.eq(last & (left == 1))]
        ld = Signal()
        ld_val, ld_n, ld_last = Signal(S), Signal(range(S // 8 + 1)), Signal()
        with m.If(ld):
            m.d.sync += [sr.eq(ld_val), left.eq(ld_n), last.eq(ld_last)]
        with m.Elif(framer.i.valid & framer.i.ready):
            m.d.sync += [sr.eq(sr >> 8), left.eq(left - 1)]
        sender_idle = left == 0

        def send(*fields, last=True):
            """Load the sender with byte fields (value, bytes) in order."""
            def fit(v, n):
                if isinstance(v, int):
                    return Const(v, 8 * n)
                v = v.as_value() if hasattr(v, "as_value") else v
                return v[:8 * n] if len(v) >= 8 * n else Cat(v, Const(0, 8 * n - len(v)))
            bits = Cat(*(fit(v, n) for v, n in fields))
            total = sum(n for _, n in fields)
            m.d.comb += [ld.eq(1), ld_val.eq(bits), ld_n.eq(total), ld_last.eq(int(last))]

        # -- executor --------------------------------------------------------------------
        depths = Array(Const(d, 32) for d in g["depths"])
        mem_id, addr = hdr[0:16], hdr[16:48]
        rcount = hdr[48:64]
        fcount = hdr[48:80]
        kind, memop = hdr[48:56], hdr[16:24]
        steps_arg, tile = hdr[0:32], hdr[0:16]
        depth = Signal(32)
        m.d.comb += depth.eq(Mux(mem_id < n_mems, depths[mem_id[:max(1, (n_mems - 1).bit_length())]], 0))
        wwords = w_quo

        err_code, err_op = Signal(8), Signal(8)
        ptr = Signal(range(BUF + 1))
        left_items = Signal(32)
        cur_addr = Signal(32)
        filling = Signal()                     # FILL: WRITE_BUS repeats one word
        step_idx, step_events = Signal(32), Signal(32)
        with_events = Signal()                 # STEP: inject the frame's packets each step
        step_packets = Signal.like(s_quo)
        gsr = Signal(8 * max(WB, PB))
        gi = Signal(range(max(WB, PB) + 1))
        gn = Signal(range(max(WB, PB) + 1))
        ret = Signal(4)                        # where GATHER returns
        done_flag = Signal()
        rst_cnt = Signal(2)
        burst = Signal(range(K + 1))
        burst_ev = Signal.like(s_quo)
        # CLEAR_STATE: (memory, depth, keep mask) of each memory it visits
        clears = state_clears(cfg)
        cs_n = len(clears)
        cs_idx = Signal(range(cs_n + 1))
        cs_mem = Signal(16)
        cs_keep = Signal(8 * WB)
        cs_word = Signal(8 * WB)
        cs_tab_mem = Array(Const(i, 16) for i, _ in clears) if clears else None
        cs_tab_depth = Array(Const(g["depths"][i], 32) for i, _ in clears) if clears else None
        cs_tab_keep = Array(Const(k, 8 * WB) for _, k in clears) if clears else None
        errors = Signal(16)
        m.d.comb += self.errors.eq(errors)

        req = chip.mem_req.payload
        resp = chip.mem_resp.payload
        m.d.comb += chip.mem_resp.ready.eq(1)
        resp_data = Signal(8 * WB)
        resp_flags = Signal(8)
        resp_got = Signal()
        with m.If(chip.mem_resp.valid):
            m.d.sync += [resp_data.eq(resp.data), resp_got.eq(1),
                         resp_flags.eq(Cat(resp.corrected, resp.detected, resp.error))]

        with m.If(chip.step_done):
            m.d.sync += done_flag.eq(1)
        # A step's output events are those written since the previous STEP_DONE: cores
        # accept the tick at different cycles (an SCDQ core drains its due slot first),
        # so the first spikes can reach the FIFO before the step request is taken.
        wrote, restart = Signal(), Signal()
        m.d.comb += wrote.eq(ofifo.w_en & ofifo.w_rdy & ~chip_rst)
        with m.If(restart):
            m.d.sync += step_events.eq(wrote)
        with m.Elif(wrote):
            m.d.sync += step_events.eq(step_events + 1)

        core_ctrs = Array(c.as_value() for c in chip.core_counters)
        word_of = gsr[8 * (max(WB, PB) - WB):]
        packet_of = gsr[8 * (max(WB, PB) - PB):]
        ok_hdr = lambda n: ((op | 0x80, 1), (Const(n, 16), 2))  # noqa: E731

        def fail(code):
            m.d.sync += [err_code.eq(code), err_op.eq(op)]
            m.next = "ERROR"

        def gather(n, start, then):
            m.d.sync += [ptr.eq(start), gi.eq(0), gn.eq(n), ret.eq(then)]
            m.next = "G_ADDR"

        RET = {"WRITE_BUS": 0, "FAULT_BUS": 1, "EVENT_SEND": 2, "STEP_SEND": 3}

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(have):
                    with m.If(rx_err != 0):
                        m.d.sync += [err_code.eq(rx_err), err_op.eq(0)]
                        m.next = "ERROR"
                    with m.Else():
                        with m.Switch(op):
                            with m.Case(Op.IDENTIFY):
                                with m.If(length != 0):
                                    fail(Error.BAD_LENGTH)
                                with m.Else():
                                    m.next = "IDENTIFY"
                            with m.Case(Op.WRITE):
                                with m.If((length < 6 + WB) | (w_rem != 0)):
                                    fail(Error.BAD_LENGTH)
                                with m.Elif(mem_id >= n_mems):
                                    fail(Error.BAD_MEMORY)
                                with m.Elif(addr + wwords > depth):
                                    fail(Error.BAD_ADDRESS)
                                with m.Else():
                                    m.d.sync += [left_items.eq(wwords), cur_addr.eq(addr),
                                                 filling.eq(0)]
                                    gather(WB, 9, RET["WRITE_BUS"])
                            with m.Case(Op.FILL):
                                with m.If(length != 10 + WB):
                                    fail(Error.BAD_LENGTH)
                                with m.Elif(mem_id >= n_mems):
                                    fail(Error.BAD_MEMORY)
                                with m.Elif((fcount == 0) | (addr + fcount > depth)):
                                    fail(Error.BAD_ADDRESS)
                                with m.Else():
                                    m.d.sync += [left_items.eq(fcount), cur_addr.eq(addr),
                                                 filling.eq(1)]
                                    gather(WB, 13, RET["WRITE_BUS"])
                            with m.Case(Op.READ):
                                with m.If(length != 8):
                                    fail(Error.BAD_LENGTH)
                                with m.Elif(mem_id >= n_mems):
                                    fail(Error.BAD_MEMORY)
                                with m.Elif((rcount == 0) | (addr + rcount > depth)):
                                    fail(Error.BAD_ADDRESS)
                                with m.Elif(rcount > MAXP // (WB + 1)):
                                    fail(Error.BAD_ARGUMENT)
                                with m.Else():
                                    m.d.sync += [left_items.eq(rcount), cur_addr.eq(addr)]
                                    m.next = "READ_HDR"
                            with m.Case(Op.FAULT):
                                with m.If(length != 7 + WB):
                                    fail(Error.BAD_LENGTH)
                                with m.Elif(mem_id >= n_mems):
                                    fail(Error.BAD_MEMORY)
                                with m.Elif(addr >= depth):
                                    fail(Error.BAD_ADDRESS)
                                with m.Elif(kind > 3):
                                    fail(Error.BAD_ARGUMENT)
                                with m.Else():
                                    gather(WB, 10, RET["FAULT_BUS"])
                            with m.Case(Op.MEMSTAT):
                                with m.If(length != 3):
                                    fail(Error.BAD_LENGTH)
                                with m.Elif(mem_id >= n_mems):
                                    fail(Error.BAD_MEMORY)
                                with m.Elif((memop != BusOp.STATUS.value) & (memop != BusOp.COUNTS.value)
                                            & (memop != BusOp.CLEAR.value)):
                                    fail(Error.BAD_ARGUMENT)
                                with m.Else():
                                    m.next = "MEMSTAT"
                            with m.Case(Op.EVENTS):
                                with m.If(p_rem != 0):
                                    fail(Error.BAD_LENGTH)
                                with m.Else():
                                    m.d.sync += left_items.eq(p_quo)
                                    m.next = "EVENT_NEXT"
                                    m.d.sync += ptr.eq(3)
                            with m.Case(Op.RUN):
                                with m.If(length != 4):
                                    fail(Error.BAD_LENGTH)
                                with m.Else():
                                    m.d.sync += [left_items.eq(steps_arg), step_idx.eq(0),
                                                 with_events.eq(0)]
                                    m.next = "RUN_NEXT"
                            with m.Case(Op.STEP):
                                with m.If((length < 4) | (s_rem != 0)):
                                    fail(Error.BAD_LENGTH)
                                with m.Else():
                                    m.d.sync += [left_items.eq(steps_arg), step_idx.eq(0),
                                                 with_events.eq(1), step_packets.eq(s_quo)]
                                    m.next = "STEP_FIRST"
                            with m.Case(Op.COUNTERS):
                                with m.If(length != 2):
                                    fail(Error.BAD_LENGTH)
                                with m.Elif((tile != 0xFFFF) & (tile >= n_tiles)):
                                    fail(Error.BAD_TILE)
                                with m.Else():
                                    m.next = "COUNTERS"
                            with m.Case(Op.CLEAR_STATE):
                                with m.If(length != 0):
                                    fail(Error.BAD_LENGTH)
                                with m.Else():
                                    m.d.sync += cs_idx.eq(0)
                                    m.next = "CS_MEM"
                            with m.Case(Op.SYNC):
                                with m.If(length != SYNC_BYTES):
                                    fail(Error.BAD_LENGTH)
                                with m.Else():
                                    m.next = "SYNC"
                            with m.Case(Op.CLEAR, Op.RESET):
                                with m.If(length != 0):
                                    fail(Error.BAD_LENGTH)
                                with m.Elif(op == Op.CLEAR):
                                    m.d.comb += chip.clear_counters.eq(1)
                                    m.next = "OK"
                                with m.Else():
                                    m.d.sync += rst_cnt.eq(3)
                                    m.next = "RESET"
                            with m.Default():
                                fail(Error.UNKNOWN_OP)

            with m.State("ERROR"):
                with m.If(sender_idle):
                    send((Op.ERROR, 1), (2, 2), (err_code, 1), (err_op, 1))
                    m.d.sync += errors.eq(Mux(errors == 0xFFFF, errors, errors + 1))
                    m.next = "FINISH"
            with m.State("OK"):
                with m.If(sender_idle):
                    send(*ok_hdr(0))
                    m.next = "FINISH"
            with m.State("FINISH"):
                # the frame buffer is free once the reply is on its way
                m.d.comb += ack.eq(1)
                m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(sender_idle & ~framer.busy):
                    m.next = "IDLE"

            with m.State("IDENTIFY"):
                with m.If(sender_idle):
                    send(*ok_hdr(21), (PROTOCOL_VERSION, 1),
                         (int(cfg.hash, 16), 8), (self.build_id, 4), (WB, 1), (PB, 1),
                         (n_mems, 2), (cfg.noc.width, 1), (cfg.noc.height, 1), (MAXP, 2))
                    m.next = "FINISH"

            with m.State("SYNC"):
                with m.If(sender_idle):
                    send(*ok_hdr(SYNC_BYTES), (hdr[:8 * SYNC_BYTES], SYNC_BYTES))
                    m.next = "FINISH"

            # gather gn bytes from the frame buffer into the top of gsr
            with m.State("G_ADDR"):
                m.d.comb += rd.addr.eq(ptr)
                m.next = "G_DATA"
            with m.State("G_DATA"):
                m.d.sync += [gsr.eq(Cat(gsr[8:], rd.data)), ptr.eq(ptr + 1), gi.eq(gi + 1)]
                with m.If(gi + 1 == gn):
                    with m.Switch(ret):
                        for name, code in RET.items():
                            with m.Case(code):
                                m.next = name
                with m.Else():
                    m.next = "G_ADDR"

            with m.State("WRITE_BUS"):
                m.d.comb += [chip.mem_req.valid.eq(1), req.op.eq(BusOp.WRITE),
                             req.mem.eq(mem_id), req.addr.eq(cur_addr), req.data.eq(word_of)]
                with m.If(chip.mem_req.ready):
                    m.d.sync += [cur_addr.eq(cur_addr + 1), left_items.eq(left_items - 1)]
                    with m.If(left_items == 1):
                        m.next = "OK"
                    with m.Elif(~filling):
                        gather(WB, ptr, RET["WRITE_BUS"])
                    # FILL: the one word stays in gsr, one write per cycle

            with m.State("FAULT_BUS"):
                m.d.comb += [chip.mem_req.valid.eq(1), req.op.eq(BusOp.FAULT),
                             req.mem.eq(mem_id), req.addr.eq(addr), req.data.eq(word_of)]
                with m.Switch(kind[:2]):
                    for k in FaultKind:
                        with m.Case(k.value):
                            m.d.comb += req.kind.eq(k)
                with m.If(chip.mem_req.ready):
                    m.next = "OK"

            with m.State("READ_HDR"):
                with m.If(sender_idle):
                    send((op | 0x80, 1), (rcount * (WB + 1), 2), last=False)
                    m.next = "READ_REQ"
            with m.State("READ_REQ"):
                m.d.comb += [chip.mem_req.valid.eq(1), req.op.eq(BusOp.READ),
                             req.mem.eq(mem_id), req.addr.eq(cur_addr)]
                with m.If(chip.mem_req.ready):
                    m.d.sync += [resp_got.eq(0), cur_addr.eq(cur_addr + 1)]
                    m.next = "READ_RESP"
            with m.State("READ_RESP"):
                with m.If(resp_got & sender_idle):
                    m.d.sync += left_items.eq(left_items - 1)
                    with m.If(left_items == 1):
                        send((resp_data, WB), (resp_flags, 1), last=True)
                        m.next = "FINISH"
                    with m.Else():
                        send((resp_data, WB), (resp_flags, 1), last=False)
                        m.next = "READ_REQ"

            with m.State("MEMSTAT"):
                m.d.comb += [chip.mem_req.valid.eq(1), req.mem.eq(mem_id)]
                with m.Switch(memop):
                    for bop in (BusOp.STATUS, BusOp.COUNTS, BusOp.CLEAR):
                        with m.Case(bop.value):
                            m.d.comb += req.op.eq(bop)
                with m.If(chip.mem_req.ready):
                    m.d.sync += resp_got.eq(0)
                    m.next = "MEMSTAT_RESP"
            with m.State("MEMSTAT_RESP"):
                with m.If(memop == BusOp.CLEAR.value):
                    with m.If(sender_idle):
                        send(*ok_hdr(WB + 1), (0, WB), (0, 1))
                        m.next = "FINISH"
                with m.Elif(resp_got & sender_idle):
                    send(*ok_hdr(WB + 1), (resp_data, WB), (resp_flags, 1))
                    m.next = "FINISH"

            with m.State("EVENT_NEXT"):
                with m.If(left_items == 0):
                    m.next = "OK"
                with m.Else():
                    gather(PB, ptr, RET["EVENT_SEND"])
            with m.State("EVENT_SEND"):
                pkt = Signal(packet_layout(cfg))
                m.d.comb += [pkt.eq(packet_of), chip.host_in.payload.eq(pkt),
                             chip.host_in.payload.to_host.eq(0),
                             chip.host_in.valid.eq(1)]
                with m.If(chip.host_in.ready):
                    m.d.sync += left_items.eq(left_items - 1)
                    m.next = "EVENT_NEXT"

            # STEP: before each timestep, the frame's packets again (from the buffer,
            # which the frame holds until the command is done), then as RUN
            with m.State("STEP_FIRST"):
                with m.If(left_items == 0):
                    m.next = "RUN_NEXT"
                with m.Else():
                    m.d.sync += [ptr.eq(7), burst_ev.eq(step_packets)]
                    m.next = "STEP_NEXT"
            with m.State("STEP_NEXT"):
                with m.If(burst_ev == 0):
                    m.next = "RUN_NEXT"
                with m.Else():
                    gather(PB, ptr, RET["STEP_SEND"])
            with m.State("STEP_SEND"):
                spkt = Signal(packet_layout(cfg))
                m.d.comb += [spkt.eq(packet_of), chip.host_in.payload.eq(spkt),
                             chip.host_in.payload.to_host.eq(0),
                             chip.host_in.valid.eq(1)]
                with m.If(chip.host_in.ready):
                    m.d.sync += burst_ev.eq(burst_ev - 1)
                    m.next = "STEP_NEXT"

            with m.State("RUN_NEXT"):
                with m.If(left_items == 0):
                    with m.If(sender_idle):
                        send(*ok_hdr(4), (step_idx, 4))
                        m.next = "FINISH"
                with m.Else():
                    m.d.comb += chip.step.valid.eq(1)
                    with m.If(chip.step.ready):
                        m.d.sync += done_flag.eq(0)
                        m.next = "RUN_WAIT"
            with m.State("RUN_WAIT"):
                level = ofifo.level
                with m.If(sender_idle):
                    with m.If((level >= K) | (done_flag & (level != 0))):
                        n = Mux(level >= K, K, level)
                        m.d.sync += burst.eq(n)
                        send((Op.OUTPUT, 1), ((4 + n * PB)[:16], 2), (step_idx, 4), last=False)
                        m.next = "RUN_PKT"
                    with m.Elif(done_flag):
                        send((Op.STEP_DONE, 1), (8, 2), (step_idx, 4), (step_events, 4))
                        m.d.comb += restart.eq(1)
                        m.d.sync += [step_idx.eq(step_idx + 1), left_items.eq(left_items - 1)]
                        m.next = "RUN_GAP"
            with m.State("RUN_GAP"):
                # let the STEP_DONE frame close before the next frame starts
                with m.If(sender_idle):
                    m.next = "RUN_NEXT"
                    with m.If(with_events):
                        m.next = "STEP_FIRST"
            with m.State("RUN_PKT"):
                with m.If(sender_idle):
                    m.d.comb += ofifo.r_en.eq(1)
                    m.d.sync += burst.eq(burst - 1)
                    send((ofifo.r_data, PB), last=False)
                    with m.If(burst == 1):
                        m.d.comb += ld_last.eq(1)
                        m.next = "RUN_WAIT"

            with m.State("COUNTERS"):
                with m.If(sender_idle):
                    with m.If(tile == 0xFFFF):
                        send(*ok_hdr(g["chip_counter_bytes"]),
                             (chip.counters.as_value(), g["chip_counter_bytes"]))
                    with m.Else():
                        send(*ok_hdr(g["core_counter_bytes"]),
                             (core_ctrs[tile[:max(1, (n_tiles - 1).bit_length())]],
                              g["core_counter_bytes"]))
                    m.next = "FINISH"

            # CLEAR_STATE: per memory of state_clears, each word read through the bus
            # and written back with only the kept bits (a memory that keeps nothing
            # is written with zeros, one word per cycle, without reading)
            with m.State("CS_MEM"):
                if clears:
                    with m.If(cs_idx == cs_n):
                        m.next = "OK"
                    with m.Else():
                        m.d.sync += [cs_mem.eq(cs_tab_mem[cs_idx]), cur_addr.eq(0),
                                     left_items.eq(cs_tab_depth[cs_idx]),
                                     cs_keep.eq(cs_tab_keep[cs_idx]), cs_word.eq(0)]
                        with m.If(cs_tab_keep[cs_idx] == 0):
                            m.next = "CS_WRITE"
                        with m.Else():
                            m.next = "CS_READ"
                else:
                    m.next = "OK"
            with m.State("CS_READ"):
                m.d.comb += [chip.mem_req.valid.eq(1), req.op.eq(BusOp.READ),
                             req.mem.eq(cs_mem), req.addr.eq(cur_addr)]
                with m.If(chip.mem_req.ready):
                    m.d.sync += resp_got.eq(0)
                    m.next = "CS_RESP"
            with m.State("CS_RESP"):
                with m.If(resp_got):
                    m.d.sync += cs_word.eq(resp_data & cs_keep)
                    m.next = "CS_WRITE"
            with m.State("CS_WRITE"):
                m.d.comb += [chip.mem_req.valid.eq(1), req.op.eq(BusOp.WRITE),
                             req.mem.eq(cs_mem), req.addr.eq(cur_addr), req.data.eq(cs_word)]
                with m.If(chip.mem_req.ready):
                    m.d.sync += [cur_addr.eq(cur_addr + 1), left_items.eq(left_items - 1)]
                    with m.If(left_items == 1):
                        m.d.sync += cs_idx.eq(cs_idx + 1)
                        m.next = "CS_MEM"
                    with m.Elif(cs_keep != 0):
                        m.next = "CS_READ"

            with m.State("RESET"):
                m.d.comb += [chip_rst.eq(1), restart.eq(1)]
                m.d.sync += rst_cnt.eq(rst_cnt - 1)
                with m.If(rst_cnt == 0):
                    m.d.sync += errors.eq(0)
                    m.next = "OK"

        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE") | have | ~sender_idle | framer.busy)
        return m
