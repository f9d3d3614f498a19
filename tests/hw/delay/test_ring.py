"""amaranth.sim tests of the ring-buffer baseline (:class:`hw.delay.RingBuffer`): fixed
cases (every delay, accumulation and neuron order, wrap, bad delay/neuron, the scan,
throughput), a short random cross-check against the golden model; then the golden-level
equivalence of the two approaches and the memory formula."""

import numpy as np
import pytest

from hw.config import ChipConfig, CoreConfig, DelayConfig
from hw.delay import RingBuffer
from hw.mem import MemoryDirectory
from sim.golden.delay import (AddResult, GoldenDelayQueue, GoldenRingBuffer, PushResult,
                              memory_bits)
from sim.golden.npe import wrap
from sim.tb import AmaranthAccess, run_amaranth
from sim.tb.delay import ring_crosscheck

CORE = dict(lanes=1, neurons=16, axons=16, synapses=64, microcode_depth=8, layers=1)
CONFIG = ChipConfig(core=CoreConfig(**CORE), delay=DelayConfig(slots=8, capacity=32, groups=4))
D, N = CONFIG.delay.slots, CONFIG.core.neurons
# 12 neurons (not a power of two) and 8-bit accumulators
SMALL = ChipConfig(core=CoreConfig(**{**CORE, "neurons": 12, "weight_bits": 4,
                                      "payload_bits": 4, "acc_bits": 8, "state_bits": 8,
                                      "counter_bits": 8}),
                   delay=DelayConfig(slots=4, capacity=8, groups=1))


# -- helpers ---------------------------------------------------------------------------

async def wait_ready(ctx, dut):
    n = 0
    while not ctx.get(dut.ready):
        await ctx.tick()
        n += 1
    return n


async def add(ctx, dut, neuron, delay, value):
    ctx.set(dut.add.payload, {"neuron": neuron, "delay": delay, "value": value})
    ctx.set(dut.add.valid, 1)
    while not ctx.get(dut.add.ready):
        await ctx.tick()
    await ctx.tick()
    ctx.set(dut.add.valid, 0)


async def drain_slot(ctx, dut, limit=1000):
    """Every item of the due slot as ``[(neuron, value)]``, and the cycles it took."""
    ctx.set(dut.drain.ready, 1)
    items = []
    for cycles in range(limit):
        if ctx.get(dut.due_empty):
            break
        valid, p = ctx.get(dut.drain.valid), ctx.get(dut.drain.payload)
        await ctx.tick()
        if valid:
            items.append((p.neuron, p.value))
    else:
        raise AssertionError("scan did not finish")
    ctx.set(dut.drain.ready, 0)
    return items, cycles


async def advance(ctx, dut, limit=1000):
    ctx.set(dut.advance.valid, 1)
    for _ in range(limit):
        if ctx.get(dut.advance.ready):
            break
        await ctx.tick()
    else:
        raise AssertionError("advance not taken")
    await ctx.tick()
    ctx.set(dut.advance.valid, 0)


async def settle_counters(ctx):
    await ctx.tick()        # counters count one cycle after the add


def counters(ctx, dut):
    return {k: ctx.get(getattr(dut, k))
            for k in ("adds", "overflows", "bad_delay", "bad_neuron", "overflow")}


def run(dut, bench):
    async def wrapped(ctx):
        await wait_ready(ctx, dut)
        await bench(ctx)
    run_amaranth(dut, wrapped)


# -- construction ----------------------------------------------------------------------

def test_memory_is_a_registered_fault_sram():
    directory = MemoryDirectory()
    dut = RingBuffer(CONFIG, prefix="tile0_1", directory=directory)
    info = directory["tile0_1.delay_ring"]
    assert directory.sram("tile0_1.delay_ring") is dut.memory
    assert (info.role, info.width, info.depth) == ("delay", CONFIG.core.acc_bits, N * D)
    assert memory_bits(CONFIG)["ring_sram"] == info.bits


