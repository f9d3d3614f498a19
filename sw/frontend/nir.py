"""NIR conversion: ``nir.NIRGraph`` -> :class:`~sw.frontend.float_model.FloatModel`
(:func:`from_nir`) and back (:func:`to_nir`).

The ``nir`` package is imported inside the functions: importing this module does not
need it.

NIR conversion (:func:`from_nir`, :func:`to_nir`)
    NIR's ``LIF`` is ``tau dv/dt = (v_leak - v) + r I``. Inputs are taken as impulses
    delivered at the step boundaries (a current ``I`` held for one step delivers the
    charge ``I dt``); the exact solution of the ODE for such input is::

        v[t+1] = exp(-dt / tau) * v[t] + (r * dt / tau) * I[t]

    so ``alpha = exp(-dt / tau)`` and the gain is ``r_float = r_nir * dt / tau`` (for
    ``IF``, ``dv/dt = r I``: ``alpha = 1``, ``r_float = r_nir * dt``). With the NIR
    export convention ``r = tau / dt`` (snnTorch, Norse) the gain is exactly 1.
    ``Affine``/``Linear`` weights are NIR ``(out, in)`` matrices: they are transposed to
    ``(in, out)``. ``CubaLIF``/``CubaLI`` are accepted only with an instantaneous
    synapse (``exp(-dt / tau_syn) <= syn_tolerance``, default 1e-3), where the synaptic
    current lasts well under one step; the gain is then ``r * w_in * dt / tau_mem``.
    NIR fires on ``v > v_threshold``; the core fires on ``v >= v_threshold``.

The float dynamics the result is simulated with are in :mod:`sw.frontend.float_model`.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from sw.frontend.float_model import (FORMAT, FloatLayer, FloatModel, ModelImportError, _compact,
                                     _describe, load_float_model)
from sw.toolchain.network import INPUT

__all__ = ["from_nir", "to_nir", "load_model"]


#: Nodes that pass a signal through element by element (seen through by the wiring).
_WIRES = ("flatten", "delay", "scale")


def _nir_problems(graph, conv, syn_tolerance: float):
    """Per-node checks that need no dt: returns (problems, kinds), kinds: node -> role."""
    import nir
    problems, kinds = [], {}
    neuron_types = (nir.LIF, nir.IF, nir.LI, nir.CubaLIF, nir.CubaLI, nir.I)
    unsupported = {
        nir.Conv1d: "convolutions are not supported (unroll the convolution into an Affine)",
        nir.Conv2d: "convolutions are not supported (unroll the convolution into an Affine)",
        nir.SumPool2d: "pooling is not supported (unroll it into an Affine)",
        nir.AvgPool2d: "pooling is not supported (unroll it into an Affine)",
        nir.Threshold: "a bare Threshold has no membrane (use IF or LIF)",
        nir.NIRGraph: "nested subgraphs are not supported (inline the subgraph)",
    }
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        say = lambda why: problems.append(f"node {name!r} ({kind}): {why}")  # noqa: E731
        before = len(problems)
        if isinstance(node, nir.Input):
            kinds[name] = "input"
        elif isinstance(node, nir.Output):
            kinds[name] = "output"
        elif isinstance(node, nir.Flatten):
            kinds[name] = "flatten"
        elif isinstance(node, nir.Delay):
            d = np.asarray(node.delay, np.float64)
            if not np.all(np.isfinite(d)) or np.any(d < 0):
                say(f"delay must be non-negative and finite, not {_describe(d)} s")
            kinds[name] = "delay"
        elif isinstance(node, nir.Scale):
            if not np.all(np.isfinite(np.asarray(node.scale, np.float64))):
                say("scale is not all finite")
            kinds[name] = "scale"
        elif isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight)
            if w.ndim != 2:
                say(f"weight has shape {w.shape}; only 2-D (out, in) matrices are supported")
            elif not np.all(np.isfinite(w)):
                say("weight is not all finite")
            if isinstance(node, nir.Affine) and np.asarray(node.bias).size > 1 \
                    and np.asarray(node.bias).shape != (w.shape[0],):
                say(f"bias has shape {np.asarray(node.bias).shape}, expected ({w.shape[0]},)")
            kinds[name] = "affine"
        elif isinstance(node, neuron_types):
            _check_nir_neuron(node, say)
            meta = node.metadata if isinstance(node.metadata, dict) else {}
            for key, allowed in (("reset", ("zero", "subtract", "subtract_delayed")),
                                 ("compare", (">", ">=")), ("decay", ("exp", "euler"))):
                if key in meta and meta[key] not in allowed:
                    say(f"metadata {key} must be one of {', '.join(map(repr, allowed))}, "
                        f"not {meta[key]!r}")
            kinds[name] = "readout" if isinstance(node, (nir.LI, nir.CubaLI, nir.I)) \
                else "spiking"
        else:
            for cls, why in unsupported.items():
                if isinstance(node, cls):
                    say(why)
                    break
            else:
                say("this node type is not supported")
        if len(problems) > before:
            kinds[name] = "bad"
    return problems, kinds


def _shape(value):
    if value is None:
        return None
    return tuple(int(d) for d in np.atleast_1d(np.asarray(value)))


def _tau_of(node):
    tau = getattr(node, "tau_mem", getattr(node, "tau", None))
    return None if tau is None else np.asarray(tau, np.float64)


def _check_nir_neuron(node, say) -> None:
    tau = _tau_of(node)
    for label, t in (("tau", tau), ("tau_syn", getattr(node, "tau_syn", None))):
        if t is None:
            continue
        t = np.asarray(t, np.float64)
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            say(f"{label} must be positive and finite, not {_describe(t)} s")
        elif np.any(t != t.ravel()[0]):
            say(f"{label} varies across neurons ({t.min():g} .. {t.max():g} s); the core has "
                f"one {'leak' if label == 'tau' else 'current decay'} per layer")
    if hasattr(node, "v_leak") and np.any(np.asarray(node.v_leak, np.float64) != 0):
        say(f"v_leak must be 0 (the core's leak decays towards 0), not {_describe(node.v_leak)}")
    if getattr(node, "v_reset", None) is not None \
            and np.any(np.asarray(node.v_reset, np.float64) != 0):
        say(f"v_reset must be 0 (the core resets to 0 or subtracts the threshold), not "
            f"{_describe(node.v_reset)}")
    if hasattr(node, "v_threshold"):
        thr = np.asarray(node.v_threshold, np.float64)
        if not np.all(np.isfinite(thr)) or np.any(thr <= 0):
            say(f"v_threshold must be positive and finite, not {_describe(thr)}")
    if not np.all(np.isfinite(np.asarray(node.r, np.float64))):
        say("r is not all finite")


def _nir_size(node) -> int:
    """Neurons of a NIR neuron node (0 if its parameters are scalars)."""
    shape = _shape(node.output_type.get("output")) if node.output_type else None
    if shape:
        return int(np.prod(shape))
    return int(np.asarray(node.r).size) if np.asarray(node.r).ndim else 0


def _first(value) -> float:
    return float(np.asarray(value, np.float64).ravel()[0])


def _resolve_dt(graph, dt, conv, kinds):
    """``(dt, how, problems)``: the caller's dt, the graph's metadata, ``tau / r`` (for
    exporters that write ``r = tau/dt``) or the exporter's fixed dt, in that order."""
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if dt is not None:
        if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
            return None, None, [f"dt must be a positive number of seconds, not {dt!r}"]
        return float(dt), "given", []
    if "dt" in meta:
        try:
            value = float(np.asarray(meta["dt"]).ravel()[0])
        except (TypeError, ValueError, IndexError):
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            return None, None, [f"graph metadata dt is {meta['dt']!r}, not a positive number "
                                "of seconds; pass dt="]
        return value, "the graph's metadata", []
    if conv.dt_from:
        ratios = {}
        for n, node in graph.nodes.items():
            tau = _tau_of(node)
            if kinds.get(n) in ("spiking", "readout") and tau is not None:
                r = np.broadcast_to(np.asarray(node.r, np.float64), np.shape(tau))
                with np.errstate(divide="ignore", invalid="ignore"):
                    if conv.dt_from == "tau/r":
                        ratios[n] = np.asarray(tau / r, np.float64).ravel()
                    else:                     # r = tau exp(-dt/tau) / dt: dt = tau W0(1/r)
                        from scipy.special import lambertw
                        ratios[n] = np.asarray(tau * lambertw(1 / r).real, np.float64).ravel()
        if ratios:
            values = np.concatenate(list(ratios.values()))
            ref = float(np.median(values))
            if np.all(np.isfinite(values)) and ref > 0 \
                    and np.all(np.abs(values - ref) <= 1e-4 * ref):
                rule = "r = tau/dt" if conv.dt_from == "tau/r" else "r = tau exp(-dt/tau)/dt"
                return ref, f"{rule} ({conv.name}'s export convention)", []
            what = "tau/r" if conv.dt_from == "tau/r" else "tau W0(1/r)"
            spread = ", ".join(f"{n}: {_describe(v)}" for n, v in ratios.items())
            return None, None, [f"dt: the graph has no metadata dt, and {what} differs between "
                                f"neurons ({spread} s), so it is not a {conv.name} export; "
                                "pass dt="]
    if conv.dt is not None:
        return float(conv.dt), f"{conv.name}'s exporter default", []
    return None, None, ["dt: the graph has no metadata dt; pass dt= (the model's timestep in "
                        "seconds) or framework= (snntorch and norse exports carry none)"]


