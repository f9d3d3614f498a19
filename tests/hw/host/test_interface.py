"""The host interface in amaranth.sim (fast; the Verilator tests in
``test_host_verilator.py`` fuzz the protocol at length):

* :class:`SlipFramer` alone: random byte frames with random input gaps and output
  back-pressure come out byte for byte as END, the SLIP-escaped bytes and CRC-16, END,
  obeying the stream rules;
* :class:`UartHostChip` at the bit level: frames bit-banged onto ``rx_pin`` (8N1,
  ``divisor`` cycles per bit) and ``tx_pin`` decoded back into bytes give exactly the
  golden host's replies; then a host that ignores the request/response discipline loses
  bytes, which ``uart_errors`` counts, and the interface recovers at the next frame.
"""

import random
import struct

from amaranth.sim import Simulator

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from hw.host import SlipFramer
from hw.host.board import UartHostChip
from hw.spec.host import build_id, host_geometry
from hw.spec.host import (END, ESC, ESC_END, ESC_ESC, Error, FrameDecoder, Op, crc16, encode_frame)
from hw.spec.memmap import chip_memories
from sim.golden.host import GoldenHost
from sim.tb import run_amaranth


def slip_reference(data: bytes) -> bytes:
    """What the framer must send for reply bytes ``data``: END, escaped(data + CRC-16
    big-endian), END (written here independently of the protocol module)."""
    raw = data + struct.pack(">H", crc16(data))
    out = bytearray([END])
    for b in raw:
        out += {END: bytes([ESC, ESC_END]), ESC: bytes([ESC, ESC_ESC])}.get(b, bytes([b]))
    return bytes(out + bytes([END]))


def test_slip_framer_random_frames_with_back_pressure():
    rng = random.Random(2024)
    specials = [END, ESC, ESC_END, ESC_ESC]

    def rand_bytes(n):
        return bytes(rng.choice(specials) if rng.random() < 0.3 else rng.randrange(256)
                     for _ in range(n))
    # reply-shaped frames (op, length, payload): the framer's output must be exactly
    # encode_frame's, and FrameDecoder must give them back
    headed = [(rng.randrange(256), rand_bytes(rng.randrange(0, 40))) for _ in range(15)]
    frames = [struct.pack("<BH", op, len(p)) + p for op, p in headed]
    # and arbitrary byte strings, down to single bytes
    frames += [rand_bytes(rng.randrange(1, 40)) for _ in range(15)]
    # frames whose CRC bytes themselves need escaping (found by search, so that the
    # escape paths of CRC_HI and CRC_LO are always covered)
    for special in (END, ESC):
        for pos in (0, 1):
            frames.append(next(bytes([a, b]) for a in range(256) for b in range(256)
                               if struct.pack(">H", crc16(bytes([a, b])))[pos] == special))
    frames += [bytes([END]), bytes([ESC]), bytes([END] * 5)]
    items = [(b, int(i == len(f) - 1)) for f in frames for i, b in enumerate(f)]
    want = b"".join(slip_reference(f) for f in frames)
    dut = SlipFramer()

    async def bench(ctx):
        got = bytearray()
        k, gap = 0, 0
        stalled = None                      # the payload o offered and was not taken
        for _ in range(40 * len(want)):
            # producer: keeps valid and payload until taken (stream rule), idles at random
            if k < len(items) and gap == 0:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload.data, items[k][0])
                ctx.set(dut.i.payload.last, items[k][1])
            else:
                ctx.set(dut.i.valid, 0)
            ctx.set(dut.o.ready, int(rng.random() < 0.6))
            i_taken = ctx.get(dut.i.valid) and ctx.get(dut.i.ready)
            if stalled is not None:
                # once offered, an output byte must stay until taken
                assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == stalled, \
                    f"o changed while stalled after {len(got)} bytes"
            if not ctx.get(dut.busy):
                # busy is low only between frames: what has left is whole frames
                assert got.count(END) % 2 == 0, f"busy low inside a frame at {len(got)}"
            if ctx.get(dut.o.valid):
                if ctx.get(dut.o.ready):
                    got.append(ctx.get(dut.o.payload))
                    stalled = None
                else:
                    stalled = ctx.get(dut.o.payload)
            await ctx.tick()
            if i_taken:
                k += 1
                gap = rng.choice([0, 0, 0, 1, rng.randrange(8)])
            elif gap:
                gap -= 1
            if len(got) == len(want):
                break
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        await ctx.tick().repeat(3)
        assert ctx.get(dut.o.valid) == 0 and ctx.get(dut.busy) == 0
        assert bytes(got) == want

        outs = [bytes([END]) + s + bytes([END]) for s in bytes(got).split(bytes([END])) if s]
        assert len(outs) == len(frames)
        for f, out in zip(frames, outs):
            body = slip_decode(out)
            assert body[:-2] == f and crc16(body) == 0
        for (op, p), out in zip(headed, outs):
            assert out == encode_frame(op, p)
            assert FrameDecoder().feed(out) == [(op, p)]
    run_amaranth(dut, bench)


def slip_decode(wire: bytes) -> bytes:
    body = bytearray()
    it = iter(wire[1:-1])
    for b in it:
        body.append({ESC_END: END, ESC_ESC: ESC}[next(it)] if b == ESC else b)
    return bytes(body)


