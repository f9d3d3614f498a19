"""Quick amaranth.sim checks of the SDSP core against its golden model (small cores;
the long Verilator runs are in ``test_core_verilator.py``)."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, SdspConfig
from hw.sdsp.core import SdspCore
from hw.spec.sdsp import EventKind
from sim.tb import AmaranthAccess, run_amaranth
from sim.tb.sdsp import SdspDriver, crosscheck, random_case


def _run(config, cases):
    dut = SdspCore(config)
    results = []

    async def bench(ctx):
        access = AmaranthAccess(ctx, dut)
        for seed, images, events in cases:
            results.append(await crosscheck(access, config, images, events, seed=seed))
    run_amaranth(dut, bench)
    return results


@pytest.mark.parametrize("neurons,lanes", [(16, 4), (8, 8), (16, 1)])
def test_random_events_match_golden(neurons, lanes):
    # (8, 8): one word per row, so every event meets the read-after-write stall
    config = ChipConfig(sdsp=SdspConfig(tiles=1, neurons=neurons, lanes=lanes))
    cases = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        cases.append((seed, *random_case(config, rng, 80)))
    results = _run(config, cases)
    assert sum(r["events_out"] for r in results) > 0
    assert sum(r["weight_updates"] for r in results) > 0


@pytest.mark.parametrize("gate,syn_learn,learn_unmapped",
                         [(1, 1, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1)])
def test_odin_options_match_golden(gate, syn_learn, learn_unmapped):
    # every control bit forced (learning on), time-reference-heavy traffic: spikes that
    # coincide with due calcium leaks, SYNAPSE events on unmapped synapses (30% of
    # them), thr = 0 and v >= thr images, calcium-off and disabled neurons (random_case)
    config = ChipConfig(sdsp=SdspConfig(tiles=1, neurons=16, lanes=4))
    control = {"learn": 1, "gate": gate, "syn_learn": syn_learn,
               "learn_unmapped": learn_unmapped}
    cases = []
    for seed in range(2):
        rng = np.random.default_rng(40 + seed)
        cases.append((seed, *random_case(config, rng, 100, control=control,
                                         kinds=[EventKind.SPIKE, EventKind.SYNAPSE,
                                                EventKind.TIME])))
    results = _run(config, cases)
    assert sum(r["events_out"] for r in results) > 0
    assert sum(r["weight_updates"] for r in results) > 0


def test_a_spike_event_takes_one_cycle_per_word():
    config = ChipConfig(sdsp=SdspConfig(tiles=1, neurons=32, lanes=8))
    rng = np.random.default_rng(3)
    images, _ = random_case(config, rng, 1, learn=True)
    events = [(EventKind.SPIKE, int(a), 0) for a in rng.integers(0, 32, 50)]
    # thresholds out of reach: no spike freezes the pipeline
    from sim.golden.sdsp import GoldenSdsp
    g = GoldenSdsp(config)
    g.load(images)
    g.params["thr"][:] = 255
    g.v[:] = 0
    r = _run(config, [(3, g.images(), events)])[0]
    assert r["events_out"] == 0
    assert r["cycles_busy"] <= 50 * config.sdsp.words + 4


def test_a_full_output_fifo_stalls_instead_of_dropping():
    config = ChipConfig(sdsp=SdspConfig(tiles=1, neurons=16, lanes=4, out_fifo_depth=2))
    dut = SdspCore(config)
    from sim.golden.sdsp import GoldenSdsp
    g = GoldenSdsp(config)
    g.params["thr"][:] = 0                    # every update fires
    events = [(EventKind.SPIKE, a, 0) for a in range(4)]
    got = []

    async def bench(ctx):
        access = AmaranthAccess(ctx, dut)
        drv = SdspDriver(access, config)
        await drv.load(g.images())
        ctx.set(dut.spikes.ready, 0)           # nobody takes spikes for a while
        for kind, index, arg in events:
            drv.dut.set("events.payload", int(kind.value) | index << 2)
            drv.dut.set("events.valid", 1)
            await drv.tick()
        drv.dut.set("events.valid", 0)
        await drv.tick(200)
        assert not ctx.get(dut.idle)
        ctx.set(dut.spikes.ready, 1)
        for _ in range(400):
            if ctx.get(dut.spikes.valid):
                got.append(ctx.get(dut.spikes.payload.neuron))
            await drv.tick()
        assert ctx.get(dut.idle)
    run_amaranth(dut, bench)
    assert got == list(range(16)) * 4


def test_core_refuses_a_payload_too_narrow_for_a_neuron_index():
    config = ChipConfig(core=CoreConfig(payload_bits=4), sdsp=SdspConfig(neurons=64))
    with pytest.raises(ValueError, match=r"core.payload_bits \(4\) is below the neuron index"):
        SdspCore(config)


@pytest.mark.parametrize("protection", ["none", "secded"])
def test_injected_flips_match_golden(protection):
    # flips in every memory between events: spikes, learnt weights, decoded memories and
    # each memory's corrected/detected counts equal the golden model's
    from hw.spec.config import MemoryConfig, ProtectionConfig
    from hw.spec.memory import FaultKind
    from sim.tb.sdsp import random_faults
    prot = ProtectionConfig(weights=protection, state="parity" if protection != "none"
                            else "none", tables=protection)
    config = ChipConfig(sdsp=SdspConfig(tiles=1, neurons=16, lanes=4),
                        memory=MemoryConfig(protection=prot))
    dut = SdspCore(config)
    results = []

    async def bench(ctx):
        access = AmaranthAccess(ctx, dut)
        for seed in range(3):
            rng = np.random.default_rng(100 + seed)
            images, events = random_case(config, rng, 80, learn=True)
            faults = random_faults(config, rng, len(events), 30)
            # stuck-at bits in words the core never rewrites, one beyond the slots
            # (refused and counted), and clears (stuck-at faults outlive the case)
            faults += [(10, "sdsp.params", 1, 0b101, FaultKind.STUCK_AT_1),
                       (20, "sdsp.signs", 2, 0b11, FaultKind.STUCK_AT_0),
                       (30, "sdsp.params", 3, 0b1, FaultKind.STUCK_AT_1),
                       (60, "sdsp.params", 0, 0, FaultKind.CLEAR),
                       (80, "sdsp.signs", 0, 0, FaultKind.CLEAR)]
            results.append(await crosscheck(access, config, images, events, seed=seed,
                                            faults=faults))
    run_amaranth(dut, bench)
    assert sum(r["events_out"] for r in results) > 0