def _plausibility(graph, kinds, dt, conv, how):
    """Problems of a dt that cannot be the model's: a per-step decay below 0.5, or a
    gain the exporter's convention does not give."""
    problems = []
    for n, node in graph.nodes.items():
        tau = _tau_of(node)
        if kinds.get(n) not in ("spiking", "readout") or tau is None:
            continue
        kind = type(node).__name__
        t = _first(tau) / dt if conv.tau_times_dt else _first(tau)
        alpha = math.exp(-dt / t) if conv.decay == "exp" else 1 - dt / t
        r = _first(node.r)
        gain = r * dt / t
        where = f"node {n!r} ({kind})"
        formula = "exp(-dt/tau)" if conv.decay == "exp" else "1 - dt/tau"
        if alpha < 0.5:
            hint = ""
            if r > 0 and not conv.dt_from and abs(_first(tau) / r - dt) > 1e-3 * dt:
                hint = (f"; its r = {r:g} would be tau/dt for dt = {_first(tau) / r:g} s "
                        "(snnTorch's export convention: framework='snntorch')")
            problems.append(
                f"{where}: per-step decay {formula} = {alpha:.4g} with dt = {dt:g} s "
                f"({how}) and tau = {t:g} s is below 0.5 (gain r*dt/tau = {gain:.4g}): dt "
                f"is not plausibly the model's timestep{hint}; pass the right dt or "
                "framework=, or check_dt=False to import anyway")
        elif conv.expected_gain is not None \
                and abs(gain - conv.expected_gain) > 0.01 * conv.expected_gain:
            problems.append(
                f"{where}: gain r*dt/tau = {r:g} * {dt:g} / {t:g} = {gain:.4g}, but "
                f"{conv.name}'s exporter writes r = tau/dt (gain {conv.expected_gain:g}): "
                f"dt = {dt:g} s ({how}) is not the model's; it is {_first(tau) / r:g} s")
    return problems


