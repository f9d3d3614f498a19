"""The golden host (:mod:`sim.golden.host`): every command kind on a small 2 x 1 chip
answered as :mod:`hw.spec.host` specifies (IDENTIFY fields, WRITE/READ, FAULT
flips and stuck-at faults, MEMSTAT on a SECDED memory, EVENTS/RUN/COUNTERS,
CLEAR/RESET) and every error code with the op it names; a refused command changes
nothing."""

import struct

import pytest

from hw.spec.config import ChipConfig, CoreConfig, HostConfig, NocConfig, ProtectionConfig
from hw.spec.counters import CHIP_COUNTERS, CORE_COUNTERS as COUNTERS
from hw.spec.host import build_id, host_geometry
from hw.spec.host import (END, ESC, IDENTITY, PROTOCOL_VERSION, Error, FrameDecoder, Op, body, crc16, encode_frame)
from hw.spec.isa import InstrClass, Isa
from hw.spec.memory import BusOp
from hw.spec.memory import FaultKind
from hw.spec.memmap import chip_memories
from hw.spec.packet import packet_layout
from sim.golden.host import GoldenHost

# 2 x 1 mesh; weights SECDED, everything else unprotected; one stuck-at slot per memory;
# max_payload 128 so that READ's payload limit (BAD_ARGUMENT) is reachable.
CONFIG = ChipConfig(
    core=CoreConfig(lanes=1, neurons=4, axons=4, synapses=8, microcode_depth=8, layers=1,
                    out_fifo_depth=4),
    noc=NocConfig(width=2, height=1, routes=8),
    host=HostConfig(max_payload=128, out_fifo_depth=4))
CONFIG = CONFIG.replace(memory=CONFIG.memory.replace(
    protection=ProtectionConfig(weights="secded"), fault_slots=1))
G = host_geometry(CONFIG)
WB, PB = G["word_bytes"], G["packet_bytes"]
NAMES = [s.name for s in chip_memories(CONFIG)]
CB = CONFIG.memory.counter_bits
CORRECTED, DETECTED = 1, 2                 # READ / MEMSTAT flags


def mem(name):
    return NAMES.index(name)


class Host:
    """A GoldenHost that checks every reply is canonically framed."""

    def __init__(self, config=CONFIG):
        self.golden = GoldenHost(config)

    def send(self, wire: bytes) -> list:
        out = self.golden.feed(wire)
        frames = FrameDecoder().feed(out)
        # the golden host frames its replies exactly like encode_frame, nothing between
        assert out == b"".join(encode_frame(op, p) for op, p in frames)
        return frames

    def cmd(self, op, payload=b"") -> list:
        return self.send(encode_frame(op, payload))

    def ok(self, op, payload=b"") -> bytes:
        """Run a command that must succeed; returns its reply payload."""
        frames = self.cmd(op, payload)
        assert len(frames) == 1 and frames[0][0] == op | 0x80, frames
        return frames[0][1]

    def write(self, m, addr, words):
        p = struct.pack("<HI", m, addr) + b"".join(w.to_bytes(WB, "little") for w in words)
        assert self.ok(Op.WRITE, p) == b""

    def read(self, m, addr, count=1):
        """[(word, flags)] of ``count`` words."""
        p = self.ok(Op.READ, struct.pack("<HIH", m, addr, count))
        assert len(p) == count * (WB + 1)
        return [(int.from_bytes(p[k * (WB + 1):k * (WB + 1) + WB], "little"),
                 p[k * (WB + 1) + WB]) for k in range(count)]

    def fault(self, m, addr, kind, mask=0):
        p = struct.pack("<HIB", m, addr, FaultKind(kind).value) + mask.to_bytes(WB, "little")
        assert self.ok(Op.FAULT, p) == b""

    def memstat(self, m, bop):
        p = self.ok(Op.MEMSTAT, struct.pack("<HB", m, bop.value))
        assert len(p) == WB + 1
        return int.from_bytes(p[:WB], "little"), p[WB]

    def status(self, m) -> dict:
        word, flags = self.memstat(m, BusOp.STATUS)
        assert flags == 0
        top = (1 << CB) - 1
        return {"corrected": word & top, "detected": word >> CB & top,
                "overflows": word >> 2 * CB & top, "error": word >> 3 * CB & 1,
                "fault_overflow": word >> 3 * CB + 1 & 1}

    def counters(self, tile) -> dict:
        p = self.ok(Op.COUNTERS, struct.pack("<H", tile))
        names = CHIP_COUNTERS if tile == 0xFFFF else COUNTERS
        assert len(p) == G["chip_counter_bytes" if tile == 0xFFFF else "core_counter_bytes"]
        v, cb = int.from_bytes(p, "little"), CONFIG.core.counter_bits
        return {n: v >> i * cb & ((1 << cb) - 1) for i, n in enumerate(names)}

    def error(self, wire) -> tuple:
        frames = self.send(wire)
        assert len(frames) == 1 and frames[0][0] == Op.ERROR and len(frames[0][1]) == 2, frames
        return Error(frames[0][1][0]), frames[0][1][1]


