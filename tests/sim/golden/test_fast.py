"""The golden chip's fast path (:mod:`sim.golden.fast`) equals the instruction-level
interpreter (``GoldenChip(config, fast=False)``) in everything observable: output events,
every counter, memory access tallies, memory words and stored bits, ECC tallies, delay
queues, registers, errors raised. Seeded random networks (mapper and compiler) on meshes
with every protection mode, both delay units and an SDSP tile, with random faults (flips
and stuck-at bits in data and control memories) injected between steps; and the
fallbacks themselves: a fault in a word a trace reads sends that event or tick to the
interpreter."""

import numpy as np
import pytest

from hw.spec.config import (ChipConfig, CoreConfig, DelayConfig, MemoryConfig, NocConfig, ProtectionConfig, SdspConfig)
from hw.spec.isa import Isa, decode
from hw.spec.memory import FaultKind
from sim.golden import loopctl
from sim.golden.chip import GoldenChip
from sim.golden.core import GoldenCore
from sim.golden.fault_sram import GoldenFaultSRAM
from sim.golden.loopctl import LOOP_LEVELS, ProgramError, _count
from sim.golden.sdsp import GoldenSdsp
from sim.stimulus import random_chip_case
from sw.toolchain.compiler import compile_core
from sw.toolchain.network import INPUT, Layer, Network, Neuron

STEPS = 8


def config(w=2, h=1, *, lanes=2, protection="none", unit="none", sdsp=False,
           fault_slots=2, acc_bits=24):
    p = protection
    return ChipConfig(
        core=CoreConfig(lanes=lanes, neurons=32, axons=64, synapses=512, microcode_depth=16,
                        layers=2, out_fifo_depth=32, acc_bits=acc_bits),
        noc=NocConfig(width=w, height=h, routes=256),
        memory=MemoryConfig(fault_slots=fault_slots, protection=ProtectionConfig(
            weights=p, state=p, tables=p, microcode=p, other=p)),
        delay=DelayConfig(unit=unit, slots=4, groups=2, capacity=64),
        sdsp=SdspConfig(tiles=1, neurons=16, lanes=4) if sdsp else SdspConfig())


# -- comparing two chips --------------------------------------------------------------

def snapshot(chip) -> dict:
    """Everything observable of a golden chip, by name."""
    out = {"chip.counters": dict(chip.counters), "chip.router_hops": chip.router_hops,
           "chip.reads": {k: v for k, v in chip.reads.items() if v},
           "chip.pending": {k: list(v) for k, v in chip.pending.items() if v}}
    for xy, core in chip.cores.items():
        if isinstance(core, GoldenSdsp):
            out[f"{xy}.sdsp.counters"] = dict(core.counters)
            for name, words in core.images().items():
                out[f"{xy}.sdsp.{name}"] = np.asarray(words)
            continue
        out[f"{xy}.counters"] = dict(core.counters)
        out[f"{xy}.reads"] = {k: v for k, v in core.reads.items() if v}
        out[f"{xy}.writes"] = {k: v for k, v in core.writes.items() if v}
        out[f"{xy}.regs"] = core.regs.copy()
        out[f"{xy}.now"] = (core.now, core._slot)
        q = core.queue
        if q is not None:
            out[f"{xy}.queue"] = ([list(s) for s in q.slots], q.now, q.occupancy,
                                  q.max_occupancy, q.pushes, q.overflows, q.bad_delay,
                                  q.overflow)
    for name, mem in chip.mems.items():
        out[f"{name}.words"] = mem.peek()[0]
        out[f"{name}.bits"] = np.array(mem.bits)
        out[f"{name}.status"] = (mem.corrected_count, mem.detected_count, mem.overflow_count,
                                 mem.error, mem.fault_overflow)
        out[f"{name}.stuck"] = [(a, m.tolist(), v) for a, m, v in mem.stuck_faults]
    return out


def divergence(fast, ref) -> str | None:
    """The first difference between two snapshots, named."""
    a, b = snapshot(fast), snapshot(ref)
    for key in sorted(b):
        x, y = a[key], b[key]
        if isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or not np.array_equal(x, y):
                where = np.argwhere(x != y)[:1].tolist() if x.shape == y.shape else "shape"
                return f"{key} at {where}: fast {x.ravel()[:6]}..., interpreter {y.ravel()[:6]}..."
        elif x != y:
            return f"{key}: fast {x}, interpreter {y}"
    return None


def step_both(fast, ref, packets):
    """One step on both chips: (outputs, None) or (None, exception) -- the same on both,
    else the test fails."""
    results = []
    for chip in (fast, ref):
        try:
            results.append((chip.step(packets), None))
        except (ProgramError, ValueError) as e:
            results.append((None, f"{type(e).__name__}: {e}"))
    assert results[0] == results[1], f"fast {results[0]}, interpreter {results[1]}"
    return results[0]