def from_nir(graph, dt: float | None = None, *, framework: str | None = None,
             reset: str | None = None, decay: str | None = None, compare: str | None = None,
             timing: str | None = None, syn_tolerance: float = 1e-3, check_dt: bool = True,
             quiet: bool = False, **overrides) -> FloatModel:
    """Convert a ``nir.NIRGraph`` to a :class:`FloatModel`.

    ``framework``: the exporting framework's :class:`~sw.frontend.conventions.Convention`
    (``"snntorch"``, ``"norse"``, ... see :data:`~sw.frontend.conventions.PRESETS`;
    default ``"spikeforge"``, the kit's own :func:`to_nir`): decay, comparison, reset,
    timing and how to find dt. ``reset``, ``decay``, ``compare``, ``timing`` override the
    preset's; a neuron node's ``metadata`` ``reset``/``compare``/``decay`` (as
    :func:`to_nir` writes) win over both, the graph's ``metadata["timing"]`` over the
    preset's.

    ``dt`` (seconds): given, else the graph's ``metadata["dt"]``, else ``tau / r`` for
    exporters that write ``r = tau/dt`` (snnTorch), else the exporter's fixed default
    (Norse: 1 ms). How dt was found is printed (stderr; ``quiet=True`` silences it) and
    kept in ``model.notes``. Unless ``check_dt=False``, a dt under which a neuron decays
    by more than half per step, or (for exporters whose ``r`` fixes the gain) whose gain
    is off by more than 1 %, is refused with the numbers.

    Supported: one ``Input`` (any shape: flattened in C order); ``Affine``/``Linear``
    (weights transposed to (in, out)); ``LIF``, ``IF``, ``CubaLIF`` -> spiking layers;
    ``LI``, ``CubaLI``, ``I`` -> readouts (outputs only); ``Flatten`` (identity on the
    flat vector), ``Scale`` (folded into the weights), ``Delay`` (rounded to whole steps,
    onto the synapses: the chip's delay unit); ``Output``. A ``CubaLIF``/``CubaLI`` whose
    current decays to at most ``syn_tolerance`` within one step is imported as a plain
    LIF/LI (an instantaneous synapse). Each neuron node becomes one layer named after the
    node; the weights from each source are the sum of the maps between them (a neuron fed
    directly gets identity weights); biases of the maps into a layer add up.

    The whole graph is checked first: one :class:`ModelImportError` lists every problem
    (node, type and why) before anything is converted.
    """
    import nir
    from sw.frontend.conventions import convention
    if not isinstance(graph, nir.NIRGraph):
        raise ModelImportError(f"expected a nir.NIRGraph (nir.read of a .nir file), not "
                               f"{type(graph).__name__}")
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if timing is None and meta.get("timing") in ("same_step", "delayed"):
        timing = meta["timing"]
    if dt is not None and not (isinstance(dt, (int, float, np.floating)) and
                               math.isfinite(dt) and dt > 0):
        raise ModelImportError(f"dt must be a positive number of seconds, not {dt!r}")
    conv = convention(framework, reset=reset, decay=decay, compare=compare, timing=timing,
                      **overrides)
    nodes = graph.nodes
    problems, kinds = _nir_problems(graph, conv, syn_tolerance)
    dt, how, dt_problems = _resolve_dt(graph, dt, conv, kinds)
    problems += dt_problems
    if dt is not None and check_dt:
        problems += _plausibility(graph, kinds, dt, conv, how)

    # -- structure (edges between nodes that passed their own checks) ----------------------
    preds = {n: [] for n in nodes}
    succs = {n: [] for n in nodes}
    for a, b in graph.edges:
        if a in nodes and b in nodes:
            preds[b].append(a)
            succs[a].append(b)
        else:
            problems.append(f"edge ({a!r}, {b!r}): {a if a not in nodes else b!r} is not a node")

    def paths(start, links):
        """``[(neighbour, wires passed)]`` of ``start`` via ``links``, through wires."""
        out, todo = [], [(n, ()) for n in links[start]]
        while todo:
            n, chain = todo.pop(0)
            if n in chain or len(chain) > len(nodes):
                continue
            if kinds.get(n) in _WIRES:
                todo.extend((m, chain + (n,)) for m in links[n])
            else:
                out.append((n, chain))
        return out

    def through(start, links):
        return list(dict.fromkeys(n for n, _ in paths(start, links)))

    def kind_of(n):
        return type(nodes[n]).__name__

    inputs = [n for n, k in kinds.items() if k == "input"]
    structural = []
    if len(inputs) != 1 and not any(k == "bad" for k in kinds.values()):
        structural.append(f"graph: has {len(inputs)} Input nodes"
                          f"{' (' + ', '.join(map(repr, inputs)) + ')' if inputs else ''}; "
                          "the network takes exactly one input vector")
    size = {}
    for n in inputs:
        shape = _shape(nodes[n].input_type.get("input"))
        size[n] = int(np.prod(shape)) if shape else 0
    for n, k in kinds.items():
        if k in ("spiking", "readout"):
            size[n] = _nir_size(nodes[n])
    for n, k in kinds.items():
        if k != "affine":
            continue
        w = np.asarray(nodes[n].weight)
        for p in through(n, preds):
            pk = kinds[p]
            if pk == "affine":
                structural.append(f"node {n!r} ({kind_of(n)}): fed by {kind_of(p)} {p!r}; fold "
                                  "consecutive affine maps into one")
            elif pk == "output":
                structural.append(f"node {n!r} ({kind_of(n)}): fed by Output {p!r}")
            elif pk in ("input", "spiking") and size.get(p) and w.ndim == 2 \
                    and w.shape[1] != size[p]:
                structural.append(f"node {n!r} ({kind_of(n)}): weight has {w.shape[1]} inputs "
                                  f"but {kind_of(p)} {p!r} has {size[p]} outputs")
        if not through(n, preds):
            structural.append(f"node {n!r} ({kind_of(n)}): has no input")
        for s in through(n, succs):
            if kinds[s] == "output":
                structural.append(
                    f"node {n!r} ({kind_of(n)}): feeds Output {s!r} directly; its output is a "
                    "current: end the chain with a neuron (LI for a readout)")
            elif kinds[s] in ("spiking", "readout"):
                if size[s] == 0:
                    size[s] = w.shape[0] if w.ndim == 2 else 0
                elif w.ndim == 2 and w.shape[0] != size[s]:
                    structural.append(f"node {n!r} ({kind_of(n)}): weight has {w.shape[0]} "
                                      f"outputs but {kind_of(s)} {s!r} has {size[s]} neurons")
    for n, k in kinds.items():
        if k not in ("spiking", "readout"):
            continue
        feeds = through(n, preds)
        if not feeds:
            structural.append(f"node {n!r} ({kind_of(n)}): has no input")
        for p in feeds:
            if kinds[p] in ("input", "spiking", "readout") and size[n] == 0:
                size[n] = size.get(p, 0)            # scalar parameters: size of the source
            if kinds[p] in ("input", "spiking", "readout") and size.get(p) != size[n]:
                structural.append(f"node {n!r} ({kind_of(n)}): fed directly (identity) by "
                                  f"{kind_of(p)} {p!r} of {size.get(p)} outputs, but has "
                                  f"{size[n]} neurons")
        if k == "readout":
            for s in through(n, succs):
                if kinds[s] not in ("output", "bad"):
                    structural.append(
                        f"node {n!r} ({kind_of(n)}): its output (a membrane potential, not "
                        f"spikes) feeds {kind_of(s)} {s!r}; LI layers can only be outputs")
    for n, k in kinds.items():
        if k == "output":
            for p in through(n, preds):
                if kinds[p] == "input":
                    structural.append(f"node {n!r} (Output): fed by the Input {p!r} directly; "
                                      "there is nothing to compute")
    problems += structural

    def wire_vectors(chain, length, where):
        """Per-element (scale, delay in steps) of a signal of ``length`` through ``chain``."""
        scale, delay = np.ones(length), np.zeros(length)
        for m in chain:
            node = nodes[m]
            if kinds[m] == "scale":
                v = np.asarray(node.scale, np.float64).ravel()
            elif kinds[m] == "delay":
                v = np.asarray(node.delay, np.float64).ravel()
            else:
                continue
            if v.size not in (1, length):
                problems.append(f"node {m!r} ({kind_of(m)}): has {v.size} values but the "
                                f"signal it carries {where} has {length}")
                continue
            if kinds[m] == "scale":
                scale = scale * v
            elif dt is not None:
                steps = v / dt
                if np.any(np.abs(steps - np.rint(steps)) > 1e-6 * np.maximum(1, steps)):
                    problems.append(f"node {m!r} (Delay): delay {_describe(v)} s is not a whole "
                                    f"number of steps of dt = {dt:g} s")
                delay = delay + np.rint(steps)
        return scale, delay.astype(np.int64)

    # -- conversion plan (may still add problems: wire sizes, conflicting delays) -------------
    source_name = {n: (INPUT if kinds[n] == "input" else n) for n in nodes}
    order, todo, seen = [], list(inputs), set(inputs)
    while todo:                                    # breadth first from the input
        n = todo.pop(0)
        if kinds[n] in ("spiking", "readout"):
            order.append(n)
        for s in through(n, succs):
            if s not in seen:
                seen.add(s)
                todo.append(s)
    order += [n for n, k in kinds.items() if k in ("spiking", "readout") and n not in order]
    plans = []
    if not problems:
        for n in order:
            weights, delays, bias = {}, {}, None
            for p, post in paths(n, preds):
                where = f"into {kind_of(n)} {n!r}"
                if kinds[p] == "affine":
                    w = np.asarray(nodes[p].weight, np.float64).T
                    post_s, post_d = wire_vectors(post, size[n], where)
                    for q, pre in paths(p, preds):
                        pre_s, pre_d = wire_vectors(pre, size[q], f"into {p!r}")
                        contrib = pre_s[:, None] * w * post_s[None, :]
                        d = pre_d[:, None] + post_d[None, :]
                        _add_projection(weights, delays, source_name[q], contrib, d, n,
                                        problems)
                    if isinstance(nodes[p], nir.Affine):
                        b = np.broadcast_to(np.asarray(nodes[p].bias, np.float64),
                                            (size[n],)) * post_s
                        bias = b.copy() if bias is None else bias + b
                else:
                    sc, d = wire_vectors(post, size[n], where)
                    _add_projection(weights, delays, source_name[p], np.diag(sc),
                                    np.diag(d) if d.any() else np.zeros((size[n],) * 2,
                                                                         np.int64),
                                    n, problems)
            plans.append((n, weights, delays, bias))
    if problems:
        raise ModelImportError(
            f"the NIR graph cannot be imported ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems),
            problems)

    notes = [f"dt = {dt:g} s ({how})", f"convention {conv.describe()}"]
    layers = []
    for n, weights, delays, bias in plans:
        neuron, note = _nir_neuron(nodes[n], dt, size[n], conv, syn_tolerance)
        if note:
            notes.append(f"{n}: {note}")
        delays = {s: d for s, d in delays.items() if d is not None and d.any()}
        layers.append(FloatLayer(n, size[n], neuron, weights, bias, delays))
    model = FloatModel(dt, size[inputs[0]], layers, conv.timing, notes)
    model.validate()
    if not quiet:
        for line in notes[:2]:
            print(f"from_nir: {line}", file=sys.stderr)
    return model