def test_identify():
    h = Host()
    p = h.ok(Op.IDENTIFY)
    assert len(p) == sum(n for _, n in IDENTITY) == 21
    fields, at = {}, 0
    for name, n in IDENTITY:
        fields[name] = int.from_bytes(p[at:at + n], "little")
        at += n
    assert fields == {"version": PROTOCOL_VERSION, "config_hash": int(CONFIG.hash, 16),
                      "build_id": build_id(CONFIG), "word_bytes": WB, "packet_bytes": PB,
                      "memories": len(NAMES), "width": 2, "height": 1, "max_payload": 128}


def test_sync_echoes_its_nonce_and_changes_nothing():
    h = Host()
    before = h.counters(0xFFFF)
    assert h.ok(Op.SYNC, b"\x01\xc0\xdb\xff") == b"\x01\xc0\xdb\xff"
    assert h.counters(0xFFFF) == before


def test_write_then_read_round_trip():
    h = Host()
    w, d = mem("tile1_0.lane0.weights"), mem("tile0_0.dest_table")   # 8 and 5 bits
    h.write(w, 2, [0x5A, 0xC0, 0xDB, 0x01])     # SLIP specials travel escaped
    assert h.read(w, 0, 4) == [(0, 0), (0, 0), (0x5A, 0), (0xC0, 0)]
    assert h.read(w, 4, 2) == [(0xDB, 0), (0x01, 0)]
    # a word wider than the memory keeps its low bits
    h.write(d, 7, [0x3F | 1 << 100])
    assert h.read(d, 7) == [(0x1F, 0)]
    # the widest memory takes a whole bus word
    mc = mem("tile0_0.microcode")
    big = (1 << 205) - 12345
    h.write(mc, 3, [big])
    assert h.read(mc, 3) == [(big, 0)]
    # the other tile's memory of the same name is untouched
    assert h.read(mem("tile0_0.lane0.weights"), 2) == [(0, 0)]


def test_fill_sets_a_range_to_one_word():
    h = Host()
    w, mc = mem("tile1_0.lane0.weights"), mem("tile0_0.microcode")    # 8 bits, 205 bits
    h.write(w, 0, [1, 2, 3, 4])
    h.write(w, 4, [5, 6, 7, 8])
    assert h.ok(Op.FILL, struct.pack("<HII", w, 2, 5) + (0xC0).to_bytes(WB, "little")) == b""
    assert [x for x, _ in h.read(w, 0, 4) + h.read(w, 4, 4)] == [1, 2] + [0xC0] * 5 + [8]
    # a word wider than the memory keeps its low bits, as for WRITE
    assert h.ok(Op.FILL, struct.pack("<HII", w, 7, 1) + (0x1FF).to_bytes(WB, "little")) == b""
    assert h.read(w, 7) == [(0xFF, 0)]
    big = (1 << 205) - 777
    h.ok(Op.FILL, struct.pack("<HII", mc, 0, 3) + big.to_bytes(WB, "little"))
    assert [h.read(mc, a) for a in range(4)] == [[(big, 0)]] * 3 + [[(0, 0)]]


