"""Mapper: placement keeps layers on neighbouring tiles, routes multicast to every tile
that needs a spike, and refusals name the layer and the resource that ran out."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from hw.spec.isa import decode
from hw.spec.packet import dest_layout, route_layout
from sw.toolchain.compiler import CompileError
from sw.toolchain.mapper import map_network, snake_order
from sw.toolchain.network import INPUT, Layer, Network, Neuron


def cfg(w=2, h=2, neurons=32, routes=256, out_fifo=None, axons=64, synapses=512, layers=2):
    return ChipConfig(core=CoreConfig(lanes=2, neurons=neurons, axons=axons,
                                      synapses=synapses, microcode_depth=16, layers=layers,
                                      out_fifo_depth=neurons if out_fifo is None else out_fifo),
                      noc=NocConfig(width=w, height=h, routes=routes))


def dense(n_in, n_out, value=1):
    return np.full((n_in, n_out), value, np.int64)


def chain(sizes, n_in=4):
    layers, src, n = [], INPUT, n_in
    for k, s in enumerate(sizes):
        layers.append(Layer(f"l{k}", s, Neuron("if", threshold=2), {src: dense(n, s)}))
        src, n = f"l{k}", s
    return Network(n_in, layers)


def test_snake_order_visits_neighbours():
    order = snake_order(cfg(3, 3))
    assert order == [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1), (0, 2), (1, 2), (2, 2)]
    for a, b in zip(order, order[1:]):
        assert abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1


def test_layers_split_across_neighbouring_tiles():
    c = cfg(3, 3)
    image = map_network(chain([60, 30, 30]), c)
    assert image.placement["l0"] == [((0, 0), 0, 32), ((1, 0), 32, 60)]   # layer indices
    # every chunk lands on the tile its predecessor ended on or the next in snake order
    tiles = [t for name in ("l0", "l1", "l2") for t, _, _ in image.placement[name]]
    order = snake_order(c)
    steps = [order.index(b) - order.index(a) for a, b in zip(tiles, tiles[1:])]
    assert all(s in (0, 1) for s in steps)


def test_multicast_routes_reach_every_tile_with_an_axon():
    c = cfg(2, 1, synapses=1024)
    image = map_network(chain([32, 32]), c, outputs=["l0", "l1"])
    # l0 fills tile (0,0), l1 tile (1,0); each l0 neuron: one packet to (1,0) and one
    # to the host.
    rlay, dlay = route_layout(c), dest_layout(c)
    route = decode(rlay, image.images["tile0_0.route_table"][0])
    dests = [decode(dlay, image.images["tile0_0.dest_table"][route.first + i])
             for i in range(route.count)]
    assert [(d.to_host, d.x, d.y) for d in dests] == [(0, 1, 0), (1, 0, 0)]
    assert image.report[0]["route_entries"] == 64 and image.report[1]["route_entries"] == 32
    # network inputs go straight to the tiles that hold their axons
    assert image.host_packets([(3, 1)]) == [(0, 0, 3, 1)]


def test_decode_outputs_maps_host_packets_back_to_layers():
    c = cfg(2, 1)
    image = map_network(chain([40]), c)
    (t0, a0, b0), (t1, a1, b1) = image.placement["l0"]
    got = image.decode_outputs([(*t1, 0, 1), (*t0, 1, 1)])
    assert got == {"l0": [(1, 1), (a1, 1)]}


@pytest.mark.parametrize("net,config,message", [
    (chain([60, 60, 30]), cfg(2, 2),
     "layer 'l1': the mesh ran out of tiles (4 of 2 x 2 used) with neurons 20..59 still "
     "to place"),
    (chain([32], n_in=4), cfg(1, 1, routes=16),
     "layer 'l0': tile (0, 0) ran out of route entries at neuron 16 (17 needed, "
     "noc.routes = 16)"),
    (chain([4], n_in=80), cfg(1, 1),
     "layer 'l0': not even one neuron fits an empty core (its fan-in needs more axons or "
     "synapse rows than core.axons = 64, core.synapse_rows = 256)"),
    (chain([4]), cfg(1, 1, out_fifo=8),
     "core.out_fifo_depth (8) must be at least core.neurons (32) on a chip"),
    (Network(2, [Layer("a", 4, Neuron("if"), {"hidden": dense(2, 4)})]), cfg(1, 1),
     "layer 'a': input from unknown source 'hidden'"),
])
def test_refusals_name_layer_and_resource(net, config, message):
    with pytest.raises(CompileError) as e:
        map_network(net, config)
    assert str(e.value) == message


def test_unknown_output_layer_is_refused():
    with pytest.raises(KeyError, match="nope"):
        map_network(chain([4]), cfg(1, 1), outputs=["nope"])


def test_per_tile_compile_errors_name_the_tile():
    # Weights out of range are found by the per-tile compiler; the message says where.
    net = Network(2, [Layer("a", 4, Neuron("if"), {INPUT: dense(2, 4, 300)})])
    with pytest.raises(CompileError, match=r"^layer 'a'|^tile \(0, 0\): layer 'a\[0:4\]'"):
        map_network(net, cfg(1, 1))


def test_microcode_is_counted_per_tile():
    # four CUBA LIF layers with distinct programs (2 SETR + 2 VEC each): integration and
    # three fit a 16-word microcode, the fourth goes to the next tile
    layers, src, n = [], INPUT, 2
    for k in range(4):
        layers.append(Layer(f"c{k}", 2, Neuron("cuba_lif", threshold=5, syn_mult=100 + k,
                                               syn_shift=7), {src: dense(n, 2)}))
        src, n = f"c{k}", 2
    image = map_network(Network(2, layers), cfg(2, 1, layers=4))
    assert [image.placement[f"c{k}"][0][0] for k in range(4)] == [(0, 0)] * 3 + [(1, 0)]
    assert [len(image.tiles[xy].programs) for xy in ((0, 0), (1, 0))] == [4, 2]
    # equal programs are shared: four layers of one program share a tile
    same = [Layer(l.name, l.size, Neuron("cuba_lif", threshold=5, syn_mult=100, syn_shift=7),
                  l.inputs) for l in layers]
    image = map_network(Network(2, same), cfg(2, 1, layers=4))
    assert {image.placement[l.name][0][0] for l in same} == {(0, 0)}


def test_layer_start_writes_cover_every_tile_of_a_split_layer():
    net = Network(4, [Layer("a", 20, Neuron("if", threshold=3), {INPUT: dense(4, 20)}),
                      Layer("b", 40, Neuron("if", threshold=3, bias=2), {"a": dense(20, 40)},
                            start=1)])
    image = map_network(net, cfg(2, 2))
    assert image.start_steps == [1]
    assert len(image.placement["b"]) >= 2
    writes = image.state_writes(1)
    assert len(writes) == 40 and image.state_writes(2) == []
    assert {m.split(".")[0] for m, _, _ in writes} == \
        {f"tile{x}_{y}" for (x, y), _, _ in image.placement["b"]}
    with pytest.raises(CompileError, match="layer 'a': start 1, but events can reach it at "
                                           "timestep 0"):
        map_network(Network(4, [Layer("a", 4, Neuron("if"), {INPUT: dense(4, 4)}, start=1)]),
                    cfg(1, 1))
