"""Single-core compiler: placement facts, and refusals that name the layer and limit."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from sw.toolchain.compiler import CompileError, compile_core
from sw.toolchain.network import Layer, Network, Neuron

CFG = ChipConfig(core=CoreConfig(lanes=4, neurons=64, axons=32, synapses=256, layers=4,
                                 microcode_depth=16))


def dense(n_in, n_out, value=1):
    return np.full((n_in, n_out), value, np.int64)


def test_placement_routes_and_tables():
    net = Network(3, [Layer("h", 6, Neuron("lif", threshold=5), {"input": dense(3, 6)}),
                      Layer("o", 2, Neuron("if", threshold=3), {"h": dense(6, 2)})])
    img = compile_core(net, CFG)
    assert list(img.neurons["h"]) == list(range(6))
    assert list(img.neurons["o"]) == [8, 9]            # layer o starts on the next row
    assert img.routes == {n: 3 + n for n in range(6)}  # h neurons feed axons 3..8
    assert list(img.input_axons) == [0, 1, 2]
    # input axons: 2 rows each (6 targets / 4 lanes); h axons: 1 row each into o
    assert img.report[0]["rows"] == 2 and img.report[1]["row_base"] == 2
    assert img.by_layer([(9, 1), (0, 1)]) == {"h": [(0, 1)], "o": [(1, 1)]}


def test_sparse_projection_stores_only_used_rows():
    w = np.zeros((2, 16), np.int64)
    w[0, 13] = 5              # one synapse: one row
    img = compile_core(Network(2, [Layer("a", 16, Neuron("if"), {"input": w})]), CFG)
    from hw.spec.isa import Isa, decode
    isa = Isa(CFG.core)
    d0 = decode(isa.job, img.images["core.axon_table"][0])
    d1 = decode(isa.job, img.images["core.axon_table"][1])
    assert (d0.count, d1.count) == (1, 0)
    assert img.images["core.target_table"][d0.base] == 3          # neuron 13 is row 3
    assert img.images["core.lane1.weights"][d0.base] == 5         # ... lane 1


@pytest.mark.parametrize("net,message", [
    (Network(2, [Layer("a", 70, Neuron("if"), {"input": dense(2, 70)})]),
     "layer 'a' needs 18 neuron rows (70 neurons / 4 lanes, rounded up) but only 16 of 16 rows "
     "are left (core.neurons = 64)"),
    (Network(2, [Layer("a", 4, Neuron("if"), {"input": dense(2, 4, 200)})]),
     "layer 'a': weight from 'input' neuron 0 to neuron 0 is 200, outside the 8-bit range "
     "-128..127 (core.weight_bits)"),
    (Network(2, [Layer("a", 4, Neuron("if", threshold=40000), {"input": dense(2, 4)})]),
     "layer 'a': threshold of neuron 0 is 40000, outside the 16-bit state range -32768..32767"),
    (Network(2, [Layer("a", 4, Neuron("lif", leak_mult=1 << 16), {"input": dense(2, 4)})]),
     "layer 'a': leak_mult 65536 is outside -32768..32767 (core.state_bits = 16)"),
    (Network(2, [Layer("a", 4, Neuron("cuba_lif", syn_mult=-40000), {"input": dense(2, 4)})]),
     "layer 'a': syn_mult -40000 is outside -32768..32767 (core.state_bits = 16)"),
    (Network(2, [Layer("a", 4, Neuron("cuba_lif", syn_shift=99), {"input": dense(2, 4)})]),
     "layer 'a': syn_shift 99 is outside 0..63"),
    (Network(2, [Layer("a", 4, Neuron("cuba_lif", leak_shift=70), {"input": dense(2, 4)})]),
     "layer 'a': leak_shift 70 is outside 0..63"),
    (Network(2, [Layer("a", 4, Neuron("if"), {"input": dense(2, 4)}, start=1)]),
     "layer 'a': start 1, but events can reach it at timestep 0; the host writes its bias "
     "(and v = u = 0) at its start, so start must not exceed the first timestep input can "
     "arrive"),
    (Network(2, [Layer("a", 4, Neuron("if"), {"input": dense(2, 4)}),
                 Layer("b", 4, Neuron("if"), {"a": dense(4, 4)}, start=2)]),
     "layer 'b': start 2, but events can reach it at timestep 1; the host writes its bias "
     "(and v = u = 0) at its start, so start must not exceed the first timestep input can "
     "arrive"),
    (Network(2, [Layer("a", 4, Neuron("if", threshold=[1, 1, -3, 1], reset="subtract"),
                       {"input": dense(2, 4)}, start=3)]),
     "layer 'a': start 3 with threshold -3 (neuron 2) and reset 'subtract': a neuron at rest "
     "would fire and leave v = 0 before its start; thresholds must be >= 0 in a layer with "
     "start > 0"),
    (Network(40, [Layer("a", 4, Neuron("if"), {"input": dense(40, 4)})]),
     "the network needs 40 axons (40 inputs + neurons of the layers that feed others: none); "
     "the core has 32 (core.axons)"),
    (Network(30, [Layer("a", 64, Neuron("if"), {"input": dense(30, 64)})]),
     "layer 'a': synapse rows run out at the projection from 'input' neuron 4; the core has 64 "
     "rows (256 synapses / 4 lanes, core.synapses)"),
    (Network(1, [Layer(f"l{i}", 1, Neuron("if"), {"input": dense(1, 1)}) for i in range(5)]),
     "the network has 5 layers; a core runs at most 4 (core.layers)"),
    (Network(2, [Layer("a", 4, Neuron("if"), {"hidden": dense(2, 4)})]),
     "layer 'a': input from unknown source 'hidden'"),
    (Network(2, [Layer("a", 4, Neuron("if"), {"input": dense(3, 4)})]),
     "layer 'a': weights from 'input' have shape (3, 4), expected (2, 4)"),
    (Network(2, [Layer("a", 4, Neuron("izhikevich"), {"input": dense(2, 4)})]),
     "layer 'a': unknown neuron model 'izhikevich'; models: lif, if, sigma_delta, cuba_lif"),
    (Network(2, [Layer("a", 4, Neuron("if"), {"input": dense(2, 4).astype(float)})]),
     "layer 'a': weights from 'input' must be integers (quantize first), not float64"),
])
def test_refusals_name_layer_and_limit(net, message):
    with pytest.raises(CompileError) as e:
        compile_core(net, CFG)
    assert str(e.value) == message


def test_accumulator_headroom_is_proven():
    cfg = ChipConfig(core=CoreConfig(lanes=4, neurons=64, axons=64, synapses=1024,
                                     acc_bits=16))
    # 4 inputs x |127| x |-128| = 65024 > 32767: refused, naming the neuron and the bound
    net = Network(4, [Layer("a", 4, Neuron("if"), {"input": dense(4, 4, 127)})])
    with pytest.raises(CompileError) as e:
        compile_core(net, cfg)
    assert str(e.value) == (
        "layer 'a': neuron 0 could accumulate 65024 in one timestep (4 synapses, sum of "
        "|weight| x max |payload|), beyond the 16-bit accumulator (max 32767); lower the "
        "weights or raise core.acc_bits")
    # binary spikes from a layer carry payload 1: the same weights fit
    net = Network(4, [Layer("s", 4, Neuron("if"), {"input": dense(4, 4, 1)}),
                      Layer("a", 4, Neuron("if"), {"s": dense(4, 4, 127)})])
    compile_core(net, cfg)


def test_microcode_overflow_is_a_compile_error():
    cfg = CFG.replace(core=CFG.core.replace(microcode_depth=8, layers=8))
    layers = [Layer(f"l{i}", 1, Neuron("lif", leak_mult=i + 1), {"input": dense(1, 1)})
              for i in range(4)]
    with pytest.raises(CompileError, match=r"the neuron programs do not fit this core: programs "
                                           r"need 9 microcode words; core.microcode_depth is 8"):
        compile_core(Network(1, layers), cfg)


# -- delay groups and the delay-queue capacity ---------------------------------------------

def delay_cfg(unit="scdq", **kw):
    from hw.spec.config import DelayConfig
    return CFG.replace(delay=DelayConfig(unit=unit, **{"slots": 8, "groups": 4,
                                                       "capacity": 256, **kw}))


def test_delay_groups_in_the_axon_table():
    """Input 0 reaches neurons 0-5 with delays 3, 0, 3, 5, 0, 0: three groups in delay
    order, each with its own rows; input 1 has no synapses: one empty group."""
    from hw.spec.isa import Isa, decode
    w = np.zeros((2, 6), np.int64)
    w[0] = [1, 2, 3, 4, 5, 6]
    d = np.zeros((2, 6), np.int64)
    d[0] = [3, 0, 3, 5, 0, 0]
    net = Network(2, [Layer("a", 6, Neuron("if"), {"input": w}, {"input": d})])
    cfg = delay_cfg()
    img = compile_core(net, cfg)
    isa = Isa.of(cfg)
    tab = img.images["core.axon_table"]
    assert len(tab) == cfg.core.axons * 4
    g = [decode(isa.job, tab[isa.axon_word(0, k)]) for k in range(4)]
    assert [(e.delay, e.more) for e in g[:3]] == [(0, 1), (3, 1), (5, 0)]
    # delay 0: neurons 1, 4, 5 (rows 0 and 1); delay 3: neurons 0, 2 (row 0); 5: neuron 3
    assert [(e.base, e.count) for e in g[:3]] == [(0, 2), (2, 1), (3, 1)]
    lanes = [img.images[f"core.lane{l}.weights"] for l in range(4)]
    assert [int(lanes[l][2]) for l in range(4)] == [1, 0, 3, 0]
    empty = decode(isa.job, tab[isa.axon_word(1, 0)])
    assert (empty.count, empty.more, empty.delay) == (0, 0, 0)
    assert img.delay_groups == {0: [3, 5]}
    assert img.queue == {"capacity": 256, "worst_case": 4 + 6}


def test_delay_refusals_name_the_synapse_and_the_limit():
    w = np.ones((2, 5), np.int64)
    d = np.zeros((2, 5), np.int64)
    d[1] = [0, 1, 2, 3, 9]
    net = Network(2, [Layer("a", 5, Neuron("if"), {"input": w}, {"input": d})])
    with pytest.raises(CompileError, match=r"layer 'a': the synapse from 'input' neuron 1 "
                       r"to neuron 4 has delay 9; delays must be below delay.slots = 8"):
        compile_core(net, delay_cfg())
    d[1, 4] = 4
    with pytest.raises(CompileError, match=r"layer 'a': 'input' neuron 1 has synapses with 5 "
                       r"distinct delays \(0, 1, 2, 3, 4\) but an axon holds at most 4 "
                       r"delay groups \(delay.groups\)"):
        compile_core(net, delay_cfg())
    compile_core(net, delay_cfg(groups=8))


def test_queue_capacity_worst_case_or_measured_activity():
    """8 inputs, each with delays 2 and 7 to one neuron each: the worst case is
    8 x (3 + 8) = 88 entries."""
    from sw.toolchain.compiler import activity_from_run, queue_peak
    w = np.ones((8, 2), np.int64)
    d = np.tile([2, 7], (8, 1))
    net = Network(8, [Layer("a", 2, Neuron("if", threshold=100), {"input": w},
                            {"input": d})])
    with pytest.raises(CompileError, match=r"the delay queue could need 88 entries .* "
                       r"delay.capacity = 64; raise delay.capacity, or pass activity="):
        compile_core(net, delay_cfg(capacity=64))
    # two inputs firing every step: 2 x (3 + 8) = 22 held at the peak; x 1.25 -> 28
    steps = [[(0, 1), (5, 1)]] * 12
    act = activity_from_run(steps, [{"a": []}] * 12)
    img = compile_core(net, delay_cfg(capacity=64), activity=act)
    assert img.queue == {"capacity": 64, "worst_case": 88, "measured_peak": 22,
                         "margin": 1.25, "needed": 28}
    with pytest.raises(CompileError, match=r"the delay queue needs 28 entries for the given "
                       r"activity \(peak 22 x margin 1.25\) but delay.capacity = 16"):
        compile_core(net, delay_cfg(capacity=16), activity=act)
    assert queue_peak(img.delay_groups, [[0, 5]] * 12) == 22
    assert queue_peak(img.delay_groups, [[0]]) == 2     # one event, two groups


def test_queue_peak_equals_the_golden_queue():
    """The compiler's exact peak for an activity equals the peak the golden core's queue
    reaches on it (random input-only traffic)."""
    from sim.golden.core import GoldenCore
    from sw.toolchain.compiler import queue_peak
    rng = np.random.default_rng(5)
    w = np.ones((16, 4), np.int64)
    d = rng.integers(0, 8, (16, 4))
    net = Network(16, [Layer("a", 4, Neuron("if", threshold=10_000), {"input": w},
                             {"input": d})])
    cfg = delay_cfg(capacity=4096)
    img = compile_core(net, cfg)
    core = GoldenCore(cfg)
    core.load(img.images)
    steps = [sorted(rng.choice(16, int(rng.integers(0, 16)), replace=False).tolist())
             for _ in range(30)]
    for axons in steps:
        for a in axons:
            core.event(int(img.input_axons[a]), 1)
        core.tick()
    want = queue_peak(img.delay_groups, [[int(img.input_axons[a]) for a in s] for s in steps])
    assert core.counters["delay_max_occupancy"] == want > 0


@pytest.mark.parametrize("state_bits", [12, 16, 24])
def test_state_records_are_the_isa_layout_of_bias_and_threshold(state_bits):
    """Neuron-state words as amaranth packs :attr:`Isa.state`: v = u = 0, p0 = bias,
    p1 = threshold (negative values two's complement), zero for unused neurons."""
    from hw.spec.isa import Isa
    cfg = ChipConfig(core=CoreConfig(lanes=4, neurons=64, axons=32, synapses=256, layers=4,
                                     microcode_depth=16, state_bits=state_bits))
    bias = np.array([-3, 0, 7, -(1 << (state_bits - 1)), 5])
    thr = np.array([9, (1 << (state_bits - 1)) - 1, 1, 2, -4])
    net = Network(2, [Layer("a", 5, Neuron("if", threshold=thr, bias=bias),
                            {"input": dense(2, 5)})])
    img = compile_core(net, cfg)
    layout = Isa(cfg.core).state
    for n in range(cfg.core.neurons):
        lane, row = n % 4, n // 4
        want = {"p0": int(bias[n]), "p1": int(thr[n])} if n < 5 else {}
        word = img.images[f"core.lane{lane}.state"][row]
        assert isinstance(word, int) and word == Isa.pack(layout, want), n


def test_layer_start_stores_bias_zero_and_lists_the_writes():
    from hw.spec.isa import Isa
    from sim.golden.state import codec
    w = dense(2, 5)
    net = Network(2, [Layer("a", 5, Neuron("if", threshold=7, bias=3), {"input": w}),
                      Layer("b", 5, Neuron("if", threshold=[1, 2, 3, 4, 5], bias=[-1, 2, 0, 4, 9]),
                            {"a": dense(5, 5)}, start=1)])
    img = compile_core(net, CFG)
    rec = codec(Isa.of(CFG).state)
    def p0(lane, row):
        return int(rec.unpack([img.images[f"core.lane{lane}.state"][row]])[2][0])
    assert [p0(j % 4, j // 4) for j in range(5)] == [3] * 5          # layer a: its bias
    b = img.neurons["b"]
    assert [p0(n % 4, n // 4) for n in b] == [0] * 5                 # layer b: 0 until start
    assert list(img.start_writes) == [1] and img.state_writes(0) == []
    writes = img.state_writes(1)
    assert [(m, a) for m, a, _ in writes] == [(f"core.lane{n % 4}.state", n // 4) for n in b]
    fields = [rec.unpack([word]) for _, _, word in writes]
    assert [(int(f[0][0]), int(f[1][0]), int(f[2][0]), int(f[3][0])) for f in fields] == \
        [(0, 0, -1, 1), (0, 0, 2, 2), (0, 0, 0, 3), (0, 0, 4, 4), (0, 0, 9, 5)]
    # a recurrent layer fed by a delayed input may start as late as its first arrival
    d = Network(2, [Layer("r", 2, Neuron("if", threshold=4, bias=1),
                          {"input": dense(2, 2), "r": dense(2, 2)},
                          {"input": np.full((2, 2), 3)}, start=3)])
    from sw.toolchain.compiler import first_arrivals
    assert first_arrivals(d) == {"r": 3}