def test_constructor_errors_name_the_parameter():
    with pytest.raises(TypeError, match="config"):
        RingBuffer(None)
    with pytest.raises(ValueError, match="prefix"):
        RingBuffer(CONFIG, prefix=3)


# -- cycle rules -------------------------------------------------------------------------

def test_ready_after_clearing_walk():
    dut = RingBuffer(CONFIG)

    async def bench(ctx):
        assert await wait_ready(ctx, dut) == N * D
        assert ctx.get(dut.add.ready) and ctx.get(dut.due_empty)
    run_amaranth(dut, bench)


def test_every_delay():
    dut = RingBuffer(CONFIG)

    async def bench(ctx):
        for d in range(1, D):
            await add(ctx, dut, neuron=3, delay=d, value=-10 * d)
        seen = []
        for t in range(2 * D):
            assert ctx.get(dut.now) == t % D
            seen.append((await drain_slot(ctx, dut))[0])
            await advance(ctx, dut)
        assert seen[0] == [] and all(s == [] for s in seen[D:])
        for d in range(1, D):
            assert seen[d] == [(3, -10 * d)]
        assert counters(ctx, dut)["adds"] == D - 1
    run(dut, bench)


def test_accumulates_and_drains_in_neuron_order():
    dut = RingBuffer(CONFIG)

    async def bench(ctx):
        ctx.set(dut.add.valid, 1)
        # back to back, the same accumulator several times in a row (forwarding)
        for n, v in [(9, 1), (9, 2), (9, 3), (2, -4), (5, 5), (2, -6), (7, 5), (7, -5)]:
            ctx.set(dut.add.payload, {"neuron": n, "delay": 2, "value": v})
            assert ctx.get(dut.add.ready)
            await ctx.tick()
        ctx.set(dut.add.valid, 0)
        await advance(ctx, dut)
        await advance(ctx, dut)
        items, cycles = await drain_slot(ctx, dut)
        # neuron 7's contributions cancel: a zero accumulator is not sent
        assert items == [(2, -10), (5, 5), (9, 6)]
        assert cycles <= N + 3
        # cleared: the slot is empty when it comes round again
        for _ in range(D):
            await advance(ctx, dut)
        assert ctx.get(dut.now) == 2 and (await drain_slot(ctx, dut))[0] == []
    run(dut, bench)


def test_wrap_is_counted_and_flagged():
    dut = RingBuffer(SMALL)

    async def bench(ctx):
        await add(ctx, dut, neuron=1, delay=1, value=100)
        await add(ctx, dut, neuron=1, delay=1, value=100)     # 200 wraps to -56
        await add(ctx, dut, neuron=1, delay=1, value=-100)    # -156 wraps to 100
        await settle_counters(ctx)
        assert counters(ctx, dut) == {"adds": 3, "overflows": 2, "bad_delay": 0,
                                      "bad_neuron": 0, "overflow": 1}
        await advance(ctx, dut)
        assert (await drain_slot(ctx, dut))[0] == [(1, 100)]
        assert ctx.get(dut.overflow) == 1
        ctx.set(dut.clear_counters, 1)
        await ctx.tick()
        ctx.set(dut.clear_counters, 0)
        assert counters(ctx, dut) == dict.fromkeys(counters(ctx, dut), 0)
    run(dut, bench)


def test_bad_delay_and_bad_neuron_are_refused():
    dut = RingBuffer(SMALL)

    async def bench(ctx):
        await add(ctx, dut, neuron=1, delay=0, value=5)
        await add(ctx, dut, neuron=12, delay=1, value=5)
        await add(ctx, dut, neuron=15, delay=2, value=5)
        await add(ctx, dut, neuron=11, delay=1, value=5)
        await settle_counters(ctx)
        assert counters(ctx, dut) == {"adds": 1, "overflows": 0, "bad_delay": 1,
                                      "bad_neuron": 2, "overflow": 0}
        got = []
        for _ in range(4):
            await advance(ctx, dut)
            got += (await drain_slot(ctx, dut))[0]
        assert got == [(11, 5)]
    run(dut, bench)


