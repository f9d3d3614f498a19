"""The host interface in Verilator (the driver's ``verilator`` backend), against the
golden host (its ``golden`` backend):

* protocol fuzz: thousands of random, truncated, corrupted, over-long and
  semantically wrong frames; the RTL's reply stream equals the golden host's byte for
  byte (one reply or error per frame), the memories loaded before are intact and the
  next valid command works;
* random mapped networks through the whole driver API on both backends: identical
  output events per timestep, final neuron memories and architectural counters; also
  networks drawing the delayed-subtraction reset, CUBA LIF (both current orders) and
  layer start steps (the driver's start writes between STEP stretches), two-pass
  programs on this 6-slot core;
* the serial backend (pyserial) through a pseudo-terminal bridged to the Verilator
  process, as a board's UART would be.

Rerun with another seed: SPIKEFORGE_SEED=<seed>."""

import os
import struct
import subprocess

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig, NocConfig
from hw.host import HostChip
from hw.spec.host import host_geometry
from hw.spec.host import END, ESC, Error, FrameDecoder, Op, body, encode_frame
from hw.spec.memory import FaultKind
from hw.spec.memmap import chip_memories
from sim.golden.host import GoldenHost
from sim.pty_bridge import pty_bridge
from sim.runner import verilator_exe
from sim.stimulus import random_chip_case
from sw.runtime.driver import Chip
from sw.runtime.transports import GoldenTransport, PipeTransport
from tests.sw.runtime.test_driver import check_garbage_then_commands

pytestmark = pytest.mark.verilator

SEED = int(os.environ.get("SPIKEFORGE_SEED", 9000))
CONFIG = ChipConfig(
    core=CoreConfig(lanes=1, neurons=16, axons=64, synapses=256, microcode_depth=16,
                    layers=4, out_fifo_depth=16, slots=6),
    noc=NocConfig(width=2, height=2, routes=512))
ARCH = ("steps", "host_events_in", "host_events_out", "events_in", "events_out", "synops",
        "neuron_updates", "ticks", "acc_overflows")


def exe():
    return verilator_exe("hostchip", lambda: HostChip(CONFIG), key=CONFIG.to_dict(),
                         opt="-O1")