def _add_projection(weights, delays, src, w, d, layer, problems) -> None:
    """Sum a map's weights into ``weights[src]``; its delays must agree where both
    paths have synapses."""
    if src not in weights:
        weights[src], delays[src] = w, np.where(w != 0, d, 0)
        return
    old, oldd = weights[src], delays[src]
    both = (old != 0) & (w != 0)
    if np.any(both & (oldd != d)):
        i, j = np.argwhere(both & (oldd != d))[0]
        problems.append(f"layer {layer!r}: two paths from {src!r} reach neuron {j} from "
                        f"{i} with different delays ({oldd[i, j]} and {d[i, j]} steps)")
    weights[src] = old + w
    delays[src] = np.where(old != 0, oldd, np.where(w != 0, d, 0))


_DEFAULTS = {"compare": ">=", "decay": "exp", "syn_first": True}


def _nir_neuron(node, dt: float, size: int, conv, syn_tolerance: float):
    """``(float neuron dict, note or "")`` of a NIR neuron node under ``conv`` (keys at
    their float-model default are left out)."""
    neuron, note = _nir_neuron_keys(node, dt, size, conv, syn_tolerance)
    return {k: v for k, v in neuron.items() if _DEFAULTS.get(k, object()) != v}, note


def _nir_neuron_keys(node, dt: float, size: int, conv, syn_tolerance: float):
    import nir
    per = lambda v: np.broadcast_to(np.asarray(v, np.float64), (size,))  # noqa: E731
    meta = node.metadata if isinstance(node.metadata, dict) else {}
    cuba = isinstance(node, (nir.CubaLIF, nir.CubaLI))
    reset = meta.get("reset", conv.reset_cuba if cuba and conv.reset_cuba else conv.reset)
    compare = meta.get("compare", conv.compare)
    decay = meta.get("decay", conv.decay)
    r = per(node.r)
    spiking = {"reset": reset, "compare": compare}
    notes = []
    if conv.multi_spike and isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
        notes.append(f"{conv.name} emits floor(v/threshold) spikes per step; the chip emits "
                     "one (and subtracts one threshold): equal while v < 2 * threshold")
    unit = conv.gain_rule != "nir"
    if isinstance(node, nir.IF):
        return {"model": "if", "v_threshold": _compact(per(node.v_threshold)), **spiking,
                "r": _compact(np.ones(size) if unit else r * dt)}, "; ".join(notes)
    if isinstance(node, nir.I):
        return {"model": "i", "r": _compact(np.ones(size) if unit else r * dt)}, ""
    tau = float(per(_tau_of(node))[0])
    if conv.tau_times_dt:
        tau /= dt
    alpha = math.exp(-dt / tau) if decay == "exp" else 1 - dt / tau
    if conv.gain_rule == "nir":
        gain = r * dt / tau
    elif conv.gain_rule == "norm_lif" and isinstance(node, nir.LIF):
        gain = np.full(size, 1 - alpha)
    else:
        gain = np.ones(size)
    if cuba:
        tau_syn = float(per(node.tau_syn)[0]) / (dt if conv.tau_times_dt else 1.0)
        keep = math.exp(-dt / tau_syn) if decay == "exp" else 1 - dt / tau_syn
        w_in = per(node.w_in)
        if keep <= syn_tolerance:
            notes.append(f"synaptic current decays to {keep:.3g} within a step (<= "
                         f"syn_tolerance {syn_tolerance:g}): imported as an instantaneous "
                         "synapse")
            gain = gain * w_in
        else:
            gain = gain * {"nir": w_in * dt / tau_syn, "w_in": w_in,
                           "decayed": w_in * keep}[conv.syn_gain]
            base = {"tau_mem": tau, "tau_syn": tau_syn, "decay": decay,
                    "syn_first": bool(conv.syn_first), "r": _compact(gain)}
            if isinstance(node, nir.CubaLI):
                return {"model": "cuba_li", **base}, "; ".join(notes)
            return {"model": "cuba_lif", **base, "v_threshold": _compact(per(node.v_threshold)),
                    **spiking}, "; ".join(notes)
    if isinstance(node, (nir.LI, nir.CubaLI)):
        return {"model": "li", "tau_mem": tau, "decay": decay, "r": _compact(gain)}, \
            "; ".join(notes)
    return {"model": "lif", "tau_mem": tau, "decay": decay,
            "v_threshold": _compact(per(node.v_threshold)), **spiking,
            "r": _compact(gain)}, "; ".join(notes)


