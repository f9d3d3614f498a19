"""SDSP core cross-check: RTL (:class:`hw.sdsp.core.SdspCore`) vs
:class:`sim.golden.sdsp.GoldenSdsp` on event sequences.

:class:`SdspDriver` drives the core through a :class:`~sim.tb.SignalAccess` (cocotb or
``amaranth.sim``): memory images in and out through the memory bus, events in back to
back while the FIFO takes them, spikes out. :func:`crosscheck` runs the same events on
both and raises :class:`~sim.tb.Divergence` at the first difference: the first spike
that differs (event number, expected and got), then counters, then memory words
(memory, word, lane fields).

:func:`random_case` makes a seeded random core (weights, mapping bits, signs,
parameters with calcium-off and disabled neurons, state with programmed flags, every
control bit) and a random mix of every event kind.
"""

from __future__ import annotations

import cocotb
import numpy as np

from hw.spec.isa import Isa
from hw.spec.memory import BusOp
from hw.spec.memory import FaultKind
from hw.spec.sdsp import EventKind, event_layout, neuron_layout, unsigned_fields
from hw.spec.memmap import sdsp_memories
from sim.golden.sdsp import SDSP_COUNTERS, GoldenSdsp, unpack_words
from sim.tb import Divergence, SignalAccess, params, start_cocotb
from sim.tb.bus import BusDriver

__all__ = ["SdspDriver", "crosscheck", "random_case", "replay", "bench_case"]

#: Cycles a run may go without progress before the testbench calls the core hung.
STALL_CYCLES = 100_000


class SdspDriver(BusDriver):
    def __init__(self, dut: SignalAccess, config, prefix: str = "sdsp"):
        super().__init__(dut, config, sdsp_memories(config, prefix))
        self.layout = event_layout(config)
        dut.set("events.valid", 0)
        dut.set("clear_counters", 0)
        dut.set("spikes.ready", 1)

    async def clear_counters(self):
        self.dut.set("clear_counters", 1)
        await self.tick()
        self.dut.set("clear_counters", 0)

    async def read_images(self) -> dict:
        return {spec.name: [await self.read(i, a) for a in range(spec.depth)]
                for i, spec in enumerate(self.specs)}

    async def run(self, events) -> list[int]:
        """Send ``(kind, index, arg)`` events back to back, collect the spikes until the
        core is idle; returns the spiking neurons in order."""
        d = self.dut
        index_mask = (1 << self.config.sdsp.index_bits) - 1
        arg_mask = (1 << self.config.core.payload_bits) - 1
        spikes = []
        i = 0
        quiet = 0
        while True:
            if i < len(events):
                kind, index, arg = events[i]
                d.set("events.payload", Isa.pack(self.layout, {
                    "kind": int(EventKind(kind).value), "index": index, "arg": arg & arg_mask}))
                d.set("events.valid", 1)
            else:
                d.set("events.valid", 0)
            await d.settle()
            ready = d.get("events.ready")
            if d.get("spikes.valid"):
                spikes.append(d.get("spikes.payload") & index_mask)
                quiet = 0
            idle = d.get("idle")
            await self.tick()
            if i < len(events):
                if ready:
                    i += 1
                    quiet = 0
            elif idle:
                break
            quiet += 1
            if quiet > STALL_CYCLES:
                raise Divergence(f"SDSP core made no progress for {STALL_CYCLES} cycles "
                                 f"({i} of {len(events)} events sent, {len(spikes)} spikes)")
        d.set("events.valid", 0)
        return spikes


