"""Driver on the golden backend (fast): the same results as the network model, neuron
states read back per layer, clear errors for bad calls, and replies paired with their
commands again after line noise (:func:`check_garbage_then_commands` also runs on the
verilator and serial backends, tests/hw/host/test_host_verilator.py)."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from hw.spec.memory import FaultKind
from sw.toolchain.network_model import NetworkModel
from sim.stimulus import random_chip_case
from hw.spec.host import END, ESC, Op, body, encode_frame
from sw.runtime.driver import Chip, ProtocolError
from sw.runtime.transports import GoldenTransport

CONFIG = ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=512,
                                    microcode_depth=16, layers=2, out_fifo_depth=32),
                    noc=NocConfig(width=2, height=2, routes=256))


@pytest.mark.parametrize("seed", range(4))
def test_golden_backend_equals_network_model_with_states(seed):
    image, inputs = random_chip_case(np.random.default_rng(seed), CONFIG, 8)
    model = NetworkModel(image.network, CONFIG.core)
    with Chip("golden", CONFIG) as chip:
        chip.load(image)
        got = chip.run_network(image, inputs)
        states = chip.layer_states(image)
    assert got == model.run(inputs)
    for name, v in states.items():
        assert np.array_equal(v, model.v[name]), name


def test_fault_and_status_through_the_driver():
    image, _ = random_chip_case(np.random.default_rng(1), CONFIG, 1)
    with Chip("golden", CONFIG) as chip:
        chip.load(image)
        name = "tile0_0.lane0.weights"
        before = chip.read(name, 3, 1)[0][0]
        chip.fault(name, 3, FaultKind.FLIP, 0b1)
        assert chip.read(name, 3, 1)[0][0] == before ^ 1
        assert chip.memory_status(name)["error"] is False
        assert set(chip.counters()) >= {"steps", "host_events_in", "misrouted"}
        assert set(chip.counters((1, 1))) >= {"synops", "events_in"}


def test_bad_calls_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown backend 'fpga'"):
        Chip("fpga", CONFIG)
    with pytest.raises(ValueError, match="serial backend needs a port"):
        Chip("serial:", CONFIG)
    with Chip("golden", CONFIG) as chip:
        with pytest.raises(KeyError, match="no memory named 'tile9_9.weights'"):
            chip.read("tile9_9.weights")
        with pytest.raises(ValueError, match=r"memory 'tile0_0.axon_table': addresses "
                                             r"60..69 are outside its depth 64"):
            chip.read("tile0_0.axon_table", 60, 10)
        with pytest.raises(ValueError, match=r"event for tile \(2, 0\), outside the 2 x 2 mesh"):
            chip.events([(2, 0, 0, 1)])
        with pytest.raises(ValueError, match=r"event payload 200 outside -128..127"):
            chip.events([(0, 0, 0, 200)])
        with pytest.raises(ValueError, match="does not fit 8 bits"):
            chip.write("tile0_0.lane0.weights", 0, [256])
        with pytest.raises(ValueError, match="fill word 256 does not fit 8 bits"):
            chip.fill("tile0_0.lane0.weights", 0, 4, 256)
        with pytest.raises(ValueError, match=r"memory 'tile0_0.lane0.weights': addresses "
                                             r"250..259 are outside its depth 256"):
            chip.fill("tile0_0.lane0.weights", 250, 10)
        with pytest.raises(ValueError, match="fill of 0 words"):
            chip.fill("tile0_0.lane0.weights", 0, 0)
        with pytest.raises(ProtocolError, match="the chip refused READ: BAD_ADDRESS"):
            import struct
            from hw.spec.host import Op
            chip.command(Op.READ, struct.pack("<HIH", 0, 1 << 20, 1))


class _Counting(GoldenTransport):
    def __init__(self, config):
        super().__init__(config)
        self.sent, self.ops = 0, []

    def write(self, data):
        self.sent += len(data)
        self.ops.append(data[1])          # END, then the op (never escaped: < 0xC0)
        super().write(data)


@pytest.mark.parametrize("skip_zero", [False, True])
def test_load_sends_long_runs_as_fill_and_sets_every_word(skip_zero):
    """Whatever the chip held before, load() leaves exactly the image in every memory
    (FILL for long runs, WRITE for the rest), in far fewer link bytes than one WRITE
    word per word."""
    rng = np.random.default_rng(5)
    image, _ = random_chip_case(rng, CONFIG, 1)
    images = dict(image.images)
    # runs of a non-zero word, a lone word between runs, a run at the very end
    name = "tile1_0.lane1.weights"
    w = np.array(images[name], dtype=object)
    w[10:60], w[60], w[61:100], w[-30:] = 7, 3, 7, 255
    images[name] = w
    t = _Counting(CONFIG)
    with Chip("golden", CONFIG, transport=t) as chip:
        for spec in chip.specs:          # junk everywhere first
            chip.fill(spec.name, 0, spec.depth, (1 << spec.width) - 1)
        if skip_zero:                    # only right where the memory holds zeros
            for spec in chip.specs:
                chip.fill(spec.name, 0, spec.depth, 0)
        t.sent, t.ops = 0, []
        chip.load(images, skip_zero=skip_zero)
        assert Op.FILL in t.ops and Op.WRITE in t.ops
        total = sum(len(np.ravel(v)) for v in images.values())
        assert t.sent < total * chip._wb / 4
        for name, words in images.items():
            got = np.array(chip.read(name)[0], dtype=object)
            bad = np.flatnonzero(got != np.ravel(np.asarray(words, dtype=object)))
            assert not len(bad), f"{name} word {bad[0]}: {got[bad[0]]}, image {words[bad[0]]}"


def test_a_chip_of_another_config_is_refused():
    other = CONFIG.replace(core=CONFIG.core.replace(lanes=4))
    with pytest.raises(ProtocolError, match="chip was built from configuration"):
        Chip("golden", other, transport=GoldenTransport(CONFIG))


def garbage(config) -> dict:
    """Line noise of every kind a host can see before its next command."""
    maxp = config.host.max_payload
    crc = bytearray(encode_frame(Op.IDENTIFY))
    crc[-2] ^= 0x10                                 # a CRC byte flipped
    wrong_len = bytearray(body(Op.CLEAR, b"\0"))    # length says 1, CRC recomputed below
    wrong_len[1] = 3
    from hw.spec.host import crc16
    head = bytes(wrong_len[:-2])
    wrong_len = head + crc16(head).to_bytes(2, "big")
    return {
        "bad escape, then END (issue 19)": b"\x01\x02\x03\xdb\xc0",
        "bad CRC": bytes(crc),
        "truncated frame, no END": encode_frame(Op.READ, bytes(8))[:-4],
        "over-long, closed": bytes([END]) + bytes(maxp + 40) + bytes([END]),
        "over-long, no END": bytes(maxp + 300),
        "junk, no END": b"\x55\xaa\x13",
        "a lone ESC": bytes([ESC]),
        "short frame": bytes([END, 0x01, END]),
        "length field wrong, CRC right": bytes([END]) + wrong_len + bytes([END]),
        "a frame of an unknown op": encode_frame(0x42),
        "a stray good command": encode_frame(Op.CLEAR),
        "all of them": b"",                          # filled below
    }


def check_garbage_then_commands(chip, kinds=None):
    """After each kind of garbage (or only ``kinds``) 5 good commands all succeed with
    the right results: IDENTIFY, a write read back, COUNTERS, a timestep, READ."""
    noise = garbage(chip.config)
    noise["all of them"] = b"".join(noise.values())
    name = next(s.name for s in chip.specs if s.name.endswith("lane0.weights"))
    for k, (what, junk) in enumerate(noise.items()):
        if kinds is not None and what not in kinds:
            continue
        chip.send_raw(junk)
        try:
            assert chip.identify()["config_hash"] == chip.config.hash
            chip.write(name, 5, [k + 1, k + 2])
            assert chip.read(name, 5, 2)[0] == [k + 1, k + 2]
            steps = chip.counters()["steps"]
            assert chip.step([]) == []
            assert chip.counters()["steps"] == steps + 1
        except ProtocolError as e:
            raise AssertionError(f"{chip.backend}: after {what}: {e}") from None


def test_garbage_then_commands_golden():
    with Chip("golden", CONFIG) as chip:
        check_garbage_then_commands(chip)
        assert chip.dropped >= len(garbage(CONFIG)) - 3


class _Noisy(GoldenTransport):
    """The golden chip behind a link that damages chosen writes or replies."""

    def __init__(self, config):
        super().__init__(config)
        self.damage_next_write = self.damage_next_reply = False

    def write(self, data):
        if self.damage_next_write:
            self.damage_next_write = False
            data = data[:3] + bytes([data[3] ^ 0x01]) + data[4:]
        super().write(data)

    def read(self, timeout):
        data = super().read(timeout)
        if self.damage_next_reply and data:
            self.damage_next_reply = False
            data = data[:-3] + bytes([data[-3] ^ 0x04]) + data[-2:]    # the last frame
        return data


def test_a_command_damaged_on_the_way_is_sent_again():
    link = _Noisy(CONFIG)
    with Chip("golden", CONFIG, transport=link) as chip:
        chip.write("tile0_0.lane0.weights", 0, [7])
        link.damage_next_write = True           # the chip gets a bad CRC: nothing done
        chip.clear_counters()
        chip.step([])
        link.damage_next_write = True
        assert chip.step([]) == []              # RUN resent: the chip ran it once
        assert chip.counters()["steps"] == 2
        assert chip.resent == 2


def test_a_damaged_reply_is_resent_only_when_harmless():
    link = _Noisy(CONFIG)
    with Chip("golden", CONFIG, transport=link) as chip:
        chip.write("tile0_0.lane0.weights", 0, [9])
        link.damage_next_reply = True
        assert chip.read("tile0_0.lane0.weights", 0, 1)[0] == [9]   # READ again
        assert chip.resent == 1
        link.damage_next_reply = True
        with pytest.raises(ProtocolError, match=r"the reply to RUN was damaged on the link "
                                                r"\(BAD_CRC\); the chip may have executed it"):
            chip.run(1)
        assert chip.counters()["steps"] == 1    # it did run, once; the link is paired again


def _state_words(chip):
    return {s.name: chip.read(s.name)[0] for s in chip.specs if s.role == "state"}


@pytest.mark.parametrize("seed", [3, 4])
def test_reset_state_equals_restore_state(seed):
    """CLEAR_STATE + the rest (reset_state) leaves the same memories as rewriting every
    state memory (restore_state), in one frame where restore_state needs several."""
    image, inputs = random_chip_case(np.random.default_rng(seed), CONFIG, 5)
    with Chip("golden", CONFIG) as a, Chip("golden", CONFIG) as b:
        for chip in (a, b):
            chip.load(image, skip_zero=True)
            chip.run_network(image, inputs)
        at_rest = {n: [int(w) for w in image.images[n]] for n in _state_words(b)}
        assert _state_words(b) != at_rest, "the run must leave some state to clear"
        sent = []
        write = b.link.write
        b.link.write = lambda d: (sent.append(d[1]), write(d))[1]
        a.restore_state(image)
        b.reset_state(image)
        assert sent == [Op.CLEAR_STATE], "one frame"
        assert _state_words(a) == _state_words(b)
        assert a.run_network(image, inputs) == b.run_network(image, inputs)


def test_reset_state_falls_back_when_the_image_is_not_at_rest():
    image, inputs = random_chip_case(np.random.default_rng(5), CONFIG, 3)
    name = next(n for n in image.images if n.endswith(".lane0.state"))
    image.images[name] = np.asarray(image.images[name]).copy()
    image.images[name][0] = int(image.images[name][0]) | 7        # v = 7 at the start
    with Chip("golden", CONFIG) as chip:
        chip.load(image, skip_zero=True)
        chip.run_network(image, inputs)
        chip.reset_state(image)
        assert chip.read(name)[0] == [int(w) for w in image.images[name]]


def test_clear_state_keeps_bias_and_threshold_as_stored():
    """A flipped bias bit survives CLEAR_STATE (it reads and writes back the record),
    where restore_state rewrites the image's word."""
    image, _ = random_chip_case(np.random.default_rng(6), CONFIG, 1)
    name = next(n for n in image.images if n.endswith(".lane0.state"))
    with Chip("golden", CONFIG) as chip:
        chip.load(image, skip_zero=True)
        bit = 1 << (2 * CONFIG.core.state_bits)                  # p0's lowest bit
        chip.fault(name, 0, FaultKind.FLIP, bit)
        chip.clear_state()
        word = chip.read(name)[0][0]
        assert word == (int(image.images[name][0]) ^ bit) & ~((1 << 2 * CONFIG.core.state_bits) - 1)
        chip.restore_state(image)
        assert chip.read(name)[0][0] == int(image.images[name][0])