def test_fault_flip_and_stuck_at_on_an_unprotected_memory():
    h = Host()
    a = mem("tile0_0.axon_table")               # 11 bits, no protection
    h.write(a, 1, [0x123])
    h.fault(a, 1, FaultKind.FLIP, 0x005)
    assert h.read(a, 1) == [(0x126, 0)]         # no code: the flip reads back as is
    h.fault(a, 1, FaultKind.FLIP, 0x005)        # a second flip repairs it
    assert h.read(a, 1) == [(0x123, 0)]
    h.fault(a, 1, FaultKind.FLIP, 0x400 | 1 << 20)   # mask bits beyond the word ignored
    assert h.read(a, 1) == [(0x523, 0)]
    h.write(a, 1, [0x123])                      # a write repairs flips
    assert h.read(a, 1) == [(0x123, 0)]

    h.fault(a, 1, FaultKind.STUCK_AT_1, 0x00C)
    assert h.read(a, 1) == [(0x12F, 0)]
    h.write(a, 1, [0x000])                      # a write does not repair a stuck-at
    assert h.read(a, 1) == [(0x00C, 0)]
    assert h.read(a, 0) == [(0, 0)]             # only its own address
    # one slot per memory: the next stuck-at is refused and counted
    h.fault(a, 2, FaultKind.STUCK_AT_0, 0x001)
    assert h.status(a) == {"corrected": 0, "detected": 0, "overflows": 1, "error": 0,
                           "fault_overflow": 1}
    # CLEAR removes every stuck-at of the memory whatever its address (which must still
    # be in range) and mask
    h.fault(a, 3, FaultKind.CLEAR, 0x7FF)
    assert h.read(a, 1) == [(0, 0)]
    h.fault(a, 2, FaultKind.STUCK_AT_0, 0x001)  # a free slot again
    h.write(a, 2, [0x7FF])
    assert h.read(a, 2) == [(0x7FE, 0)]


def test_memstat_on_a_secded_memory():
    h = Host()
    w = mem("tile0_0.lane0.weights")
    h.write(w, 3, [0x5A])
    assert h.status(w) == dict.fromkeys(("corrected", "detected", "overflows", "error",
                                         "fault_overflow"), 0)
    h.fault(w, 3, FaultKind.FLIP, 1 << 6)      # one stored bit: corrected on every read
    assert h.read(w, 3) == [(0x5A, CORRECTED)]
    assert h.read(w, 3) == [(0x5A, CORRECTED)]
    assert h.status(w) == {"corrected": 2, "detected": 0, "overflows": 0, "error": 0,
                           "fault_overflow": 0}
    h.fault(w, 3, FaultKind.FLIP, 1 << 9)      # two bits: detected, the sticky error set
    assert h.read(w, 3)[0][1] == DETECTED
    assert h.status(w) == {"corrected": 2, "detected": 1, "overflows": 0, "error": 1,
                           "fault_overflow": 0}
    # the raw status word: corrected | detected << cb | overflows << 2cb | error << 3cb
    assert h.memstat(w, BusOp.STATUS) == (2 | 1 << CB | 1 << 3 * CB, 0)
    # other memories are not affected
    assert h.status(mem("tile1_0.lane0.weights"))["corrected"] == 0
    assert h.memstat(w, BusOp.CLEAR) == (0, 0)
    assert h.status(w)["corrected"] == 0 and h.status(w)["error"] == 0
    h.write(w, 3, [0x5A])
    assert h.read(w, 3) == [(0x5A, 0)]
    assert h.status(w)["corrected"] == 0
    # COUNTS: datapath accesses only (the host's bus accesses are not counted)
    word, flags = h.memstat(w, BusOp.COUNTS)
    assert (word, flags) == (0, 0)