async def crosscheck(dut: SignalAccess, config, images: dict, events, *, seed, what="",
                     compare_memories: bool = True, faults=()) -> dict:
    """Load ``images``, run ``events`` on the RTL and the golden model; raise
    :class:`Divergence` at the first difference. ``faults``: ``(before event, memory
    name, word, stored-bit mask)`` flips, injected through the memory bus while the core
    is idle (a fifth element, a :class:`FaultKind`, makes it a stuck-at or clear fault);
    then each memory's corrected/detected/overflow counts are compared too. Returns the
    RTL's counters."""
    drv = SdspDriver(dut, config)
    await drv.load(images)
    await drv.clear_counters()
    for i in range(len(drv.specs)):
        await drv.bus(BusOp.CLEAR, i)
    gold = GoldenSdsp(config)
    gold.load(images)
    index = {spec.name: i for i, spec in enumerate(drv.specs)}
    faults = sorted(faults, key=lambda f: f[0])
    expect = []
    origin = []
    got = []
    cycles0 = drv.cycles
    start = 0
    for stop in sorted({f[0] for f in faults} | {len(events)}):
        for n in range(start, stop):
            out = gold.event(*events[n])
            expect += out
            origin += [n] * len(out)
        got += await drv.run(events[start:stop])
        for at, name, word, mask, *kind in faults:
            if at == stop:
                kind = FaultKind(kind[0] if kind else FaultKind.FLIP)
                gold.inject(name, word, mask, kind)
                await drv.bus(BusOp.FAULT, index[name], word, mask, kind.value)
        start = stop
    run_cycles = drv.cycles - cycles0
    tag = f"seed {seed}{', ' + what if what else ''}"
    for i, (g, x) in enumerate(zip(got, expect)):
        if g != x:
            raise Divergence(f"{tag}: spike {i} (of event {origin[i]}: {events[origin[i]]}) "
                             f"is neuron {g}, expected {x}")
    if len(got) != len(expect):
        raise Divergence(f"{tag}: {len(got)} spikes, expected {len(expect)}")
    counters = _compare_counters(drv, gold, tag)
    if faults:      # before the read-back below, whose reads count too
        cb = config.memory.counter_bits
        for name, i in index.items():
            status = (await drv.bus(BusOp.STATUS, i))[0]
            got_st = {"corrected": status & ((1 << cb) - 1),
                      "detected": status >> cb & ((1 << cb) - 1),
                      "overflow": status >> 2 * cb & ((1 << cb) - 1)}
            if got_st != gold.status[name]:
                raise Divergence(f"{tag}: {name} status {got_st}, expected {gold.status[name]}")
    if compare_memories:
        await _compare_memories(drv, gold, tag)
    counters["run_cycles"] = run_cycles
    return counters


def _compare_counters(drv, gold, tag: str) -> dict:
    """The RTL's counters; a :class:`Divergence` at the first that differs from the
    golden model's."""
    counters = drv.counters()
    for name in SDSP_COUNTERS:
        if counters[name] != gold.counters[name]:
            raise Divergence(f"{tag}: counter {name} = {counters[name]}, expected "
                             f"{gold.counters[name]}")
    return counters


async def _compare_memories(drv, gold, tag: str) -> None:
    """Every memory word read back through the bus against the golden model's."""
    got = await drv.read_images()
    for name, words in gold.images().items():
        for a, (g, x) in enumerate(zip(got[name], words)):
            if g != x:
                raise Divergence(f"{tag}: memory {name} word {a} is {g:#x}, expected {x:#x}")


def random_faults(config, rng, n_events: int, count: int, prefix: str = "sdsp"):
    """``count`` random flips (single bits, some double bits in one word) among
    ``n_events`` events, over every memory of the core."""
    from hw.spec.protection import code_layout
    m = config.memory
    specs = sdsp_memories(config, prefix)
    sizes = np.array([s.depth for s in specs], float)
    out = []
    for _ in range(count):
        spec = specs[rng.choice(len(specs), p=np.sqrt(sizes) / np.sqrt(sizes).sum())]
        sw = code_layout(spec.width, m.protection.for_role(spec.role)).stored_width
        bits = rng.choice(sw, size=1 if rng.random() < 0.8 or sw < 2 else 2, replace=False)
        out.append((int(rng.integers(0, n_events + 1)), spec.name,
                    int(rng.integers(0, spec.depth)), sum(1 << int(b) for b in bits)))
    return out