def test_memory_counts_and_clear_memory_status():
    """Chip.memory_counts reads a memory's access counters (wrapping at the core's
    counter width) and clear_memory_status zeroes them and the status word."""
    with Chip("golden", CONFIG) as chip:
        name = "tile0_0.lane1.weights"
        chip.fault(name, 0, FaultKind.STUCK_AT_1, 0b1)
        chip.clear_memory_status(name)
        assert chip.memory_counts(name) == {"reads": 0, "writes": 0}
        st = chip.memory_status(name)
        assert st == {"corrected": 0, "detected": 0, "fault_overflows": 0,
                      "error": False, "fault_overflow": False}
        with pytest.raises(Exception, match="tile9_9"):
            chip.memory_counts("tile9_9.lane0.weights")


def _start_case():
    from tests.sw.toolchain.test_programs import config, feature_case
    cfg = config(6)
    for seed in range(40):
        image, inputs = feature_case(np.random.default_rng(seed), cfg, "start", 8)
        if len(image.start_steps) >= 2:
            return cfg, image, [inputs[0]] * 8      # the same at every step: STEP frames
    raise AssertionError("no case with two layer starts")


def _ops(chip):
    sent = []
    write = chip.link.write
    chip.link.write = lambda d: (sent.append(d[1]), write(d))[1]
    return sent