def rtl_bytes(data: bytes) -> bytes:
    r = subprocess.run([str(exe())], input=data, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def fuzz_stream(rng, n_frames):
    """Frames that must each get exactly one reply, and the error each should get (or
    None for a valid frame)."""
    g = host_geometry(CONFIG)
    WB, PB, n_mems = g["word_bytes"], g["packet_bytes"], g["memories"]
    depths = g["depths"]
    widths = [s.width for s in chip_memories(CONFIG)]
    maxp = CONFIG.host.max_payload
    out, expect = bytearray(), []

    def valid():
        k = rng.integers(7)
        m = int(rng.integers(n_mems))
        if k == 6:
            a = int(rng.integers(depths[m]))
            n = int(rng.integers(1, depths[m] - a + 1))
            word = int(rng.integers(1 << min(widths[m], 62)))
            return Op.FILL, struct.pack("<HII", m, a, n) + word.to_bytes(WB, "little")
        if k == 0:
            return Op.IDENTIFY, b""
        if k == 5:
            return (Op.SYNC, rng.bytes(4)) if rng.integers(4) else (Op.CLEAR_STATE, b"")
        if k == 1:
            a = int(rng.integers(depths[m]))
            n = int(rng.integers(1, min(depths[m] - a, 8) + 1))
            return Op.READ, struct.pack("<HIH", m, a, n)
        if k == 2:
            return Op.MEMSTAT, struct.pack("<HB", m, int(rng.choice([3, 4])))
        if k == 3:
            return Op.COUNTERS, struct.pack("<H", int(rng.choice([0xFFFF, rng.integers(4)])))
        return Op.CLEAR, b""

    def wrong():
        m = int(rng.integers(n_mems))
        cases = [
            (Op.IDENTIFY, b"\0", Error.BAD_LENGTH),
            (Op.WRITE, struct.pack("<HI", m, 0) + b"\0" * (WB - 1), Error.BAD_LENGTH),
            (Op.WRITE, struct.pack("<HI", n_mems + int(rng.integers(100)), 0) + b"\0" * WB,
             Error.BAD_MEMORY),
            (Op.WRITE, struct.pack("<HI", m, depths[m]) + b"\0" * WB, Error.BAD_ADDRESS),
            (Op.READ, struct.pack("<HIH", m, 0, 0), Error.BAD_ADDRESS),
            (Op.READ, struct.pack("<HIH", m, int(rng.integers(1 << 32)), 1),
             Error.BAD_ADDRESS),
            (Op.READ, struct.pack("<HIH", 0, 0, 0) + b"\0", Error.BAD_LENGTH),
            (Op.FAULT, struct.pack("<HIB", m, 0, 4 + int(rng.integers(200))) + b"\0" * WB,
             Error.BAD_ARGUMENT),
            (Op.FAULT, struct.pack("<HIB", m, depths[m], 0) + b"\0" * WB, Error.BAD_ADDRESS),
            (Op.MEMSTAT, struct.pack("<HB", m, int(rng.choice([0, 1, 2, 6, 7, 200]))),
             Error.BAD_ARGUMENT),
            (Op.MEMSTAT, struct.pack("<HB", n_mems, 3), Error.BAD_MEMORY),
            (Op.EVENTS, b"\0" * (PB + 1), Error.BAD_LENGTH),
            (Op.RUN, b"\0" * 3, Error.BAD_LENGTH),
            (Op.STEP, b"\0" * int(rng.integers(4)), Error.BAD_LENGTH),
            (Op.STEP, b"\1\0\0\0" + b"\0" * (PB * int(rng.integers(3)) + 1 + int(rng.integers(PB - 1))),
             Error.BAD_LENGTH),
            (Op.COUNTERS, struct.pack("<H", 4 + int(rng.integers(1000))), Error.BAD_TILE),
            (Op.RESET, b"\0", Error.BAD_LENGTH),
            (Op.CLEAR_STATE, b"\0" * int(rng.integers(1, 5)), Error.BAD_LENGTH),
            (Op.SYNC, rng.bytes(int(rng.choice([0, 3, 5]))), Error.BAD_LENGTH),
            (Op.FILL, struct.pack("<HII", m, 0, 1) + b"\0" * int(rng.choice([WB - 1, WB + 1])),
             Error.BAD_LENGTH),
            (Op.FILL, struct.pack("<HII", n_mems + int(rng.integers(100)), 0, 1) + b"\0" * WB,
             Error.BAD_MEMORY),
            (Op.FILL, struct.pack("<HII", m, int(rng.integers(depths[m])), 0) + b"\0" * WB,
             Error.BAD_ADDRESS),
            (Op.FILL, struct.pack("<HII", m, 1, depths[m]) + b"\0" * WB, Error.BAD_ADDRESS),
            (Op.FILL, struct.pack("<HII", m, 1, 0xFFFFFFFF) + b"\0" * WB, Error.BAD_ADDRESS),
            (int(rng.choice([0, 0x0F, 0x42, 0x7F, 0x80, 0x90, 0xFE])), b"", Error.UNKNOWN_OP),
        ]
        return cases[int(rng.integers(len(cases)))]

    for _ in range(n_frames):
        kind = rng.integers(8)
        if kind == 0:
            op, p = valid()
            out += encode_frame(op, p)
            expect.append(None)
        elif kind == 1:
            op, p, e = wrong()
            out += encode_frame(op, p)
            expect.append(e)
        elif kind in (2, 3):                       # corrupted: flip bits in the body
            op, p = valid()
            b = bytearray(body(op, p))
            # 1-3 distinct bits: CRC-16/CCITT detects every such error at these lengths
            for bit in rng.choice(8 * len(b), int(rng.integers(1, 4)), replace=False):
                b[bit // 8] ^= 1 << int(bit % 8)
            out += _slip(bytes(b))
            expect.append("damaged")
        elif kind == 4:                            # truncated: no closing END
            op, p = valid()
            f = encode_frame(op, p)
            out += f[:int(rng.integers(2, len(f) - 1))]     # at least END and one byte
            expect.append("damaged")
        elif kind == 5:                            # garbage between two ENDs
            junk = rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
            junk = junk.replace(bytes([END]), b"\x55")    # one frame, one reply
            out += bytes([END]) + junk
            expect.append("damaged")
        elif kind == 6:                            # too long
            out += encode_frame(Op.WRITE, bytes(maxp + 1 + int(rng.integers(50))))
            expect.append(Error.TOO_LONG)
        else:                                      # a bad escape
            b = bytearray(body(*valid()))
            # not before ESC_END/ESC_ESC, which would make it a good escape
            spots = [i for i in range(len(b) + 1) if i == len(b) or b[i] not in (0xDC, 0xDD)]
            b.insert(int(rng.choice(spots)), ESC)
            out += bytes([END]) + _slip_raw(bytes(b)) + bytes([END])
            expect.append(Error.BAD_ESCAPE)
    return bytes(out), expect


def _architectural(frame):
    """A reply with the cycle counters (the first two fields of every COUNTERS reply,
    which the golden model does not know) zeroed."""
    op, p = frame
    if op == Op.COUNTERS | 0x80:
        cut = 2 * CONFIG.core.counter_bits // 8
        p = bytes(cut) + p[cut:]
    return op, p


class _Recording(GoldenTransport):
    def __init__(self, config):
        super().__init__(config)
        self.sent = []

    def write(self, data):
        self.sent.append(data)
        super().write(data)


def _slip_raw(b: bytes) -> bytes:
    """SLIP escaping except for the ESC bytes put there on purpose (bad escapes)."""
    out = bytearray()
    for x in b:
        out += bytes([ESC, 0xDC]) if x == END else bytes([x])
    return bytes(out)


def _slip(b: bytes) -> bytes:
    out = bytearray([END])
    for x in b:
        out += {END: bytes([ESC, 0xDC]), ESC: bytes([ESC, 0xDD])}.get(x, bytes([x]))
    return bytes(out + bytes([END]))


def test_protocol_fuzz_rtl_equals_golden():
    rng = np.random.default_rng(SEED)
    image, _ = random_chip_case(np.random.default_rng(SEED + 1), CONFIG, 1)
    recorder = _Recording(CONFIG)          # the frames the driver sends to load
    Chip("golden", CONFIG, transport=recorder).load(image, skip_zero=True)
    sent = recorder.sent
    prologue = b"".join(sent)
    fuzz, expect = fuzz_stream(rng, 3000)
    name = next(s.name for s in chip_memories(CONFIG) if s.name.endswith("axon_table"))
    mid = [s.name for s in chip_memories(CONFIG)].index(name)
    depth = 16                               # words read back (one READ frame)
    epilogue = encode_frame(Op.READ, struct.pack("<HIH", mid, 0, depth)) + encode_frame(Op.IDENTIFY)
    stream = prologue + fuzz + epilogue

    replies = FrameDecoder().feed(rtl_bytes(stream))
    g = [_architectural(f) for f in replies]
    w = [_architectural(f) for f in FrameDecoder().feed(GoldenHost(CONFIG).feed(stream))]
    if g != w:
        first = next((i for i, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
        pytest.fail(f"seed {SEED}: RTL and golden replies differ first at reply {first}: "
                    f"RTL {g[first:first + 2]}, golden {w[first:first + 2]} "
                    f"({len(g)} vs {len(w)} replies)")
    n_load = len(sent)
    fuzz_replies = replies[n_load:-2]
    assert len(fuzz_replies) == len(expect), "one reply per frame"
    for i, (reply, e) in enumerate(zip(fuzz_replies, expect)):
        op, p = reply
        if e is None:
            assert op is not None and op & 0x80 and op != Op.ERROR, (i, reply)
        elif e == "damaged":
            assert op == Op.ERROR and p[1] == 0, (i, reply)
        else:
            assert op == Op.ERROR and p[0] == e, (i, reply, e)
    op, p = replies[-2]
    wb = host_geometry(CONFIG)["word_bytes"]
    words = [int.from_bytes(p[k * (wb + 1):k * (wb + 1) + wb], "little") for k in range(depth)]
    assert op == Op.READ | 0x80
    assert words == [int(w) for w in image.images[name][:depth]], "bad frames changed memory"
    assert replies[-1][0] == Op.IDENTIFY | 0x80


def _both_backends(image, inputs, rerun=False):
    """Per backend (golden, verilator): outputs, final state memories, architectural
    counters and, with ``rerun``, the outputs of a second run after ``reset_state``."""
    results = {}
    for backend in ("golden", "verilator"):
        transport = PipeTransport([str(exe())]) if backend == "verilator" else None
        with Chip(backend, CONFIG, transport=transport) as chip:
            chip.load(image, skip_zero=True)
            chip.clear_counters()
            out = chip.run_network(image, inputs)
            states = {s.name: chip.read(s.name)[0] for s in chip.specs if s.role == "state"}
            c = chip.all_counters()
            counters = {k: {n: v for n, v in d.items() if n in ARCH} for k, d in c.items()}
            again = None
            if rerun:
                chip.reset_state(image)
                again = chip.run_network(image, inputs)
            results[backend] = (out, states, counters, again)
    return results["golden"], results["verilator"]


def _assert_agree(g, r, seed):
    for t, (a, b) in enumerate(zip(g[0], r[0])):
        assert a == b, f"network seed {seed}: timestep {t}: golden {a}, RTL {b}"
    for name in g[1]:
        assert g[1][name] == r[1][name], f"network seed {seed}: memory {name} differs"
    assert g[2] == r[2], f"network seed {seed}: counters golden {g[2]}, RTL {r[2]}"


@pytest.mark.parametrize("networks", [4])
def test_backends_agree_on_random_networks(networks):
    for k in range(networks):
        seed = SEED + 100 + k
        image, inputs = random_chip_case(np.random.default_rng(seed), CONFIG, 8)
        _assert_agree(*_both_backends(image, inputs), seed)


@pytest.mark.parametrize("networks", [3])
def test_backends_agree_on_cuba_delayed_reset_and_layer_start(networks):
    from tests.sw.toolchain.test_programs import feature_case
    for k in range(networks):
        seed = SEED + 300 + k
        image, inputs = feature_case(np.random.default_rng(seed), CONFIG, "all", 10,
                                     max_size=8)
        g, r = _both_backends(image, inputs, rerun=True)
        assert sum(len(x) for o in g[0] for x in o.values()) > 0, f"seed {seed}: no spikes"
        _assert_agree(g, r, seed)
        assert r[3] == r[0], f"network seed {seed}: RTL run after reset_state differs"


def test_step_frames_equal_events_then_run():
    """STEP (packets and the step in one frame, repeated for several steps) gives the
    same outputs, memories and counters as EVENTS + RUN, one step at a time, and the
    RTL's reply frames equal the golden host's byte for byte."""
    image, inputs = random_chip_case(np.random.default_rng(SEED + 11), CONFIG, 1)
    packets = image.host_packets(inputs[0])
    assert packets, "the case needs input events"
    steps = 6
    load = _Recording(CONFIG)
    Chip("golden", CONFIG, transport=load).load(image, skip_zero=True)
    prologue = b"".join(load.sent)
    with Chip("golden", CONFIG) as ref:              # the version-2 way: EVENTS, RUN 1
        ref.load(image, skip_zero=True)
        want = []
        for _ in range(steps):
            ref.events(packets)
            want.append(ref.run(1)[0])
        want_state = {s.name: ref.read(s.name)[0] for s in ref.specs if s.role == "state"}
        want_ctr = ref.all_counters()
    for backend in ("golden", "verilator"):
        transport = PipeTransport([str(exe())]) if backend == "verilator" else None
        with Chip(backend, CONFIG, transport=transport) as chip:
            chip.load(image, skip_zero=True)
            got = chip.run(steps, packets)
            state = {s.name: chip.read(s.name)[0] for s in chip.specs if s.role == "state"}
            ctr = chip.all_counters()
        assert got == want, f"{backend}: STEP outputs differ from EVENTS + RUN"
        assert state == want_state, f"{backend}: STEP left other neuron states"
        for k in ("chip", "cores"):
            for n in ARCH:
                if n in want_ctr[k]:
                    assert ctr[k][n] == want_ctr[k][n], f"{backend}: counter {k}.{n}"
    # and the raw replies, frame for frame
    pb = host_geometry(CONFIG)["packet_bytes"]
    with Chip("golden", CONFIG) as chip:
        raw = b"".join(chip._pack(*q) for q in packets)
    stream = prologue + encode_frame(Op.STEP, struct.pack("<I", 3) + raw) \
        + encode_frame(Op.STEP, struct.pack("<I", 1)) + encode_frame(Op.STEP, bytes(4) + raw)
    assert len(raw) == pb * len(packets)

    def summary(frames):
        """Every frame but OUTPUT as it is; OUTPUT packets per step as a sorted list
        (the mesh decides their order, and the timing how they are split in frames)."""
        out, events = [], {}
        for op, p in frames:
            if op == Op.OUTPUT:
                step = p[:4]
                events.setdefault(step, []).extend(p[k:k + pb] for k in range(4, len(p), pb))
            else:
                if op == Op.STEP_DONE:
                    out.append(("events", sorted(events.pop(p[:4], []))))
                out.append(_architectural((op, p)))
        return out

    g = summary(FrameDecoder().feed(rtl_bytes(stream)))
    w = summary(FrameDecoder().feed(GoldenHost(CONFIG).feed(stream)))
    assert g == w
    assert w[-1] == (Op.STEP | 0x80, bytes(4))
    assert sum(f[0] == Op.STEP_DONE for f in w) == 4


def test_clear_state_rtl_equals_golden_with_faults():
    """CLEAR_STATE after a run, with flipped and stuck bits in neuron records and
    accumulators (protection as CONFIG): every state memory, its read flags and its
    status tallies equal on the RTL and the golden host."""
    rng = np.random.default_rng(SEED + 13)
    image, inputs = random_chip_case(rng, CONFIG, 4)
    state = [s for s in chip_memories(CONFIG) if s.role == "state"]
    faults = []
    for s in rng.choice(len(state), 4, replace=False):
        spec = state[int(s)]
        faults.append((spec.name, int(rng.integers(spec.depth)),
                       [FaultKind.FLIP, FaultKind.STUCK_AT_1][int(rng.integers(2))],
                       1 << int(rng.integers(spec.width))))
    results = {}
    for backend in ("golden", "verilator"):
        transport = PipeTransport([str(exe())]) if backend == "verilator" else None
        with Chip(backend, CONFIG, transport=transport) as chip:
            chip.load(image, skip_zero=True)
            chip.run_network(image, inputs)
            for f in faults:
                chip.fault(*f)
            chip.clear_state()
            results[backend] = ({s.name: chip.read(s.name) for s in state},
                                {s.name: chip.memory_status(s.name) for s in state},
                                chip.run_network(image, inputs))
    g, r = results["golden"], results["verilator"]
    for name in g[0]:
        assert g[0][name] == r[0][name], f"seed {SEED + 13}: {name} after CLEAR_STATE"
        assert g[1][name] == r[1][name], f"seed {SEED + 13}: {name} status"
    assert g[2] == r[2]


def test_serial_backend_through_a_pty():
    """pyserial on a pseudo-terminal; the other side is bridged to the RTL's pipes."""
    image, inputs = random_chip_case(np.random.default_rng(SEED + 7), CONFIG, 6)
    with pty_bridge([exe()]) as port:
        with Chip(f"serial:{port}", CONFIG) as chip:
            chip.load(image, skip_zero=True)
            got = chip.run_network(image, inputs)
            counters = chip.counters()
    with Chip("golden", CONFIG) as chip:
        chip.load(image, skip_zero=True)
        want = chip.run_network(image, inputs)
    assert got == want
    assert counters["steps"] == len(inputs)


def test_garbage_then_commands_on_the_rtl():
    """Issue 19: after line noise of every kind, the next commands all succeed (the
    driver pairs replies again with SYNC), on the RTL through pipes and through a
    pseudo-terminal (pyserial, as on a board)."""
    with Chip("verilator", CONFIG, transport=PipeTransport([str(exe())])) as chip:
        check_garbage_then_commands(chip)
    with pty_bridge([exe()]) as port:
        with Chip(f"serial:{port}", CONFIG) as chip:
            check_garbage_then_commands(chip)


#: Issue 19: SCDQ cores accept the tick at different cycles (each drains its due slot
#: first), so spikes reached the host before the step request was taken and STEP_DONE
#: under-counted them (``STEP_DONE reports 19 output events, 20 arrived``).
SCDQ_3X1 = CONFIG.replace(noc=NocConfig(width=3, height=1, routes=512),
                          delay=DelayConfig(unit="scdq", slots=8, groups=4, capacity=256))


def test_scdq_mesh_step_done_counts_every_output_event():
    exe3 = verilator_exe("hostchip", lambda: HostChip(SCDQ_3X1), key=SCDQ_3X1.to_dict(),
                         opt="-O1")
    with Chip("verilator", SCDQ_3X1, transport=PipeTransport([str(exe3)])) as rtl:
        for seed in range(4):                # seed 2 failed before the fix
            image, inputs = random_chip_case(np.random.default_rng(seed), SCDQ_3X1, 12)
            with Chip("golden", SCDQ_3X1) as gold:
                gold.load(image)
                want = gold.run_network(image, inputs)
            rtl.reset()
            rtl.load(image)
            got = rtl.run_network(image, inputs)
            for t, (a, b) in enumerate(zip(want, got)):
                assert a == b, f"network seed {seed}: timestep {t}: golden {a}, RTL {b}"


def test_driver_refuses_a_chip_of_another_config():
    other = CONFIG.replace(host=CONFIG.host.replace(baud=9600))
    with pytest.raises(Exception, match=r"chip was built from configuration "
                                        rf"{CONFIG.hash}, the driver has {other.hash}"):
        Chip("verilator", other, transport=PipeTransport([str(exe())]))


def test_error_replies_name_the_command():
    with Chip("verilator", CONFIG, transport=PipeTransport([str(exe())])) as chip:
        with pytest.raises(Exception, match="the chip refused READ: BAD_ADDRESS"):
            chip.command(Op.READ, struct.pack("<HIH", 0, 1 << 30, 1))
        assert chip.identify()["config_hash"] == CONFIG.hash
        s = chip.memory_status("tile0_0.lane0.weights")
        assert s == {"corrected": 0, "detected": 0, "fault_overflows": 0, "error": False,
                     "fault_overflow": False}
