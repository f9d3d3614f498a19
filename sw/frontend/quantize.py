"""Quantization: a :class:`~sw.frontend.float_model.FloatModel` -> an integer
:class:`~sw.toolchain.network.Network` for a chip configuration, and the
:class:`QuantReport` of what it cost (scales, clipped and zeroed weights, weight and
leak errors, calibration peaks).

Quantization (:func:`quantize`)
    Per layer, with effective float weights ``W' = r * W`` (``W / input_scale`` from the
    network input) and bias ``b' = r * bias``::

        s          = (2**(weight_bits - 1) - 1) / max |W'|    (over all sources of the layer)
        w          = round(s * W')        weight_bits signed
        threshold  = round(s * v_threshold), + 1 for compare ">" if s * v_threshold
                     is a whole number            bias = round(s * b')   (state_bits signed)
        leak_mult  = round(alpha * 2**leak_shift), largest leak_shift with leak_mult in
                     the state_bits signed range; realised alpha = leak_mult / 2**leak_shift
                     (the same for a cuba model's current decay: syn_mult, syn_shift)

    The core compares with ``>=``. ``v_int`` only approximates ``s * v`` (rounded weights,
    a floored leak), so the threshold is rounded to the nearest integer (measured: closer
    spike counts than ``ceil``); ``>`` and ``>=`` differ only where ``s * v_threshold`` is
    a whole number, and there a strict comparison takes the next integer.

    The integer membrane is then ``v_int ~= s * v`` in every layer, because spikes
    carry payload 1 on both sides. Network inputs carry the integer payloads the user
    sends, ``p = round(input_scale * x)`` (:meth:`QuantReport.input_payloads`), which
    must fit ``payload_bits``. A readout (``"li"``, ``"i"``, ``"cuba_li"``) becomes the
    spiking model of its kind (``"lif"``, ``"if"``, ``"cuba_lif"``) whose threshold is the
    largest state value: it fires only if its state saturates there.

Latency alignment (models with ``timing="same_step"``)
    The chip delivers a spike one step after it is emitted; a framework's ``Sequential``
    delivers it in the same step. Each layer gets a start step (its *depth*):
    ``start = max(0, max over same-step sources of start_src + 1 - (smallest delay
    from it)``), and chip step ``t + start`` computes the framework's step ``t``
    (``Layer.start``: the bias counts from then on, so nothing happens before). The
    synaptic delays are shifted to keep every projection on time: ``d + start`` from
    the network input, ``d + start - start_src - 1`` from an earlier layer,
    ``d + start - start_src`` from a recurrent one (itself or a later layer; refused if
    negative). A plain chain needs no delays at all. Run ``T + max start`` steps and
    read layer ``L``'s step ``t`` at chip step ``t + start_L``
    (:meth:`QuantReport.pad_steps`, :mod:`sw.runtime.inference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sw.frontend.float_model import FloatModel, ModelImportError, _run_float
from sw.toolchain.network import INPUT, Layer, Network, Neuron

__all__ = ["quantize", "QuantReport", "LayerQuant"]


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
    start: int = 0                # chip step of the framework's step 0 (latency alignment)
    syn_mult: int = 0             # cuba models: current decay syn_mult / 2**syn_shift
    syn_shift: int = 0

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

    def pad_steps(self, outputs=None) -> int:
        """Steps to run after the last input so that ``outputs`` (default: every layer)
        have computed the framework's last step: their largest ``start``."""
        names = [q.name for q in self.layers] if outputs is None else list(outputs)
        return max((self.layer(n).start for n in names), default=0)

    def state_to_float(self, name: str, v) -> np.ndarray:
        """Integer membrane values of layer ``name`` -> float units (``v / scale``)."""
        return np.asarray(v, np.float64) / self.layer(name).scale

    def table(self) -> str:
        """The report as a fixed-width text table, one line per layer, then the notes."""
        head = ("layer", "model", "scale", "clipped", "zeroed", "w err max", "w err rms",
                "alpha", "realised", "alpha err", "leak", "threshold", "start", "peak |v|")
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
                str(q.start), "-" if q.peak_v is None else f"{q.peak_v:.4g}"))
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
    starts, chip_delays = _align(model)

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

        if not layer.spiking:
            thr = np.full(layer.size, shi, np.int64)
            notes.append(f"{layer.model} readout: threshold {shi} (the largest state value) so "
                         "it never spikes unless its state saturates; read its v and divide by "
                         "scale")
        else:
            vt = layer.param("v_threshold")
            exact = vt * scale
            raw = np.rint(exact)
            if layer.option("compare") == ">":     # only a whole s * v_threshold can tie
                raw = raw + (np.abs(exact - raw) <= 1e-9 * np.maximum(1, np.abs(exact)))
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
        where_decay = f"{where}: per-step decay"
        if not 0 <= alpha <= 1:
            raise ModelImportError(f"{where_decay} alpha = {alpha:.6g} is outside 0..1 "
                                   f"(dt = {model.dt:g} s, tau_mem = "
                                   f"{layer.neuron.get('tau_mem')} s, decay "
                                   f"{layer.option('decay')!r})")
        if layer.model in ("if", "i"):
            mult, shift = 1, 0
        else:
            mult, shift = _leak(alpha, core.state_bits, max_shift)
        realised = mult / 2 ** shift
        syn_mult = syn_shift = 0
        if layer.cuba:
            beta = layer.beta_syn(model.dt)
            if not 0 <= beta <= 1:
                raise ModelImportError(f"{where}: per-step current decay {beta:.6g} is outside "
                                       f"0..1 (dt = {model.dt:g} s, tau_syn = "
                                       f"{layer.neuron.get('tau_syn')} s)")
            syn_mult, syn_shift = _leak(beta, core.state_bits, max_shift)

        peak = None
        if layer.name in peaks:
            peak = float(peaks[layer.name].max())
            if peak * scale > shi:
                notes.append(f"calibration: peak |v| {peak:.4g} x scale = {peak * scale:.0f} "
                             f"exceeds the {core.state_bits}-bit state (max {shi}): the "
                             "membrane will saturate")

        model_name = {"if": "if", "i": "if", "cuba_lif": "cuba_lif",
                      "cuba_li": "cuba_lif"}.get(layer.model, "lif")
        neuron = Neuron(model_name, threshold=_int_param(thr), bias=_int_param(bias),
                        leak_mult=mult if model_name != "if" else 1,
                        leak_shift=shift if model_name != "if" else 0,
                        reset=layer.option("reset") if layer.spiking else "zero")
        if layer.cuba:
            neuron.syn_mult, neuron.syn_shift = syn_mult, syn_shift
            neuron.syn_first = bool(layer.option("syn_first"))
        start = starts[layer.name]
        if start:
            notes.append(f"starts at chip step {start}: its framework step t runs at chip step "
                         f"t + {start}")
        layers.append(Layer(layer.name, layer.size, neuron, ints,
                            delays=chip_delays[layer.name], start=start))
        reports.append(LayerQuant(
            layer.name, layer.model, scale, total, clipped, zeroed,
            float(np.max(np.abs(errs))) if total else 0.0,
            float(np.sqrt(np.mean(errs ** 2))) if total else 0.0,
            alpha, realised, mult, shift, _int_param(thr), peak, notes, start,
            syn_mult, syn_shift))

    network = Network(model.inputs, layers)
    try:
        network.validate()
    except ValueError as e:          # pragma: no cover - FloatModel.validate covers these
        raise ModelImportError(str(e)) from None
    return network, QuantReport(reports, float(input_scale), core.weight_bits,
                                core.state_bits, core.payload_bits)