def nop_end():
    """A microcode word that ends its job at once (a NOP with ``end``)."""
    return Isa.pack(Isa(CONFIG.core).instruction, {"cls": InstrClass.NOP, "end": 1})


def packet(x, y, axon, payload):
    return Isa.pack(packet_layout(CONFIG), {"to_host": 0, "x": x, "y": y, "axon": axon,
                                            "payload": payload}).to_bytes(PB, "little")


def test_events_run_counters_clear_reset():
    h = Host()
    # every axon of tile 0 runs the program at pc 0, which ends at once
    h.write(mem("tile0_0.microcode"), 0, [nop_end()])
    ax = mem("tile0_0.axon_table")
    h.write(ax, 0, [0x7F0])                       # a table word that must survive RESET
    assert h.ok(Op.EVENTS, packet(0, 0, 1, 3) + packet(0, 0, 2, -1) + packet(0, 0, 1, 5)) \
        == b""
    assert h.ok(Op.EVENTS, b"") == b""            # no packets is fine
    frames = h.cmd(Op.RUN, struct.pack("<I", 2))
    # per step: no OUTPUT (nothing routes to the host), one STEP_DONE; then the reply
    assert frames == [(Op.STEP_DONE, struct.pack("<II", 0, 0)),
                      (Op.STEP_DONE, struct.pack("<II", 1, 0)),
                      (Op.RUN | 0x80, struct.pack("<I", 2))]
    assert h.counters(0xFFFF) == {"cycles_busy": 0, "cycles_idle": 0, "steps": 2,
                                  "host_events_in": 3, "host_events_out": 0, "misrouted": 0}
    c0, c1 = h.counters(0), h.counters(1)
    assert (c0["events_in"], c0["ticks"], c1["events_in"], c1["ticks"]) == (3, 2, 0, 2)
    assert h.ok(Op.CLEAR) == b""
    assert set(h.counters(0xFFFF).values()) == {0} and set(h.counters(0).values()) == {0}
    assert h.cmd(Op.RUN, struct.pack("<I", 0)) == [(Op.RUN | 0x80, bytes(4))]

    assert h.cmd(Op.RUN, struct.pack("<I", 1))[-1] == (Op.RUN | 0x80, struct.pack("<I", 1))
    h.fault(ax, 3, FaultKind.STUCK_AT_1, 1)
    assert h.ok(Op.RESET) == b""
    assert set(h.counters(0xFFFF).values()) == {0} and set(h.counters(1).values()) == {0}
    assert h.read(ax, 0) == [(0x7F0, 0)]          # memories keep their words
    assert h.read(ax, 3) == [(0, 0)]              # ... but not their stuck-at faults


