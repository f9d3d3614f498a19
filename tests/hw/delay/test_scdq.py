"""amaranth.sim tests of the Shared Circular Delay Queue (:class:`hw.delay.DelayQueue`):
fixed cases (every delay, FIFO order per slot, entries freed by drains, overflow, bad
delay, counters, throughput, cycle rules), a short random cross-check against the golden
model, and the golden model's own vectorised path."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig, MemoryConfig, ProtectionConfig
from hw.delay import DelayQueue
from hw.spec.delay import entry_layout
from hw.spec.directory import MemoryDirectory
from sim.golden.delay import GoldenDelayQueue, PushResult, memory_bits
from sim.tb import AmaranthAccess, run_amaranth
from sim.tb.delay import scdq_crosscheck

CORE = dict(lanes=1, neurons=16, axons=16, synapses=64, microcode_depth=8, layers=1)
CONFIG = ChipConfig(core=CoreConfig(**CORE), delay=DelayConfig(slots=8, capacity=32, groups=4))
D, C = CONFIG.delay.slots, CONFIG.delay.capacity


# -- helpers ---------------------------------------------------------------------------

async def wait_ready(ctx, dut):
    n = 0
    while not ctx.get(dut.ready):
        await ctx.tick()
        n += 1
    return n


async def push(ctx, dut, axon, group, delay, payload, *, clear=False):
    """Offer one event until it is taken; returns the cycles it waited."""
    ctx.set(dut.push.payload, {"axon": axon, "group": group, "delay": delay,
                               "payload": payload})
    ctx.set(dut.push.valid, 1)
    ctx.set(dut.clear_counters, int(clear))
    waited = 0
    while not ctx.get(dut.push.ready):
        await ctx.tick()
        waited += 1
    await ctx.tick()
    ctx.set(dut.push.valid, 0)
    ctx.set(dut.clear_counters, 0)
    return waited


async def drain_slot(ctx, dut, limit=1000):
    """Take every item of the due slot; returns ``[(axon, group, payload)]`` and the
    cycles until ``due_empty``."""
    ctx.set(dut.drain.ready, 1)
    items = []
    for cycles in range(limit):
        if ctx.get(dut.due_empty):
            break
        valid, p = ctx.get(dut.drain.valid), ctx.get(dut.drain.payload)
        await ctx.tick()
        if valid:
            items.append((p.axon, p.group, p.payload))
    else:
        raise AssertionError(f"slot {ctx.get(dut.now)} not empty after {limit} cycles")
    ctx.set(dut.drain.ready, 0)
    return items, cycles


async def advance(ctx, dut, limit=100):
    ctx.set(dut.advance.valid, 1)
    for _ in range(limit):
        if ctx.get(dut.advance.ready):
            break
        await ctx.tick()
    else:
        raise AssertionError("advance not taken")
    await ctx.tick()
    ctx.set(dut.advance.valid, 0)


def counters(ctx, dut):
    return {k: ctx.get(getattr(dut, k)) for k in
            ("occupancy", "max_occupancy", "pushes", "overflows", "bad_delay", "overflow")}


def run(dut, bench):
    async def wrapped(ctx):
        await wait_ready(ctx, dut)
        await bench(ctx)
    run_amaranth(dut, wrapped)


# -- construction ----------------------------------------------------------------------

def test_memory_is_a_registered_fault_sram():
    directory = MemoryDirectory()
    dut = DelayQueue(CONFIG, prefix="tile1_0", directory=directory)
    info = directory["tile1_0.delay_queue"]
    assert directory.sram("tile1_0.delay_queue") is dut.memory
    assert (info.role, info.depth, info.read_ports) == ("delay", C, 2)
    assert info.width == entry_layout(CONFIG).size == 4 + 2 + 8 + 5
    assert memory_bits(CONFIG)["scdq_sram"] == info.bits


def test_constructor_errors_name_the_parameter():
    with pytest.raises(TypeError, match="config"):
        DelayQueue(CONFIG.delay)
    with pytest.raises(ValueError, match="prefix"):
        DelayQueue(CONFIG, prefix="")


# -- cycle rules -------------------------------------------------------------------------

def test_ready_after_free_list_walk():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        for _ in range(C):
            assert not ctx.get(dut.ready)
            assert not ctx.get(dut.push.ready) and not ctx.get(dut.advance.ready)
            await ctx.tick()
        assert ctx.get(dut.ready) and ctx.get(dut.push.ready) and ctx.get(dut.due_empty)
    run_amaranth(dut, bench)


def test_every_delay_arrives_after_that_many_advances():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        for d in range(1, D):
            await push(ctx, dut, axon=d, group=d % 4, delay=d, payload=-d)
        assert counters(ctx, dut)["occupancy"] == D - 1
        seen = []
        for t in range(2 * D):
            assert ctx.get(dut.now) == t % D
            items, _ = await drain_slot(ctx, dut)
            seen.append(items)
            await advance(ctx, dut)
        assert seen[0] == []
        for d in range(1, D):
            assert seen[d] == [(d, d % 4, -d)], d
        assert all(s == [] for s in seen[D:])
        c = counters(ctx, dut)
        assert (c["occupancy"], c["max_occupancy"], c["pushes"]) == (0, D - 1, D - 1)
    run(dut, bench)


def test_fifo_order_per_slot():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        # slot 3 gets events pushed at now = 0 (delay 3) and at now = 1 (delay 2),
        # interleaved with events for other slots; it must return them in push order.
        expect3 = []
        for i in range(5):
            await push(ctx, dut, axon=i, group=0, delay=3, payload=i)
            expect3.append((i, 0, i))
            await push(ctx, dut, axon=i, group=1, delay=2, payload=10 + i)
        await advance(ctx, dut)
        for i in range(4):
            await push(ctx, dut, axon=8 + i, group=2, delay=2, payload=20 + i)
            expect3.append((8 + i, 2, 20 + i))
        await advance(ctx, dut)
        items, _ = await drain_slot(ctx, dut)
        assert items == [(i, 1, 10 + i) for i in range(5)]
        await advance(ctx, dut)
        items, _ = await drain_slot(ctx, dut)
        assert items == expect3
    run(dut, bench)


def test_drained_entries_are_reused():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        for rnd in range(5):
            for i in range(C):
                await push(ctx, dut, axon=i % 16, group=rnd % 4, delay=1 + i % 2, payload=i)
            c = counters(ctx, dut)
            assert c["occupancy"] == C and c["overflows"] == 0
            got = []
            for _ in range(3):
                await advance(ctx, dut)
                items, _ = await drain_slot(ctx, dut)
                got += items
            assert sorted(p for _, _, p in got) == list(range(C))
            assert counters(ctx, dut)["occupancy"] == 0
        c = counters(ctx, dut)
        assert (c["pushes"], c["max_occupancy"], c["overflow"]) == (5 * C, C, 0)
    run(dut, bench)


def test_overflow_is_counted_and_flagged():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        rng = np.random.default_rng(1)
        events = [(i % 16, i % 4, int(rng.integers(1, D)), i - 20) for i in range(C + 5)]
        ctx.set(dut.push.valid, 1)
        for e in events:        # back to back: one per cycle with the drain idle
            ctx.set(dut.push.payload, dict(zip(("axon", "group", "delay", "payload"), e)))
            assert ctx.get(dut.push.ready)
            await ctx.tick()
        ctx.set(dut.push.valid, 0)
        c = counters(ctx, dut)
        assert c == {"occupancy": C, "max_occupancy": C, "pushes": C, "overflows": 5,
                     "bad_delay": 0, "overflow": 1}
        got = {}
        for t in range(D):
            await advance(ctx, dut)
            items, _ = await drain_slot(ctx, dut)
            got[(t + 1) % D] = items
        for d in range(1, D):   # the first C events were stored, in order per slot
            assert got[d] == [(a, g, p) for a, g, dd, p in events[:C] if dd == d]
        assert ctx.get(dut.overflow) == 1          # sticky
        ctx.set(dut.clear_counters, 1)
        await ctx.tick()
        ctx.set(dut.clear_counters, 0)
        assert counters(ctx, dut) == {"occupancy": 0, "max_occupancy": 0, "pushes": 0,
                                      "overflows": 0, "bad_delay": 0, "overflow": 0}
    run(dut, bench)


def test_bad_delay_is_refused_and_counted():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        await push(ctx, dut, axon=3, group=1, delay=0, payload=7)
        await push(ctx, dut, axon=3, group=1, delay=0, payload=8)
        c = counters(ctx, dut)
        assert (c["bad_delay"], c["pushes"], c["occupancy"], c["overflow"]) == (2, 0, 0, 0)
        assert ctx.get(dut.due_empty)
        for _ in range(D):
            await advance(ctx, dut)
            assert (await drain_slot(ctx, dut))[0] == []
    run(dut, bench)


def test_counters_saturate_and_clear_wins():
    config = CONFIG.replace(core=CONFIG.core.replace(counter_bits=8))
    dut = DelayQueue(config)

    async def bench(ctx):
        ctx.set(dut.push.payload, {"axon": 0, "group": 0, "delay": 0, "payload": 0})
        ctx.set(dut.push.valid, 1)
        await ctx.tick().repeat(300)
        ctx.set(dut.push.valid, 0)
        assert ctx.get(dut.bad_delay) == 255
        # a push in the cycle of a clear is not counted
        await push(ctx, dut, axon=1, group=1, delay=1, payload=1, clear=True)
        c = counters(ctx, dut)
        assert (c["bad_delay"], c["pushes"], c["occupancy"], c["max_occupancy"]) == (0, 0, 1, 1)
    run(dut, bench)


def test_advance_waits_for_the_due_slot():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        await push(ctx, dut, axon=1, group=0, delay=1, payload=5)
        await advance(ctx, dut)
        assert not ctx.get(dut.due_empty) and not ctx.get(dut.advance.ready)
        ctx.set(dut.advance.valid, 1)
        await ctx.tick().repeat(5)                 # nobody drains: no advance
        assert ctx.get(dut.now) == 1 and ctx.get(dut.drain.valid)
        ctx.set(dut.drain.ready, 1)
        await ctx.tick()                           # the item leaves
        ctx.set(dut.drain.ready, 0)
        assert ctx.get(dut.due_empty) and ctx.get(dut.advance.ready)
        await ctx.tick()
        ctx.set(dut.advance.valid, 0)
        assert ctx.get(dut.now) == 2
    run(dut, bench)


def test_delay_one_push_in_the_advance_cycle_is_due_next():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        await push(ctx, dut, axon=2, group=0, delay=1, payload=1)   # slot 1, 1st
        await push(ctx, dut, axon=3, group=0, delay=2, payload=2)   # slot 2
        ctx.set(dut.push.payload, {"axon": 4, "group": 0, "delay": 1, "payload": 3})
        ctx.set(dut.push.valid, 1)
        ctx.set(dut.advance.valid, 1)
        assert ctx.get(dut.push.ready) and ctx.get(dut.advance.ready)
        await ctx.tick()                      # push (old now: slot 1) and advance together
        ctx.set(dut.push.valid, 0)
        ctx.set(dut.advance.valid, 0)
        assert ctx.get(dut.now) == 1
        assert (await drain_slot(ctx, dut))[0] == [(2, 0, 1), (4, 0, 3)]
    run(dut, bench)


def test_throughput_one_per_cycle_and_turns():
    dut = DelayQueue(CONFIG)

    async def bench(ctx):
        # pushes: C in C cycles with the drain idle
        ctx.set(dut.push.valid, 1)
        for i in range(C):
            ctx.set(dut.push.payload, {"axon": i % 16, "group": 0, "delay": 1, "payload": i})
            assert ctx.get(dut.push.ready), i
            await ctx.tick()
        ctx.set(dut.push.valid, 0)
        await advance(ctx, dut)
        # drain: the first item one cycle after the advance (read-ahead), then one per cycle
        items, cycles = await drain_slot(ctx, dut)
        assert [p for _, _, p in items] == list(range(C))
        assert cycles == C + 1, cycles
        # contention: drain slot 2 (16 items) while pushes keep coming: they take turns
        for i in range(16):
            await push(ctx, dut, axon=i, group=0, delay=1, payload=i)
        await advance(ctx, dut)
        ctx.set(dut.drain.ready, 1)
        ctx.set(dut.push.valid, 1)
        ctx.set(dut.push.payload, {"axon": 0, "group": 0, "delay": 3, "payload": 0})
        pushed = drained = 0
        for _ in range(20):
            pushed += ctx.get(dut.push.ready)
            drained += ctx.get(dut.drain.valid)
            await ctx.tick()
        ctx.set(dut.push.valid, 0)
        assert 9 <= pushed <= 11 and 8 <= drained <= 11, (pushed, drained)
    run(dut, bench)


# -- random cross-check (the Verilator test runs the long one) ----------------------------

@pytest.mark.parametrize("config", [
    CONFIG.replace(memory=MemoryConfig(protection=ProtectionConfig(other="secded"))),
    ChipConfig(core=CoreConfig(**{**CORE, "axons": 1, "payload_bits": 2, "counter_bits": 8}),
               delay=DelayConfig(slots=2, capacity=2, groups=1)),
    ChipConfig(core=CoreConfig(**CORE), delay=DelayConfig(slots=16, capacity=100, groups=8)),
], ids=["D8-C32-secded", "D2-C2", "D16-C100"])
def test_random_traffic_matches_golden(config):
    dut = DelayQueue(config)
    stats = {}

    async def bench(ctx):
        stats.update(await scdq_crosscheck(AmaranthAccess(ctx, dut), config, seed=11,
                                           n_ops=1500))
    run_amaranth(dut, bench)
    assert stats["stored"] > 100 and stats["overflows"] > 0 and stats["bad_delay"] > 0


# -- golden model -------------------------------------------------------------------------

def test_golden_push_many_equals_push():
    rng = np.random.default_rng(3)
    a, b = GoldenDelayQueue(CONFIG), GoldenDelayQueue(CONFIG)
    for _ in range(20):
        n = int(rng.integers(0, 30))
        ev = (rng.integers(16, size=n), rng.integers(4, size=n), rng.integers(D, size=n),
              rng.integers(-128, 128, size=n))
        codes = a.push_many(*ev)
        assert list(codes) == [b.push(*map(int, e)) for e in zip(*ev)]
        assert a.counters() == b.counters()
        if rng.random() < 0.5:
            assert np.array_equal(a.drain_slot(), np.array(
                [b.drain() for _ in range(len(b.slots[b.now]))], dtype=np.int64).reshape(-1, 3))
            assert a.advance() and b.advance()
    assert a.counters()["overflow"] == 1


def test_golden_rejects_bad_arguments():
    g = GoldenDelayQueue(CONFIG)
    with pytest.raises(ValueError, match="delay"):
        g.push(0, 0, D, 0)
    with pytest.raises(ValueError, match="payload"):
        g.push(0, 0, 1, 128)
    with pytest.raises(ValueError, match="axon"):
        g.push_many([16], [0], [1], [0])
    with pytest.raises(TypeError, match="config"):
        GoldenDelayQueue(CONFIG.core)
    assert g.push(0, 0, 0, 0) is PushResult.BAD_DELAY
