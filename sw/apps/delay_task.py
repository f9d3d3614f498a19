"""A temporal task where synaptic delays matter: spike-timing patterns by coincidence.

Task
    ``classes`` classes of patterns over ``channels`` input channels. In class ``k``
    channel ``c`` fires exactly once, at ``base + offsets[k, c]``; ``offsets[k]`` is
    ``spacing`` times a permutation of ``0 .. channels - 1``, so every class uses every
    channel once, at the same set of relative times: classes differ only in which
    channel fires when. No two classes' permutations agree on more than
    ``channels // 2`` channels for any time shift. ``base`` is drawn uniformly from
    ``0 .. base_max`` (no jitter); ``distractors`` extra spikes fall on distinct random
    free (channel, time) cells of the pattern window, so every sample has
    ``channels + distractors`` input events, at most one per channel and timestep.
    Labels are balanced (each class ``n // classes`` or one more times), so always
    answering one class scores ``1 / classes``.

Networks (one LIF layer ``"out"`` of ``classes`` neurons, fed by every channel)
    All of them use memoryless coincidence detectors unless said otherwise:
    ``leak_mult = 0`` (the membrane forgets everything each step), reset to zero, bias
    0, so neuron ``k`` fires at ``t`` exactly when the weighted input due at ``t``
    reaches its threshold.

    * **delay**: weight ``weight`` on every synapse and delay
      ``span - offsets[k, c]`` from channel ``c`` to neuron ``k`` (``span`` = the
      largest offset): class ``k``'s spikes all arrive at neuron ``k`` at
      ``base + span``, in coincidence.
    * **no delay**: the same weights and neurons, every delay 0.
    * **no delay, leaky** (a stronger baseline that is not the same architecture): no
      delays, a leaky membrane (``leak_mult / 256`` per step, from a grid) and
      rank-order weights (channel ``c``'s weight to neuron ``k`` grows with
      ``offsets[k, c]``, later spikes being less decayed at the end of the pattern),
      with the same total weight per neuron as the others.

    Every network's free parameters (the threshold; for the leaky one also the leak)
    are chosen by the same rule: the highest accuracy on a seeded training split, the
    first candidate in grid order (lowest threshold, lowest leak) on ties. Weights stay
    within 8 bits, thresholds within 16 bits, delays below ``DelayConfig().slots``.

Readout
    Spike counts of the output neurons over the run; the prediction is the neuron with
    the most spikes, the lowest index on ties (so a network that never tells the
    classes apart predicts class 0). Tuning and the accuracies run on
    :class:`sw.toolchain.network_model.NetworkModel`.

Hardware (:func:`run_hardware`)
    The tuned networks are mapped onto a 1 x 1 chip (:func:`task_config`: one 2-lane
    core with a delay unit, SCDQ or ring buffer) and run through :class:`sw.runtime.driver.Chip`
    (``golden`` or ``verilator`` backend; ``serial:...`` for a board built with that
    config) on the first test samples: per sample the chip is reset (empty queue, ring
    slot 0), its neuron state rewritten and its counters cleared. The SCDQ is sized by
    activity (:func:`sw.toolchain.compiler.compile_core`'s ``activity=``, from the training
    split on the network model, margin 1.25): its 32 entries are below the guaranteed
    worst case. Reported: accuracy per network and unit, whether the hardware's spikes
    equal the network model's, whether SCDQ and ring give identical spikes, and the
    queue's peak occupancy (from the chip's counters) against the compiler's bounds.

``python -m sw.apps.delay_task`` prints the held-out accuracies; ``--hw-samples N`` adds the
hardware run (``--backend verilator`` by default).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig, NocConfig
from sw.toolchain.network import INPUT, Layer, Network, Neuron

__all__ = ["Task", "make_task", "draw", "build_network", "leaky_network", "predict",
           "accuracy", "evaluate", "run_hardware", "task_config", "main"]


def task_config(unit: str = "scdq") -> ChipConfig:
    """The chip the task runs on: one 2-lane core with delay unit ``unit``."""
    return ChipConfig(core=CoreConfig(lanes=2, neurons=16, axons=16, synapses=128,
                                      microcode_depth=32, layers=2, out_fifo_depth=16),
                      noc=NocConfig(width=1, height=1),
                      delay=DelayConfig(unit=unit, slots=16, groups=4, capacity=32))

LEAKS = (0, 128, 192, 224, 240, 248)      # leak_mult grid (/ 256) of the leaky baseline


@dataclass(frozen=True)
class Task:
    offsets: np.ndarray          # (classes, channels) spike time of channel c in class k
    base_max: int
    distractors: int

    @property
    def classes(self) -> int:
        return self.offsets.shape[0]

    @property
    def channels(self) -> int:
        return self.offsets.shape[1]

    @property
    def span(self) -> int:
        return int(self.offsets.max())

    @property
    def steps(self) -> int:
        """Timesteps of one sample: pattern window, longest delay, one step to spare."""
        return self.base_max + 2 * self.span + 2


def _agreement(a, b) -> int:
    """Most channels two offset vectors align on, over all time shifts."""
    return int(np.unique(a - b, return_counts=True)[1].max())


def make_task(channels: int = 4, classes: int = 4, spacing: int = 3, base_max: int = 8,
              distractors: int = 2, seed: int = 0) -> Task:
    """The class patterns (seeded); see the module docstring."""
    if channels < 2 or classes < 2:
        raise ValueError("make_task: at least 2 channels and 2 classes")
    rng = np.random.default_rng([seed, 0])
    offsets = []
    for _ in range(10_000):
        cand = spacing * rng.permutation(channels)
        if all(_agreement(cand, o) <= channels // 2 for o in offsets):
            offsets.append(cand)
            if len(offsets) == classes:
                return Task(np.array(offsets, np.int64), base_max, distractors)
    raise ValueError(f"make_task: no {classes} patterns of {channels} channels that agree "
                     f"on at most {channels // 2} channels")


def draw(task: Task, n: int, seed: int):
    """``n`` seeded samples: ``(inputs, labels)``; ``inputs[s]`` is a list of
    ``task.steps`` timesteps of ``(channel, 1)`` events."""
    rng = np.random.default_rng([seed, 1])
    labels = rng.permutation(np.arange(n) % task.classes)
    window = task.base_max + task.span + 1
    samples = []
    for k in labels:
        base = int(rng.integers(0, task.base_max + 1))
        grid = np.zeros((window, task.channels), bool)
        grid[base + task.offsets[k], np.arange(task.channels)] = True
        free = np.flatnonzero(~grid.ravel())
        grid.ravel()[rng.choice(free, task.distractors, replace=False)] = True
        steps = [[] for _ in range(task.steps)]
        for t, c in zip(*np.nonzero(grid)):
            steps[int(t)].append((int(c), 1))
        samples.append(steps)
    return samples, labels


def _layer(task: Task, weights, delays, thresholds, leak_mult: int, name="out"):
    """One LIF layer; ``weights``/``delays`` (channels, classes) tiled over the
    ``len(thresholds)`` candidate thresholds (neuron ``m * classes + k``)."""
    m = len(thresholds)
    thr = np.repeat(np.asarray(thresholds, np.int64), task.classes)
    neuron = Neuron("lif", threshold=thr if m > 1 else int(thr[0]), leak_mult=leak_mult,
                    leak_shift=8 if leak_mult else 0, reset="zero")
    return Layer(name, task.classes * m, neuron, {INPUT: np.tile(weights, (1, m))},
                 {INPUT: np.tile(delays, (1, m))})


def _delay_matrix(task: Task) -> np.ndarray:
    return (task.span - task.offsets).T.copy()          # (channels, classes)


def build_network(task: Task, threshold: int, *, delays: bool = True,
                  weight: int = 32) -> Network:
    """The coincidence network, with its delay lines or with every delay 0."""
    w = np.full((task.channels, task.classes), weight, np.int64)
    d = _delay_matrix(task) if delays else np.zeros_like(w)
    return Network(task.channels, [_layer(task, w, d, [threshold], 0)])


def _rank_weights(task: Task, weight: int) -> np.ndarray:
    """Rank-order weights: ``2 * weight * (rank + 1) / (channels + 1)``, rank 0 for the
    earliest channel of the class; each neuron's total is ``channels * weight``."""
    rank = np.argsort(np.argsort(task.offsets, axis=1), axis=1)    # (classes, channels)
    w = np.rint(2 * weight * (rank + 1) / (task.channels + 1)).astype(np.int64)
    return w.T.copy()


