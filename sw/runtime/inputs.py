"""Input encodings: recordings and dense values -> per-timestep input events.

Every encoder returns one list per timestep of ``(input index, payload)`` pairs in
ascending index order, at most one per input and step: the format of
:meth:`sw.toolchain.network_model.NetworkModel.step` and of :func:`sim.stimulus.random_inputs`.

* :func:`bin_events` bins an event-camera or cochlea recording (a NumPy structured
  array in the Tonic convention: fields ``x``, ``y``, ``t``, ``p``; ``t`` in
  microseconds) into timesteps of ``dt`` microseconds;
* :func:`rate_code` turns dense values in 0..1 (pixel intensities, say) into a constant
  graded current or Bernoulli spike trains;
* :func:`latency_code` sends one spike per input, earlier for larger values.

Payloads are not checked against a core's ``payload_bits``: pass ``payload_max`` /
``max_payload`` of at most ``2**(payload_bits - 1) - 1`` (127 for 8 bits).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Binned", "bin_events", "rate_code", "latency_code"]


class Binned(list):
    """What :func:`bin_events` returns: the per-timestep event lists (a ``list``,
    usable as is), with statistics of the binning as attributes:

    ``channels``
        number of input channels (the network's ``inputs``);
    ``clipped``
        number of (timestep, channel) bins whose event count exceeded ``payload_max``
        and was sent as ``payload_max`` (0 with ``payload="binary"`` or no limit);
    ``dropped``
        number of events outside the binned window, ``t0 <= t < t0 + steps * dt``.
    """

    def __init__(self, steps, *, channels, clipped, dropped):
        super().__init__(steps)
        self.channels, self.clipped, self.dropped = channels, clipped, dropped


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _first_bad(name, values, ok, what):
    bad = np.nonzero(~ok)[0]
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"event {i}: {name} = {values[i]} is {what}")


def bin_events(events, *, sensor_size, dt, steps=None, t0=0, channel_field=None,
               polarity=True, payload="count", payload_max=None) -> Binned:
    """Bin a recording into timesteps of ``dt`` microseconds.

    ``events``: NumPy structured array, sorted by ``t`` (microseconds, >= 0; integer or
    float). Channels:

    * default: ``sensor_size = (W, H, P)`` as in Tonic; channel
      ``(p * H + y) * W + x`` (``W * H * P`` channels) or, with ``polarity=False``,
      ``y * W + x`` (``W * H`` channels; ``p`` is ignored). Fields ``x`` and ``t`` are
      required; ``y`` too unless ``H == 1``, and ``p`` unless ``P == 1`` or
      ``polarity=False`` (a missing ``y``/``p`` is 0, as for Tonic's audio sets);
    * ``channel_field="ch"``: the channel is that field directly; ``sensor_size`` is
      the channel count, or a tuple whose product is (``polarity`` is not used).

    Event *k* is in timestep ``floor((t_k - t0) / dt)``. ``steps`` defaults to the last
    non-empty timestep + 1; events before ``t0`` or after ``steps`` are left out and
    counted (``.dropped`` of the result).

    ``payload``: ``"count"``, the number of events of the channel in the timestep, at
    most ``payload_max`` (bins above it send ``payload_max``; their number is
    ``.clipped`` of the result, so that clipping is never silent), or ``"binary"``,
    payload 1 for any number of events.

    Returns a :class:`Binned` list. Raises ValueError naming the field for a missing or
    non-integer field, and the first offending event (index and value) for a value out
    of ``sensor_size``, a negative or non-finite ``t``, or ``t`` out of order.
    """
    names = getattr(getattr(events, "dtype", None), "names", None)
    if not names:
        raise ValueError("events must be a NumPy structured array with named fields "
                         f"(x, y, t, p in the Tonic convention), not {type(events).__name__}")
    if payload not in ("count", "binary"):
        raise ValueError(f"payload must be 'count' or 'binary', not {payload!r}")
    if payload_max is not None:
        payload_max = _positive_int("payload_max", payload_max)
    if not (isinstance(dt, (int, float, np.integer, np.floating)) and dt > 0
            and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of microseconds, not {dt!r}")
    if not (isinstance(t0, (int, float, np.integer, np.floating)) and t0 >= 0
            and math.isfinite(t0)):
        raise ValueError(f"t0 must be a non-negative number of microseconds, not {t0!r}")
    if steps is not None:
        steps = _positive_int("steps", steps)

    def field(name):
        if name not in names:
            raise ValueError(f"events have no field {name!r} (fields: {', '.join(names)})")
        values = events[name]
        if name != "t" and not (np.issubdtype(values.dtype, np.integer)
                                or values.dtype == np.bool_):
            raise ValueError(f"field {name!r} must hold integers, not {values.dtype}")
        return values.astype(np.int64) if name != "t" else values

    def in_range(name, values, limit):
        _first_bad(name, values, (values >= 0) & (values < limit),
                   f"outside 0..{limit - 1} (sensor_size {sensor_size})")

    # -- channels -----------------------------------------------------------------------
    if channel_field is not None:
        size = (sensor_size,) if isinstance(sensor_size, (int, np.integer)) else sensor_size
        if (not isinstance(size, (tuple, list)) or not size
                or any(not isinstance(s, (int, np.integer)) or s < 1 for s in size)):
            raise ValueError(f"with channel_field, sensor_size must be the channel count "
                             f"or a tuple of positive integers, not {sensor_size!r}")
        channels = int(np.prod(size))
        ch = field(channel_field)
        in_range(channel_field, ch, channels)
    else:
        if (not isinstance(sensor_size, (tuple, list)) or len(sensor_size) != 3
                or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sensor_size)):
            raise ValueError(f"sensor_size must be (width, height, polarities) of positive "
                             f"integers, not {sensor_size!r}")
        W, H, P = (int(s) for s in sensor_size)
        x = field("x")
        in_range("x", x, W)
        y = field("y") if H > 1 or "y" in names else np.zeros(len(events), np.int64)
        in_range("y", y, H)
        ch = y * W + x
        channels = W * H
        if polarity:
            p = field("p") if P > 1 or "p" in names else np.zeros(len(events), np.int64)
            in_range("p", p, P)
            ch = p * (H * W) + ch
            channels *= P

    # -- time ---------------------------------------------------------------------------
    t = field("t")
    if not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise ValueError(f"field 't' must hold numbers (microseconds), not {t.dtype}")
    _first_bad("t", t, np.isfinite(t) if t.dtype.kind == "f" else np.ones(len(t), bool),
               "not finite")
    _first_bad("t", t, t >= 0, "negative")
    if len(t) > 1:
        back = np.nonzero(t[1:] < t[:-1])[0]
        if len(back):
            i = int(back[0]) + 1
            raise ValueError(f"event {i}: t = {t[i]} is before t = {t[i - 1]} of event "
                             f"{i - 1}; events must be sorted by t")
    if t.dtype.kind in "iu" and all(isinstance(v, (int, np.integer)) for v in (dt, t0)):
        rel = t.astype(np.int64) - int(t0)
        step = rel // int(dt)            # exact: no float rounding at bin edges
    else:
        rel = t.astype(np.float64) - float(t0)
        step = np.floor(rel / float(dt)).astype(np.int64)
    keep = rel >= 0
    if steps is None:
        steps = int(step[keep].max()) + 1 if keep.any() else 0
    keep &= step < steps
    dropped = int(len(t) - keep.sum())

    # -- bins ---------------------------------------------------------------------------
    key, counts = np.unique(step[keep] * channels + ch[keep], return_counts=True)
    clipped = 0
    if payload == "binary":
        counts = np.ones_like(counts)
    elif payload_max is not None:
        clipped = int((counts > payload_max).sum())
        counts = np.minimum(counts, payload_max)
    out = [[] for _ in range(steps)]
    for k, n in zip(key.tolist(), counts.tolist()):    # sorted by step, then channel
        out[k // channels].append((k % channels, n))
    return Binned(out, channels=channels, clipped=clipped, dropped=dropped)


def _unit_values(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be one-dimensional (one value per input), not shape {x.shape}")
    bad = np.nonzero(~((x >= 0) & (x <= 1)))[0]       # also catches NaN
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"x[{i}] = {x[i]} is outside 0..1 (scale the inputs first)")
    return x


def _round_half_up(v):
    return np.floor(v + 0.5).astype(np.int64)


def rate_code(x, *, steps, max_payload=None, mode="current", rng=None) -> list:
    """Dense values ``x`` (shape ``(inputs,)``, each in 0..1) -> ``steps`` event lists.

    * ``mode="current"``: every timestep, input *i* sends payload
      ``round(x_i * max_payload)`` (halves up), a constant graded current; inputs whose
      payload rounds to 0 send nothing (a zero payload adds nothing). Deterministic.
    * ``mode="bernoulli"``: in each timestep input *i* spikes, payload 1, with
      probability ``x_i``, independently. ``rng`` (a seed or a
      :class:`numpy.random.Generator`) is required, so that runs are reproducible;
      ``max_payload`` must not be given (spikes carry 1).
    """
    x = _unit_values(x)
    steps = _positive_int("steps", steps)
    if mode == "current":
        if max_payload is None:
            raise ValueError("mode 'current' needs max_payload (the payload of x = 1)")
        max_payload = _positive_int("max_payload", max_payload)
        pay = _round_half_up(x * max_payload)
        on = np.nonzero(pay)[0]
        row = [(int(i), int(pay[i])) for i in on]
        return [list(row) for _ in range(steps)]
    if mode == "bernoulli":
        if max_payload is not None:
            raise ValueError("max_payload applies to mode 'current'; bernoulli spikes "
                             "carry payload 1")
        if rng is None:
            raise ValueError("mode 'bernoulli' needs rng (a seed or a numpy Generator), "
                             "so that the spike trains are reproducible")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        fire = rng.random((steps, len(x))) < x      # random() < 1 always, < 0 never
        return [[(int(i), 1) for i in np.nonzero(f)[0]] for f in fire]
    raise ValueError(f"mode must be 'current' or 'bernoulli', not {mode!r}")


def latency_code(x, *, steps) -> list:
    """Dense values ``x`` (shape ``(inputs,)``, each in 0..1) -> ``steps`` event lists:
    each input with ``x_i > 0`` spikes once, payload 1, at timestep
    ``round((1 - x_i) * (steps - 1))`` (halves up): ``x_i = 1`` at step 0, small
    values last; ``x_i = 0`` never."""
    x = _unit_values(x)
    steps = _positive_int("steps", steps)
    at = _round_half_up((1 - x) * (steps - 1))
    out = [[] for _ in range(steps)]
    for i in np.nonzero(x > 0)[0]:
        out[int(at[i])].append((int(i), 1))
    return out