def random_case(config, rng, n_events: int, *, learn=None, kinds=None, control=None):
    """Random memory images and ``n_events`` random events for an SDSP core.

    Parameters are drawn so that neurons fire now and then and calcium visits every
    band; some thresholds are 0 and some membranes start at or above their threshold
    (their programmed flags then differ from flags derived from v and ca), a few
    neurons have calcium off or are disabled, and short calcium-leak periods make
    spikes coincide with due leaks on time references. Every control bit is random,
    except that ``learn`` given sets ``learn`` and, when False, turns ``syn_learn``
    off too (no learning at all); ``control`` (``{bit: value}``) sets control bits
    outright; ``kinds`` restricts the event kinds (default: all, SPIKE most often)."""
    s = config.sdsp
    N = s.neurons
    vmax, cmax = (1 << s.membrane_bits) - 1, (1 << s.calcium_bits) - 1
    g = GoldenSdsp(config)
    g.w = rng.integers(0, 1 << s.weight_bits, (N, N))
    g.mapped = rng.random((N, N)) < 0.7
    g.inh = rng.random(N) < 0.25
    g.v = rng.integers(0, vmax + 1, N)
    g.ca = rng.integers(0, cmax + 1, N)
    g.count = rng.integers(0, 4, N)
    p = g.params
    p["thr"] = np.where(rng.random(N) < 0.15, 0, rng.integers(vmax // 8, vmax + 1, N))
    p["leak"] = rng.integers(0, max(2, vmax // 16), N)
    p["theta_m"] = rng.integers(0, vmax + 1, N)
    p["theta_1"] = rng.integers(0, max(1, cmax // 2) + 1, N)
    p["theta_2"] = rng.integers(0, cmax + 1, N)
    p["theta_3"] = rng.integers(0, cmax + 1, N)
    p["ca_leak"] = rng.integers(0, 4, N)
    p["ca_off"] = (rng.random(N) < 0.15).astype(np.int64)
    p["off"] = (rng.random(N) < 0.15).astype(np.int64)
    # membranes at or above threshold in the image: programmed flags from v' = 0
    hot = rng.random(N) < 0.15
    g.v = np.where(hot, np.maximum(g.v, p["thr"]), g.v)
    g.learn = bool(rng.random() < 0.7) if learn is None else learn
    g.gate = bool(rng.random() < 0.5)
    g.syn_learn = bool(rng.random() < 0.5) and learn is not False
    g.learn_unmapped = bool(rng.random() < 0.3)
    for name, value in (control or {}).items():
        setattr(g, name, bool(value))
    kinds = list(kinds or EventKind)
    weights = np.array([{EventKind.SPIKE: 6, EventKind.SYNAPSE: 2, EventKind.VIRTUAL: 2,
                         EventKind.TIME: 1.5}[k] for k in kinds], float)
    lo, hi = -(1 << (config.core.payload_bits - 1)), (1 << (config.core.payload_bits - 1))
    events = []
    for kind in rng.choice(kinds, size=n_events, p=weights / weights.sum()):
        kind = EventKind(kind)
        if kind is EventKind.TIME:
            arg = int(rng.random() < 0.5)
        elif kind is EventKind.SYNAPSE:
            j = int(rng.integers(0, N))
            arg = j if j < hi else j - (1 << config.core.payload_bits)
        else:
            arg = int(rng.integers(lo, hi))
        # a run on one neuron's word now and then exercises the read-after-write stall
        index = int(rng.integers(0, N)) if rng.random() < 0.8 else int(rng.integers(0, 2))
        events.append((kind, index, arg))
    return g.images(), events


@cocotb.test()
async def test_sdsp_random(dut):
    """Seeded random cases (parameters from the runner): every event kind, learning on
    and off, spikes, counters and every memory word compared."""
    from hw.spec.config import ChipConfig
    p = params()
    config = ChipConfig.from_dict(p["config"])
    access = await start_cocotb(dut)
    for case in range(p["cases"]):
        seed = p["seed"] + case
        rng = np.random.default_rng(seed)
        learn = None if "learn" not in p else p["learn"]
        images, events = random_case(config, rng, p["events"], learn=learn)
        faults = random_faults(config, rng, len(events), p.get("faults", 0))
        c = await crosscheck(access, config, images, events, seed=seed,
                             what=f"case {case}", faults=faults)
        dut._log.info(f"seed {seed}: {len(events)} events, {c['events_out']} spikes, "
                      f"{c['weight_updates']} weight updates, {c['run_cycles']} cycles")


def bench_case(config, scenario: str, events: int, seed: int = 1):
    """Images and events for ``python -m benchmarks sdsp``: ``events`` SPIKE events on
    random rows of a core whose every synapse is mapped and plastic (learning on).
    ``quiet``: every pre-synaptic neuron inhibitory, so no neuron fires and the stream
    shows the pipeline's rate; ``spiking``: excitatory rows and low thresholds, so
    output spikes compete for the pipeline."""
    s = config.sdsp
    N = s.neurons
    rng = np.random.default_rng(seed)
    g = GoldenSdsp(config)
    g.w = rng.integers(0, 1 << s.weight_bits, (N, N))
    g.mapped[:] = True
    g.learn = True
    p = g.params
    p["theta_m"][:] = 1 << (s.membrane_bits - 1)
    p["theta_1"][:] = 0
    p["theta_2"][:] = (1 << s.calcium_bits) - 1
    p["theta_3"][:] = (1 << s.calcium_bits) - 1
    if scenario == "quiet":
        g.inh[:] = True
        p["thr"][:] = (1 << s.membrane_bits) - 1
    elif scenario == "spiking":
        p["thr"][:] = rng.integers(8, 64, N)
    else:
        raise ValueError(f"unknown SDSP benchmark scenario {scenario!r}")
    return g.images(), [(EventKind.SPIKE, int(a), 0) for a in rng.integers(0, N, events)]


@cocotb.test()
async def test_sdsp_bench(dut):
    """Throughput for ``python -m benchmarks sdsp``: per scenario, the counters after a
    back-to-back event stream and after one isolated event (checked against the golden
    model on the way); written as JSON to ``params()["out"]``."""
    import json
    from hw.spec.config import ChipConfig
    p = params()
    config = ChipConfig.from_dict(p["config"])
    access = await start_cocotb(dut)
    rows = []
    for scenario in ("quiet", "spiking"):
        for n in (p["events"], 1):
            images, events = bench_case(config, scenario, n)
            c = await crosscheck(access, config, images, events, seed=1,
                                 what=f"{scenario} x{n}", compare_memories=False)
            rows.append({"scenario": scenario, "events": n, **c})
    with open(p["out"], "w") as f:
        json.dump(rows, f)


async def replay(dut: SignalAccess, config, images: dict, samples, *, label: str) -> dict:
    """Run samples (event lists; every neuron's v, ca and count are zeroed before each,
    through the memory bus, as :meth:`GoldenSdsp.reset_state`, with the flags that
    write programs) on the RTL and the golden
    model: the spikes of every sample, then every memory word (the learnt weights) must
    be equal. Returns the RTL's counters."""
    drv = SdspDriver(dut, config)
    await drv.load(images)
    await drv.clear_counters()
    gold = GoldenSdsp(config)
    gold.load(images)
    neurons = next(i for i, s in enumerate(drv.specs) if s.name.kind == "neurons")
    for n, events in enumerate(samples):
        gold.reset_state()
        # the reset words carry the flags a host write of v = ca = count = 0 programs
        for addr, word in enumerate(gold.neuron_words()):
            await drv.bus(BusOp.WRITE, neurons, addr, word)
        want = [x for e in events for x in gold.event(*e)]
        got = await drv.run(events)
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))
            raise Divergence(f"{label}: sample {n}: spike {first} differs: RTL "
                             f"{got[first:first + 5]}, golden {want[first:first + 5]} "
                             f"({len(got)} vs {len(want)} spikes)")
    tag = f"{label}: after {len(samples)} samples"
    await _compare_memories(drv, gold, tag)
    return _compare_counters(drv, gold, tag)


@cocotb.test()
async def test_sdsp_digits_replay(dut):
    """Training samples of the digits demo (``sw.apps.sdsp_digits.replay_case``: learning
    on, teacher events) replayed on the RTL: identical spikes and learnt weights."""
    import json
    from hw.spec.config import ChipConfig
    from sw.apps.sdsp_digits import replay_case
    p = params()
    config = ChipConfig.from_dict(p["config"])
    images, samples = replay_case(config, p["samples"], seed=p["seed"])
    access = await start_cocotb(dut)
    c = await replay(access, config, images, samples,
                     label=f"digits replay, seed {p['seed']}")
    dut._log.info(f"{len(samples)} samples: {c['events_in']} events, {c['events_out']} "
                  f"spikes, {c['weight_updates']} weight updates: weights equal")
    if p.get("out"):
        with open(p["out"], "w") as f:
            json.dump({"samples": len(samples), **c}, f)


@cocotb.test()
async def test_sdsp_inject_replay(dut):
    """Runs of a fault campaign (``python sw/inject.py --replay``) on the RTL: per run, the
    trained images, the run's faults through the memory bus, then the test
    presentations (state reset before each). Each presentation's spikes and final
    membranes must equal the golden model's with the same faults; the prediction made
    from the RTL's outputs is compared with the campaign's record. Writes
    ``{"replayed", "matches", "runs": [...]}`` to ``params()["out"]``."""
    import json
    from hw.spec.config import ChipConfig
    from sw.apps.sdsp_digits import predict
    p = params()
    config = ChipConfig.from_dict(p["config"])
    case = json.loads(open(p["case"]).read())
    images = case["images"]
    samples = [[(EventKind(k), i, a) for k, i, a in ev] for ev in case["samples"]]
    access = await start_cocotb(dut)
    drv = SdspDriver(access, config)
    await drv.load(images)
    index = {spec.name: i for i, spec in enumerate(drv.specs)}
    neurons = index["sdsp.neurons"]
    base = GoldenSdsp(config)
    base.load(images)
    report = []
    dirty = set()
    for run in case["runs"]:
        for i in range(len(drv.specs)):                 # undo the previous run's faults
            await drv.bus(BusOp.FAULT, i, 0, 0, FaultKind.CLEAR.value)
        for name, word in sorted(dirty):
            await drv.bus(BusOp.WRITE, index[name], word, int(images[name][word]))
        dirty = set()
        gold = base.copy()
        for name, word, mask, kind in run["faults"]:
            gold.inject(name, word, mask, FaultKind[kind])
            await drv.bus(BusOp.FAULT, index[name], word, mask, FaultKind[kind].value)
            dirty.add((name, word))
        ok, preds = True, []
        for n, events in enumerate(samples):
            gold.reset_state()
            for addr, word in enumerate(gold.neuron_words()):
                await drv.bus(BusOp.WRITE, neurons, addr, word)
            want = gold.run(events)
            got = await drv.run(events)
            words = [await drv.read(neurons, a) for a in range(drv.specs[neurons].depth)]
            v = unpack_words(unsigned_fields(neuron_layout(config.sdsp)), config.sdsp.lanes,
                             words)["v"]
            flat = [x for f in want for x in f]
            if got != flat or v.tolist() != gold.v.tolist():
                ok = False
                dut._log.warning(f"run {run['run']} sample {n}: RTL differs from golden")
            preds.append(predict([got], v))
        match = ok and preds == run["predictions"][:len(samples)]
        report.append({"run": run["run"], "faults": len(run["faults"]), "match": match,
                       "rtl_predictions": preds})
    with open(p["out"], "w") as f:
        json.dump({"replayed": len(report), "matches": sum(r["match"] for r in report),
                   "runs": report}, f)
