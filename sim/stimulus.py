"""Seeded random networks and inputs for cross-checks and benchmarks.

:func:`random_network` draws a network that fits one core of a configuration: 1 to 3
layers of random size and neuron model (LIF with either reset, IF, sigma-delta),
dense and sparse projections, occasionally a recurrent or skip projection, weights
and thresholds scaled so that layers neither stay silent nor saturate, and always
within the compiler's accumulator proof. :func:`random_inputs` draws binary or graded
input events per timestep (at most one per input channel and step). With a delay unit in
the configuration, :func:`add_random_delays` gives every synapse a delay (each source
neuron draws 1 .. ``delay.groups`` distinct delays from all of 0 .. ``slots - 1``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hw.spec.config import ChipConfig
from sw.toolchain.compiler import CompileError, compile_core
from sw.toolchain.network import INPUT, Layer, Network, Neuron, load_network

__all__ = ["random_network", "random_inputs", "random_case", "add_random_delays", "load_fixture", "fixture_names",
           "bench_network", "random_chip_case", "bench_chip_network"]


def _fit_weights(w, pmax, acc_bits):
    """Scale weights down until every neuron's worst-case accumulation fits."""
    limit = (1 << (acc_bits - 1)) - 1
    worst = int(np.abs(w).sum(axis=0).max()) * pmax if w.size else 0
    if worst > limit:
        w = (w * (limit / worst)).astype(np.int64)
    return w


def random_network(rng: np.random.Generator, config: ChipConfig, *, max_layer: int = 48,
                   max_inputs: int = 32) -> Network:
    c = config.core
    wmax = (1 << (c.weight_bits - 1)) - 1
    pmax = (1 << (c.payload_bits - 1)) - 1
    smax = (1 << (c.state_bits - 1)) - 1
    n_layers = int(rng.integers(1, 4))
    budget = c.neurons
    sizes = []
    for k in range(n_layers):
        rows_left = budget // c.lanes - sum(-(-s // c.lanes) for s in sizes)
        if rows_left <= 0:
            break
        sizes.append(int(rng.integers(1, min(rows_left * c.lanes, max_layer) + 1)))
    inputs_budget = c.axons - sum(sizes[:-1])
    n_in = int(rng.integers(1, max(2, min(inputs_budget, max_inputs))))
    layers = []
    for k, size in enumerate(sizes):
        model = str(rng.choice(["lif", "lif", "if", "sigma_delta"]))
        sources = [INPUT] if k == 0 else [layers[-1].name]
        if k > 0 and rng.random() < 0.3:
            sources.append(INPUT)
        if rng.random() < 0.2:
            sources.append(f"l{k}")      # recurrent
        inputs = {}
        for src in sources:
            if src == INPUT:
                n_src, graded = n_in, True
            elif src == f"l{k}":
                n_src, graded = size, model == "sigma_delta"
            else:
                n_src, graded = layers[-1].size, layers[-1].neuron.graded
            density = float(rng.choice([1.0, 0.5, 0.1]))
            w = rng.integers(-wmax, wmax + 1, (n_src, size))
            w[rng.random((n_src, size)) >= density] = 0
            # each source gets an equal share of the accumulator's range
            inputs[src] = _fit_weights(w, (pmax if graded else 1) * len(sources), c.acc_bits)
        scale = max(1, int(np.abs(next(iter(inputs.values()))).mean() * 3))
        neuron = Neuron(
            model=model,
            threshold=rng.integers(1, min(smax, max(2, scale * 2)), size),
            bias=rng.integers(-3, 4, size),
            leak_mult=int(rng.integers(1, 1 << 8)), leak_shift=8,
            reset=str(rng.choice(["zero", "subtract"])))
        if model == "sigma_delta":
            neuron.threshold = rng.integers(0, 4, size)
        layers.append(Layer(f"l{k}", size, neuron, inputs))
    return Network(n_in, layers)


def add_random_delays(rng: np.random.Generator, network: Network, config: ChipConfig,
                      *, max_delay: int | None = None) -> Network:
    """``network`` with random synaptic delays: each source neuron (an input or a layer
    neuron) draws 1 .. ``delay.groups`` distinct delays from 0 .. ``max_delay``
    (default ``delay.slots - 1``), used by all its synapses, each synapse one of them."""
    d = config.delay
    top = d.slots - 1 if max_delay is None else max_delay
    sets = {}

    def choices(src, i):
        if (src, i) not in sets:
            k = int(rng.integers(1, min(d.groups, top + 1) + 1))
            sets[(src, i)] = rng.choice(top + 1, size=k, replace=False)
        return sets[(src, i)]
    layers = []
    for layer in network.layers:
        delays = {}
        for src, w in layer.inputs.items():
            w = np.asarray(w)
            dm = np.zeros(w.shape, np.int64)
            for i in range(w.shape[0]):
                dm[i] = rng.choice(choices(src, i), size=w.shape[1])
            delays[src] = dm
        layers.append(Layer(layer.name, layer.size, layer.neuron, layer.inputs, delays))
    return Network(network.inputs, layers)