# -- the chip on a UART ---------------------------------------------------------------

TINY = ChipConfig(
    core=CoreConfig(lanes=1, neurons=4, axons=4, synapses=8, microcode_depth=8, layers=1,
                    out_fifo_depth=4),
    noc=NocConfig(width=1, height=1, routes=8))
DIVISOR = 4


def uart_bits(data: bytes):
    """Line levels, one per bit, of 8N1 frames back to back: start, data LSB first, stop."""
    return [level for b in data for level in [0] + [b >> k & 1 for k in range(8)] + [1]]


def test_uart_host_chip_against_golden_host():
    dut = UartHostChip(TINY, DIVISOR)
    d = DIVISOR
    g = host_geometry(TINY)
    WB = g["word_bytes"]
    names = [s.name for s in chip_memories(TINY)]
    weights = names.index("tile0_0.lane0.weights")
    table = names.index("tile0_0.axon_table")
    # words with SLIP specials in them, so that escaping is exercised both ways
    words = [0xC0, 0xDB]
    requests = (encode_frame(Op.IDENTIFY)
                + encode_frame(Op.WRITE, struct.pack("<HI", weights, 1)
                               + b"".join(w.to_bytes(WB, "little") for w in words))
                + encode_frame(Op.READ, struct.pack("<HIH", weights, 0, 3)))
    golden = GoldenHost(TINY)
    want = golden.feed(requests)
    got = bytearray()

    async def monitor(ctx):
        """Decodes tx_pin: samples each bit in its middle, checks start and stop bits."""
        while True:
            while ctx.get(dut.tx_pin):
                await ctx.tick()
            await ctx.tick().repeat(d // 2)          # the middle of the start bit
            assert ctx.get(dut.tx_pin) == 0, "start bit too short"
            byte = 0
            for k in range(8):
                await ctx.tick().repeat(d)
                byte |= ctx.get(dut.tx_pin) << k
            await ctx.tick().repeat(d)
            assert ctx.get(dut.tx_pin) == 1, "stop bit low"
            got.append(byte)

    async def send(ctx, data: bytes):
        for level in uart_bits(data):
            ctx.set(dut.rx_pin, level)
            await ctx.tick().repeat(d)

    async def wait_for(ctx, n, what, limit):
        for _ in range(limit // 50):
            if len(got) >= n and not ctx.get(dut.busy):
                return
            await ctx.tick().repeat(50)
        raise AssertionError(f"{what}: {len(got)} of {n} reply bytes after {limit} cycles")

    async def bench(ctx):
        assert ctx.get(dut.tx_pin) == 1 and ctx.get(dut.busy) == 0
        await ctx.tick().repeat(10)
        # -- phase 1: three commands back to back, replies byte for byte -----------------
        await send(ctx, requests)
        await wait_for(ctx, len(want), "golden replies", 12 * d * len(want) + 2000)
        assert bytes(got) == want, (FrameDecoder().feed(bytes(got)), FrameDecoder().feed(want))
        replies = FrameDecoder().feed(bytes(got))
        assert [op for op, _ in replies] == [Op.IDENTIFY | 0x80, Op.WRITE | 0x80, Op.READ | 0x80]
        ident = replies[0][1]
        assert ident[1:9] == int(TINY.hash, 16).to_bytes(8, "little")      # config hash
        assert ident[9:13] == build_id(TINY).to_bytes(4, "little")          # build id
        read = replies[2][1]
        assert [int.from_bytes(read[k * (WB + 1):k * (WB + 1) + WB], "little")
                for k in range(3)] == [0] + words
        assert ctx.get(dut.uart_errors) == 0

        # -- phase 2: a host that does not wait for a reply ------------------------------
        # A READ of 4 words holds its frame until 3 words of reply have left (about 84
        # bytes on the line); a whole WRITE frame sent meanwhile overflows the FIFO.
        got.clear()
        read4 = encode_frame(Op.READ, struct.pack("<HIH", table, 0, 4))
        write = encode_frame(Op.WRITE, struct.pack("<HI", table, 0) + bytes(WB))
        await send(ctx, read4 + write)
        n_read = len(golden.feed(read4))
        await wait_for(ctx, n_read, "READ reply", 12 * d * n_read + 2000)
        lost = ctx.get(dut.uart_errors)
        kept = dut.rx_fifo_depth + 1                 # the FIFO and the UART's register
        assert lost == len(write) - kept, f"{lost} overruns"
        # the kept head of the WRITE frame is closed by the next frame's END: one error
        # reply (a 16-byte body with a CRC that cannot match), nothing executed
        identify = encode_frame(Op.IDENTIFY)
        await send(ctx, identify)
        expect = golden.feed(write[:kept] + identify)
        n_all = n_read + len(expect)
        await wait_for(ctx, n_all, "recovery", 12 * d * n_all + 2000)
        frames = FrameDecoder().feed(bytes(got))
        assert frames[0][0] == Op.READ | 0x80
        assert frames[1:] == FrameDecoder().feed(expect)
        assert frames[1] == (Op.ERROR, bytes([Error.BAD_CRC, 0]))
        assert bytes(got[n_read:]) == expect
        assert ctx.get(dut.uart_errors) == lost

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(bench)
    sim.run()
