"""Delays in the instruction-level and chip golden models: a compiled network with
synaptic delays gives, on the golden core (SCDQ and ring buffer) and on the golden chip,
the same spikes per timestep as the network-level model; queue overflow is counted."""

import numpy as np
import pytest

from hw.config import ChipConfig, CoreConfig, DelayConfig, NocConfig
from sim.golden.chip import GoldenChip
from sim.golden.network import NetworkModel
from sim.stimulus import random_case, random_chip_case
from tests.sim.golden.test_core import run_core

CORE = CoreConfig(lanes=4, neurons=64, axons=64, synapses=4096)


def config(unit, capacity=4096, slots=8, groups=4):
    return ChipConfig(core=CORE, delay=DelayConfig(unit=unit, slots=slots, groups=groups,
                                                   capacity=capacity))


@pytest.mark.parametrize("unit", ["scdq", "ring"])
def test_core_with_delays_equals_network_model(unit):
    cfg = config(unit)
    delayed = 0
    for seed in range(10):
        image, steps = random_case(np.random.default_rng(7000 + seed), cfg, 24)
        delayed += image.network.max_delay() > 0
        got, core = run_core(image, steps, cfg)
        want = NetworkModel(image.network, cfg.core).run(steps)
        for t, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"{unit} seed {7000 + seed}: first divergence at timestep {t}"
        assert core.counters["acc_overflows"] == 0
        if unit == "scdq":
            assert core.counters["delay_overflows"] == 0
    assert delayed >= 8


def test_scdq_and_ring_give_identical_spikes_and_states():
    for seed in range(6):
        outs = {}
        for unit in ("scdq", "ring"):
            cfg = config(unit)
            image, steps = random_case(np.random.default_rng(8100 + seed), cfg, 20)
            got, core = run_core(image, steps, cfg)
            states = [core.dump(f"core.lane{l}.state") for l in range(CORE.lanes)]
            outs[unit] = (got, states)
        assert outs["scdq"][0] == outs["ring"][0]
        for a, b in zip(outs["scdq"][1], outs["ring"][1]):
            assert np.array_equal(a, b)


def test_scdq_overflow_is_counted_and_refuses_events():
    """A small queue overflows on random traffic: the counter equals the refused pushes,
    the peak equals the capacity, and the spikes then differ from the unbounded model."""
    overflowed = 0
    for seed in range(6):
        cfg = config("scdq", capacity=8)
        image, steps = random_case(np.random.default_rng(8200 + seed), cfg, 24)
        _, core = run_core(image, steps, cfg)
        q = core.queue
        assert core.counters["delay_overflows"] == q.overflows
        assert core.counters["delay_pushes"] == q.pushes
        if q.overflows:
            overflowed += 1
            assert q.overflow and core.counters["delay_max_occupancy"] == 8
    assert overflowed >= 3


@pytest.mark.parametrize("unit", ["scdq", "ring"])
def test_chip_with_delays_equals_network_model(unit):
    cfg = ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=2048,
                                     out_fifo_depth=32),
                     noc=NocConfig(width=2, height=2),
                     delay=DelayConfig(unit=unit, slots=8, groups=4, capacity=4096))
    for seed in range(4):
        image, inputs = random_chip_case(np.random.default_rng(8300 + seed), cfg, 16)
        chip = GoldenChip(cfg)
        chip.load(image.images)
        got = chip.run(image, inputs)
        want = NetworkModel(image.network, cfg.core).run(inputs)
        assert got == want, f"{unit} seed {8300 + seed}"
