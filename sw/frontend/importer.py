"""Trained-model import: float spiking models -> integer :class:`~sw.toolchain.network.Network`.

Three steps, each usable alone::

    model = from_nir(nir.read("trained.nir"), dt=1e-3)   # or load_float_model("m.npz")
    network, report = quantize(model, ChipConfig())
    print(report.table())

Float model
    A :class:`FloatModel` is a list of :class:`FloatLayer`, with the same wiring rules
    as :class:`~sw.toolchain.network.Network`: each layer receives projections from named sources
    (``"input"`` or any layer, itself included) through float weight matrices of shape
    ``(source size, layer size)``.

Float dynamics (one timestep of ``dt`` seconds; the timing is the chip's)
    Network input values of step ``t`` and the spikes (value 1) that layers emitted at
    step ``t - 1`` reach every layer at step ``t``; then every layer updates::

        I     = sum over sources of  s_src @ W_src  +  bias       (float, per neuron)
        v     = alpha * v + r * I                                (alpha = exp(-dt / tau_mem))
        spike = v >= v_threshold                                 (lif, if; li never spikes)
        v     = 0 (reset "zero")  or  v - v_threshold (reset "subtract")   where spike

    ``alpha`` is 1 for ``"if"``; ``r`` is a dimensionless per-step input gain (default
    1; per neuron allowed). An ``"li"`` layer is a LIF that never spikes: a readout whose
    membrane ``v`` is the output. Every layer-to-layer projection carries one step of
    delay, exactly as on the chip (:mod:`sw.toolchain.network_model`), so :func:`simulate_float`
    and the integer model see the same spike timing.

Neuron dict (``FloatLayer.neuron``)
    ``model``: ``"lif"``, ``"if"`` or ``"li"``; ``tau_mem`` (seconds, lif/li; one value
    per layer: the core has one leak per layer); ``v_threshold`` (lif/if; > 0, scalar
    or per neuron); ``reset``: ``"zero"`` (default) or ``"subtract"``; ``r`` (optional,
    default 1, scalar or per neuron); ``v_leak`` (optional, must be 0: the core's leak
    decays towards 0).

File format (``.npz``, "spikeforge float model")
    ``meta``: JSON ``{"format": "spikeforge float model", "version": 1, "dt": s,
    "inputs": n, "layers": [{"name", "size", "neuron": {...}, "sources": [...],
    "bias": true|false}]}`` (per-neuron parameters are JSON lists); float64 arrays
    ``"<layer>/<source>"`` (source size x layer size) and ``"<layer>/bias"`` (size,).

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

Quantization (:func:`quantize`)
    Per layer, with effective float weights ``W' = r * W`` (``W / input_scale`` from the
    network input) and bias ``b' = r * bias``::

        s          = (2**(weight_bits - 1) - 1) / max |W'|    (over all sources of the layer)
        w          = round(s * W')        weight_bits signed
        threshold  = round(s * v_threshold)   bias = round(s * b')   (state_bits signed)
        leak_mult  = round(alpha * 2**leak_shift), largest leak_shift with leak_mult in
                     the state_bits signed range; realised alpha = leak_mult / 2**leak_shift

    The integer membrane is then ``v_int ~= s * v`` in every layer, because spikes
    carry payload 1 on both sides. Network inputs carry the integer payloads the user
    sends, ``p = round(input_scale * x)`` (:meth:`QuantReport.input_payloads`), which
    must fit ``payload_bits``. An ``"li"`` layer becomes a ``"lif"`` layer whose
    threshold is the largest state value: it fires only if its state saturates there.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from sw.toolchain.network import INPUT, Layer, LayerLookup, Network, Neuron

__all__ = [
    "ModelImportError", "FloatLayer", "FloatModel", "save_float_model", "load_float_model",
    "simulate_float", "simulate_network", "from_nir", "to_nir", "quantize", "QuantReport",
    "LayerQuant", "FORMAT",
]

#: The ``format`` entry of a float model file's ``meta``.
FORMAT = "spikeforge float model"
FORMAT_VERSION = 1

#: Float neuron models and the parameters each takes (``model`` and ``reset`` aside).
_PARAMS = {
    "lif": ("tau_mem", "v_threshold", "r", "v_leak"),
    "if": ("v_threshold", "r"),
    "li": ("tau_mem", "r", "v_leak"),
}
_REQUIRED = {"lif": ("tau_mem", "v_threshold"), "if": ("v_threshold",), "li": ("tau_mem",)}
_RESERVED = (INPUT, "bias")


class ModelImportError(ValueError):
    """A model cannot be imported or quantized. The message names the layer or node and
    the parameter; ``problems`` lists every problem found (one line each)."""

    def __init__(self, message: str, problems=None):
        super().__init__(message)
        self.problems = list(problems) if problems is not None else [message]


# -- float model -------------------------------------------------------------------------

@dataclass
class FloatLayer:
    """One layer of a :class:`FloatModel`; see the module docstring for ``neuron``."""

    name: str
    size: int
    neuron: dict
    #: source name -> float weights, shape (source size, size)
    weights: dict = field(default_factory=dict)
    #: float bias per neuron, shape (size,), or None
    bias: object = None

    @property
    def model(self) -> str:
        return self.neuron.get("model") if isinstance(self.neuron, dict) else None

    @property
    def spiking(self) -> bool:
        return self.model in ("lif", "if")

    def param(self, name: str, default=None) -> np.ndarray:
        """A neuron parameter broadcast to one float64 value per neuron."""
        value = self.neuron.get(name, default)
        return np.broadcast_to(np.asarray(value, np.float64), (self.size,)).copy()

    def alpha(self, dt: float) -> float:
        """Membrane decay per step: ``exp(-dt / tau_mem)`` (1 for ``"if"``)."""
        if self.model == "if":
            return 1.0
        return math.exp(-dt / float(np.asarray(self.neuron["tau_mem"], np.float64).flat[0]))

    def bias_array(self) -> np.ndarray:
        if self.bias is None:
            return np.zeros(self.size)
        return np.asarray(self.bias, np.float64)


@dataclass
class FloatModel(LayerLookup):
    """A trained float spiking network: ``dt`` (seconds), ``inputs`` channels, layers."""

    dt: float
    inputs: int
    layers: list

    @property
    def outputs(self) -> list:
        """Names of the layers no layer reads (the model's outputs)."""
        read = {s for l in self.layers for s in l.weights}
        return [l.name for l in self.layers if l.name not in read]

    def validate(self) -> None:
        """Raise :class:`ModelImportError` naming the layer and parameter of any problem."""
        if not (isinstance(self.dt, (int, float, np.floating)) and math.isfinite(self.dt)
                and self.dt > 0):
            raise ModelImportError(f"dt must be a positive number of seconds, not {self.dt!r}")
        if isinstance(self.inputs, bool) or not isinstance(self.inputs, (int, np.integer)) \
                or self.inputs < 0:
            raise ModelImportError(f"inputs must be a non-negative integer, not {self.inputs!r}")
        names = [l.name for l in self.layers]
        for layer in self.layers:
            where = f"layer {layer.name!r}"
            if not isinstance(layer.name, str) or not layer.name or "/" in layer.name \
                    or layer.name in _RESERVED:
                raise ModelImportError(f"{where}: a layer name must be a non-empty string "
                                       f"without '/', and not {' or '.join(map(repr, _RESERVED))}")
            if names.count(layer.name) > 1:
                raise ModelImportError(f"{where}: the name is used twice")
            if isinstance(layer.size, bool) or not isinstance(layer.size, (int, np.integer)) \
                    or layer.size < 1:
                raise ModelImportError(f"{where}: size must be a positive integer, "
                                       f"not {layer.size!r}")
            _check_neuron(layer, where)
            for source, w in layer.weights.items():
                if source != INPUT and source not in names:
                    raise ModelImportError(f"{where}: weights from unknown source {source!r}")
                if source != INPUT and self.layer(source).model == "li":
                    raise ModelImportError(
                        f"{where}: reads li layer {source!r}; an li layer is a readout "
                        "(its output is a membrane potential, not spikes) and feeds nothing")
                w = np.asarray(w)
                want = (self.size(source), layer.size)
                if w.shape != want:
                    raise ModelImportError(f"{where}: weights from {source!r} have shape "
                                           f"{w.shape}, expected {want}")
                if not np.all(np.isfinite(w)):
                    raise ModelImportError(f"{where}: weights from {source!r} are not all finite")
            if layer.bias is not None:
                b = np.asarray(layer.bias, np.float64)
                if b.shape != (layer.size,):
                    raise ModelImportError(f"{where}: bias has shape {b.shape}, "
                                           f"expected ({layer.size},)")
                if not np.all(np.isfinite(b)):
                    raise ModelImportError(f"{where}: bias is not all finite")


def _check_neuron(layer: FloatLayer, where: str) -> None:
    n = layer.neuron
    if not isinstance(n, dict):
        raise ModelImportError(f"{where}: neuron must be a dict, not {type(n).__name__}")
    model = n.get("model")
    if model not in _PARAMS:
        raise ModelImportError(f"{where}: neuron model must be one of "
                               f"{', '.join(map(repr, _PARAMS))}, not {model!r}")
    for key in n:
        if key not in ("model", "reset") and key not in _PARAMS[model]:
            known = ", ".join(("model", "reset") + _PARAMS[model])
            raise ModelImportError(f"{where}: parameter {key!r} does not apply to model "
                                   f"{model!r} (parameters: {known})")
    for key in _REQUIRED[model]:
        if key not in n:
            raise ModelImportError(f"{where}: model {model!r} needs parameter {key!r}")
    if n.get("reset", "zero") not in ("zero", "subtract"):
        raise ModelImportError(f"{where}: reset must be 'zero' or 'subtract', "
                               f"not {n.get('reset')!r}")
    for key in _PARAMS[model]:
        if key not in n:
            continue
        value = np.asarray(n[key], np.float64) if _numeric(n[key]) else None
        if value is None or value.ndim > 1 or value.ndim == 1 and len(value) != layer.size:
            raise ModelImportError(f"{where}: {key} must be a number or {layer.size} numbers, "
                                   f"not {n[key]!r}")
        if not np.all(np.isfinite(value)):
            raise ModelImportError(f"{where}: {key} is not finite")
    if "tau_mem" in n:
        tau = np.asarray(n["tau_mem"], np.float64)
        if np.any(tau != tau.flat[0]):
            raise ModelImportError(f"{where}: tau_mem varies across neurons ({tau.min():g} .. "
                                   f"{tau.max():g} s); the core has one leak per layer")
        if tau.flat[0] <= 0:
            raise ModelImportError(f"{where}: tau_mem must be positive, not {tau.flat[0]:g} s")
    if "v_threshold" in n and np.any(np.asarray(n["v_threshold"], np.float64) <= 0):
        raise ModelImportError(f"{where}: v_threshold must be positive, "
                               f"not {_describe(n['v_threshold'])}")
    if "v_leak" in n and np.any(np.asarray(n["v_leak"], np.float64) != 0):
        raise ModelImportError(f"{where}: v_leak must be 0 (the core's leak decays towards 0), "
                               f"not {_describe(n['v_leak'])}")


def _numeric(value) -> bool:
    try:
        return np.asarray(value).dtype.kind in "iuf"
    except (TypeError, ValueError):
        return False


def _describe(value) -> str:
    """A parameter value for a message: the number, or the range of a per-neuron array."""
    a = np.asarray(value, np.float64).ravel()
    if a.size and np.all(a == a[0]):
        return f"{a[0]:g}"
    return f"{a.min():g} .. {a.max():g}"


def _compact(value):
    """A per-neuron parameter as a JSON value: one float if uniform, else a list."""
    a = np.asarray(value, np.float64).ravel()
    if a.size == 1 or np.all(a == a[0]):
        return float(a[0])
    return [float(x) for x in a]


# -- files -------------------------------------------------------------------------------

def save_float_model(model: FloatModel, path) -> None:
    """Write ``model`` to an ``.npz`` file (layout in the module docstring)."""
    model.validate()
    arrays, layers = {}, []
    for layer in model.layers:
        neuron = {k: v if k in ("model", "reset") else _compact(v)
                  for k, v in layer.neuron.items()}
        for source, w in layer.weights.items():
            arrays[f"{layer.name}/{source}"] = np.asarray(w, np.float64)
        if layer.bias is not None:
            arrays[f"{layer.name}/bias"] = np.asarray(layer.bias, np.float64)
        layers.append({"name": layer.name, "size": int(layer.size), "neuron": neuron,
                       "sources": list(layer.weights), "bias": layer.bias is not None})
    meta = json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "dt": float(model.dt),
                       "inputs": int(model.inputs), "layers": layers})
    np.savez_compressed(path, meta=np.array(meta), **arrays)


