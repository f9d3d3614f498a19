"""The float model: a trained float spiking network, its dynamics and its file.

Float model
    A :class:`FloatModel` is a list of :class:`FloatLayer`, with the same wiring rules
    as :class:`~sw.toolchain.network.Network`: each layer receives projections from named sources
    (``"input"`` or any layer, itself included) through float weight matrices of shape
    ``(source size, layer size)``.

Float dynamics (one timestep of ``dt`` seconds)
    Every layer updates once per step, in list order::

        I     = r * (sum over sources of  s_src @ W_src  +  bias)   (float, per neuron)
        v     = alpha * v + I                      lif, if, li, i
        spike = v >= v_threshold   (compare ">=")   or   v > v_threshold   (compare ">")
        v     = 0 (reset "zero")  or  v - v_threshold (reset "subtract")   where spike

    ``alpha`` (the membrane decay per step) is ``exp(-dt / tau_mem)`` (``decay="exp"``,
    the exact solution for impulse input) or ``1 - dt / tau_mem`` (``decay="euler"``,
    forward Euler: snnTorch's ``beta``, Norse's ``1 - dt * tau_mem_inv``); 1 for
    ``"if"`` and ``"i"``. ``r`` is a dimensionless per-step input gain (default 1; per
    neuron allowed). ``"li"`` and ``"i"`` never spike: readouts whose membrane ``v`` is
    the output (``"i"``: no leak).

    Reset ``"subtract_delayed"`` (snnTorch's default, ``reset_delay=True``): ``v`` is
    stored without reset and the threshold of a spike is subtracted at the *next* step,
    after the leak: ``v = alpha * v + I - v_threshold * [v_prev fired]``.

    Current-based models ``"cuba_lif"`` (spiking) and ``"cuba_li"`` (readout) keep a
    synaptic current ``i`` with decay ``beta_syn`` (``exp(-dt / tau_syn)`` or
    ``1 - dt / tau_syn`` by ``decay``): with ``syn_first`` true (snnTorch ``Synaptic``,
    the NIR ODE) ``i = beta_syn * i + I; v = alpha * v + i``; with ``syn_first`` false
    (Norse ``LIFCell``) the membrane integrates the previous step's current,
    ``v = alpha * v + i; i = beta_syn * i + I``. ``r`` is the whole per-step gain from
    the input to the membrane (both equations' gains folded in).

    Timing (``FloatModel.timing``):

    * ``"delayed"`` (the chip's, :mod:`sw.toolchain.network_model`): network input
      values of step ``t`` and the spikes that layers emitted at step ``t - 1`` reach
      every layer at step ``t``: every layer-to-layer projection carries one step.
    * ``"same_step"`` (snnTorch, Norse, Sinabs, Rockpool: a ``Sequential`` of layers):
      a projection from a layer listed *earlier* carries that layer's spikes of the same
      step; one from the layer itself or a later layer (recurrence) those of ``t - 1``.
      :func:`~sw.frontend.quantize.quantize` maps this onto the chip by giving layer
      ``k`` of a chain the start step ``k`` (its framework step ``t`` runs at chip step
      ``t + k``).

    Synaptic delays (``FloatLayer.delays``: source -> non-negative integer matrix of the
    weights' shape, in steps, or ``None``): an event that the timing rule delivers at
    step ``t`` through a synapse of delay ``d`` arrives at ``t + d``.

    :func:`simulate_float` lives here because it *is* these semantics: the float64
    reference that :mod:`sw.frontend.nir` converts to and :mod:`sw.frontend.quantize`
    approximates (its calibration runs it), not a separate tool.

Neuron dict (``FloatLayer.neuron``)
    ``model``: ``"lif"``, ``"if"``, ``"li"``, ``"i"``, ``"cuba_lif"`` or ``"cuba_li"``;
    ``tau_mem`` (seconds; one value per layer: the core has one leak per layer);
    ``tau_syn`` (seconds, cuba models; one per layer); ``v_threshold`` (spiking models;
    > 0, scalar or per neuron); ``reset``: ``"zero"`` (default), ``"subtract"`` or
    ``"subtract_delayed"``; ``compare``: ``">="`` (default) or ``">"``; ``decay``:
    ``"exp"`` (default) or ``"euler"``; ``syn_first`` (cuba models, default true);
    ``r`` (optional, default 1, scalar or per neuron); ``v_leak`` (optional, must be 0:
    the core's leak decays towards 0).

File format (``.npz``, "spikeforge float model")
    ``meta``: JSON ``{"format": "spikeforge float model", "version": 2, "dt": s,
    "inputs": n, "timing": "delayed"|"same_step", "layers": [{"name", "size", "neuron":
    {...}, "sources": [...], "delays": [...], "bias": true|false}]}`` (per-neuron
    parameters are JSON lists); float64 arrays ``"<layer>/<source>"`` (source size x
    layer size) and ``"<layer>/bias"`` (size,), int64 ``"<layer>/<source>/delay"``.
    Version 1 files (no timing, no delays) load as ``"delayed"``.

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
FORMAT_VERSION = 2

#: Float neuron models and the numeric parameters each takes.
_PARAMS = {
    "lif": ("tau_mem", "v_threshold", "r", "v_leak"),
    "if": ("v_threshold", "r"),
    "li": ("tau_mem", "r", "v_leak"),
    "i": ("r",),
    "cuba_lif": ("tau_mem", "tau_syn", "v_threshold", "r", "v_leak"),
    "cuba_li": ("tau_mem", "tau_syn", "r", "v_leak"),
}
_REQUIRED = {"lif": ("tau_mem", "v_threshold"), "if": ("v_threshold",), "li": ("tau_mem",),
             "i": (), "cuba_lif": ("tau_mem", "tau_syn", "v_threshold"),
             "cuba_li": ("tau_mem", "tau_syn")}
#: Models that spike (the others are readouts: their membrane is the output).
SPIKING = ("lif", "if", "cuba_lif")
#: Choices of the non-numeric neuron keys, the default first.
_CHOICES = {"reset": ("zero", "subtract", "subtract_delayed"), "compare": (">=", ">"),
            "decay": ("exp", "euler"), "syn_first": (True, False)}
_ONLY = {"reset": SPIKING, "compare": SPIKING, "decay": ("lif", "li", "cuba_lif", "cuba_li"),
         "syn_first": ("cuba_lif", "cuba_li")}
TIMINGS = ("delayed", "same_step")
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
    #: source name -> non-negative integer delays in steps (the weights' shape), or None
    delays: dict = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.neuron.get("model") if isinstance(self.neuron, dict) else None

    @property
    def spiking(self) -> bool:
        return self.model in SPIKING

    @property
    def cuba(self) -> bool:
        return self.model in ("cuba_lif", "cuba_li")

    def option(self, key: str):
        """A non-numeric neuron key (reset, compare, decay, syn_first), defaulted."""
        return self.neuron.get(key, _CHOICES[key][0])

    def synapse_delays(self, source: str):
        """Delays from ``source`` as int64 (0 where the weight is 0), or None if all 0."""
        d = (self.delays or {}).get(source)
        if d is None:
            return None
        d = np.where(np.asarray(self.weights[source]) != 0, np.asarray(d, np.int64), 0)
        return d if d.any() else None

    def param(self, name: str, default=None) -> np.ndarray:
        """A neuron parameter broadcast to one float64 value per neuron."""
        value = self.neuron.get(name, default)
        return np.broadcast_to(np.asarray(value, np.float64), (self.size,)).copy()

    def alpha(self, dt: float) -> float:
        """Membrane decay per step: ``exp(-dt / tau_mem)`` or ``1 - dt / tau_mem``
        (``decay``); 1 for ``"if"`` and ``"i"``."""
        if self.model in ("if", "i"):
            return 1.0
        return _decay(self.option("decay"), dt, self.neuron["tau_mem"])

    def beta_syn(self, dt: float) -> float:
        """Synaptic-current decay per step of a cuba model (0 for the others)."""
        if not self.cuba:
            return 0.0
        return _decay(self.option("decay"), dt, self.neuron["tau_syn"])

    def bias_array(self) -> np.ndarray:
        if self.bias is None:
            return np.zeros(self.size)
        return np.asarray(self.bias, np.float64)


def _decay(kind: str, dt: float, tau) -> float:
    tau = float(np.asarray(tau, np.float64).flat[0])
    return math.exp(-dt / tau) if kind == "exp" else 1.0 - dt / tau


@dataclass
class FloatModel(LayerLookup):
    """A trained float spiking network: ``dt`` (seconds), ``inputs`` channels, layers,
    and the ``timing`` of its projections (``"delayed"``, the chip's, or
    ``"same_step"``, a framework's; see the module docstring)."""

    dt: float
    inputs: int
    layers: list
    timing: str = "delayed"
    #: what the importer decided and why (dt inference, conventions), one line each
    notes: list = field(default_factory=list, compare=False)

    def same_step(self, source: str, layer: str) -> bool:
        """Whether ``layer`` sees ``source``'s spikes of the same step (``same_step``
        timing and ``source`` listed before ``layer``)."""
        if self.timing != "same_step" or source == INPUT:
            return False
        names = [l.name for l in self.layers]
        return names.index(source) < names.index(layer)

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
        if self.timing not in TIMINGS:
            raise ModelImportError(f"timing must be one of {', '.join(map(repr, TIMINGS))}, "
                                   f"not {self.timing!r}")
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
                if source != INPUT and not self.layer(source).spiking:
                    raise ModelImportError(
                        f"{where}: reads {self.layer(source).model} layer {source!r}; an "
                        f"{self.layer(source).model} layer is a readout (its output is a "
                        "membrane potential, not spikes) and feeds nothing")
                w = np.asarray(w)
                want = (self.size(source), layer.size)
                if w.shape != want:
                    raise ModelImportError(f"{where}: weights from {source!r} have shape "
                                           f"{w.shape}, expected {want}")
                if not np.all(np.isfinite(w)):
                    raise ModelImportError(f"{where}: weights from {source!r} are not all finite")
            delays = layer.delays or {}
            if not isinstance(delays, dict):
                raise ModelImportError(f"{where}: delays must be a dict source -> matrix")
            for source, d in delays.items():
                if d is None:
                    continue
                if source not in layer.weights:
                    raise ModelImportError(f"{where}: delays from {source!r}, which has no "
                                           "weights into this layer")
                d = np.asarray(d)
                if d.shape != np.shape(layer.weights[source]):
                    raise ModelImportError(f"{where}: delays from {source!r} have shape "
                                           f"{d.shape}, expected "
                                           f"{np.shape(layer.weights[source])}")
                if d.dtype.kind not in "iu" or (d.size and d.min() < 0):
                    raise ModelImportError(f"{where}: delays from {source!r} must be "
                                           "non-negative integers (steps)")
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
    options = tuple(k for k, models in _ONLY.items() if model in models)
    for key in n:
        if key != "model" and key not in _PARAMS[model] and key not in options:
            known = ", ".join(("model",) + _PARAMS[model] + options)
            raise ModelImportError(f"{where}: parameter {key!r} does not apply to model "
                                   f"{model!r} (parameters: {known})")
    for key in _REQUIRED[model]:
        if key not in n:
            raise ModelImportError(f"{where}: model {model!r} needs parameter {key!r}")
    for key in options:
        if key in n and not any(n[key] == c and type(n[key]) is type(c)
                                for c in _CHOICES[key]):
            raise ModelImportError(f"{where}: {key} must be one of "
                                   f"{', '.join(map(repr, _CHOICES[key]))}, not {n[key]!r}")
    for key in _PARAMS[model]:
        if key not in n:
            continue
        value = np.asarray(n[key], np.float64) if _numeric(n[key]) else None
        if value is None or value.ndim > 1 or value.ndim == 1 and len(value) != layer.size:
            raise ModelImportError(f"{where}: {key} must be a number or {layer.size} numbers, "
                                   f"not {n[key]!r}")
        if not np.all(np.isfinite(value)):
            raise ModelImportError(f"{where}: {key} is not finite")
    for key in ("tau_mem", "tau_syn"):
        if key not in n:
            continue
        tau = np.asarray(n[key], np.float64)
        if np.any(tau != tau.flat[0]):
            raise ModelImportError(f"{where}: {key} varies across neurons ({tau.min():g} .. "
                                   f"{tau.max():g} s); the core has one "
                                   f"{'leak' if key == 'tau_mem' else 'current decay'} per layer")
        if tau.flat[0] <= 0:
            raise ModelImportError(f"{where}: {key} must be positive, not {tau.flat[0]:g} s")
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
        neuron = {k: v if k in _CHOICES or k == "model" else _compact(v)
                  for k, v in layer.neuron.items()}
        for source, w in layer.weights.items():
            arrays[f"{layer.name}/{source}"] = np.asarray(w, np.float64)
        delayed = [s for s, d in (layer.delays or {}).items() if d is not None]
        for source in delayed:
            arrays[f"{layer.name}/{source}/delay"] = np.asarray(layer.delays[source], np.int64)
        if layer.bias is not None:
            arrays[f"{layer.name}/bias"] = np.asarray(layer.bias, np.float64)
        layers.append({"name": layer.name, "size": int(layer.size), "neuron": neuron,
                       "sources": list(layer.weights), "delays": delayed,
                       "bias": layer.bias is not None})
    meta = json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "dt": float(model.dt),
                       "inputs": int(model.inputs), "timing": model.timing,
                       "layers": layers})
    np.savez_compressed(path, meta=np.array(meta), **arrays)


