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

import numpy as np

from sw.frontend.float_model import (FloatLayer, FloatModel, ModelImportError, _compact,
                                     _describe)
from sw.toolchain.network import INPUT

__all__ = ["from_nir", "to_nir"]


def _nir_problems(graph, dt: float, reset: str, syn_tolerance: float):
    """Per-node checks: returns (problems, kinds) where kinds maps node -> role."""
    import nir
    problems, kinds = [], {}
    neuron_types = (nir.LIF, nir.IF, nir.LI, nir.CubaLIF, nir.CubaLI)
    unsupported = {
        nir.Delay: "no delay unit yet",
        nir.Conv1d: "convolutions are not supported (unroll the convolution into an Affine)",
        nir.Conv2d: "convolutions are not supported (unroll the convolution into an Affine)",
        nir.SumPool2d: "pooling is not supported (unroll it into an Affine)",
        nir.AvgPool2d: "pooling is not supported (unroll it into an Affine)",
        nir.Scale: "Scale is not supported (fold it into the preceding Affine)",
        nir.Threshold: "a bare Threshold has no membrane (use IF or LIF)",
        nir.I: "an integrator without leak or threshold is not supported (use LI or IF)",
        nir.NIRGraph: "nested subgraphs are not supported (inline the subgraph)",
    }
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        say = lambda why: problems.append(f"node {name!r} ({kind}): {why}")  # noqa: E731
        before = len(problems)
        if isinstance(node, nir.Input):
            shape = _shape(node.input_type.get("input"))
            if shape is not None and sum(d != 1 for d in shape) > 1:
                say(f"input shape {shape} is not flat; flatten the data before the Input node")
            kinds[name] = "input"
        elif isinstance(node, nir.Output):
            kinds[name] = "output"
        elif isinstance(node, nir.Flatten):
            shape = _shape(node.input_type.get("input"))
            if shape is not None and sum(d != 1 for d in shape) > 1:
                say(f"flattens shape {shape}: only already-flat data (one non-unit "
                    "dimension) is supported")
            kinds[name] = "flatten"
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
            _check_nir_neuron(node, dt, say, syn_tolerance)
            r = node.metadata.get("reset", reset) if isinstance(node.metadata, dict) else reset
            if r not in ("zero", "subtract"):
                say(f"metadata reset must be 'zero' or 'subtract', not {r!r}")
            kinds[name] = "readout" if isinstance(node, (nir.LI, nir.CubaLI)) else "spiking"
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


def _check_nir_neuron(node, dt, say, syn_tolerance) -> None:
    import nir
    tau = getattr(node, "tau_mem", getattr(node, "tau", None))
    if tau is not None:
        tau = np.asarray(tau, np.float64)
        if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
            say(f"tau must be positive and finite, not {_describe(tau)} s")
        elif np.any(tau != tau.ravel()[0]):
            say(f"tau varies across neurons ({tau.min():g} .. {tau.max():g} s); the core has "
                "one leak per layer")
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
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        tau_syn = np.asarray(node.tau_syn, np.float64)
        with np.errstate(divide="ignore"):
            keep = float(np.max(np.exp(-dt / tau_syn))) if np.all(tau_syn >= 0) else 1.0
        if keep > syn_tolerance:
            limit = dt / math.log(1 / syn_tolerance)
            say(f"tau_syn = {_describe(tau_syn)} s keeps exp(-dt/tau_syn) = {keep:.3g} of the "
                f"synaptic current per step (dt = {dt:g} s); the core has no synaptic current "
                f"state, so only tau_syn <= {limit:.3g} s (instantaneous synapses, "
                f"syn_tolerance = {syn_tolerance:g}) can be imported")


def _nir_size(node) -> int:
    """Neurons of a NIR neuron node (0 if its parameters are scalars)."""
    shape = _shape(node.output_type.get("output")) if node.output_type else None
    if shape:
        return int(np.prod(shape))
    return int(np.asarray(node.r).size) if np.asarray(node.r).ndim else 0


