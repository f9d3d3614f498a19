"""Batch inference on a mapped network: every sample through a :class:`~sw.runtime.driver.Chip`
(or the network-level model), with the output trains aligned to the framework's steps.

:func:`run_samples` is what ``python -m sw.deploy`` runs (``docs/deploy.md``).

Per sample, on a chip: ``chip.reset_state(image)`` (every neuron at rest),
``chip.clear_counters()``, then ``T + D`` chip steps through ``chip.run_network``: the
sample's input events at chip steps ``0 .. T-1``, then ``D`` empty steps, where ``D`` is
the largest ``start`` of the output layers; then ``chip.all_counters()``.

Latency alignment
    ``Layer.start`` (:class:`sw.toolchain.network.Layer`, 0 when the field is absent) is
    the chip step at which the layer's framework step 0 happens: on the chip every
    projection has one step of delay, so in a chain imported from a framework whose
    layers pass spikes within one step, layer *k* has ``start = k`` and its output of
    framework step *t* appears at chip step ``t + k``. The trains are cut to the
    framework's steps::

        train[layer][sample, t, j] = payload neuron j of layer emitted at chip step t + start
                                     (t = 0 .. T-1; 0 where it did not fire)

    Spikes at chip steps before ``start`` (before the layer's first framework step) or
    at ``T + start`` and later are left out of the trains and the counts.

Results (:class:`InferenceResult`)
    ``trains`` and ``counts`` of every output layer (``image.outputs``); ``predictions``,
    the index of the largest count of the first output layer (ties to the lowest index);
    per-sample ``counters`` (chip backends); per-sample ``metrics``
    (:func:`sw.runtime.metrics.run_metrics`, over all ``T + D`` chip steps).

    A chip reports only its output layers, and the metrics need every layer's spikes. So
    on a chip each sample also runs on the network-level model
    (:class:`sw.toolchain.network_model.NetworkModel`, the reference the golden chip is
    tested equal to) and the metrics are those of that run; ``agreement[k]`` says whether
    the chip's output events equal the model's on every step of sample *k* (a faulty
    board or a bug shows up there). ``chip="network"`` runs only the network model: the
    same results, no counters, much faster for many samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["InferenceResult", "run_samples", "layer_starts", "dense_to_events"]


@dataclass
class InferenceResult:
    """What :func:`run_samples` returns (``N`` samples of ``steps`` framework steps)."""

    #: output layers, in ``image.outputs`` order (the first one gives the predictions)
    outputs: list
    #: layer name -> ``start`` (chip step of its framework step 0), every layer
    starts: dict
    #: framework steps per sample (T)
    steps: int
    #: empty chip steps run after the inputs (D = the largest start of the outputs)
    extra_steps: int
    #: output layer -> ``[N, T, size]`` payloads (uint8 for spiking layers, int16 for
    #: graded ones); see the module docstring for the alignment
    trains: dict
    #: output layer -> ``[N, size]`` int64: events in the aligned train
    counts: dict
    #: ``[N]`` int64
    predictions: np.ndarray
    #: per sample ``{"chip": {...}, "cores": {...}}`` (:meth:`Chip.all_counters`), or
    #: None on the network backend
    counters: list | None
    #: per sample :func:`run_metrics` dict (every layer, ``T + D`` steps)
    metrics: list
    #: what the metrics were computed on
    metrics_source: str
    #: per sample: chip output events == network model's (None on the network backend)
    agreement: list | None = None
    #: per sample, output layer -> spikes left out of the aligned train
    unaligned: list = field(default_factory=list)

    @property
    def samples(self) -> int:
        return len(self.predictions)


def layer_starts(network) -> dict:
    """``{layer: start}``: ``Layer.start`` of every layer (0 where the field is absent);
    raises ValueError for a start that is not a non-negative integer."""
    out = {}
    for layer in network.layers:
        s = getattr(layer, "start", 0)
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"layer {layer.name!r}: start must be a non-negative integer "
                             f"(a chip step), not {s!r}")
        out[layer.name] = int(s)
    return out


def dense_to_events(x) -> list:
    """A dense ``[T, inputs]`` integer array of one sample -> per step ``[(input,
    payload)]`` of its non-zero entries (a zero payload is no event)."""
    x = np.asarray(x)
    return [[(int(i), int(x[t, i])) for i in np.flatnonzero(x[t])] for t in range(len(x))]


def _samples(payloads):
    """``payloads`` -> (number of samples, steps, function k -> per-step event lists)."""
    if isinstance(payloads, np.ndarray):
        if payloads.ndim != 3:
            raise ValueError(f"payloads must be [samples, steps, inputs], not shape "
                             f"{payloads.shape}")
        if payloads.dtype.kind not in "iub":
            raise ValueError(f"payloads must be integers, not {payloads.dtype}")
        return len(payloads), payloads.shape[1], lambda k: dense_to_events(payloads[k])
    samples = [list(s) for s in payloads]
    steps = {len(s) for s in samples}
    if len(steps) > 1:
        raise ValueError(f"every sample must have the same number of steps, not "
                         f"{sorted(steps)}")
    return len(samples), (steps.pop() if steps else 0), lambda k: [list(e) for e in samples[k]]


def run_samples(chip, image, payloads, *, progress=None, reference: bool = True) -> InferenceResult:
    """Run every sample of ``payloads`` and align the output trains.

    Parameters
    ----------
    chip : Chip or "network"
        A :class:`~sw.runtime.driver.Chip` with ``image`` loaded, or ``"network"``: the
        network-level model of ``image.network`` with ``image.config.core``'s formats.
    image : ChipImage
        The mapped network (:func:`sw.toolchain.mapper.map_network`): its ``network``,
        ``outputs`` and ``config``.
    payloads : array or sequence
        ``[N, T, inputs]`` integer payloads (0: no event), or ``N`` samples, each ``T``
        per-step lists of ``(input, payload)`` (what :func:`sw.runtime.inputs.bin_events`
        returns). Payloads must fit ``core.payload_bits`` (the driver refuses others).
    progress : callable, optional
        ``progress(done, total)`` after each sample.
    reference : bool
        On a chip, also run the network-level model (metrics of every layer and
        ``agreement``); False: metrics of the output layers' spikes only (and say so in
        ``metrics_source``), no agreement.

    Returns
    -------
    InferenceResult
        See the module docstring.
    """
    from sw.runtime.metrics import run_metrics
    from sw.toolchain.network import INPUT, Network
    from sw.toolchain.network_model import NetworkModel

    network = image.network
    outputs = list(image.outputs)
    if not outputs:
        raise ValueError("the image has no output layers")
    starts = layer_starts(network)
    D = max(starts[name] for name in outputs)
    n, T, events_of = _samples(payloads)
    if n and T == 0:
        raise ValueError("the samples have no steps")
    on_network = isinstance(chip, str)
    if on_network and chip != "network":
        raise ValueError(f"chip must be a Chip or 'network', not {chip!r}")
    core = image.config.core

    sizes = {name: network.layer(name).size for name in outputs}
    dtypes = {name: np.int16 if network.layer(name).neuron.graded else np.uint8
              for name in outputs}
    trains = {name: np.zeros((n, T, sizes[name]), dtypes[name]) for name in outputs}
    counts = {name: np.zeros((n, sizes[name]), np.int64) for name in outputs}
    counters = None if on_network else []
    agreement = None if on_network or not reference else []
    metrics, unaligned = [], []
    # metrics over the output layers alone: a network of those layers, no weights from
    # the others (their spikes are not known); used when there is no reference run
    keep = {INPUT, *outputs}
    partial = Network(network.inputs, [
        replace(network.layer(name),
                inputs={s: w for s, w in network.layer(name).inputs.items() if s in keep},
                delays={s: d for s, d in (network.layer(name).delays or {}).items()
                        if s in keep})
        for name in outputs])

    for k in range(n):
        ins = events_of(k) + [[] for _ in range(D)]
        if on_network:
            full = NetworkModel(network, core).run(ins)
            outs = [{name: o[name] for name in outputs} for o in full]
        else:
            chip.reset_state(image)
            chip.clear_counters()
            outs = chip.run_network(image, ins)
            counters.append(chip.all_counters())
            full = NetworkModel(network, core).run(ins) if reference else None
            if reference:
                agreement.append(all(o == {name: f[name] for name in outputs}
                                     for o, f in zip(outs, full)))
        left = {}
        for name in outputs:
            s, tr, c = starts[name], trains[name], counts[name]
            left[name] = 0
            for step, o in enumerate(outs):
                t = step - s
                if not 0 <= t < T:
                    left[name] += len(o[name])
                    continue
                for j, p in o[name]:
                    tr[k, t, j] = p
                    c[k, j] += 1
        unaligned.append(left)
        if full is not None:
            metrics.append(run_metrics(network, ins, full))
        else:
            metrics.append(run_metrics(partial, ins, outs))
        if progress is not None:
            progress(k + 1, n)

    first = outputs[0]
    predictions = (np.argmax(counts[first], axis=1).astype(np.int64) if n
                   else np.zeros(0, np.int64))
    if on_network:
        source = "network model, every layer (the run itself)"
    elif reference:
        source = ("network model on the same inputs, every layer (the chip reports only "
                  "its output layers; see agreement)")
    else:
        source = ("the chip's output layers only (" + ", ".join(outputs) + "): hidden "
                  "layers' spikes and the synaptic operations they cause are not counted")
    return InferenceResult(outputs, starts, T, D, trains, counts, predictions, counters,
                           metrics, source, agreement, unaligned)