def load_float_model(path) -> FloatModel:
    """Read a :func:`save_float_model` file (validated; version 1 files too)."""
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    if "meta" not in data:
        raise ModelImportError(f"{path}: no 'meta' entry; not a {FORMAT} file")
    meta = json.loads(str(data.pop("meta")))
    if meta.get("format") != FORMAT:
        raise ModelImportError(f"{path}: format is {meta.get('format')!r}, not {FORMAT!r}")
    if meta.get("version") not in (1, FORMAT_VERSION):
        raise ModelImportError(f"{path}: version {meta.get('version')!r} is not supported "
                               f"(this reader knows versions 1 and {FORMAT_VERSION})")
    layers = []
    for spec in meta["layers"]:
        name = spec["name"]
        weights = {src: data.pop(f"{name}/{src}") for src in spec["sources"]}
        delays = {src: data.pop(f"{name}/{src}/delay") for src in spec.get("delays", [])}
        bias = data.pop(f"{name}/bias") if spec["bias"] else None
        layers.append(FloatLayer(name, spec["size"], dict(spec["neuron"]), weights, bias,
                                 delays))
    model = FloatModel(meta["dt"], meta["inputs"], layers, meta.get("timing", "delayed"))
    model.validate()
    return model


# -- simulation --------------------------------------------------------------------------

