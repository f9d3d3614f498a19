"""Integer spiking networks: what the compiler maps onto cores.

A :class:`Network` has ``inputs`` input channels and a list of :class:`Layer`. Each
layer receives projections from named sources (``"input"`` or any layer, itself
included) through integer weight matrices of shape ``(source size, layer size)``; a
zero weight is no synapse. Spikes travel with one timestep of delay: events of the
input at timestep ``t`` and spikes that layers emitted at the end of ``t - 1`` are
integrated at ``t``, then every layer updates, in list order.

Synaptic delays (optional): ``Layer.delays`` maps a source to a non-negative integer
matrix of the weights' shape (a source left out, or ``None``, is all zero). An event
that the rule above would integrate at ``t`` reaches neuron ``j`` through a synapse of
delay ``d`` at ``t + d``: an input event of ``t`` at ``t + d``, a spike emitted at the
end of ``t`` at ``t + 1 + d``. Delay 0 is the behaviour above exactly. Only synapses
count (a delay on a zero weight has no effect). The golden model runs delays; the
compiler and mapper refuse them, because the core has no delay unit yet.

Neuron models (:class:`Neuron`) and their exact integer arithmetic are documented in
:mod:`sw.toolchain.programs`; the golden network model is :mod:`sw.toolchain.network_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sw.toolchain.programs import MODELS, RESETS

__all__ = ["Neuron", "Layer", "LayerLookup", "Network", "INPUT", "save_network", "load_network"]

INPUT = "input"


@dataclass
class Neuron:
    """Neuron model and parameters of one layer.

    ``threshold`` and ``bias`` are scalars or per-neuron arrays (``state_bits`` signed).
    ``leak_mult``/``leak_shift`` (LIF, CUBA LIF): ``v * leak_mult >> leak_shift`` per step.
    ``reset`` (LIF, IF, CUBA LIF): ``"zero"``, ``"subtract"`` or ``"subtract_delayed"``
    (the threshold of a spike is subtracted at the next step, after the leak; ``v`` is
    stored un-reset, so a layer's final ``v`` is not that of ``"subtract"``).
    ``syn_mult``/``syn_shift`` (CUBA LIF only): the current decays as ``u * syn_mult >>
    syn_shift``; ``syn_first``: the membrane integrates this step's current (snnTorch
    ``Synaptic``) or, ``False``, the previous step's (Norse ``LIFCell``). The formulas
    are in :mod:`sw.toolchain.programs`.
    """

    model: str = "lif"
    threshold: object = 1
    bias: object = 0
    leak_mult: int = 1
    leak_shift: int = 0
    reset: str = "zero"
    syn_mult: int = 0
    syn_shift: int = 0
    syn_first: bool = True

    @property
    def graded(self) -> bool:
        return MODELS.get(self.model) == "graded"


@dataclass
class Layer:
    name: str
    size: int
    neuron: Neuron = field(default_factory=Neuron)
    #: source name -> integer weights (source size x size)
    inputs: dict = field(default_factory=dict)
    #: source name -> non-negative integer delays in timesteps (same shape as that
    #: source's weights); a missing source, a ``None`` entry or ``delays=None``: all 0
    delays: dict | None = field(default_factory=dict)
    #: first timestep at which the layer's bias is added (before it the bias counts as
    #: 0; everything else is unchanged): latency alignment of same-step frameworks,
    #: where layer k of a chain gets its first input at step k. On the chip the host
    #: writes the bias at that step (:meth:`sw.toolchain.mapper.ChipImage.state_writes`),
    #: which the compiler allows only where no input can reach the layer earlier
    #: (:func:`sw.toolchain.compiler.refuse_starts`).
    start: int = 0

    def param(self, name: str) -> np.ndarray:
        """A neuron parameter broadcast to one value per neuron (int64)."""
        return np.broadcast_to(np.asarray(getattr(self.neuron, name), dtype=np.int64),
                               (self.size,)).copy()

    def synapse_delays(self, source: str):
        """Delays from ``source`` as int64, 0 where there is no synapse (zero weight);
        ``None`` when every synapse from ``source`` has delay 0. Call on a validated
        network."""
        d = (self.delays or {}).get(source)
        if d is None:
            return None
        d = np.where(np.asarray(self.inputs[source]) != 0, np.asarray(d, np.int64), 0)
        return d if d.any() else None

    def max_delay(self) -> tuple:
        """``(largest synaptic delay, source it comes from)``; ``(0, None)`` if none."""
        best = (0, None)
        for source in self.inputs:
            d = self.synapse_delays(source)
            if d is not None and int(d.max()) > best[0]:
                best = (int(d.max()), source)
        return best


class LayerLookup:
    """Lookups shared by networks of layers (this one and the importer's float model):
    ``inputs`` channels and ``layers`` with names and sizes."""

    def layer(self, name: str):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers: "
                       f"{', '.join(l.name for l in self.layers)}")

    def size(self, source: str) -> int:
        return self.inputs if source == INPUT else self.layer(source).size


@dataclass
class Network(LayerLookup):
    inputs: int
    layers: list

    def max_delay(self) -> int:
        """The largest synaptic delay of the network (0 without delays)."""
        return max((l.max_delay()[0] for l in self.layers), default=0)

    def validate(self) -> None:
        """Raise ValueError naming the layer for any structural problem."""
        if not isinstance(self.inputs, (int, np.integer)) or self.inputs < 0:
            raise ValueError(f"network inputs must be a non-negative integer, not {self.inputs!r}")
        names = [l.name for l in self.layers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"layer name {name!r} is used twice")
            if name == INPUT:
                raise ValueError(f"{INPUT!r} is reserved for the network input, not a layer name")
        for layer in self.layers:
            where = f"layer {layer.name!r}"
            if layer.size < 1:
                raise ValueError(f"{where}: size must be at least 1, not {layer.size}")
            if layer.neuron.model not in MODELS:
                raise ValueError(f"{where}: unknown neuron model {layer.neuron.model!r}; "
                                 f"models: {', '.join(MODELS)}")
            n = layer.neuron
            if n.reset not in RESETS:
                raise ValueError(f"{where}: reset must be 'zero', 'subtract' or "
                                 f"'subtract_delayed', not {n.reset!r}")
            if not _is_int(layer.start) or layer.start < 0:
                raise ValueError(f"{where}: start must be a non-negative integer (the first "
                                 f"timestep with bias), not {layer.start!r}")
            for pname in ("leak_mult", "leak_shift", "syn_mult", "syn_shift"):
                value = getattr(n, pname)
                if not _is_int(value):
                    raise ValueError(f"{where}: {pname} must be an integer, not {value!r}")
            for pname in ("leak_shift", "syn_shift"):
                if getattr(n, pname) < 0:
                    raise ValueError(f"{where}: {pname} must be >= 0 (a right shift), not "
                                     f"{getattr(n, pname)}")
            if not isinstance(n.syn_first, (bool, np.bool_)):
                raise ValueError(f"{where}: syn_first must be True or False, not "
                                 f"{n.syn_first!r}")
            for pname in ("threshold", "bias"):
                value = np.asarray(getattr(layer.neuron, pname))
                if value.ndim > 1 or value.ndim == 1 and len(value) != layer.size:
                    raise ValueError(f"{where}: {pname} must be a scalar or have "
                                     f"{layer.size} values, not shape {value.shape}")
            for source, w in layer.inputs.items():
                if source != INPUT and source not in names:
                    raise ValueError(f"{where}: input from unknown source {source!r}")
                w = np.asarray(w)
                want = (self.size(source), layer.size)
                if w.shape != want:
                    raise ValueError(f"{where}: weights from {source!r} have shape "
                                     f"{w.shape}, expected {want}")
                if not np.issubdtype(w.dtype, np.integer):
                    raise ValueError(f"{where}: weights from {source!r} must be integers "
                                     f"(quantize first), not {w.dtype}")
            delays = layer.delays or {}
            if not isinstance(delays, dict):
                raise ValueError(f"{where}: delays must be a dict source -> matrix (or None), "
                                 f"not {type(delays).__name__}")
            for source, d in delays.items():
                if d is None:
                    continue
                if source not in layer.inputs:
                    raise ValueError(f"{where}: delays from {source!r}, which has no weights "
                                     f"into this layer")
                d = np.asarray(d)
                want = np.shape(layer.inputs[source])
                if d.shape != want:
                    raise ValueError(f"{where}: delays from {source!r} have shape {d.shape}, "
                                     f"expected {want} (the weights' shape)")
                if not np.issubdtype(d.dtype, np.integer):
                    msg = f"{where}: delays from {source!r} must be integers, not {d.dtype}"
                    try:
                        bad = np.argwhere(np.asarray(d, np.float64) % 1 != 0)
                    except (TypeError, ValueError):
                        bad = np.zeros((0, 2), np.int64)
                    if len(bad):
                        i, j = bad[0]
                        msg += f" (neuron {i} to neuron {j}: {d[i, j]})"
                    raise ValueError(msg)
                bad = np.argwhere(d < 0)
                if len(bad):
                    i, j = bad[0]
                    raise ValueError(f"{where}: delay from {source!r} neuron {i} to neuron "
                                     f"{j} is {d[i, j]}; delays must be >= 0 (timesteps)")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


# -- files -------------------------------------------------------------------------------

def save_network(network: Network, path, **extra) -> None:
    """Write a network (and any extra arrays) to an ``.npz`` file.

    Layout: ``network`` holds JSON ``{"inputs": n, "layers": [{"name", "size",
    "neuron": {...}, "inputs": [source, ...]}]}``; weights are arrays
    ``"<layer>/<source>"``; per-neuron parameters given as arrays are
    ``"<layer>/threshold"`` and ``"<layer>/bias"`` (scalars stay in the JSON). Delays
    given for a source are arrays ``"<layer>/<source>/delay"``, listed in the layer's
    JSON as ``"delays": [source, ...]`` (files without it load with no delays). A
    layer's ``start`` is ``"start"`` in its JSON (left out when 0); neuron fields a
    file lacks (``syn_mult``, ``syn_shift``, ``syn_first`` in older files) load with
    their defaults.
    """
    import json
    network.validate()
    arrays, layers = {}, []
    for layer in network.layers:
        neuron = {}
        for key, value in vars(layer.neuron).items():
            if np.ndim(value):
                arrays[f"{layer.name}/{key}"] = np.asarray(value, np.int64)
                neuron[key] = {"array": f"{layer.name}/{key}"}
            else:
                neuron[key] = value.item() if hasattr(value, "item") else value
        for source, w in layer.inputs.items():
            arrays[f"{layer.name}/{source}"] = np.asarray(w, np.int64)
        delayed = [s for s, d in (layer.delays or {}).items() if d is not None]
        for source in delayed:
            arrays[f"{layer.name}/{source}/delay"] = np.asarray(layer.delays[source], np.int64)
        spec = {"name": layer.name, "size": layer.size, "neuron": neuron,
                "inputs": list(layer.inputs)}
        if delayed:
            spec["delays"] = delayed
        if layer.start:
            spec["start"] = int(layer.start)
        layers.append(spec)
    meta = json.dumps({"inputs": int(network.inputs), "layers": layers})
    np.savez_compressed(path, network=np.array(meta), **arrays, **extra)


def load_network(path) -> tuple:
    """Read :func:`save_network` files: returns ``(network, extra arrays)``."""
    import json
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    if "network" not in data:
        raise ValueError(f"{path}: no 'network' entry; not a spikeforge network file")
    meta = json.loads(str(data.pop("network")))
    layers = []
    for spec in meta["layers"]:
        neuron = {k: data.pop(v["array"]) if isinstance(v, dict) else v
                  for k, v in spec["neuron"].items()}
        inputs = {src: data.pop(f"{spec['name']}/{src}") for src in spec["inputs"]}
        delays = {src: data.pop(f"{spec['name']}/{src}/delay") for src in spec.get("delays", [])}
        layers.append(Layer(spec["name"], spec["size"], Neuron(**neuron), inputs, delays,
                            start=spec.get("start", 0)))
    net = Network(meta["inputs"], layers)
    net.validate()
    return net, data