def random_inputs(rng: np.random.Generator, network: Network, steps: int, config: ChipConfig,
                  *, rate: float | None = None, graded: bool | None = None):
    """Per timestep a list of (input index, payload)."""
    c = config.core
    pmax = (1 << (c.payload_bits - 1)) - 1
    rate = float(rng.uniform(0.1, 0.6)) if rate is None else rate
    graded = bool(rng.random() < 0.5) if graded is None else graded
    out = []
    for _ in range(steps):
        on = np.nonzero(rng.random(network.inputs) < rate)[0]
        pay = rng.integers(-pmax, pmax + 1, len(on)) if graded else np.ones(len(on), np.int64)
        out.append([(int(i), int(p)) for i, p in zip(on, pay)])
    return out


def random_case(rng: np.random.Generator, config: ChipConfig, steps: int):
    """A compiled random network and its inputs: ``(CoreImage, steps)``.

    Networks that exceed the core's synapse rows or axons are drawn again (up to 50
    times); any other compile error is a bug and propagates. With a delay unit, the
    synapses get random delays; the delay queue is deliberately not sized for the worst
    case (``activity=[]``), so that small capacities overflow and the tests see it.
    """
    for _ in range(50):
        net = random_network(rng, config)
        if config.delay.enabled:
            net = add_random_delays(rng, net, config)
        try:
            image = compile_core(net, config, activity=[] if config.delay.enabled else None)
        except CompileError as e:
            if "run out" in str(e) or "axons" in str(e):
                continue
            raise
        return image, random_inputs(rng, net, steps, config)
    raise RuntimeError("no random network fits this core; give it more synapses/axons")


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "core"


def load_fixture(name: str):
    """A fixed network from ``fixtures/core/<name>.npz`` (made by
    ``fixtures/make_core_fixtures.py``): ``(network, inputs per step, expected)`` where
    ``expected[t]`` is ``{layer: [(index, payload)]}``."""
    net, extra = load_network(FIXTURES / f"{name}.npz")
    steps = int(extra["steps"])
    inputs = [[] for _ in range(steps)]
    for t, i, p in extra["inputs"]:
        inputs[int(t)].append((int(i), int(p)))
    expected = [{l.name: [] for l in net.layers} for _ in range(steps)]
    for t, k, i, p in extra["expected"]:
        expected[int(t)][net.layers[int(k)].name].append((int(i), int(p)))
    return net, inputs, expected


def fixture_names() -> list:
    return sorted(p.stem for p in FIXTURES.glob("*.npz"))


def bench_network(config: ChipConfig, fanouts):
    """The throughput-benchmark network: one LIF layer filling the core; input 0 reaches
    every neuron with weight 127 (one event with payload 127 makes all of them spike);
    input ``k`` (``1..len(fanouts)``) reaches the first ``fanouts[k-1]`` neurons with
    weight 1 (dense rows of that fan-out). Returns ``(network, {fanout: input index})``."""
    n = config.core.neurons
    w = np.zeros((1 + len(fanouts), n), np.int64)
    w[0] = 127
    for k, f in enumerate(fanouts, 1):
        if f > n:
            raise ValueError(f"fan-out {f} exceeds the core's {n} neurons")
        w[k, :f] = 1
    layer = Layer("bench", n, Neuron("lif", threshold=1000, leak_mult=255, leak_shift=8),
                  {INPUT: w})
    return Network(1 + len(fanouts), [layer]), {f: k for k, f in enumerate(fanouts, 1)}


def random_chip_case(rng: np.random.Generator, config: ChipConfig, steps: int):
    """A random network sized for the whole mesh (so that layers split across tiles),
    mapped with every layer reported to the host: ``(ChipImage, inputs per step)``.
    Networks the mesh cannot hold are drawn again (up to 50 times)."""
    from hw.spec.memmap import core_tiles
    from sw.toolchain.mapper import map_network
    c, tiles = config.core, len(core_tiles(config))
    virtual = config.replace(core=c.replace(
        neurons=c.neurons * tiles, axons=min(c.axons * tiles, 65536),
        synapses=c.synapses * tiles, out_fifo_depth=max(c.out_fifo_depth, 2)))
    for _ in range(50):
        net = random_network(rng, virtual, max_layer=max(48, c.neurons * tiles // 3))
        if config.delay.enabled:
            net = add_random_delays(rng, net, config)
        try:
            image = map_network(net, config, outputs=[l.name for l in net.layers],
                                activity=[] if config.delay.enabled else None)
        except CompileError as e:
            if "ran out" in str(e) or "run out" in str(e) or "not even one" in str(e):
                continue
            raise
        return image, random_inputs(rng, net, steps, config)
    raise RuntimeError("no random network fits this chip")


def bench_chip_network(config: ChipConfig, inputs: int = 32, seed: int = 4):
    """A layered network with one full layer per tile (so every hop is a mesh hop):
    ``inputs`` inputs, then ``tiles`` dense LIF layers of ``neurons`` each, weights
    scaled so that each layer keeps firing."""
    rng = np.random.default_rng(seed)
    c = config.core
    layers, src, n_src = [], INPUT, inputs
    for k in range(config.noc.tiles):
        w = rng.integers(-20, 60, (n_src, c.neurons))
        layers.append(Layer(f"l{k}", c.neurons, Neuron("lif", threshold=n_src * 6,
                                                       leak_mult=200, leak_shift=8),
                            {src: w}))
        src, n_src = f"l{k}", c.neurons
    return Network(inputs, layers)