def test_counters_saturate():
    dut = RingBuffer(SMALL)       # 8-bit counters

    async def bench(ctx):
        ctx.set(dut.add.payload, {"neuron": 0, "delay": 0, "value": 0})
        ctx.set(dut.add.valid, 1)
        await ctx.tick().repeat(300)
        ctx.set(dut.add.valid, 0)
        await settle_counters(ctx)
        assert ctx.get(dut.bad_delay) == 255
    run(dut, bench)


def test_scan_costs_neurons_cycles_and_adds_take_turns():
    dut = RingBuffer(CONFIG)

    async def bench(ctx):
        # an empty slot still takes a scan of every neuron
        await advance(ctx, dut)
        items, cycles = await drain_slot(ctx, dut)
        assert items == [] and N <= cycles <= N + 2
        # adds: one per cycle while no scan runs
        ctx.set(dut.add.valid, 1)
        for i in range(3 * N):
            ctx.set(dut.add.payload, {"neuron": i % N, "delay": 1 + i % 2, "value": 1})
            assert ctx.get(dut.add.ready), i
            await ctx.tick()
        # the next slot holds 3 at every even neuron; during its scan, adds and scan
        # steps alternate
        await advance(ctx, dut)
        ctx.set(dut.drain.ready, 1)
        ctx.set(dut.add.payload, {"neuron": 0, "delay": 3, "value": 1})
        taken, items = 0, []
        for _ in range(16):
            taken += ctx.get(dut.add.ready)
            if ctx.get(dut.drain.valid):
                p = ctx.get(dut.drain.payload)
                items.append((p.neuron, p.value))
            await ctx.tick()
        ctx.set(dut.add.valid, 0)
        assert 7 <= taken <= 9, taken
        items += (await drain_slot(ctx, dut))[0]
        assert items == [(n, 3) for n in range(0, N, 2)]
    run(dut, bench)


@pytest.mark.parametrize("config", [CONFIG, SMALL], ids=["N16-D8", "N12-D4-acc8"])
def test_random_traffic_matches_golden(config):
    dut = RingBuffer(config)
    stats = {}

    async def bench(ctx):
        stats.update(await ring_crosscheck(AmaranthAccess(ctx, dut), config, seed=5,
                                           n_ops=1500))
    run_amaranth(dut, bench)
    assert stats["drains"] > 100 and stats["advances"] > 20


# -- golden ------------------------------------------------------------------------------

def test_golden_add_many_equals_add():
    rng = np.random.default_rng(4)
    a, b = GoldenRingBuffer(SMALL), GoldenRingBuffer(SMALL)
    for _ in range(30):
        n = int(rng.integers(0, 40))
        ev = (rng.integers(16, size=n), rng.integers(4, size=n), rng.integers(-128, 128, size=n))
        codes = a.add_many(*ev)
        assert list(codes) == [b.add(*map(int, e)) for e in zip(*ev)]
        assert a.counters() == b.counters() and np.array_equal(a.acc, b.acc)
        if rng.random() < 0.5:
            ns, vs = a.drain_slot()
            items = []
            while (it := b.drain()) is not None:
                items.append(it)
            assert list(zip(ns.tolist(), vs.tolist())) == items
            assert a.advance() and b.advance()
    assert a.overflows > 0 and a.bad_neuron > 0 and a.bad_delay > 0
    with pytest.raises(ValueError, match="value"):
        a.add(0, 1, 128)
    assert b.add(0, 0, 1) is AddResult.BAD_DELAY


