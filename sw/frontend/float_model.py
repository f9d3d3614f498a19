"""The float model: a trained float spiking network, its dynamics and its file.

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

    :func:`simulate_float` lives here because it *is* these semantics: the float64
    reference that :mod:`sw.frontend.nir` converts to and :mod:`sw.frontend.quantize`
    approximates (its calibration runs it), not a separate tool.

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

:class:`ModelImportError`, the one error of the whole frontend, is defined here: the
float model's validation raises it, and :mod:`~sw.frontend.nir` and
:mod:`~sw.frontend.quantize` build on this module anyway.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from sw.toolchain.network import INPUT, LayerLookup

__all__ = [
    "ModelImportError", "FloatLayer", "FloatModel", "save_float_model", "load_float_model",
    "simulate_float", "FORMAT",
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
    """Float simulation; returns (counts, final v, peak |v|), each {layer: array}.
    Shared with :mod:`sw.frontend.quantize`, whose calibration reads the peaks."""
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