# -- faults -----------------------------------------------------------------------------

def safe_microcode(chip, name, addr, mask, kind) -> bool:
    """Whether the microcode still issues a bounded number of instructions per loop nest
    with the fault applied (so that the interpreter's worst case stays fast)."""
    mem = chip.mems[name]
    tmp = GoldenFaultSRAM(mem.width, mem.depth, mem.protection, fault_slots=mem.fault_slots)
    tmp.bits = mem.bits
    for a, m, v in mem.stuck_faults:
        tmp.inject(a, int("".join(str(b) for b in m[::-1]), 2),
                   FaultKind.STUCK_AT_1 if v else FaultKind.STUCK_AT_0)
    tmp.inject(addr, mask, kind)
    isa = Isa.of(chip.config)
    big = loopctl.Job(0, 0, (1 << isa.job["count"].width) - 1, 0)
    for word in tmp.peek()[0]:
        ins = decode(isa.instruction, int(word))
        if int(ins.loop) and np.prod([_count(ins, l, big) for l in range(LOOP_LEVELS)]) > 4096:
            return False
    return True


def inject_random(rng, fast, ref, log):
    """One random fault, the same in both chips (most at low addresses, where the
    networks' words are)."""
    names = sorted(ref.mems)
    name = names[int(rng.integers(len(names)))]
    mem = ref.mems[name]
    addr = int(rng.integers(min(mem.depth, 16))) if rng.random() < 0.7 \
        else int(rng.integers(mem.depth))
    bits = rng.choice(mem.stored_width, size=int(rng.integers(1, 3)), replace=False)
    mask = int(sum(1 << int(b) for b in bits))
    kind = FaultKind(int(rng.choice([0, 0, 0, 1, 2, 3], p=[.3, .2, .1, .17, .17, .06])))
    if name.endswith(".microcode") and not safe_microcode(ref, name, addr, mask, kind):
        return
    for chip in (fast, ref):
        chip.mems[name].inject(addr, mask, kind)
    log.append((name, addr, hex(mask), kind.name))


def run_pair(cfg, seed, *, faults=0.0, every_step=True, monkeypatch=None, images=None,
             steps=None):
    """Run a random case on a fast and an interpreter chip; assert equal after every
    step (or at the end), reporting the seed and the first divergence."""
    rng = np.random.default_rng(seed)
    if images is None:
        image, inputs = random_chip_case(rng, cfg, STEPS)
        images = image.images
        steps = [image.host_packets(ev) for ev in inputs]
    fast, ref = GoldenChip(cfg), GoldenChip(cfg, fast=False)
    for chip in (fast, ref):
        chip.load(images)
    log = []
    for t, packets in enumerate(steps):
        while rng.random() < faults:
            inject_random(rng, fast, ref, log)
        _, error = step_both(fast, ref, packets)
        if every_step or error or t == len(steps) - 1:
            d = divergence(fast, ref)
            assert d is None, (f"seed {seed}: first divergence after timestep {t} "
                               f"(faults {log}): {d}")
        if error:
            return fast, ref, error
    return fast, ref, None


@pytest.fixture(autouse=True)
def short_runaway(monkeypatch):
    """A runaway program (a fault clears ``end``) ends in ProgramError after 2**14
    issues instead of 2**24: the same error, sooner."""
    monkeypatch.setattr(loopctl, "MAX_ISSUES", 1 << 14)


# -- random chips -------------------------------------------------------------------------

@pytest.mark.parametrize("protection", ["none", "parity", "secded"])
@pytest.mark.parametrize("w,h,lanes", [(1, 1, 4), (2, 1, 2), (2, 2, 1)])
def test_random_chips_equal_the_interpreter(w, h, lanes, protection):
    cfg = config(w, h, lanes=lanes, protection=protection)
    for k in range(3):
        seed = 9100 + 100 * w + 10 * h + lanes + 1000 * k + hash(protection) % 7
        run_pair(cfg, seed, every_step=k != 1)


@pytest.mark.parametrize("unit", ["scdq", "ring"])
@pytest.mark.parametrize("protection", ["none", "secded"])
def test_random_chips_with_delays_equal_the_interpreter(unit, protection):
    cfg = config(2, 1, lanes=2, protection=protection, unit=unit)
    for k in range(3):
        run_pair(cfg, 9300 + 10 * k + (unit == "ring"), every_step=k != 2)


def test_small_delay_queue_overflows_alike():
    cfg = config(2, 1, unit="scdq").replace(delay=DelayConfig(unit="scdq", slots=4, groups=2,
                                                              capacity=2))
    overflowed = 0
    for k in range(4):
        fast, _, _ = run_pair(cfg, 9400 + k)
        overflowed += sum(c.counters["delay_overflows"] for c in fast.cores.values())
    assert overflowed > 0