def test_run_network_writes_layer_starts_between_stretches():
    cfg, image, inputs = _start_case()
    model = NetworkModel(image.network, cfg.core)
    with Chip("golden", cfg) as chip:
        chip.load(image)
        sent = _ops(chip)
        assert chip.run_network(image, inputs) == model.run(inputs)
        # one STEP per stretch between starts, the start records written in between
        steps = [op for op in sent if op in (Op.STEP, Op.RUN)]
        assert len(steps) == 1 + len(image.start_steps)
        assert sent[0] == Op.STEP and Op.WRITE in sent
        for name, p in chip.layer_states(image, "p0").items():
            assert np.array_equal(p, image.network.layer(name).param("bias")), name


def test_reset_state_takes_the_started_bias_back():
    cfg, image, inputs = _start_case()
    want = NetworkModel(image.network, cfg.core).run(inputs)
    with Chip("golden", cfg) as chip:
        chip.load(image)
        at_rest = _state_words(chip)
        assert chip.run_network(image, inputs) == want
        chip.reset_state(image)
        assert _state_words(chip) == at_rest          # bias 0 again where start > 0
        assert chip.run_network(image, inputs) == want
        chip.reset_state(image)
        sent = _ops(chip)
        chip.reset_state(image)                        # nothing started: CLEAR_STATE alone
        assert sent == [Op.CLEAR_STATE]
        chip.run_network(image, inputs[:1])            # before the first start
        sent.clear()
        chip.reset_state(image)
        assert sent == [Op.CLEAR_STATE]
