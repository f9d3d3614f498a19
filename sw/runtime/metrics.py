"""NeuroBench-style metrics of a run of a :class:`~sw.toolchain.network.Network`.

:func:`run_metrics` takes the per-timestep input events ``[(index, payload)]`` and the
per-timestep outputs ``{layer: [(index, payload)]}`` of every layer (what
:meth:`sw.toolchain.network_model.NetworkModel.step` returns) and counts, following the
network's timing (input events of step *t* and spikes of step *t - 1* are integrated
at *t*):

``effective_synops``
    Synaptic operations of an event-driven machine that skips zero weights: for every
    event integrated within the run, the number of non-zero weights in its source's
    row, summed over the layers that take that source as input. Integrated within the
    run means: input events of every step, and spikes of step *t* only if *t + 1 < T*
    (the spikes of the last step are never integrated, so not counted). Every event
    counts, whatever its payload (an event with payload 0, possible for graded inputs
    and sigma-delta layers, still costs its synapse reads on the hardware); NeuroBench's
    effective MACs skip zero activations instead, which here would only change graded
    runs with zero payloads.
``dense_synops``
    What a dense, non-event-driven accelerator does: every step, every weight of every
    projection (zero or not), i.e. ``T * sum over layers of (sum of its sources' sizes)
    x layer size``.
``activation_sparsity``
    ``1 - spikes / (neurons x T)``, spikes counted over every layer and step (the last
    step included; an emitted event with payload 0 is a spike), neurons = the sum of
    the layer sizes.
``connection_sparsity``
    Fraction of zero weights over all projections (NaN for a network with none).

Also returned: ``steps``, ``neurons``, ``input_events``, ``spikes`` (emitted, all
steps), ``weights`` and ``synapses`` (the non-zero weights).

``effective_synops`` versus the neurocore's ``synops`` counter
    The core (:mod:`sim.golden.core`, :mod:`hw.core.neurocore`) counts the enabled lanes
    of its MAC instructions. The compiler (:mod:`sw.toolchain.compiler`) stores, per source and
    target layer, every synapse row (``lanes`` consecutive target neurons) holding at
    least one non-zero weight, all lanes enabled. So for a single-core run the counter
    is ``lanes x (rows of the events' sources)``: with one lane it equals
    ``effective_synops`` exactly; with more, it also counts the zero weights that share
    a row with a non-zero one (row padding, including a layer's partial last row), so
    it is at least ``effective_synops`` and at most ``lanes`` times it. The test
    ``tests/sw/test_metrics.py`` checks both statements on random networks.

:func:`memory_footprint_bytes` sizes memories (capacity, not the part an image uses).
"""

from __future__ import annotations

import math

import numpy as np

from sw.toolchain.network import INPUT, Network

__all__ = ["run_metrics", "memory_footprint_bytes"]


def _check_events(events, size, where):
    for i, _ in events:
        if not 0 <= i < size:
            raise ValueError(f"{where}: index {i} is outside 0..{size - 1}")


def run_metrics(network: Network, inputs, outputs) -> dict:
    """Metrics of a run of ``T = len(inputs)`` timesteps (see the module docstring).

    ``inputs[t]``: ``[(input index, payload)]``; ``outputs[t]``: ``{layer name:
    [(neuron index, payload)]}`` for every layer. Raises ValueError when the lengths
    differ, a layer is missing, or an index is out of range.
    """
    network.validate()
    T = len(inputs)
    if len(outputs) != T:
        raise ValueError(f"inputs cover {T} timesteps but outputs {len(outputs)}")
    if T == 0:
        raise ValueError("the run has no timesteps")
    layers = network.layers
    # per source: non-zero weights of each of its neurons, summed over target layers
    fanout = {INPUT: np.zeros(network.inputs, np.int64)}
    fanout.update({l.name: np.zeros(l.size, np.int64) for l in layers})
    weights = synapses = dense_per_step = 0
    for layer in layers:
        for source, w in layer.inputs.items():
            w = np.asarray(w)
            nz = np.count_nonzero(w, axis=1)
            fanout[source] += nz
            weights += w.size
            synapses += int(nz.sum())
            dense_per_step += w.size           # source size x layer size

    effective = spikes = input_events = 0
    for t in range(T):
        _check_events(inputs[t], network.inputs, f"inputs[{t}]")
        input_events += len(inputs[t])
        effective += sum(int(fanout[INPUT][i]) for i, _ in inputs[t])
        for layer in layers:
            if layer.name not in outputs[t]:
                raise ValueError(f"outputs[{t}] has no layer {layer.name!r}")
            emitted = outputs[t][layer.name]
            _check_events(emitted, layer.size, f"outputs[{t}][{layer.name!r}]")
            spikes += len(emitted)
            if t + 1 < T:                     # integrated at t + 1, within the run
                effective += sum(int(fanout[layer.name][i]) for i, _ in emitted)

    neurons = sum(l.size for l in layers)
    return {
        "steps": T,
        "neurons": neurons,
        "input_events": input_events,
        "spikes": spikes,
        "weights": weights,
        "synapses": synapses,
        "effective_synops": effective,
        "dense_synops": dense_per_step * T,
        "activation_sparsity": 1 - spikes / (neurons * T) if neurons else math.nan,
        "connection_sparsity": 1 - synapses / weights if weights else math.nan,
    }


def memory_footprint_bytes(image_or_specs) -> int:
    """Bytes of a set of memories: each word's bits rounded up to whole bytes, times the
    depth (``ceil(width / 8) * depth``, summed), i.e. byte-addressed storage of the
    data words. Capacities, not the part an image fills; check bits that
    ``memory.protection`` (parity, SECDED) adds are not included.

    ``image_or_specs``: any iterable of objects with ``.width`` (bits) and ``.depth``
    (words), such as :func:`hw.spec.memmap.core_memories` or :func:`hw.spec.memmap.chip_memories`;
    or a compiled image: a :class:`~sw.toolchain.compiler.CoreImage` (its core's memories) or a
    :class:`~sw.toolchain.mapper.ChipImage` (every memory of the chip).
    """
    specs = image_or_specs
    if hasattr(specs, "tiles") and hasattr(specs, "config"):          # ChipImage
        from hw.spec.memmap import chip_memories
        specs = chip_memories(specs.config)
    elif hasattr(specs, "prefix") and hasattr(specs, "config"):       # CoreImage
        from hw.spec.isa import Isa
        from hw.spec.memmap import core_memories
        specs = core_memories(Isa.of(specs.config), specs.prefix)
    total = 0
    for spec in specs:
        width, depth = spec.width, spec.depth
        if width < 0 or depth < 0:
            raise ValueError(f"memory {getattr(spec, 'name', spec)!r}: width {width} and "
                             f"depth {depth} must not be negative")
        total += -(-width // 8) * depth
    return total