def test_queue_and_ring_give_the_same_input_per_timestep():
    """Random delayed traffic through SCDQ + a synapse expansion (axon, group ->
    neurons, weights), and through the ring buffer (expanded before the delay): the
    per-neuron input of every timestep is identical, with no overflow on either side."""
    config = ChipConfig(core=CoreConfig(lanes=1, neurons=64, axons=32, synapses=256,
                                        microcode_depth=8, layers=1),
                        delay=DelayConfig(slots=16, capacity=4096, groups=4))
    c, D, G = config.core, config.delay.slots, config.delay.groups
    rng = np.random.default_rng(2024)
    # synapses: each (axon, group) has a delay (0 = no delay) and fans out to neurons
    group_delay = rng.integers(0, D, size=(c.axons, G))
    fan = {(a, g): (rng.choice(c.neurons, size=int(rng.integers(0, 6)), replace=False),
                    rng.integers(-128, 128, size=6))
           for a in range(c.axons) for g in range(G)}
    queue, ring = GoldenDelayQueue(config), GoldenRingBuffer(config)

    def expand(axons, groups, payloads):
        """(axon, group, payload) events -> (neuron, contribution) pairs."""
        ns, vs = [], []
        for a, g, p in zip(axons, groups, payloads):
            n, w = fan[(int(a), int(g))]
            ns.append(n)
            vs.append(w[:len(n)] * int(p))
        if not ns:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(ns).astype(np.int64), np.concatenate(vs).astype(np.int64)

    steps = 300
    for t in range(steps + D):
        in_q = np.zeros(c.neurons, np.int64)
        in_r = np.zeros(c.neurons, np.int64)
        # due now: queue events expanded at delivery; ring accumulators as they are
        ev = queue.drain_slot()
        n, v = expand(ev[:, 0], ev[:, 1], ev[:, 2])
        np.add.at(in_q, n, v)
        rn, rv = ring.drain_slot()
        in_r[rn] += rv
        # new spikes of this timestep (none in the last D steps, so everything lands)
        k = int(rng.integers(0, 12)) if t < steps else 0
        axons = rng.choice(c.axons, size=k, replace=False)
        payloads = rng.integers(-8, 8, size=k)
        ax = np.repeat(axons, G)
        gr = np.tile(np.arange(G), k)
        pay = np.repeat(payloads, G)
        dl = group_delay[ax, gr]
        now0 = dl == 0          # delay 0 bypasses both delay units
        n, v = expand(ax[now0], gr[now0], pay[now0])
        np.add.at(in_q, n, v)
        np.add.at(in_r, n, v)
        codes = queue.push_many(ax[~now0], gr[~now0], dl[~now0], pay[~now0])
        assert (codes == PushResult.STORED).all()
        for a, g, d, p in zip(ax[~now0], gr[~now0], dl[~now0], pay[~now0]):
            n, v = expand([a], [g], [p])
            assert (ring.add_many(n, np.full(len(n), d), v) == AddResult.ADDED).all()
        assert np.array_equal(in_q, wrap(in_r, c.acc_bits)), t
        assert queue.advance() and ring.advance()
    assert queue.occupancy == 0 and not ring.acc.any()
    assert queue.overflows == 0 and ring.overflows == 0
    assert queue.pushes > 1000 and queue.max_occupancy > 50


def test_memory_bits_formula():
    bits = memory_bits(CONFIG)
    entry = 4 + 2 + 8 + 5                  # axon, group, payload, next (32 entries)
    assert bits["scdq_sram"] == 32 * entry
    assert bits["scdq_regs"] == 8 * (2 * 5 + 6 + 14) + 2 * 14
    assert bits["ring_sram"] == 16 * 8 * 24
    assert bits["ring"] == bits["ring_sram"] + 4 * (4 + 24)
    # the ring grows with neurons, the queue with the events in flight
    big = memory_bits(CONFIG, neurons=1024, capacity=64)
    assert big["ring_sram"] == 1024 * 8 * 24 and big["scdq_sram"] == 64 * (entry + 1)
    with pytest.raises(ValueError, match="neurons"):
        memory_bits(CONFIG, neurons=0)
    with pytest.raises(ValueError, match="capacity"):
        memory_bits(CONFIG, capacity=1)