def test_error_codes_name_the_op():
    h = Host()
    maxp = CONFIG.host.max_payload
    w = mem("tile0_0.lane0.weights")              # depth 8
    n = len(NAMES)
    cases = [
        # frame-level errors: op 0 (the op field cannot be trusted)
        (body(Op.IDENTIFY)[:-1] + b"\x00", Error.BAD_CRC, 0),
        (struct.pack("<BH", Op.READ, 7) + bytes(8), Error.BAD_CRC, 0),
        (None, Error.BAD_LENGTH, 0),              # built below: CRC right, length wrong
        (body(Op.WRITE, bytes(maxp + 1)), Error.TOO_LONG, 0),
        (b"\x01\x00\x00", Error.SHORT, 0),
        # command errors name the command
        (body(0x42), Error.UNKNOWN_OP, 0x42),
        (body(Op.OUTPUT), Error.UNKNOWN_OP, Op.OUTPUT),
        (body(Op.IDENTIFY, b"\0"), Error.BAD_LENGTH, Op.IDENTIFY),
        (body(Op.WRITE, struct.pack("<HI", w, 0) + bytes(WB - 1)), Error.BAD_LENGTH, Op.WRITE),
        (body(Op.READ, struct.pack("<HIH", w, 0, 1) + b"\0"), Error.BAD_LENGTH, Op.READ),
        (body(Op.FAULT, struct.pack("<HIB", w, 0, 0)), Error.BAD_LENGTH, Op.FAULT),
        (body(Op.MEMSTAT, struct.pack("<H", w)), Error.BAD_LENGTH, Op.MEMSTAT),
        (body(Op.EVENTS, bytes(PB + 1)), Error.BAD_LENGTH, Op.EVENTS),
        (body(Op.RUN, bytes(3)), Error.BAD_LENGTH, Op.RUN),
        (body(Op.COUNTERS, bytes(3)), Error.BAD_LENGTH, Op.COUNTERS),
        (body(Op.CLEAR, b"\0"), Error.BAD_LENGTH, Op.CLEAR),
        (body(Op.RESET, b"\0"), Error.BAD_LENGTH, Op.RESET),
        (body(Op.SYNC, bytes(3)), Error.BAD_LENGTH, Op.SYNC),
        (body(Op.SYNC, bytes(5)), Error.BAD_LENGTH, Op.SYNC),
        (body(Op.FILL, struct.pack("<HII", w, 0, 1) + bytes(WB - 1)), Error.BAD_LENGTH, Op.FILL),
        (body(Op.FILL, struct.pack("<HII", n, 0, 1) + bytes(WB)), Error.BAD_MEMORY, Op.FILL),
        (body(Op.FILL, struct.pack("<HII", w, 0, 0) + bytes(WB)), Error.BAD_ADDRESS, Op.FILL),
        (body(Op.FILL, struct.pack("<HII", w, 1, 8) + bytes(WB)), Error.BAD_ADDRESS, Op.FILL),
        (body(Op.FILL, struct.pack("<HII", w, 8, 1) + bytes(WB)), Error.BAD_ADDRESS, Op.FILL),
        (body(Op.FILL, struct.pack("<HII", w, 1, 0xFFFFFFFF) + bytes(WB)), Error.BAD_ADDRESS,
         Op.FILL),
        (body(Op.WRITE, struct.pack("<HI", n, 0) + bytes(WB)), Error.BAD_MEMORY, Op.WRITE),
        (body(Op.READ, struct.pack("<HIH", 0xFFFF, 0, 1)), Error.BAD_MEMORY, Op.READ),
        (body(Op.FAULT, struct.pack("<HIB", n, 0, 0) + bytes(WB)), Error.BAD_MEMORY, Op.FAULT),
        (body(Op.MEMSTAT, struct.pack("<HB", n, 3)), Error.BAD_MEMORY, Op.MEMSTAT),
        (body(Op.WRITE, struct.pack("<HI", w, 7) + bytes(2 * WB)), Error.BAD_ADDRESS, Op.WRITE),
        (body(Op.READ, struct.pack("<HIH", w, 0, 0)), Error.BAD_ADDRESS, Op.READ),
        (body(Op.READ, struct.pack("<HIH", w, 5, 4)), Error.BAD_ADDRESS, Op.READ),
        (body(Op.READ, struct.pack("<HIH", w, 1 << 31, 1)), Error.BAD_ADDRESS, Op.READ),
        (body(Op.FAULT, struct.pack("<HIB", w, 8, 0) + bytes(WB)), Error.BAD_ADDRESS, Op.FAULT),
        (body(Op.COUNTERS, struct.pack("<H", 2)), Error.BAD_TILE, Op.COUNTERS),
        (body(Op.COUNTERS, struct.pack("<H", 0xFFFE)), Error.BAD_TILE, Op.COUNTERS),
        # 5 words of WB + 1 bytes exceed max_payload
        (body(Op.READ, struct.pack("<HIH", w, 0, 5)), Error.BAD_ARGUMENT, Op.READ),
        (body(Op.FAULT, struct.pack("<HIB", w, 0, 4) + bytes(WB)), Error.BAD_ARGUMENT, Op.FAULT),
        (body(Op.MEMSTAT, struct.pack("<HB", w, BusOp.READ.value)), Error.BAD_ARGUMENT,
         Op.MEMSTAT),
        (body(Op.MEMSTAT, struct.pack("<HB", w, 6)), Error.BAD_ARGUMENT, Op.MEMSTAT),
        # the first check that fails wins: length, memory, address/argument
        (body(Op.WRITE, struct.pack("<HI", n, 99) + bytes(WB + 1)), Error.BAD_LENGTH, Op.WRITE),
        (body(Op.READ, struct.pack("<HIH", n, 99, 99)), Error.BAD_MEMORY, Op.READ),
        (body(Op.READ, struct.pack("<HIH", w, 0, 9)), Error.BAD_ADDRESS, Op.READ),
    ]
    head = struct.pack("<BH", Op.READ, 9) + bytes(8)
    cases[2] = (head + struct.pack(">H", crc16(head)), Error.BAD_LENGTH, 0)
    seen = set()
    for raw, code, op in cases:
        wire = slip(raw)
        assert h.error(wire) == (code, op), (raw.hex(), code)
        seen.add(code)
    # a bad escape has no body to build from
    assert h.error(bytes([END]) + body(Op.IDENTIFY) + bytes([ESC, 0x01, END])) \
        == (Error.BAD_ESCAPE, 0)
    seen.add(Error.BAD_ESCAPE)
    assert seen == set(Error), "every error code is exercised"
    # after all of that the host still answers
    assert len(h.ok(Op.IDENTIFY)) == 21