def from_nir(graph, dt: float, *, reset: str = "zero",
             syn_tolerance: float = 1e-3) -> FloatModel:
    """Convert a ``nir.NIRGraph`` to a :class:`FloatModel` simulated with step ``dt`` s.

    Supported: one ``Input``; ``Affine``/``Linear`` (weights transposed to (in, out));
    ``LIF``, ``IF`` -> spiking layers; ``LI`` -> ``"li"`` readouts (outputs only);
    ``CubaLIF``/``CubaLI`` with an instantaneous synapse (see the module docstring);
    ``Flatten`` of already-flat data (an identity); ``Output``. Each neuron node becomes
    one layer named after the node; the weights from each source are the sum of the
    ``Affine``/``Linear`` maps between them (a neuron fed directly by the input or a
    spiking node gets identity weights); biases of the maps into a layer add up.

    NIR cannot say whether a reset subtracts: each neuron node's ``metadata["reset"]``
    (``"zero"`` or ``"subtract"``, as :func:`to_nir` writes) wins over ``reset``, which
    applies to every other node (``"subtract"`` for snnTorch's default reset).

    The whole graph is checked first: one :class:`ModelImportError` lists every node
    that cannot be imported (name, type and why) before anything is converted.
    """
    import nir
    if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
        raise ModelImportError(f"dt must be a positive number of seconds, not {dt!r}")
    if reset not in ("zero", "subtract"):
        raise ModelImportError(f"reset must be 'zero' or 'subtract', not {reset!r}")
    nodes = graph.nodes
    problems, kinds = _nir_problems(graph, float(dt), reset, syn_tolerance)

    # -- structure (edges between nodes that passed their own checks) ----------------------
    preds = {n: [] for n in nodes}
    succs = {n: [] for n in nodes}
    for a, b in graph.edges:
        if a in nodes and b in nodes:
            preds[b].append(a)
            succs[a].append(b)

    def through(start, links):
        """Neighbours of ``start`` via ``links``, seeing through Flatten nodes."""
        out, todo, seen = [], list(links[start]), set()
        while todo:
            n = todo.pop(0)
            if n in seen:
                continue
            seen.add(n)
            if kinds.get(n) == "flatten":
                todo.extend(links[n])
            else:
                out.append(n)
        return out

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
    if problems:
        raise ModelImportError(
            f"the NIR graph cannot be imported ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems),
            problems)

    # -- conversion ---------------------------------------------------------------------------
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
    layers = []
    for n in order:
        node = nodes[n]
        weights, bias = {}, None
        for p in through(n, preds):
            if kinds[p] == "affine":
                w = np.asarray(nodes[p].weight, np.float64).T
                for q in through(p, preds):
                    src = source_name[q]
                    weights[src] = weights.get(src, 0) + w
                if isinstance(nodes[p], nir.Affine):
                    b = np.broadcast_to(np.asarray(nodes[p].bias, np.float64), (size[n],))
                    bias = b.copy() if bias is None else bias + b
            else:
                src = source_name[p]
                weights[src] = weights.get(src, 0) + np.eye(size[n])
        layers.append(FloatLayer(n, size[n], _nir_neuron(node, float(dt), size[n], reset),
                                 weights, bias))
    model = FloatModel(float(dt), size[inputs[0]], layers)
    model.validate()
    return model


def _nir_neuron(node, dt: float, size: int, reset: str) -> dict:
    """The float neuron dict of a NIR neuron node (gain conversion in the module doc)."""
    import nir
    per = lambda v: np.broadcast_to(np.asarray(v, np.float64), (size,))  # noqa: E731
    if isinstance(node.metadata, dict) and node.metadata.get("reset") in ("zero", "subtract"):
        reset = node.metadata["reset"]
    r = per(node.r)
    if isinstance(node, nir.IF):
        return {"model": "if", "v_threshold": _compact(per(node.v_threshold)), "reset": reset,
                "r": _compact(r * dt)}
    tau = float(per(getattr(node, "tau_mem", getattr(node, "tau", None)))[0])
    gain = r * dt / tau
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        gain = gain * per(node.w_in)
    if isinstance(node, (nir.LI, nir.CubaLI)):
        return {"model": "li", "tau_mem": tau, "r": _compact(gain)}
    return {"model": "lif", "tau_mem": tau, "v_threshold": _compact(per(node.v_threshold)),
            "reset": reset, "r": _compact(gain)}


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

