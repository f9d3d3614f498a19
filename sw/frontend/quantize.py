"""Quantization: a :class:`~sw.frontend.float_model.FloatModel` -> an integer
:class:`~sw.toolchain.network.Network` for a chip configuration, and the
:class:`QuantReport` of what it cost (scales, clipped and zeroed weights, weight and
leak errors, calibration peaks).

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