def _run_float(model: FloatModel, inputs, *, dtype=np.float64, record=False):
    """Float simulation; returns (counts, final v, peak |v|, trains), each {layer: array}
    (trains: {spiking layer: uint8 (batch, steps, size)} when ``record``, else {}).
    Shared with :mod:`sw.frontend.quantize`, whose calibration reads the peaks."""
    model.validate()
    x = np.asarray(inputs, dtype)
    if x.ndim != 3 or x.shape[2] != model.inputs:
        raise ValueError(f"inputs must have shape (batch, steps, {model.inputs}), "
                         f"not {x.shape}")
    batch, steps, _ = x.shape
    dt = model.dt
    plans = []
    for layer in model.layers:
        r = layer.param("r", 1.0)
        projections = []
        for src, w in layer.weights.items():
            w = np.asarray(w, np.float64)
            d = layer.synapse_delays(src)
            parts = [(0, w)] if d is None else \
                [(int(k), np.where(d == k, w, 0.0)) for k in np.unique(d)]
            # the framework's order: W x + b, then the gain (1 for every exporter seen)
            projections.append((src, model.same_step(src, layer.name),
                                [(k, m.astype(dtype)) for k, m in parts]))
        plans.append((layer, projections, dtype(layer.alpha(dt)), dtype(layer.beta_syn(dt)),
                      layer.param("v_threshold", np.inf).astype(dtype), r.astype(dtype),
                      layer.bias_array().astype(dtype), bool(np.all(r == 1.0))))
    horizon = 1 + max((int(d.max()) for l in model.layers for s in l.weights
                       if (d := l.synapse_delays(s)) is not None), default=0)
    zeros = {l.name: np.zeros((batch, l.size), dtype) for l in model.layers}
    v = {k: z.copy() for k, z in zeros.items()}
    cur = {k: z.copy() for k, z in zeros.items()}            # cuba synaptic currents
    peak = {l.name: np.zeros(l.size) for l in model.layers}
    prev = {k: z.copy() for k, z in zeros.items()}           # spikes of step t - 1
    fired_prev = {l.name: np.zeros((batch, l.size), bool) for l in model.layers}
    counts = {l.name: np.zeros((batch, l.size), np.int64) for l in model.layers if l.spiking}
    trains = {l.name: np.zeros((batch, steps, l.size), np.uint8)
              for l in model.layers if l.spiking} if record else {}
    # pending[name][k]: input current arriving k steps from now (synaptic delays)
    pending = {l.name: [np.zeros((batch, l.size), dtype) for _ in range(horizon)]
               for l in model.layers}
    for t in range(steps):
        now = {}
        for layer, projections, alpha, beta, thr, r, bias, unit in plans:
            name = layer.name
            queue = pending[name]
            for src, same, parts in projections:
                s = x[:, t] if src == INPUT else (now[src] if same else prev[src])
                if not s.any():
                    continue
                for k, w in parts:
                    queue[k] += s @ w
            current = queue.pop(0) + bias
            queue.append(np.zeros_like(current))
            if not unit:
                current = current * r
            if layer.cuba:
                if layer.option("syn_first"):
                    cur[name] = beta * cur[name] + current
                    vv = alpha * v[name] + cur[name]
                else:
                    vv = alpha * v[name] + cur[name]
                    cur[name] = beta * cur[name] + current
            else:
                vv = alpha * v[name] + current if alpha != 1 else v[name] + current
            if layer.spiking and layer.option("reset") == "subtract_delayed":
                vv = vv - np.where(fired_prev[name], thr, dtype(0))
            peak[name] = np.maximum(peak[name], np.abs(vv).max(axis=0))
            if layer.spiking:
                fired = vv > thr if layer.option("compare") == ">" else vv >= thr
                reset = layer.option("reset")
                if reset == "zero":
                    vv = np.where(fired, dtype(0), vv)
                elif reset == "subtract":
                    vv = np.where(fired, vv - thr, vv)
                fired_prev[name] = fired
                counts[name] += fired
                if record:
                    trains[name][:, t] = fired
                now[name] = fired.astype(dtype)
            else:
                now[name] = zeros[name]
            v[name] = vv
        prev = now
    return counts, v, peak, trains


def simulate_float(model: FloatModel, inputs_per_step, *, dtype=np.float64,
                   trains: bool = False) -> tuple:
    """Run ``model`` in float on a batch; see the module docstring for the dynamics.

    ``inputs_per_step``: network input values, shape ``(batch, steps, inputs)``.
    Returns ``(counts, v)``: ``counts[layer]`` is the spike count of every spiking
    layer, shape ``(batch, size)`` (int64); ``v[layer]`` is the final membrane of every
    layer, shape ``(batch, size)`` (for a readout, its output). With ``trains=True``,
    ``(counts, v, trains)``: ``trains[layer]`` uint8 ``(batch, steps, size)``.
    ``dtype=np.float32`` computes as the frameworks do (``W x + b``, then the update in
    the frameworks' order), for spike-train comparisons with them.
    """
    counts, v, _, t = _run_float(model, inputs_per_step, dtype=np.dtype(dtype).type,
                                 record=trains)
    return (counts, v, t) if trains else (counts, v)