def to_nir(model: FloatModel):
    """Export ``model`` as a ``nir.NIRGraph`` (the inverse of :func:`from_nir`).

    Nodes: ``"input"`` (Input); per layer, a neuron node named after the layer (LIF with
    ``r = r_float * tau / dt``, IF with ``r = r_float / dt``, LI) whose
    ``metadata["reset"]`` records the reset, and one map per source named
    ``"<layer>.<source>"`` (Affine carrying the layer's bias on the first source,
    Linear otherwise; weight = our matrix transposed to NIR's (out, in)); one Output per
    output layer (``"output"`` if there is one). The graph's metadata holds ``dt``.
    """
    import nir
    model.validate()
    dt = float(model.dt)
    nodes = {"input": nir.Input(input_type=np.array([model.inputs]))}
    edges = []
    for layer in model.layers:
        if not layer.weights:
            raise ModelImportError(f"layer {layer.name!r}: has no inputs; NIR needs an edge into "
                                   "every neuron node")
    taken = {"input"} | {l.name for l in model.layers}
    for layer in model.layers:
        n, name = layer.size, layer.name
        zeros = np.zeros(n)
        r = layer.param("r", 1.0)
        if layer.model == "if":
            node = nir.IF(r=r / dt, v_threshold=layer.param("v_threshold"), v_reset=zeros)
        else:
            tau = float(np.asarray(layer.neuron["tau_mem"], np.float64).flat[0])
            args = dict(tau=np.full(n, tau), r=r * tau / dt, v_leak=zeros)
            node = nir.LI(**args) if layer.model == "li" else \
                nir.LIF(**args, v_threshold=layer.param("v_threshold"), v_reset=zeros)
        if layer.model != "li":
            node.metadata = {"reset": layer.neuron.get("reset", "zero")}
        nodes[name] = node
        for k, (source, w) in enumerate(layer.weights.items()):
            key = f"{name}.{source}"
            if key in taken:
                raise ModelImportError(f"layer {name!r}: the map node name {key!r} is taken")
            taken.add(key)
            wt = np.ascontiguousarray(np.asarray(w, np.float64).T)
            nodes[key] = nir.Affine(weight=wt, bias=layer.bias_array()) \
                if k == 0 and layer.bias is not None else nir.Linear(weight=wt)
            edges += [(source, key), (key, name)]
    outputs = model.outputs
    for name in outputs:
        key = "output" if len(outputs) == 1 and "output" not in taken else f"{name}.output"
        nodes[key] = nir.Output(output_type=np.array([model.layer(name).size]))
        edges.append((name, key))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})



