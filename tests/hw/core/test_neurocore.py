"""Neurocore in amaranth.sim: random networks against the golden model, spike
back-pressure, the memory bus, tick ordering and the accumulator overflow flag."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, MemoryConfig, ProtectionConfig, Protection
from hw.core import Neurocore
from hw.spec.isa import Isa
from hw.spec.memmap import core_memories
from hw.spec.memory import FaultKind
from hw.spec.memory import BusOp
from sim.golden.core import GoldenCore
from sim.stimulus import random_case
from sim.tb import AmaranthAccess, run_amaranth
from sim.tb.core import CoreDriver, crosscheck
from sw.toolchain.compiler import compile_core
from sw.toolchain.network import Layer, Network, Neuron

SMALL = ChipConfig(core=CoreConfig(lanes=4, neurons=32, axons=64, synapses=512,
                                   microcode_depth=16, layers=4, out_fifo_depth=4))




@pytest.mark.parametrize("seed", [11, 12])
def test_random_network_matches_golden(seed):
    dut = Neurocore(SMALL)
    image, steps = random_case(np.random.default_rng(seed), SMALL, 6)

    async def bench(ctx):
        await crosscheck(AmaranthAccess(ctx, dut), SMALL, image, steps, label=f"seed {seed}")
    run_amaranth(dut, bench)


def busy_network():
    """Every neuron spikes every step: 24 spikes per tick through a 4-deep FIFO."""
    return Network(4, [Layer("a", 24, Neuron("if", threshold=1, bias=1),
                             {"input": np.ones((4, 24), np.int64)})])


def test_spike_backpressure_loses_nothing():
    """With the spike stream ready only one cycle in five, the output FIFO fills, the
    event generator freezes the pipeline, and every spike still arrives in order."""
    dut = Neurocore(SMALL)
    image = compile_core(busy_network(), SMALL)
    steps = [[(0, 1), (2, 1)]] * 3
    frozen = []

    async def bench(ctx):
        access = AmaranthAccess(ctx, dut)

        def ready(cycle):
            frozen.append(ctx.get(dut.controller.freeze))
            return cycle % 5 == 0
        await crosscheck(access, SMALL, image, steps, label="backpressure", spike_ready=ready)
    run_amaranth(dut, bench)
    assert sum(frozen) > 20


def test_vec_on_a_row_still_in_the_pipeline_waits():
    """Read after write through the state memory: on a 6-slot core sigma-delta runs as
    two VEC passes, and with a one-row layer the second pass reads the row the first
    pass is still storing. The controller must hold it until the store retires; it
    stalls on the row match, and the spikes and memories equal the golden model's."""
    cfg = ChipConfig(core=CoreConfig(lanes=4, neurons=32, axons=64, synapses=512, slots=6,
                                     microcode_depth=16, layers=4, out_fifo_depth=4))
    rng = np.random.default_rng(5)
    net = Network(4, [Layer("sd", 3, Neuron("sigma_delta", threshold=2),
                            {"input": rng.integers(-20, 21, (4, 3))})])
    image = compile_core(net, cfg)
    steps = [[(i, int(rng.integers(1, 8))) for i in range(4)] for _ in range(6)]
    dut = Neurocore(cfg)
    stalls = []

    async def bench(ctx):
        def ready(cycle):
            if ctx.get(dut.controller.stall):
                stalls.append(cycle)
            return True
        await crosscheck(AmaranthAccess(ctx, dut), cfg, image, steps, label="raw hazard",
                         spike_ready=ready)
    run_amaranth(dut, bench)
    assert len(stalls) >= 6, stalls


def test_memory_bus_status_faults_and_unknown_index():
    cfg = SMALL.replace(core=SMALL.core.replace(lanes=2),  # 10 memories: index 12 is unused
                        memory=MemoryConfig(protection=ProtectionConfig(weights=Protection.SECDED)))
    dut = Neurocore(cfg)
    names = [s.name for s in core_memories(Isa.of(cfg), "core")]
    w0 = names.index("core.lane0.weights")

    async def bench(ctx):
        drv = CoreDriver(AmaranthAccess(ctx, dut), cfg)
        await drv.bus(BusOp.WRITE, w0, 5, 0x5A)
        await drv.bus(BusOp.FAULT, w0, 5, 1 << 3, int(FaultKind.FLIP.value))
        await drv.tick(2)
        data, corrected, detected, error = await drv.bus(BusOp.READ, w0, 5)
        assert (data, corrected, detected, error) == (0x5A, 1, 0, 0)
        status = (await drv.bus(BusOp.STATUS, w0))[0]
        cb = cfg.memory.counter_bits
        assert status & ((1 << cb) - 1) == 1          # corrected_count
        assert await drv.access_counts(w0) == (0, 0)   # host accesses are not counted
        assert (await drv.bus(BusOp.READ, 12, 0))[3] == 1   # error flag
        await drv.bus(BusOp.CLEAR, w0)
        assert (await drv.bus(BusOp.STATUS, w0))[0] == 0
    run_amaranth(dut, bench)


def test_tick_goes_ahead_of_a_same_cycle_event():
    """An event offered together with a tick belongs to the next timestep."""
    dut = Neurocore(SMALL)
    net = Network(1, [Layer("a", 1, Neuron("if", threshold=1), {"input": np.ones((1, 1), np.int64)})])
    image = compile_core(net, SMALL)
    isa = Isa(SMALL.core)

    async def bench(ctx):
        drv = CoreDriver(AmaranthAccess(ctx, dut), SMALL)
        await drv.load(image.images)
        ctx.set(dut.events.payload.as_value(), Isa.pack(isa.event, {"axon": 0, "payload": 1}))
        ctx.set(dut.events.valid, 1)
        ctx.set(dut.tick.valid, 1)
        assert ctx.get(dut.events.ready) == 0 and ctx.get(dut.tick.ready) == 1
        await ctx.tick()
        ctx.set(dut.tick.valid, 0)
        await ctx.tick()                        # the event enters after the tick
        ctx.set(dut.events.valid, 0)
        spikes = []
        for _ in range(100):
            if ctx.get(dut.spikes.valid):
                spikes.append(ctx.get(dut.spikes.payload.as_value()))
            await ctx.tick()
        assert spikes == []                     # the tick saw no input
        assert await drv.step([]) == [(0, 1)]   # the next tick sees the event
    run_amaranth(dut, bench)


def test_accumulator_overflow_is_counted_and_flagged():
    """Images the compiler would refuse: 4 events of weight 127 x payload 127 into an
    accumulator of 16 bits. The RTL wraps, counts and flags, as the golden model."""
    cfg = ChipConfig(core=CoreConfig(lanes=1, neurons=4, axons=4, synapses=8, acc_bits=16,
                                     microcode_depth=16, layers=1))
    net = Network(4, [Layer("a", 1, Neuron("if", threshold=1000),
                            {"input": np.full((4, 1), 1, np.int64)})])
    image = compile_core(net, cfg)
    image.images["core.lane0.weights"][:4] = 127
    gold = GoldenCore(cfg)
    gold.load(image.images)
    for axon in range(4):
        gold.event(axon, 127)
    gold.tick()
    assert gold.counters["acc_overflows"] == 1
    dut = Neurocore(cfg)

    async def bench(ctx):
        drv = CoreDriver(AmaranthAccess(ctx, dut), cfg)
        await drv.load(image.images)
        await drv.step([(a, 127) for a in range(4)])
        assert drv.counters()["acc_overflows"] == 1
        assert ctx.get(dut.overflow) == 1
    run_amaranth(dut, bench)