def test_refused_commands_change_nothing():
    h = Host()
    w = mem("tile0_0.lane0.weights")
    h.write(w, 6, [0x11, 0x22])
    # two words from address 7 run past the end: neither is written
    assert h.error(encode_frame(Op.WRITE, struct.pack("<HI", w, 7) + (0x99).to_bytes(WB, "little")
                                + (0x98).to_bytes(WB, "little"))) == (Error.BAD_ADDRESS, Op.WRITE)
    # a bad fault kind injects nothing
    assert h.error(encode_frame(Op.FAULT, struct.pack("<HIB", w, 6, 7)
                                + (1).to_bytes(WB, "little"))) == (Error.BAD_ARGUMENT, Op.FAULT)
    # a corrupted WRITE is not executed
    b = bytearray(body(Op.WRITE, struct.pack("<HI", w, 6) + (0x77).to_bytes(WB, "little")))
    b[8] ^= 0x10
    assert h.error(slip(bytes(b))) == (Error.BAD_CRC, 0)
    # a FILL past the end writes nothing
    assert h.error(encode_frame(Op.FILL, struct.pack("<HII", w, 6, 3)
                                + (0x55).to_bytes(WB, "little"))) == (Error.BAD_ADDRESS, Op.FILL)
    assert h.read(w, 6, 2) == [(0x11, 0), (0x22, 0)]
    assert h.status(w)["corrected"] == 0


def slip(raw: bytes) -> bytes:
    esc = {END: bytes([ESC, 0xDC]), ESC: bytes([ESC, 0xDD])}
    return bytes([END]) + b"".join(esc.get(x, bytes([x])) for x in raw) + bytes([END])


def test_several_frames_in_one_feed():
    h = Host()
    frames = h.send(encode_frame(Op.IDENTIFY) + bytes([END]) + encode_frame(Op.CLEAR)
                    + encode_frame(0x55))
    assert [op for op, _ in frames] == [Op.IDENTIFY | 0x80, Op.CLEAR | 0x80, Op.ERROR]
    # a frame split over several feeds is answered when its END arrives
    f = encode_frame(Op.CLEAR)
    assert h.send(f[:3]) == [] and h.send(f[3:]) == [(Op.CLEAR | 0x80, b"")]


@pytest.mark.parametrize("tile", [0, 1])
def test_counters_of_each_tile(tile):
    h = Host()
    assert h.counters(tile) == dict.fromkeys(COUNTERS, 0)


# -- the fast host's frames and packets ------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from sim.golden.host import FastFrameDecoder, Packing, fast_frame  # noqa: E402

