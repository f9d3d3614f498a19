"""Single-core compiler: a :class:`~sw.toolchain.network.Network` -> one neurocore's memory images.

Placement
    Layer ``k`` takes whole neuron rows, consecutively in layer order: its neuron ``j``
    is core neuron ``row_base_k * lanes + j`` (lane ``j % lanes``, row
    ``row_base_k + j // lanes``).

Axons
    Network input ``i`` is axon ``i``. Then every layer that feeds a projection gets
    one axon per neuron, in layer order. ``routes`` maps each such neuron back to its
    axon: on a single core the driver (or testbench) feeds a spike of neuron ``n`` at
    ``t`` to axon ``routes[n]`` at ``t + 1``.

Synapse rows
    An axon's synapses into one target layer are grouped by target row: one synapse row
    holds, in lane ``l``, the weight to the target neuron in lane ``l`` of that row (0 if
    none), and the target table holds the accumulator row. Only rows with a non-zero
    weight are stored, so sparse projections cost what they use and dense ones have
    ``ceil(size / lanes)`` rows per axon. An axon's rows are consecutive: its
    axon-table entry is (integrate program, first row, row count, all lanes).

Proofs and refusals (:class:`CompileError`, naming the layer and the limit)
    weights, thresholds, biases and leak parameters must fit their widths; the layers
    must fit the neuron rows, the axons, the synapse rows, the layer table and the
    microcode; and no accumulator may overflow: for each neuron, the sum over its
    synapses of ``|w| * max |payload of the source|`` must fit ``acc_bits`` (this is an
    exact bound, sharper than ``weight_bits + payload_bits + log2(fan-in)``; it assumes
    at most one event per axon per timestep, which spikes obey and inputs must; with
    delays each synapse still contributes at most once per timestep, so it holds).

Programs
    One per distinct :func:`~sw.toolchain.programs.program_key` of the layers
    (:func:`~sw.toolchain.programs.neuron_program` for the core's ``slots``), after the
    integration program.

Layer start (``Layer.start > 0``)
    The layer's state records hold bias 0; :attr:`CoreImage.start_writes` lists, per
    step, the whole records (``v = u = 0``, bias, threshold) the host writes before it.
    :func:`refuse_starts` refuses a start the chip cannot realise exactly.

Delay groups (``config.delay.unit`` ``scdq`` or ``ring``)
    An axon's synapses are grouped by delay: one group per distinct delay (ascending;
    an axon without synapses has one empty group), each with its own consecutive
    synapse rows and axon-table word ``axon * delay.groups + g`` = (integrate program,
    first row, row count, all lanes, delay, ``more``). Refused: a delay ``>=
    delay.slots``, more distinct delays on one axon than ``delay.groups``, any nonzero
    delay with ``delay.unit = none`` (:func:`refuse_delays`).

Delay-queue capacity (SCDQ)
    Guaranteed worst case: every axon fires every timestep, and an event of timestep
    ``t`` for a group of delay ``d`` is held from ``t`` until the drain at tick
    ``t + d``, so just before a drain ``d + 1`` of them are in flight: the bound is the
    sum of ``d + 1`` over every (axon, group of delay ``d > 0``) whose axon can fire.
    A bound above ``delay.capacity`` is refused, unless the caller opts into
    activity-based sizing (``activity=``, e.g. from :func:`activity_from_run` on a
    representative run): then the exact peak occupancy of that activity, times
    ``activity_margin``, must fit. ``CoreImage.queue`` records the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw.spec.config import ChipConfig, DelayUnit
from hw.spec.isa import Isa
from hw.spec.memmap import MemoryName, core_memories
from sim.golden.state import codec
from sw.toolchain.microcode import AssemblyError, assemble
from sw.toolchain.network import INPUT, Network
from sw.toolchain import programs

__all__ = ["CompileError", "CoreImage", "compile_core", "refuse_delays", "refuse_starts",
           "first_arrivals", "activity_from_run", "queue_peak"]


class CompileError(ValueError):
    """The network does not fit the core; the message names the layer and the limit."""


@dataclass
class CoreImage:
    """Everything needed to run a compiled network on one core."""

    config: ChipConfig
    network: Network
    prefix: str
    images: dict                    # memory name -> data words (unsigned)
    input_axons: np.ndarray         # network input i -> axon
    neurons: dict                   # layer -> core neuron ids (np.ndarray)
    routes: dict                    # core neuron -> axon it feeds on this core
    layer_of: dict                  # core neuron -> (layer, index)
    entry: dict                     # program name -> pc
    programs: list
    report: list = field(default_factory=list)   # per-layer placement facts
    #: axon -> nonzero delays of its groups (delay unit only)
    delay_groups: dict = field(default_factory=dict)
    #: SCDQ sizing: capacity, worst_case, and with activity: measured_peak, margin
    queue: dict = field(default_factory=dict)
    #: timestep -> [(state memory, address, record word)] the host writes before that
    #: step: the whole records (v = u = 0, bias, threshold) of layers with ``start > 0``,
    #: whose records in ``images`` hold bias 0 (:func:`refuse_starts` makes v = u = 0 exact)
    start_writes: dict = field(default_factory=dict)

    def state_writes(self, t: int) -> list:
        """State-record writes ``(memory, address, word)`` due before timestep ``t``."""
        return list(self.start_writes.get(t, ()))

    def input_events(self, events):
        """Network input events (index, payload) -> core events (axon, payload)."""
        return [(int(self.input_axons[i]), int(p)) for i, p in events]

    def feedback(self, spikes):
        """Core spikes (neuron, payload) of step t -> core events for step t + 1."""
        return [(self.routes[n], p) for n, p in spikes if n in self.routes]

    def by_layer(self, spikes) -> dict:
        """Core spikes -> ``{layer: [(index, payload)]}`` (all layers present)."""
        out = {l.name: [] for l in self.network.layers}
        for n, p in spikes:
            layer, idx = self.layer_of[n]
            out[layer].append((idx, p))
        return out


def refuse_delays(network: Network, config: ChipConfig) -> None:
    """CompileError for the first layer whose synapses the config's delay unit cannot
    hold, naming the layer, the source and the delay (``network`` validated)."""
    d = config.delay
    for layer in network.layers:
        delay, source = layer.max_delay()
        if delay and not d.enabled:
            raise CompileError(
                f"layer {layer.name!r}: synapses with delays up to {delay} timesteps (from "
                f"{source!r}) but the cores have no delay unit (delay.unit = 'none'); set "
                "delay.unit to 'scdq' or 'ring'")
        if delay >= d.slots:
            dm = layer.synapse_delays(source)
            i, j = np.argwhere(dm >= d.slots)[0]
            raise CompileError(
                f"layer {layer.name!r}: the synapse from {source!r} neuron {i} to neuron {j} "
                f"has delay {dm[i, j]}; delays must be below delay.slots = {d.slots}")


def first_arrivals(network: Network) -> dict:
    """Per layer, the earliest timestep at which an event can reach it (``inf``: never),
    for any inputs. A layer's neurons can first spike at the earliest of: its first
    arrival, its ``start`` (if any bias is nonzero), and step 0 if any threshold is
    ``<= 0`` (they fire at rest); its spikes arrive at ``+ 1 + delay``, input events of
    step ``t`` at ``t + delay`` (delays: the smallest over the source's synapses)."""
    inf = float("inf")
    arrive = {l.name: inf for l in network.layers}

    def min_delay(layer, source):
        d = layer.synapse_delays(source)
        w = np.asarray(layer.inputs[source]) != 0
        if not w.any():
            return None
        return 0 if d is None else int(d[w].min())
    edges = {l.name: [(s, min_delay(l, s)) for s in l.inputs] for l in network.layers}
    for _ in range(len(network.layers) + 2):
        spike = {}
        for l in network.layers:
            first = arrive[l.name]
            if np.any(l.param("bias") != 0):
                first = min(first, l.start)
            if np.any(l.param("threshold") <= 0):
                first = 0
            spike[l.name] = first
        new = {}
        for l in network.layers:
            t = inf
            for s, d in edges[l.name]:
                if d is not None:
                    t = min(t, d if s == INPUT else spike[s] + 1 + d)
            new[l.name] = t
        if new == arrive:
            break
        arrive = new
    return arrive


def refuse_starts(network: Network) -> None:
    """CompileError for the first layer whose ``start`` the chip cannot realise exactly.

    The compiler stores a layer of ``start > 0`` with bias 0 and the host writes its
    whole state records (``v = u = 0``, the bias, the threshold) before step ``start``
    (:attr:`CoreImage.start_writes`). That equals the network model only if the layer's
    ``v`` and ``u`` are still 0 then: no event may reach it before ``start``
    (:func:`first_arrivals`, for any inputs), and with a subtracting reset a neuron at
    rest must not fire (threshold ``>= 0``)."""
    arrive = None
    for layer in network.layers:
        if layer.start <= 0:
            continue
        where = f"layer {layer.name!r}"
        thr = layer.param("threshold")
        if layer.neuron.model != "sigma_delta" and layer.neuron.reset != "zero" and \
                np.any(thr < 0):
            j = int(np.argmax(thr < 0))
            raise CompileError(
                f"{where}: start {layer.start} with threshold {thr[j]} (neuron {j}) and reset "
                f"{layer.neuron.reset!r}: a neuron at rest would fire and leave v = 0 before "
                "its start; thresholds must be >= 0 in a layer with start > 0")
        if arrive is None:
            arrive = first_arrivals(network)
        if arrive[layer.name] < layer.start:
            raise CompileError(
                f"{where}: start {layer.start}, but events can reach it at timestep "
                f"{arrive[layer.name]}; the host writes its bias (and v = u = 0) at its start, "
                "so start must not exceed the first timestep input can arrive")


def activity_from_run(inputs, outputs) -> list:
    """Per timestep, the events a network's synapses integrate, as ``{source: indices}``:
    the inputs of step ``t`` and the spikes layers emitted at step ``t - 1``
    (``outputs`` as :meth:`sw.toolchain.network_model.NetworkModel.run` returns them)."""
    act = []
    prev = {}
    for t, events in enumerate(inputs):
        step = {INPUT: [int(i) for i, _ in events]}
        for name, spikes in prev.items():
            step[name] = [int(i) for i, _ in spikes]
        act.append(step)
        prev = outputs[t] if t < len(outputs) else {}
    return act


def queue_peak(delay_groups: dict, axon_steps) -> int:
    """Exact peak SCDQ occupancy (just before a drain) when the axons of
    ``axon_steps[t]`` fire at timestep ``t``; ``delay_groups``: axon -> nonzero delays."""
    leave = {}                           # timestep -> entries drained at its tick
    held = peak = 0
    for t, axons in enumerate(axon_steps):
        for a in axons:
            for d in delay_groups.get(a, ()):
                held += 1
                leave[t + d] = leave.get(t + d, 0) + 1
        peak = max(peak, held)
        held -= leave.pop(t, 0)
    return peak


def _signed_range(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def compile_core(network: Network, config: ChipConfig, prefix: str = "core",
                 input_payload_max=None, *, activity=None,
                 activity_margin: float = 1.25, check_starts: bool = True) -> CoreImage:
    """Map ``network`` onto one core of ``config``; see the module docstring.

    ``input_payload_max`` (one value per network input) bounds the payloads each input
    carries, for the accumulator proof; by default any payload of ``payload_bits``.
    ``activity`` (per timestep ``{source: indices}``, see :func:`activity_from_run`)
    opts into sizing the delay queue by that activity times ``activity_margin`` instead
    of by the guaranteed worst case. ``check_starts=False`` skips :func:`refuse_starts`
    (the mapper checks the whole network; its tiles' networks read every source as an
    input).
    """
    try:
        network.validate()
    except ValueError as e:
        raise CompileError(str(e)) from None
    refuse_delays(network, config)
    if check_starts:
        refuse_starts(network)
    c = config.core
    isa = Isa.of(config)
    N = c.lanes
    layers = network.layers
    if len(layers) > c.layers:
        raise CompileError(f"the network has {len(layers)} layers; a core runs at most "
                           f"{c.layers} (core.layers)")

    # -- parameters -------------------------------------------------------------------
    slo, shi = _signed_range(c.state_bits)
    wlo, whi = _signed_range(c.weight_bits)
    plo, phi = _signed_range(c.payload_bits)
    for layer in layers:
        where = f"layer {layer.name!r}"
        for pname in ("threshold", "bias"):
            vals = layer.param(pname)
            bad = np.nonzero((vals < slo) | (vals > shi))[0]
            if len(bad):
                raise CompileError(f"{where}: {pname} of neuron {bad[0]} is {vals[bad[0]]}, "
                                   f"outside the {c.state_bits}-bit state range {slo}..{shi}")
        n = layer.neuron
        decays = {"lif": ("leak",), "cuba_lif": ("leak", "syn")}.get(n.model, ())
        for d in decays:
            mult, shift = getattr(n, f"{d}_mult"), getattr(n, f"{d}_shift")
            if not slo <= mult <= shi:
                raise CompileError(f"{where}: {d}_mult {mult} is outside {slo}..{shi} "
                                   f"(core.state_bits = {c.state_bits})")
            if not 0 <= shift < 1 << isa.shift_bits:
                raise CompileError(f"{where}: {d}_shift {shift} is outside "
                                   f"0..{(1 << isa.shift_bits) - 1}")
        for source, w in layer.inputs.items():
            w = np.asarray(w)
            bad = np.argwhere((w < wlo) | (w > whi))
            if len(bad):
                i, j = bad[0]
                raise CompileError(f"{where}: weight from {source!r} neuron {i} to neuron {j} "
                                   f"is {w[i, j]}, outside the {c.weight_bits}-bit range "
                                   f"{wlo}..{whi} (core.weight_bits)")

    # -- accumulator headroom ----------------------------------------------------------
    amax = (1 << (c.acc_bits - 1)) - 1
    pmax = {INPUT: np.full(network.inputs, max(-plo, phi), np.int64)
            if input_payload_max is None else np.asarray(input_payload_max, np.int64)}
    for layer in layers:
        pmax[layer.name] = np.full(layer.size, max(-plo, phi) if layer.neuron.graded else 1,
                                   np.int64)
    report = []
    for layer in layers:
        bound = np.zeros(layer.size, np.int64)
        fan_in = np.zeros(layer.size, np.int64)
        for source, w in layer.inputs.items():
            w = np.asarray(w, np.int64)
            bound += (np.abs(w) * pmax[source][:, None]).sum(axis=0)
            fan_in += (w != 0).sum(axis=0)
        worst = int(np.argmax(bound)) if layer.size else 0
        if bound[worst] > amax:
            raise CompileError(
                f"layer {layer.name!r}: neuron {worst} could accumulate {bound[worst]} in one "
                f"timestep ({fan_in[worst]} synapses, sum of |weight| x max |payload|), beyond "
                f"the {c.acc_bits}-bit accumulator (max {amax}); lower the weights or raise "
                "core.acc_bits")
        report.append({"layer": layer.name, "neurons": layer.size,
                       "max_fan_in": int(fan_in.max()) if layer.size else 0,
                       "max_accumulation": int(bound.max()) if layer.size else 0})

    # -- neuron placement ---------------------------------------------------------------
    row_base, rows = {}, 0
    for layer, rep in zip(layers, report):
        need = -(-layer.size // N)
        if rows + need > c.neuron_rows:
            raise CompileError(f"layer {layer.name!r} needs {need} neuron rows ({layer.size} "
                               f"neurons / {N} lanes, rounded up) but only "
                               f"{c.neuron_rows - rows} of {c.neuron_rows} rows are left "
                               f"(core.neurons = {c.neurons})")
        row_base[layer.name] = rows
        rep.update(row_base=rows, rows=need)
        rows += need
    neurons = {l.name: row_base[l.name] * N + np.arange(l.size) for l in layers}
    layer_of = {int(n): (l.name, j) for l in layers for j, n in enumerate(neurons[l.name])}

    # -- axons ----------------------------------------------------------------------------
    feeding = [l.name for l in layers if any(l.name in t.inputs for t in layers)]
    axon_of = {(INPUT, i): i for i in range(network.inputs)}
    nxt = network.inputs
    for name in feeding:
        for j in range(network.layer(name).size):
            axon_of[(name, j)] = nxt
            nxt += 1
    if nxt > c.axons:
        raise CompileError(f"the network needs {nxt} axons ({network.inputs} inputs + neurons "
                           f"of the layers that feed others: {', '.join(feeding) or 'none'}); "
                           f"the core has {c.axons} (core.axons)")
    routes = {int(neurons[name][j]): axon_of[(name, j)] for name in feeding
              for j in range(network.layer(name).size)}

    # -- synapse rows, grouped by delay ----------------------------------------------------
    weights = np.zeros((N, c.synapse_rows), np.int64)
    target = np.zeros(c.synapse_rows, np.int64)
    desc = {}                               # axon -> [(first row, rows, delay)]
    srow = 0
    sources = [(INPUT, i) for i in range(network.inputs)] + \
        [(name, j) for name in feeding for j in range(network.layer(name).size)]
    dmat = {(l.name, s): l.synapse_delays(s) for l in layers for s in l.inputs}
    for source, i in sources:
        by_delay = {}                       # delay -> [(layer, target neurons)]
        for layer in layers:
            if source not in layer.inputs:
                continue
            wrow = np.asarray(layer.inputs[source], np.int64)[i]
            targets = np.nonzero(wrow)[0]
            dm = dmat[(layer.name, source)]
            drow = dm[i][targets] if dm is not None else np.zeros(len(targets), np.int64)
            for d in np.unique(drow):
                by_delay.setdefault(int(d), []).append((layer, wrow, targets[drow == d]))
        if len(by_delay) > isa.groups:
            layer = by_delay[max(by_delay)][0][0]
            raise CompileError(
                f"layer {layer.name!r}: {source!r} neuron {i} has synapses with "
                f"{len(by_delay)} distinct delays ({', '.join(map(str, sorted(by_delay)))}) but "
                f"an axon holds at most {isa.groups} delay groups (delay.groups)")
        groups = []
        for d in sorted(by_delay) or [0]:
            first = srow
            for layer, wrow, js_all in by_delay.get(d, []):
                for trow in np.unique(js_all // N):
                    if srow >= c.synapse_rows:
                        raise CompileError(
                            f"layer {layer.name!r}: synapse rows run out at the projection "
                            f"from {source!r} neuron {i}; the core has {c.synapse_rows} rows "
                            f"({c.synapses} synapses / {N} lanes, core.synapses)")
                    js = js_all[js_all // N == trow]
                    weights[js % N, srow] = wrow[js]
                    target[srow] = row_base[layer.name] + trow
                    srow += 1
            groups.append((first, srow - first, d))
        desc[axon_of[(source, i)]] = groups

    # -- delay-queue capacity ---------------------------------------------------------------
    delay_groups = {a: [d for _, _, d in g if d] for a, g in desc.items()
                    if any(d for _, _, d in g)}
    queue = {}
    if config.delay.unit is DelayUnit.SCDQ and delay_groups:
        cap = config.delay.capacity
        worst = sum(d + 1 for ds in delay_groups.values() for d in ds)
        queue = {"capacity": cap, "worst_case": worst}
        if activity is not None:
            steps = [[axon_of[(src, int(k))] for src, idx in step.items()
                      for k in idx if (src, int(k)) in axon_of] for step in activity]
            peak = queue_peak(delay_groups, steps)
            need = int(np.ceil(peak * activity_margin))
            queue.update(measured_peak=peak, margin=activity_margin, needed=need)
            if need > cap:
                raise CompileError(
                    f"the delay queue needs {need} entries for the given activity (peak "
                    f"{peak} x margin {activity_margin}) but delay.capacity = {cap}")
        elif worst > cap:
            raise CompileError(
                f"the delay queue could need {worst} entries (every axon firing every "
                f"timestep, each delayed group held delay + 1 timesteps) but delay.capacity "
                f"= {cap}; raise delay.capacity, or pass activity= to size it by measured "
                "activity")

    # -- programs -------------------------------------------------------------------------
    progs = [programs.integrate()]
    layer_prog = {}
    seen = {}
    for layer in layers:
        key = programs.program_key(layer.neuron)
        if key not in seen:
            name = f"{layer.neuron.model}_{len(seen)}"
            seen[key] = name
            progs.append(programs.neuron_program(layer.neuron, name, slots=c.slots))
        layer_prog[layer.name] = seen[key]
    try:
        words, entry = assemble(progs, isa)
    except AssemblyError as e:
        raise CompileError(f"the neuron programs do not fit this core: {e}") from None

    # -- images ---------------------------------------------------------------------------
    all_lanes = (1 << N) - 1
    axon_words = np.zeros(c.axons * isa.groups, dtype=object)
    for axon in range(c.axons):
        groups = desc.get(axon, [(0, 0, 0)])
        for g, (first, count, d) in enumerate(groups):
            extra = {"delay": d, "more": int(g + 1 < len(groups))} if isa.delay.enabled else {}
            axon_words[isa.axon_word(axon, g)] = Isa.pack(
                isa.job, {"pc": entry["integrate"], "base": first, "count": count,
                          "mask": all_lanes, **extra})
    layer_words = np.zeros(c.layers, dtype=object)
    for k, layer in enumerate(layers):
        rem = layer.size % N
        layer_words[k] = Isa.pack(isa.layer, {
            "valid": 1, "pc": entry[layer_prog[layer.name]], "base": row_base[layer.name],
            "count": -(-layer.size // N), "mask": (1 << rem) - 1 if rem else all_lanes})
    # neuron-state records (:attr:`Isa.state`): v = u = 0, p0 = bias, p1 = threshold;
    # p0 = 0 in layers with start > 0, whose bias the host writes at their start
    record = codec(isa.state)
    fields = {name: np.zeros((N, c.neuron_rows), np.int64) for name in record.names}
    for layer in layers:
        n = neurons[layer.name]
        fields["p0"][n % N, n // N] = np.asarray(layer.param("bias"), np.int64)
        fields["p1"][n % N, n // N] = np.asarray(layer.param("threshold"), np.int64)
    biased = record.pack([fields[name] for name in record.names]).astype(object)
    for layer in layers:
        if layer.start > 0:
            n = neurons[layer.name]
            fields["p0"][n % N, n // N] = 0
    state = record.pack([fields[name] for name in record.names]).astype(object)
    bank = MemoryName.lane_bank
    start_writes = {}
    for layer in layers:
        if layer.start > 0:
            n = neurons[layer.name]
            start_writes.setdefault(int(layer.start), []).extend(
                (bank(prefix, int(k) % N, "state"), int(k) // N, int(biased[k % N, k // N]))
                for k in n)
    mn = MemoryName.of
    images = {mn(prefix, "microcode"): np.array(words + [0] * (c.microcode_depth - len(words)),
                                                  dtype=object),
              mn(prefix, "axon_table"): axon_words,
              mn(prefix, "layer_table"): layer_words,
              mn(prefix, "target_table"): target.astype(np.uint64)}
    for lane in range(N):
        images[bank(prefix, lane, "weights")] = \
            (weights[lane] & ((1 << c.weight_bits) - 1)).astype(np.uint64)
        images[bank(prefix, lane, "acc")] = np.zeros(c.neuron_rows * isa.acc_slots, np.uint64)
        images[bank(prefix, lane, "state")] = state[lane]
    # The delay queue's memory is the queue's own (a linked list built at reset): no image.
    assert set(images) == {s.name for s in core_memories(isa, prefix) if s.role != "delay"}
    input_axons = np.array([axon_of[(INPUT, i)] for i in range(network.inputs)], np.int64)
    return CoreImage(config, network, prefix, images, input_axons, neurons, routes, layer_of,
                     entry, progs, report, delay_groups, queue, start_writes)
