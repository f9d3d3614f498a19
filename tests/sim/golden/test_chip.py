"""Chip golden model: running a mapped network tile by tile, with spikes carried by the
routing tables, computes what the network-level model computes; and it acts on the
routing tables it is given (a fault in a table changes what it does)."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from sim.golden.chip import GoldenChip
from sw.toolchain.network_model import NetworkModel
from sim.stimulus import random_chip_case
from sw.toolchain.mapper import map_network
from sw.toolchain.network import INPUT, Layer, Network, Neuron


def chip_config(w, h, lanes=2):
    return ChipConfig(core=CoreConfig(lanes=lanes, neurons=32, axons=64, synapses=512,
                                      microcode_depth=16, layers=2, out_fifo_depth=32),
                      noc=NocConfig(width=w, height=h, routes=256))


@pytest.mark.parametrize("w,h", [(1, 1), (2, 1), (2, 2), (3, 3)])
def test_chip_model_equals_network_model(w, h):
    cfg = chip_config(w, h)
    for seed in range(5):
        rng = np.random.default_rng(100 * w + 10 * h + seed)
        image, inputs = random_chip_case(rng, cfg, 8)
        chip = GoldenChip(cfg)
        chip.load(image.images)
        got = chip.run(image, inputs)
        want = NetworkModel(image.network, cfg.core).run(inputs)
        for t, (g, x) in enumerate(zip(got, want)):
            assert g == x, (f"{w}x{h} seed {seed}: first divergence at timestep {t}: "
                            f"chip {g} network {x}")


def test_split_layer_spans_tiles_and_still_agrees():
    cfg = chip_config(2, 2)
    rng = np.random.default_rng(7)
    w1 = rng.integers(-30, 60, (8, 50))
    w2 = rng.integers(-20, 40, (50, 20))
    net = Network(8, [Layer("h", 50, Neuron("lif", threshold=60, leak_mult=230,
                                            leak_shift=8), {INPUT: w1}),
                      Layer("o", 20, Neuron("if", threshold=80), {"h": w2})])
    image = map_network(net, cfg, outputs=["h", "o"])
    assert len(image.placement["h"]) >= 2          # 50 neurons > 32 per core
    inputs = [[(i, 1) for i in range(8) if rng.random() < 0.5] for _ in range(10)]
    chip = GoldenChip(cfg)
    chip.load(image.images)
    got = chip.run(image, inputs)
    assert got == NetworkModel(net, cfg.core).run(inputs)
    assert sum(len(g["o"]) for g in got) > 0        # the test exercises routed spikes


def test_model_reads_the_route_tables_it_is_given():
    cfg = chip_config(2, 1)
    net = Network(1, [Layer("a", 1, Neuron("if", threshold=1), {INPUT: np.array([[1]])}),
                      Layer("b", 1, Neuron("if", threshold=1), {"a": np.array([[1]])})])
    image = map_network(net, cfg, outputs=["b"])
    chip = GoldenChip(cfg)
    chip.load(image.images)
    assert chip.run(image, [[(0, 1)], [], []]) == [{"b": []}, {"b": [(0, 1)]}, {"b": []}]
    # Erase neuron a's route: its spike no longer reaches b.
    (x, y), _, _ = image.placement["a"][0]
    chip = GoldenChip(cfg)
    image.images[f"tile{x}_{y}.route_table"][:] = 0
    chip.load(image.images)
    assert chip.run(image, [[(0, 1)], [], []]) == [{"b": []}] * 3
    assert chip.counters["steps"] == 3


def test_host_packet_outside_mesh_is_refused():
    chip = GoldenChip(chip_config(2, 1))
    with pytest.raises(ValueError, match=r"host packet for tile \(2, 0\), outside the 2 x 1"):
        chip.step([(2, 0, 0, 1)])


def test_router_hops_follow_xy_routing():
    """host -> a, a -> b, b -> host: each packet passes |dx| + |dy| + 1 routers (the host
    is west of (0, 0)); the energy model's NoC activity."""
    cfg = chip_config(2, 1)
    net = Network(1, [Layer("a", 1, Neuron("if", threshold=1), {INPUT: np.array([[1]])}),
                      Layer("b", 1, Neuron("if", threshold=1), {"a": np.array([[1]])})])
    image = map_network(net, cfg, outputs=["b"])
    (ax, ay), _, _ = image.placement["a"][0]
    (bx, by), _, _ = image.placement["b"][0]
    chip = GoldenChip(cfg)
    chip.load(image.images)
    assert chip.run(image, [[(0, 1)], [], []])[1] == {"b": [(0, 1)]}
    assert chip.router_hops == (ax + ay + 1) + (abs(bx - ax) + abs(by - ay) + 1) + (bx + by + 1)