def load_model(path, *, framework: str | None = None, dt: float | None = None,
               **convention) -> FloatModel:
    """A trained model from a file: a NIR file (``nir.read``, then :func:`from_nir` with
    ``framework``, ``dt`` and any other :func:`from_nir` keyword) or a spikeforge float
    model ``.npz`` (:func:`~sw.frontend.float_model.load_float_model`; ``framework`` and
    ``dt`` must then be left out: the file says).

    Raises :class:`ModelImportError` naming the file for a missing file or one that is
    neither."""
    from pathlib import Path
    import nir
    path = Path(path)
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        try:
            graph = nir.read(str(path))
        except Exception as e:          # noqa: BLE001 - any reader failure is the file's
            raise ModelImportError(f"{path}: an HDF5 file, but not a NIR graph nir.read can "
                                   f"load ({type(e).__name__}: {e})") from None
        return from_nir(graph, dt, framework=framework, **convention)
    if head.startswith(b"PK"):
        try:
            with np.load(path, allow_pickle=False) as z:
                is_model = "meta" in z.files
        except Exception:               # noqa: BLE001
            is_model = False
        if is_model:
            if framework is not None or dt is not None or convention:
                raise ModelImportError(f"{path}: a {FORMAT} file carries its own dt and "
                                       "conventions; leave framework and dt out")
            return load_float_model(path)
        raise ModelImportError(f"{path}: a .npz archive without 'meta': not a {FORMAT} file")
    raise ModelImportError(f"{path}: not a NIR file (HDF5, as nir.write makes) nor a {FORMAT} "
                           f".npz; it starts with {head!r}")