def leaky_network(task: Task, threshold: int, leak_mult: int, *, weight: int = 32) -> Network:
    """The stronger no-delay baseline: rank-order weights, leaky membrane, no delays."""
    w = _rank_weights(task, weight)
    return Network(task.channels, [_layer(task, w, np.zeros_like(w), [threshold], leak_mult)])


def _counts(network: Network, samples, core: CoreConfig):
    """Spike counts per sample and neuron of every layer: ``{layer: (n, size)}``."""
    from sw.toolchain.network_model import NetworkModel
    out = {l.name: np.zeros((len(samples), l.size), np.int64) for l in network.layers}
    for s, steps in enumerate(samples):
        for spikes in NetworkModel(network, core).run(steps):
            for name, ev in spikes.items():
                for i, _ in ev:
                    out[name][s, i] += 1
    return out


def predict(counts: np.ndarray) -> np.ndarray:
    """Most spikes wins; the lowest index on ties (``counts``: (..., classes))."""
    return np.argmax(counts, axis=-1)


def accuracy(network: Network, samples, labels, core: CoreConfig | None = None) -> float:
    core = CoreConfig() if core is None else core
    counts = _counts(network, samples, core)[network.layers[-1].name]
    return float(np.mean(predict(counts) == labels))


def _tune(task: Task, layers, grid, samples, labels, core):
    """Run every candidate at once (one layer per leak, one neuron group per threshold)
    and return the (layer index, threshold) with the best training accuracy."""
    counts = _counts(Network(task.channels, layers), samples, core)
    best = None
    for li, layer in enumerate(layers):
        c = counts[layer.name].reshape(len(samples), len(grid), task.classes)
        acc = (predict(c) == labels[:, None]).mean(axis=0)
        m = int(np.argmax(acc))
        if best is None or acc[m] > best[0]:
            best = (float(acc[m]), li, int(grid[m]))
    return best


