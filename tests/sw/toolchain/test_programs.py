"""Neuron programs (sw/toolchain/programs.py): the delayed-subtraction reset, the
current-based LIF (both orders of current and membrane) and layer start steps compute,
on the image-level golden chip (driver ``golden`` backend, which applies the layer-start
writes), exactly what the network model's formulas compute, on seeded random networks
and on 8- and 6-slot cores (one and two passes); the programs' slots and passes.

:func:`feature_case` is shared with the Verilator cross-check
(tests/hw/host/test_host_verilator.py). Rerun one network with SPIKEFORGE_SEED=<seed>."""

import os

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from hw.spec.isa import AluOp, Emit, InstrClass, Isa, Temp
from sw.runtime.driver import Chip
from sw.toolchain import programs
from sw.toolchain.mapper import map_network
from sw.toolchain.microcode import assemble
from sw.toolchain.network import INPUT, Layer, Network, Neuron
from sw.toolchain.network_model import NetworkModel

SEED = int(os.environ.get("SPIKEFORGE_SEED", 4200))
FEATURES = ("subtract_delayed", "cuba_syn_first", "cuba_norse", "start", "all")


def config(slots: int = 8) -> ChipConfig:
    return ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=512,
                                      microcode_depth=16, layers=4, out_fifo_depth=32,
                                      slots=slots),
                      noc=NocConfig(width=2, height=2, routes=256))