def test_chip_with_an_sdsp_tile_equals_the_interpreter():
    from sim.tb.chip import sdsp_chip_case
    cfg = config(2, 1, lanes=2, sdsp=True)
    for k in range(3):
        seed = 9500 + k
        images, steps = sdsp_chip_case(np.random.default_rng(seed), cfg, STEPS)
        run_pair(cfg, seed, images=images, steps=steps)


@pytest.mark.parametrize("unit", ["none", "scdq", "ring"])
@pytest.mark.parametrize("protection", ["none", "parity", "secded"])
def test_random_faults_between_steps_equal_the_interpreter(protection, unit):
    """Flips and stuck-at bits (one or two bits) in any memory, data and control, a
    few before each step; runs that raise raise the same error on both."""
    cfg = config(2, 1, lanes=2, protection=protection, unit=unit)
    errors = 0
    for k in range(6):
        _, _, error = run_pair(cfg, 9600 + 10 * k + len(protection) + len(unit), faults=0.6,
                               every_step=k % 2 == 0)
        errors += error is not None
    assert errors < 6          # most runs get to their end


# -- the orderings that matter ------------------------------------------------------------

def _one_synapse_network(cfg, weight=127):
    net = Network(1, [Layer("a", 1, Neuron("if", threshold=30000),
                            {INPUT: np.array([[weight]])})])
    return compile_core(net, cfg)


def test_accumulator_overflows_are_counted_in_issue_order():
    """The compiler's headroom proof holds for one event per axon and timestep; many
    events on one axon overflow the accumulator: counted, and wrapped, alike."""
    cfg = ChipConfig(core=CoreConfig(lanes=1, neurons=4, axons=4, synapses=8, acc_bits=16,
                                     weight_bits=8, payload_bits=8))
    image = _one_synapse_network(cfg)
    cores = [GoldenCore(cfg), GoldenCore(cfg, fast=False)]
    rng = np.random.default_rng(9700)
    for core in cores:
        core.load(image.images)
    for t in range(6):
        events = [(0, int(p)) for p in rng.integers(-128, 128, int(rng.integers(1, 40)))]
        outs = [(core.events(events), core.tick()) for core in cores]
        assert outs[0] == outs[1], f"timestep {t}"
        assert cores[0].counters == cores[1].counters, f"timestep {t}"
        for name in cores[1].mems:
            assert np.array_equal(cores[0].dump(name), cores[1].dump(name)), (t, name)
    assert cores[1].counters["acc_overflows"] > 0


# -- fallbacks ----------------------------------------------------------------------------

def _spy(monkeypatch, core, method):
    calls = []
    orig = getattr(core, method)

    def wrapped(*a, **k):
        calls.append(a)
        return orig(*a, **k)
    monkeypatch.setattr(core, method, wrapped)
    return calls


def _case(protection="secded"):
    cfg = config(1, 1, lanes=2, protection=protection)
    rng = np.random.default_rng(9800)
    image, inputs = random_chip_case(rng, cfg, 6)
    steps = [image.host_packets(ev) for ev in inputs]
    return cfg, image.images, steps


def _run_steps(fast, ref, steps):
    for t, packets in enumerate(steps):
        step_both(fast, ref, packets)
        d = divergence(fast, ref)
        assert d is None, f"after timestep {t}: {d}"


def test_a_fault_in_a_weight_a_trace_reads_sends_its_events_to_the_interpreter(monkeypatch):
    cfg, images, steps = _case()
    fast, ref = GoldenChip(cfg), GoldenChip(cfg, fast=False)
    for chip in (fast, ref):
        chip.load(images)
    core = fast.cores[(0, 0)]
    calls = _spy(monkeypatch, core, "_event_interp")
    _run_steps(fast, ref, steps[:2])
    assert not calls, "fault-free events ran on the interpreter"
    # a single flip in the first weight word the busiest axon reads (SECDED corrects it)
    axon = max({a for _, _, a, _ in steps[2]}, key=lambda a: sum(
        1 for s in steps for _, _, b, _ in s if b == a))
    mem = core.fast.control[4]                       # lane 0 weights
    name = mem.name
    mc = core.dump(f"{core.prefix}.microcode")        # read without counting
    d = decode(core.isa.job, int(core.dump(f"{core.prefix}.axon_table")[axon]))
    word = None
    for issue in loopctl.run_job(lambda pc: decode(core.isa.instruction, int(mc[pc])),
                                 loopctl.Job(d.pc, d.base, d.count, d.mask), core.core):
        if int(issue.ins.cls) == 2:
            word = int(core.bank_addr(core.mem("target_table"), issue.addr[:, 0])[0])
            break
    assert word is not None
    for chip in (fast, ref):
        chip.mems[name].inject(word, 1 << 3, FaultKind.FLIP)
    _run_steps(fast, ref, steps[2:])
    assert any(a[0] == axon for a in calls), "the faulty word's events ran fast"
    assert core.fast.kind[axon] == 1
    assert fast.mems[name].corrected_count == ref.mems[name].corrected_count > 0