def evaluate(seed: int = 0, *, n_train: int = 120, n_test: int = 400, channels: int = 4,
             classes: int = 4, spacing: int = 3, base_max: int = 8, distractors: int = 2,
             weight: int = 32, leaky: bool = True, core: CoreConfig | None = None) -> dict:
    """Held-out accuracies of the networks of the module docstring (thresholds and
    leak tuned on a training split of ``n_train``; tested on ``n_test`` other samples).

    Returns ``{"delay", "no_delay", "no_delay_leaky" (if ``leaky``), "chance",
    "params" (what tuning chose), "max_delay", "task"}``.
    """
    core = CoreConfig() if core is None else core
    task = make_task(channels, classes, spacing, base_max, distractors, seed)
    train, ytrain = draw(task, n_train, seed * 2 + 1)
    test, ytest = draw(task, n_test, seed * 2 + 2)
    wmax = (1 << (core.weight_bits - 1)) - 1
    smax = (1 << (core.state_bits - 1)) - 1
    if not 0 < weight <= wmax or channels * weight > smax:
        raise ValueError(f"weight {weight}: weights must fit {core.weight_bits} bits and "
                         f"thresholds up to channels x weight {core.state_bits} bits")
    if task.span >= DelayConfig().slots:
        raise ValueError(f"the longest delay ({task.span}) must be below "
                         f"DelayConfig().slots = {DelayConfig().slots}")
    w = np.full((channels, classes), weight, np.int64)
    coincidence = [weight * m for m in range(1, channels + 1)]
    result = {"chance": 1 / classes, "max_delay": task.span, "params": {},
              "task": {"offsets": task.offsets.tolist(), "base_max": base_max,
                       "distractors": distractors, "steps": task.steps,
                       "train": n_train, "test": n_test, "seed": seed}}
    for key, d in (("delay", _delay_matrix(task)), ("no_delay", np.zeros_like(w))):
        _, _, thr = _tune(task, [_layer(task, w, d, coincidence, 0)], coincidence, train,
                          ytrain, core)
        net = build_network(task, thr, delays=key == "delay", weight=weight)
        result["params"][key] = {"threshold": thr}
        result[key] = accuracy(net, test, ytest, core)
    if leaky:
        wr = _rank_weights(task, weight)
        grid = list(range(weight // 4, 2 * channels * weight + 1, max(1, weight // 8)))
        layers = [_layer(task, wr, np.zeros_like(wr), grid, lm, name=f"leak{lm}")
                  for lm in LEAKS]
        _, li, thr = _tune(task, layers, grid, train, ytrain, core)
        net = leaky_network(task, thr, LEAKS[li], weight=weight)
        result["params"]["no_delay_leaky"] = {"threshold": thr, "leak_mult": LEAKS[li],
                                              "leak_shift": 8 if LEAKS[li] else 0}
        result["no_delay_leaky"] = accuracy(net, test, ytest, core)
    return result


def _class_counts(runs, layer: str, classes: int) -> np.ndarray:
    """(samples, classes) output spike counts of runs (per step ``{layer: events}``)."""
    counts = np.zeros((len(runs), classes), np.int64)
    for s, run in enumerate(runs):
        for ev in run:
            for i, _ in ev[layer]:
                counts[s, i] += 1
    return counts


def run_hardware(seed: int = 0, *, samples: int = 40, backend: str = "golden",
                 units=("scdq", "ring"), n_train: int = 120, n_test: int = 400,
                 distractors: int = 2, progress=None) -> dict:
    """The tuned with-delays and without-delays networks on the chip (module
    docstring), on the first ``samples`` test samples. Returns per network
    (``"delay"``, ``"no_delay"``) the network model's accuracy on those samples and per
    unit: ``accuracy``, ``model_agreement`` (samples whose output spikes equal the
    network model's at every timestep), ``peak_occupancy`` (SCDQ: max over samples of
    the chip's ``delay_max_occupancy``) and the compiler's ``queue`` figures; plus
    ``scdq_equals_ring`` when both units ran."""
    from sw.toolchain.network_model import NetworkModel
    from sw.toolchain.compiler import activity_from_run
    from sw.runtime.driver import Chip
    from sw.toolchain.mapper import map_network
    r = evaluate(seed, n_train=n_train, n_test=n_test, distractors=distractors, leaky=False)
    task = make_task(distractors=distractors, seed=seed)
    train, _ = draw(task, n_train, seed * 2 + 1)
    test, ytest = draw(task, n_test, seed * 2 + 2)
    test, ytest = test[:samples], ytest[:samples]
    out = {"samples": len(test), "backend": backend, "networks": {}}
    for key in ("delay", "no_delay"):
        net = build_network(task, r["params"][key]["threshold"], delays=key == "delay")
        name = net.layers[-1].name
        model = [NetworkModel(net, CoreConfig()).run(steps) for steps in test]
        activity = [a for steps in train for a in
                    activity_from_run(steps, NetworkModel(net, CoreConfig()).run(steps))]
        res = {"model_accuracy": float(np.mean(
            predict(_class_counts(model, name, task.classes)) == ytest))}
        spikes = {}
        for unit in units:
            config = task_config(unit)
            image = map_network(net, config, activity=activity)
            runs, peak = [], 0
            with Chip(backend, config) as chip:
                chip.load(image)
                for s, steps in enumerate(test):
                    chip.reset()
                    chip.restore_state(image)
                    chip.clear_counters()
                    runs.append(chip.run_network(image, steps))
                    peak = max(peak, chip.counters((0, 0))["delay_max_occupancy"])
                    if progress:
                        progress(key, unit, s + 1, len(test))
            spikes[unit] = runs
            pred = predict(_class_counts(runs, name, task.classes))
            res[unit] = {"accuracy": float(np.mean(pred == ytest)),
                         "model_agreement": sum(a == b for a, b in zip(runs, model)),
                         "peak_occupancy": peak if unit == "scdq" else None,
                         "queue": image.tiles[(0, 0)].queue}
        if len(spikes) == 2:
            a, b = spikes.values()
            res["scdq_equals_ring"] = a == b
        out["networks"][key] = res
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m sw.apps.delay_task", description=__doc__.split(
        "\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=int, default=120)
    p.add_argument("--test", type=int, default=400)
    p.add_argument("--distractors", type=int, default=2)
    p.add_argument("--no-leaky", action="store_true", help="skip the leaky baseline")
    p.add_argument("--hw-samples", type=int, default=0, metavar="N",
                   help="also run both networks on the chip (SCDQ and ring buffer) for "
                        "the first N test samples")
    p.add_argument("--backend", default="verilator",
                   help="chip backend for --hw-samples: golden, verilator or "
                        "serial:PORT[@BAUD] (default: verilator)")
    a = p.parse_args(argv)
    r = evaluate(a.seed, n_train=a.train, n_test=a.test, distractors=a.distractors,
                 leaky=not a.no_leaky)
    t = r["task"]
    print(f"{len(t['offsets'])} classes x {len(t['offsets'][0])} channels, offsets "
          f"{t['offsets']}, base 0..{t['base_max']}, {t['distractors']} distractors, "
          f"{t['steps']} steps; seed {t['seed']}, {t['train']} train / {t['test']} test")
    print(f"with delays (max {r['max_delay']}):      {r['delay']:.1%}  {r['params']['delay']}")
    print(f"without delays:             {r['no_delay']:.1%}  {r['params']['no_delay']}")
    if "no_delay_leaky" in r:
        print(f"without delays, leaky LIF:  {r['no_delay_leaky']:.1%}  "
              f"{r['params']['no_delay_leaky']}")
    print(f"chance:                     {r['chance']:.1%}")
    if a.hw_samples:
        h = run_hardware(a.seed, samples=a.hw_samples, backend=a.backend, n_train=a.train,
                         n_test=a.test, distractors=a.distractors)
        print(f"on the chip ({h['backend']}, {h['samples']} test samples, one 2-lane core):")
        for key, res in h["networks"].items():
            print(f"  {key:9s} model {res['model_accuracy']:.1%}", end="")
            for unit in ("scdq", "ring"):
                u = res[unit]
                print(f" | {unit} {u['accuracy']:.1%} ({u['model_agreement']}/{h['samples']} "
                      "equal the model)", end="")
            print(f" | scdq == ring: {res.get('scdq_equals_ring')}")
            q = res["scdq"]["queue"]
            if q:
                print(f"            SCDQ peak occupancy {res['scdq']['peak_occupancy']} of "
                      f"{q['capacity']} entries (compiler: worst case {q['worst_case']}; "
                      f"training activity {q['measured_peak']} x {q['margin']})")
        r["hardware"] = h
    return r


if __name__ == "__main__":
    main()