def _align(model: FloatModel):
    """``(starts, delays)``: each layer's start step and the chip's synaptic delays
    ``{layer: {source: int matrix}}`` (module docstring, latency alignment)."""
    names = [l.name for l in model.layers]
    same = model.timing == "same_step"
    starts = {}
    for layer in model.layers:
        start = 0
        if same:
            for src in layer.weights:
                if model.same_step(src, layer.name):
                    d = layer.synapse_delays(src)
                    start = max(start, starts[src] + 1 - (0 if d is None else int(
                        d[np.asarray(layer.weights[src]) != 0].min(initial=0))))
        starts[layer.name] = start
    delays = {}
    for layer in model.layers:
        out = {}
        for src, w in layer.weights.items():
            d = layer.synapse_delays(src)
            d = np.zeros(np.shape(w), np.int64) if d is None else d
            if same:
                if src == INPUT:
                    shift = starts[layer.name]
                elif model.same_step(src, layer.name):
                    shift = starts[layer.name] - starts[src] - 1
                else:
                    shift = starts[layer.name] - starts[src]
                d = np.where(np.asarray(w) != 0, d + shift, 0)
                if d.size and d.min() < 0:
                    i, j = np.argwhere(d < 0)[0]
                    raise ModelImportError(
                        f"layer {layer.name!r}: reads {src!r} of the previous step (a "
                        f"recurrent projection), but {src!r} runs {starts[src]} chip steps "
                        f"after its framework step and {layer.name!r} only {starts[layer.name]}"
                        f": its spike from neuron {i} to neuron {j} would need a delay of "
                        f"{int(d[i, j])} steps; add a Delay to that projection or reorder "
                        f"the layers ({', '.join(names)})")
            if d.any():
                out[src] = d
        delays[layer.name] = out
    return starts, delays