def test_a_fault_in_a_neuron_state_word_sends_the_tick_to_the_interpreter(monkeypatch):
    cfg, images, steps = _case("parity")
    fast, ref = GoldenChip(cfg), GoldenChip(cfg, fast=False)
    for chip in (fast, ref):
        chip.load(images)
    core = fast.cores[(0, 0)]
    calls = _spy(monkeypatch, core, "_layers_interp")
    _run_steps(fast, ref, steps[:2])
    assert not calls
    name = f"{core.prefix}.lane1.state"
    for chip in (fast, ref):
        chip.mems[name].inject(0, 1, FaultKind.FLIP)        # a parity error when read
    _run_steps(fast, ref, steps[2:3])
    assert len(calls) == 1
    assert fast.mems[name].detected_count == ref.mems[name].detected_count > 0
    # the tick rewrote the word: clean again, the next ticks run fast
    _run_steps(fast, ref, steps[3:])
    assert len(calls) == 1


def test_a_stuck_accumulator_bit_sends_the_events_that_touch_it_to_the_interpreter(
        monkeypatch):
    cfg, images, steps = _case("none")
    fast, ref = GoldenChip(cfg), GoldenChip(cfg, fast=False)
    for chip in (fast, ref):
        chip.load(images)
    core = fast.cores[(0, 0)]
    calls = _spy(monkeypatch, core, "_event_interp")
    ticks = _spy(monkeypatch, core, "_layers_interp")
    for chip in (fast, ref):
        chip.mems[f"{core.prefix}.lane0.acc"].inject(0, 1 << 20, FaultKind.STUCK_AT_1)
    _run_steps(fast, ref, steps)
    assert calls and ticks
    n_fast = sum(len(s) for s in steps) - len(calls)
    assert n_fast > 0, "events that do not touch the stuck word ran on the interpreter too"


def test_writing_a_control_memory_drops_the_traces():
    cfg, images, steps = _case("none")
    fast, ref = GoldenChip(cfg), GoldenChip(cfg, fast=False)
    for chip in (fast, ref):
        chip.load(images)
    _run_steps(fast, ref, steps[:3])
    core = fast.cores[(0, 0)]
    assert core.fast.kind.any()
    name = f"{core.prefix}.lane0.weights"
    words = np.asarray(images[name]).copy()
    words[:64] = (words[:64] + 37) % 256                   # other weights
    for chip in (fast, ref):
        chip.load({name: words})
    core.fast._check()
    assert not core.fast.kind.any(), "traces survived a write of the weights"
    _run_steps(fast, ref, steps[3:])


def test_an_event_program_that_issues_vec_runs_on_the_interpreter(monkeypatch):
    """Point an axon at the layer program (VEC): its event updates neurons at event
    time; the fast path leaves it to the interpreter."""
    cfg, images, steps = _case("none")
    isa = Isa.of(cfg)
    fast, ref = GoldenChip(cfg), GoldenChip(cfg, fast=False)
    for chip in (fast, ref):
        chip.load(images)
    core = fast.cores[(0, 0)]
    p = core.prefix
    layer = decode(isa.layer, int(images[f"{p}.layer_table"][0]))
    axon = steps[0][0][2]
    word = Isa.pack(isa.job, {"pc": layer.pc, "base": layer.base, "count": layer.count,
                              "mask": layer.mask})
    atab = np.asarray(images[f"{p}.axon_table"]).copy()
    atab[axon] = word
    for chip in (fast, ref):
        chip.load({f"{p}.axon_table": atab})
    calls = _spy(monkeypatch, core, "_event_interp")
    _run_steps(fast, ref, steps)
    assert calls and core.fast.kind[axon] == 1
    assert fast.cores[(0, 0)].counters["neuron_updates"] > 0


def test_a_runaway_program_raises_the_same_error():
    cfg, images, steps = _case("none")
    isa = Isa.of(cfg)
    fast, ref = GoldenChip(cfg), GoldenChip(cfg, fast=False)
    p = "tile0_0"
    mc = np.asarray(images[f"{p}.microcode"], dtype=object).copy()
    assert int(decode(isa.instruction, int(mc[0])).end)
    # no instruction ends a job: programs run on around the microcode forever
    end = isa.instruction["end"]
    mc = np.array([int(w) & ~(((1 << end.width) - 1) << end.offset) for w in mc], object)
    for chip in (fast, ref):
        chip.load({**images, f"{p}.microcode": mc})
    _, error = step_both(fast, ref, steps[0])
    assert error and "without ending" in error
    assert divergence(fast, ref) is None