def _neuron(rng, model: str, reset: str, scale: int, size: int) -> Neuron:
    n = Neuron(model, threshold=rng.integers(max(1, scale // 2), 2 * scale + 2, size),
               bias=rng.integers(-4, 8, size), reset=reset,
               leak_mult=int(rng.integers(150, 256)), leak_shift=8)
    if model == "cuba_lif":
        n.syn_mult = int(rng.integers(60, 250))
        n.syn_shift = int(rng.choice([7, 8]))
        n.syn_first = bool(rng.random() < 0.5)
        n.threshold = n.threshold * 2
    return n


def feature_network(rng, feature: str, *, max_size: int = 10, inputs: int = 6) -> Network:
    """A feed-forward chain input -> l0 -> l1 -> ... (2 to 4 layers, sometimes a
    recurrent projection) drawing ``feature``: ``subtract_delayed`` (LIF and IF layers
    with that reset), ``cuba_syn_first`` / ``cuba_norse`` (CUBA LIF layers, any reset),
    ``start`` (layer k starts at k, LIF/IF models), or ``all`` of them at once."""
    n_layers = int(rng.integers(2, 5))
    layers, src, n_src = [], INPUT, inputs
    for k in range(n_layers):
        size = int(rng.integers(1, max_size + 1))
        reset = str(rng.choice(["zero", "subtract", "subtract_delayed"]))
        if feature == "subtract_delayed":
            model, reset = str(rng.choice(["lif", "if"])), "subtract_delayed"
        elif feature in ("cuba_syn_first", "cuba_norse"):
            model = "cuba_lif" if k == 0 or rng.random() < 0.7 else "lif"
        elif feature == "start":
            model = str(rng.choice(["lif", "if"]))
        else:
            model = str(rng.choice(["lif", "if", "cuba_lif"]))
        w = rng.integers(-30, 70, (n_src, size))
        w[rng.random(w.shape) < 0.3] = 0
        scale = max(2, int(np.abs(w).mean() * (2 if src == INPUT else 1.5)))
        neuron = _neuron(rng, model, reset, scale, size)
        if feature == "cuba_syn_first":
            neuron.syn_first = True
        elif feature == "cuba_norse":
            neuron.syn_first = False
        proj = {src: w}
        if rng.random() < 0.25:
            proj[f"l{k}"] = rng.integers(-15, 25, (size, size))
        start = k if feature in ("start", "all") else 0
        layers.append(Layer(f"l{k}", size, neuron, proj, start=start))
        src, n_src = f"l{k}", size
    return Network(inputs, layers)


def feature_case(rng, cfg: ChipConfig, feature: str, steps: int, **kw):
    """``(ChipImage, inputs per step)`` of :func:`feature_network`, every layer an
    output; binary inputs, sometimes the same at every step (one STEP frame per
    stretch between layer starts)."""
    net = feature_network(rng, feature, **kw)
    image = map_network(net, cfg, outputs=[l.name for l in net.layers])
    if rng.random() < 0.3:
        ev = [(i, 1) for i in range(net.inputs) if rng.random() < 0.5]
        return image, [ev] * steps
    return image, [[(i, 1) for i in range(net.inputs) if rng.random() < 0.5]
                   for _ in range(steps)]


def run_golden(cfg, image, inputs, backend="golden"):
    """Outputs per step and final ``v``, ``u`` per layer on a golden backend."""
    with Chip(backend, cfg) as chip:
        chip.load(image)
        out = chip.run_network(image, inputs)
        return out, chip.layer_states(image, "v"), chip.layer_states(image, "u")


@pytest.mark.parametrize("slots", [8, 6])
@pytest.mark.parametrize("feature", FEATURES)
def test_network_model_equals_golden_chip(feature, slots):
    cfg = config(slots)
    spikes = 0
    for k in range(6):
        seed = SEED + 1000 * FEATURES.index(feature) + 10 * slots + k
        image, inputs = feature_case(np.random.default_rng(seed), cfg, feature, 10)
        model = NetworkModel(image.network, cfg.core)
        want = model.run(inputs)
        got, v, u = run_golden(cfg, image, inputs)
        for t, (g, x) in enumerate(zip(got, want)):
            assert g == x, (f"{feature}, {slots} slots, network seed {seed}: first divergence "
                            f"at timestep {t}: chip {g} network model {x}")
        for name in v:
            assert np.array_equal(v[name], model.v[name]), \
                f"{feature}, {slots} slots, seed {seed}: final v of {name!r}"
            assert np.array_equal(u[name], model.u[name]), \
                f"{feature}, {slots} slots, seed {seed}: final u of {name!r}"
        spikes += sum(len(s) for step in want for s in step.values())
    assert spikes > 50, "the networks hardly spike: the test would prove little"


def test_instruction_level_interpreter_agrees_too():
    cfg = config(6)
    image, inputs = feature_case(np.random.default_rng(SEED + 7), cfg, "all", 8)
    want = NetworkModel(image.network, cfg.core).run(inputs)
    assert run_golden(cfg, image, inputs, "golden:interp")[0] == want


def _one(neuron, weights, start=0):
    return Network(1, [Layer("n", 1, neuron, {INPUT: np.array([[weights]])}, start=start)])


def test_subtract_delayed_subtracts_at_the_next_step_after_the_leak():
    # input 30 at step 0 and 1; threshold 25, leak 1/2: v0 = 30 (spike, kept),
    # v1 = 30 // 2 - 25 + 30 = 20, v2 = 10, v3 = 5
    n = Neuron("lif", threshold=25, leak_mult=128, leak_shift=8, reset="subtract_delayed")
    m = NetworkModel(_one(n, 30), CoreConfig())
    seen = []
    for ev in ([(0, 1)], [(0, 1)], [], []):
        seen.append((m.step(ev)["n"], int(m.v["n"][0])))
    assert seen == [([(0, 1)], 30), ([], 20), ([], 10), ([], 5)]


def test_cuba_current_orders():
    # syn_mult 1/2, leak 1 (mult 256 >> 8), bias 0, input 8 at step 0 only
    def run(first):
        n = Neuron("cuba_lif", threshold=1000, leak_mult=256, leak_shift=8, syn_mult=128,
                   syn_shift=8, syn_first=first)
        m = NetworkModel(_one(n, 8), CoreConfig())
        out = []
        for ev in ([(0, 1)], [], []):
            m.step(ev)
            out.append((int(m.v["n"][0]), int(m.u["n"][0])))
        return out
    assert run(True) == [(8, 8), (12, 4), (14, 2)]       # membrane sees this step's current
    assert run(False) == [(0, 8), (8, 4), (12, 2)]       # ... the previous step's


def test_start_holds_the_bias_back_until_its_step():
    m = NetworkModel(_one(Neuron("if", threshold=100, bias=5), 1, start=2), CoreConfig())
    m.run([[], [], [], []])
    assert int(m.v["n"][0]) == 10                     # bias at steps 2 and 3 only


def test_programs_slots_and_passes():
    def vecs(p):
        return [len(i.slots) for i in p.instrs if i.cls is InstrClass.VEC]
    assert vecs(programs.lif(200, 8, "subtract_delayed")) == [7]
    assert vecs(programs.lif(200, 8, "subtract_delayed", slots=6)) == [6, 1]
    assert vecs(programs.lif(200, 8, "subtract")) == [6]
    assert vecs(programs.if_neuron("subtract_delayed", slots=6)) == [6]
    for first, order in ((True, [4, 5]), (False, [5, 4])):
        p = programs.cuba_lif(200, 8, 100, 7, "zero", first)
        assert vecs(p) == order
        assert [i.rd for i in p.instrs if i.cls is InstrClass.SETR] == [0, 1]
        assert [i.emit for i in p.instrs if i.cls is InstrClass.VEC][0 if not first else 1] \
            is Emit.PRED
    assert vecs(programs.cuba_lif(200, 8, 100, 7, "subtract_delayed", True)) == [4, 6]
    assert vecs(programs.cuba_lif(200, 8, 100, 7, "subtract_delayed", False, slots=5)) == \
        [5, 1, 4]
    # the multiplier slot writes another temp than it reads; the 6-slot core takes them all
    sd = programs.lif(200, 8, "subtract_delayed", slots=6)
    mul = sd.instrs[1].slots[0]
    assert (mul.op, mul.a, mul.dst) == (AluOp.MUL, Temp.X, Temp.Y)
    isa = Isa.of(config(6))
    words, entry = assemble([programs.integrate(), sd, programs.cuba_lif(
        1, 0, 1, 0, "subtract_delayed", False, name="c", slots=6)], isa)
    assert len(words) == 1 + 3 + 4
    with pytest.raises(ValueError, match="reset must be 'zero', 'subtract' or "
                                         "'subtract_delayed', not 'hold'"):
        programs.lif(1, 0, "hold")