def load_float_model(path) -> FloatModel:
    """Read a :func:`save_float_model` file (validated)."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    if "meta" not in data:
        raise ModelImportError(f"{path}: no 'meta' entry; not a {FORMAT} file")
    meta = json.loads(str(data.pop("meta")))
    if meta.get("format") != FORMAT:
        raise ModelImportError(f"{path}: format is {meta.get('format')!r}, not {FORMAT!r}")
    if meta.get("version") != FORMAT_VERSION:
        raise ModelImportError(f"{path}: version {meta.get('version')!r} is not supported "
                               f"(this reader knows version {FORMAT_VERSION})")
    layers = []
    for spec in meta["layers"]:
        name = spec["name"]
        weights = {src: data.pop(f"{name}/{src}") for src in spec["sources"]}
        bias = data.pop(f"{name}/bias") if spec["bias"] else None
        layers.append(FloatLayer(name, spec["size"], dict(spec["neuron"]), weights, bias))
    model = FloatModel(meta["dt"], meta["inputs"], layers)
    model.validate()
    return model


# -- simulation --------------------------------------------------------------------------

def _run_float(model: FloatModel, inputs):
    """Float simulation; returns (counts, final v, peak |v|), each {layer: array}."""
    model.validate()
    x = np.asarray(inputs, np.float64)
    if x.ndim != 3 or x.shape[2] != model.inputs:
        raise ValueError(f"inputs must have shape (batch, steps, {model.inputs}), "
                         f"not {x.shape}")
    batch, steps, _ = x.shape
    layers = []
    for layer in model.layers:
        r = layer.param("r", 1.0)
        layers.append((layer.name, layer.spiking, layer.neuron.get("reset", "zero"),
                       layer.alpha(model.dt),
                       layer.param("v_threshold", np.inf),
                       r * layer.bias_array(),
                       {src: np.asarray(w, np.float64) * r for src, w in layer.weights.items()}))
    v = {l.name: np.zeros((batch, l.size)) for l in model.layers}
    peak = {l.name: np.zeros(l.size) for l in model.layers}
    spikes = {l.name: np.zeros((batch, l.size)) for l in model.layers}
    counts = {l.name: np.zeros((batch, l.size), np.int64) for l in model.layers if l.spiking}
    for t in range(steps):
        signal = {INPUT: x[:, t], **spikes}
        new = {}
        for name, spiking, reset, alpha, thr, bias, weights in layers:
            current = np.broadcast_to(bias, v[name].shape).copy()
            for src, w in weights.items():
                current += signal[src] @ w
            vv = alpha * v[name] + current
            peak[name] = np.maximum(peak[name], np.abs(vv).max(axis=0))
            if spiking:
                fired = vv >= thr
                vv = np.where(fired, 0.0 if reset == "zero" else vv - thr, vv)
                counts[name] += fired
                new[name] = fired.astype(np.float64)
            else:
                new[name] = np.zeros_like(vv)
            v[name] = vv
        spikes = new
    return counts, v, peak


def simulate_float(model: FloatModel, inputs_per_step) -> tuple:
    """Run ``model`` in float64 on a batch; see the module docstring for the dynamics.

    ``inputs_per_step``: network input values, shape ``(batch, steps, inputs)``.
    Returns ``(counts, v)``: ``counts[layer]`` is the spike count of every spiking
    (lif/if) layer, shape ``(batch, size)`` (int64); ``v[layer]`` is the final membrane
    of every layer, shape ``(batch, size)`` (for an ``"li"`` readout, its output).
    """
    counts, v, _ = _run_float(model, inputs_per_step)
    return counts, v


def simulate_network(network: Network, config, payloads) -> tuple:
    """Run an integer network on the golden :class:`~sw.toolchain.network_model.NetworkModel`.

    ``payloads``: integer input payloads, shape ``(batch, steps, inputs)`` (0 = no
    event). Returns ``(counts, v)`` like :func:`simulate_float`, for every layer, with
    ``v`` in integer state units (divide by the layer's :attr:`LayerQuant.scale` to
    compare with the float model).
    """
    from sw.toolchain.network_model import NetworkModel
    core = getattr(config, "core", config)
    p = np.asarray(payloads)
    if p.ndim != 3 or p.shape[2] != network.inputs or not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"payloads must be integers of shape (batch, steps, "
                         f"{network.inputs}), not {p.dtype} {p.shape}")
    counts = {l.name: np.zeros((p.shape[0], l.size), np.int64) for l in network.layers}
    v = {l.name: np.zeros((p.shape[0], l.size), np.int64) for l in network.layers}
    for b in range(p.shape[0]):
        sim = NetworkModel(network, core)
        for t in range(p.shape[1]):
            events = [(int(i), int(p[b, t, i])) for i in np.nonzero(p[b, t])[0]]
            for name, spikes in sim.step(events).items():
                for i, _ in spikes:
                    counts[name][b, i] += 1
        for name in v:
            v[name][b] = sim.v[name]
    return counts, v


# -- NIR ---------------------------------------------------------------------------------

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


# -- quantization ------------------------------------------------------------------------

@dataclass
class LayerQuant:
    """Quantization facts of one layer (float quantities in effective float units,
    i.e. of ``r * W``)."""

    name: str
    model: str                    # float model: lif, if, li
    scale: float                  # s: integer units per float unit
    weights: int                  # weight entries of the layer (all sources)
    clipped: int                  # entries whose rounded value fell outside weight_bits
    zeroed: int                   # non-zero float weights that rounded to 0
    weight_err_max: float         # max |w / s - W'|
    weight_err_rms: float         # RMS of w / s - W' over all entries
    alpha: float                  # float decay per step (1 for if)
    alpha_realised: float         # leak_mult / 2**leak_shift
    leak_mult: int
    leak_shift: int
    threshold: object             # integer threshold(s)
    peak_v: object = None         # calibration: max |v| (float units), or None
    notes: list = field(default_factory=list)

    @property
    def clipped_fraction(self) -> float:
        return self.clipped / self.weights if self.weights else 0.0

    @property
    def alpha_error(self) -> float:
        return self.alpha_realised - self.alpha


@dataclass
class QuantReport:
    """What :func:`quantize` did, per layer; :meth:`table` prints it."""

    layers: list
    input_scale: float
    weight_bits: int
    state_bits: int
    payload_bits: int

    def layer(self, name: str) -> LayerQuant:
        for q in self.layers:
            if q.name == name:
                return q
        raise KeyError(f"no layer named {name!r}")

    def input_payloads(self, x) -> np.ndarray:
        """Float network inputs -> the integer payloads to send: ``round(input_scale * x)``
        (int64); raises ValueError if one does not fit ``payload_bits`` (signed)."""
        p = np.rint(np.asarray(x, np.float64) * self.input_scale).astype(np.int64)
        lo, hi = -(1 << (self.payload_bits - 1)), (1 << (self.payload_bits - 1)) - 1
        if p.size and (p.min() < lo or p.max() > hi):
            raise ValueError(f"input payloads span {p.min()} .. {p.max()}, outside the "
                             f"{self.payload_bits}-bit payload range {lo}..{hi}; lower "
                             "input_scale")
        return p

    def state_to_float(self, name: str, v) -> np.ndarray:
        """Integer membrane values of layer ``name`` -> float units (``v / scale``)."""
        return np.asarray(v, np.float64) / self.layer(name).scale

    def table(self) -> str:
        """The report as a fixed-width text table, one line per layer, then the notes."""
        head = ("layer", "model", "scale", "clipped", "zeroed", "w err max", "w err rms",
                "alpha", "realised", "alpha err", "leak", "threshold", "peak |v|")
        rows = []
        for q in self.layers:
            thr = np.asarray(q.threshold)
            rows.append((
                q.name, q.model, f"{q.scale:.4g}",
                f"{q.clipped} ({100 * q.clipped_fraction:.1f}%)", str(q.zeroed),
                f"{q.weight_err_max:.3g}", f"{q.weight_err_rms:.3g}", f"{q.alpha:.6f}",
                f"{q.alpha_realised:.6f}", f"{q.alpha_error:+.1e}",
                f"{q.leak_mult}>>{q.leak_shift}",
                str(int(thr)) if thr.ndim == 0 else f"{thr.min()}..{thr.max()}",
                "-" if q.peak_v is None else f"{q.peak_v:.4g}"))
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
        fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa
        lines = [f"weights {self.weight_bits} bits, state {self.state_bits} bits, payload "
                 f"{self.payload_bits} bits, input_scale {self.input_scale:g}",
                 fmt(head), fmt(tuple("-" * w for w in widths))] + [fmt(r) for r in rows]
        for q in self.layers:
            lines += [f"{q.name}: {note}" for note in q.notes]
        return "\n".join(lines)


def _signed(bits: int):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _leak(alpha: float, state_bits: int, max_shift: int):
    """``(leak_mult, leak_shift)``: the largest shift whose ``round(alpha * 2**shift)``
    fits ``state_bits`` signed."""
    top = (1 << (state_bits - 1)) - 1
    if alpha == 0:
        return 0, 0
    for shift in range(max_shift, -1, -1):
        mult = math.floor(alpha * 2 ** shift + 0.5)
        if mult <= top:
            return mult, shift
    raise AssertionError("unreachable: alpha <= 1 always fits with shift 0")


def _int_param(values: np.ndarray):
    """An int64 per-neuron array as the Neuron field: a Python int if uniform."""
    return int(values[0]) if np.all(values == values[0]) else values


def quantize(model: FloatModel, config, *, calibration=None, input_scale: float = 1.0,
             clip_percentile: float = 100.0) -> tuple:
    """Quantize ``model`` for ``config`` (a ChipConfig; its ``core`` sets the widths).

    Returns ``(network, report)``: an integer :class:`~sw.toolchain.network.Network` and a
    :class:`QuantReport`. Rules (module docstring): one scale per layer
    ``s = (2**(weight_bits-1) - 1) / m`` where ``m`` is the ``clip_percentile``
    percentile of the layer's non-zero ``|r * W|`` (100: the maximum, nothing clips);
    thresholds and biases scale by the same ``s``; the leak is ``leak_mult /
    2**leak_shift``. Network-input weights are divided by ``input_scale`` first: send
    ``round(input_scale * x)`` as payloads (:meth:`QuantReport.input_payloads`).

    ``calibration``: optional float inputs ``(batch, steps, inputs)``; the float model
    is run on them and the report gives each layer's peak ``|v|`` and notes a membrane
    that would saturate ``state_bits``.

    Raises :class:`ModelImportError` naming the layer and parameter when a threshold
    or bias does not fit ``state_bits``.
    """
    model.validate()
    core = getattr(config, "core", config)
    from hw.spec.isa import Isa
    if not (math.isfinite(input_scale) and input_scale > 0):
        raise ModelImportError(f"input_scale must be positive, not {input_scale!r}")
    if not 0 < clip_percentile <= 100:
        raise ModelImportError(f"clip_percentile must be in (0, 100], not {clip_percentile!r}")
    wlo, whi = _signed(core.weight_bits)
    slo, shi = _signed(core.state_bits)
    max_shift = min(2 * core.state_bits - 2, (1 << Isa(core).shift_bits) - 1)
    peaks = _run_float(model, calibration)[2] if calibration is not None else {}

    layers, reports = [], []
    for layer in model.layers:
        where = f"layer {layer.name!r}"
        r = layer.param("r", 1.0)
        eff = {src: np.asarray(w, np.float64) * r / (input_scale if src == INPUT else 1.0)
               for src, w in layer.weights.items()}
        mags = np.concatenate([np.abs(w).ravel() for w in eff.values()] + [np.zeros(0)])
        mags = mags[mags > 0]
        notes = []
        if mags.size:
            m = float(np.max(mags) if clip_percentile == 100 else
                      np.percentile(mags, clip_percentile))
            scale = whi / m
        else:
            scale = 1.0
            notes.append("no non-zero weights: scale 1")
        ints, clipped, zeroed, errs = {}, 0, 0, []
        for src, w in eff.items():
            raw = np.rint(w * scale)
            clipped += int(np.count_nonzero((raw < wlo) | (raw > whi)))
            q = np.clip(raw, wlo, whi).astype(np.int64)
            zeroed += int(np.count_nonzero((q == 0) & (w != 0)))
            errs.append((q / scale - w).ravel())
            ints[src] = q
        errs = np.concatenate(errs + [np.zeros(0)])
        total = int(errs.size)
        if clipped:
            notes.append(f"{clipped} weights clipped to {wlo}..{whi}")

        bias = np.rint(layer.bias_array() * r * scale)
        bad = np.nonzero((bias < slo) | (bias > shi))[0]
        if len(bad):
            i = bad[0]
            raise ModelImportError(
                f"{where}: bias of neuron {i} is {layer.bias_array()[i] * r[i]:g} x scale "
                f"{scale:g} = {bias[i]:.0f}, outside the {core.state_bits}-bit state range "
                f"{slo}..{shi} (core.state_bits)")
        bias = bias.astype(np.int64)

        if layer.model == "li":
            thr = np.full(layer.size, shi, np.int64)
            notes.append(f"li readout: threshold {shi} (the largest state value) so it never "
                         "spikes unless its state saturates; read its v and divide by scale")
        else:
            vt = layer.param("v_threshold")
            raw = np.rint(vt * scale)
            bad = np.nonzero(raw > shi)[0]
            if len(bad):
                i = bad[0]
                raise ModelImportError(
                    f"{where}: v_threshold of neuron {i} is {vt[i]:g} x scale {scale:g} = "
                    f"{raw[i]:.0f}, beyond the {core.state_bits}-bit state range (max {shi}); "
                    "the weights are too small next to the threshold for this state width")
            if np.any(raw < 1):
                notes.append(f"{int(np.count_nonzero(raw < 1))} thresholds rounded up to 1")
            thr = np.maximum(raw, 1).astype(np.int64)

        alpha = layer.alpha(model.dt)
        if layer.model == "if":
            mult, shift = 1, 0
        else:
            mult, shift = _leak(alpha, core.state_bits, max_shift)
        realised = mult / 2 ** shift

        peak = None
        if layer.name in peaks:
            peak = float(peaks[layer.name].max())
            if peak * scale > shi:
                notes.append(f"calibration: peak |v| {peak:.4g} x scale = {peak * scale:.0f} "
                             f"exceeds the {core.state_bits}-bit state (max {shi}): the "
                             "membrane will saturate")

        model_name = "if" if layer.model == "if" else "lif"
        neuron = Neuron(model_name, threshold=_int_param(thr), bias=_int_param(bias),
                        leak_mult=mult if model_name == "lif" else 1,
                        leak_shift=shift if model_name == "lif" else 0,
                        reset=layer.neuron.get("reset", "zero"))
        layers.append(Layer(layer.name, layer.size, neuron, ints))
        reports.append(LayerQuant(
            layer.name, layer.model, scale, total, clipped, zeroed,
            float(np.max(np.abs(errs))) if total else 0.0,
            float(np.sqrt(np.mean(errs ** 2))) if total else 0.0,
            alpha, realised, mult, shift, _int_param(thr), peak, notes))

    network = Network(model.inputs, layers)
    try:
        network.validate()
    except ValueError as e:          # pragma: no cover - FloatModel.validate covers these
        raise ModelImportError(str(e)) from None
    return network, QuantReport(reports, float(input_scale), core.weight_bits,
                                core.state_bits, core.payload_bits)
