"""Delays in the instruction-level and chip golden models: a compiled network with
synaptic delays gives, on the golden core (SCDQ and ring buffer) and on the golden chip,
the same spikes per timestep as the network-level model; queue overflow is counted."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig, NocConfig
from sim.golden.chip import GoldenChip
from sw.toolchain.network_model import NetworkModel
from sim.stimulus import random_case, random_chip_case, random_inputs
from sw.runtime.driver import Chip
from sw.toolchain.mapper import map_network
from sw.toolchain.network import INPUT, Layer, Network, Neuron
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


@pytest.mark.parametrize("payload_bits", [8, 2])
@pytest.mark.parametrize("unit", ["none", "scdq", "ring"])
@pytest.mark.parametrize("width,height", [(2, 2), (2, 1)])
def test_chip_with_delays_equals_network_model(unit, payload_bits, width, height):
    """Graded and binary (payload 1) inputs, at the default payload width and at the
    narrowest one (2 bits: a binary spike is +1, the top of its range); the final
    membranes too, not only the spikes."""
    cfg = ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=2048,
                                     out_fifo_depth=32, payload_bits=payload_bits),
                     noc=NocConfig(width=width, height=height),
                     delay=DelayConfig(unit=unit, slots=8, groups=4, capacity=4096))
    for seed in range(2):
        rng = np.random.default_rng(8300 + seed)
        image, inputs = random_chip_case(rng, cfg, 16)
        if seed % 2:
            inputs = random_inputs(rng, image.network, 16, cfg, graded=False)
        chip = GoldenChip(cfg)
        chip.load(image.images)
        got = chip.run(image, inputs)
        model = NetworkModel(image.network, cfg.core)
        want = model.run(inputs)
        where = f"{unit} {width}x{height} payload_bits {payload_bits} seed {8300 + seed}"
        t = next((t for t, (g, w) in enumerate(zip(got, want)) if g != w), None)
        assert t is None, f"{where}: first divergence at timestep {t}: {got[t]} vs {want[t]}"
        with Chip("golden", cfg) as driver:
            driver.load(image)
            driver.run_network(image, inputs)
            for field in ("v", "u"):
                states = driver.layer_states(image, field)
                for layer in image.network.layers:
                    have, ref = states[layer.name], getattr(model, field)[layer.name]
                    bad = np.nonzero(have != ref)[0]
                    assert not len(bad), (f"{where}: final {field} of layer {layer.name!r} "
                                          f"neuron {bad[0]}: chip {have[bad[0]]}, "
                                          f"network model {ref[bad[0]]}")


def test_binary_spikes_between_layers_are_plus_one_at_the_narrowest_payload():
    """Regression: with 1-bit payloads a spike (+1) wrapped to -1 at the next layer;
    such a config is refused, and at 2 bits a spike adds +w."""
    with pytest.raises(ValueError, match="cannot carry a binary spike"):
        CoreConfig(payload_bits=1)
    cfg = ChipConfig(core=CoreConfig(lanes=1, neurons=16, axons=64, synapses=256,
                                     payload_bits=2, out_fifo_depth=16),
                     noc=NocConfig(width=2, height=1))
    l0 = Layer("l0", 2, Neuron("if", threshold=np.array([3, 3]), bias=np.array([1, 1])),
               {INPUT: np.array([[5, 5]])})
    l1 = Layer("l1", 1, Neuron("if", threshold=np.array([100]), bias=np.array([0])),
               {"l0": np.array([[7], [7]])})
    net = Network(1, [l0, l1])
    image = map_network(net, cfg, outputs=["l0", "l1"])
    with Chip("golden", cfg) as chip:
        chip.load(image)
        chip.run_network(image, [[]] * 8)
        v = chip.layer_states(image)
    model = NetworkModel(net, cfg.core)
    model.run([[]] * 8)
    assert v["l1"][0] == model.v["l1"][0] == 28