# bytes biased to the framing bytes, so that escapes, bad escapes and short, long and
# damaged frames all occur
_WIRE = st.lists(st.one_of(st.sampled_from([END, ESC, 0xDC, 0xDD, 0, 1, 3]),
                           st.integers(0, 255)), max_size=300).map(bytes)


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=140))), _WIRE,
       st.lists(st.integers(1, 40), min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_fast_frames_equal_the_protocol_module(frames, garbage, cuts):
    """fast_frame makes encode_frame's bytes; FastFrameDecoder returns FrameDecoder's
    frames and errors for good frames mixed with garbage, cut anywhere."""
    for op, p in frames:
        assert fast_frame(op, p) == encode_frame(op, p)
    wire = b"".join(encode_frame(op, p) for op, p in frames[:len(frames) // 2]) + garbage \
        + b"".join(encode_frame(op, p) for op, p in frames[len(frames) // 2:])
    fast, ref = FastFrameDecoder(100), FrameDecoder(100)
    got, want, i, k = [], [], 0, 0
    while i < len(wire):
        n = cuts[k % len(cuts)]
        got += fast.feed(wire[i:i + n])
        want += ref.feed(wire[i:i + n])
        i, k = i + n, k + 1
    assert got == want
    assert (bytes(fast._buf), fast._esc, fast._bad_escape) == \
        (bytes(ref._buf), ref._esc, ref._bad_escape)


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_packing_equals_isa_pack_and_unpack(data):
    lay = packet_layout(CONFIG)
    packing = Packing(lay)
    values = {name: data.draw(st.integers(-300, 300)) for name, *_ in packing.fields}
    word = Isa.pack(lay, values)
    assert packing.pack(**values) == word
    f = Isa.unpack(lay, word)
    assert packing.unpack(word) == tuple(int(getattr(f, name)) for name, *_ in packing.fields)
    # every field at the edges of its range (signed fields' sign bit)
    for name, offset, mask, _ in packing.fields:
        for v in (0, 1, mask >> 1, (mask >> 1) + 1, mask, -1, -(mask >> 1) - 1):
            word = Isa.pack(lay, {name: v})
            assert packing.pack(**{name: v}) == word, (name, v)
            f = Isa.unpack(lay, word)
            assert packing.unpack(word) == tuple(int(getattr(f, n)) for n, *_ in packing.fields)


def test_golden_interp_backend_equals_golden():
    """``golden:interp`` (the interpreter alone) and ``golden`` (the fast path) answer
    every command alike: outputs, counters, access counts, memory status and words,
    with a fault injected on the way."""
    import numpy as np
    from sim.stimulus import random_chip_case
    from sw.runtime.driver import Chip
    cfg = ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=512,
                                     microcode_depth=16, layers=2, out_fifo_depth=32),
                     noc=NocConfig(width=2, height=1, routes=256))
    cfg = cfg.replace(memory=cfg.memory.replace(protection=ProtectionConfig(
        weights="secded", state="parity")))
    image, inputs = random_chip_case(np.random.default_rng(4500), cfg, 8)
    results = {}
    for backend in ("golden", "golden:interp"):
        with Chip(backend, cfg) as chip:
            assert chip.link.host.fast == (backend == "golden")
            chip.load(image)
            out = [chip.step(image.host_packets(ev)) for ev in inputs[:4]]
            chip.fault("tile0_0.lane0.weights", 1, FaultKind.FLIP, 1 << 2)
            chip.fault("tile0_0.lane1.state", 0, FaultKind.FLIP, 1)
            out += [chip.step(image.host_packets(ev)) for ev in inputs[4:]]
            chip.clear_state()
            results[backend] = (out, chip.all_counters(),
                                {s.name: (chip.memory_counts(s.name), chip.memory_status(s.name),
                                          chip.read(s.name)) for s in chip.specs})
    assert results["golden"] == results["golden:interp"]
    assert sum(len(o) for o in results["golden"][0]) > 0
