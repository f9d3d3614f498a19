"""Input encodings: binning of Tonic-style recordings, rate and latency codes, worked
out by hand, and the exact messages of their refusals."""

import re

import numpy as np
import pytest

from hw.spec.config import CoreConfig
from sw.toolchain.network_model import NetworkModel
from sw.runtime.inputs import Binned, bin_events, latency_code, rate_code
from sw.toolchain.network import Layer, Network, Neuron

TONIC = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
SENSOR = (3, 2, 2)     # W, H, P: 12 channels, channel = (p * 2 + y) * 3 + x


def recording(rows, dtype=TONIC):
    return np.array(rows, dtype=dtype)


# (x, y, t, p) -> channel, timestep with dt = 10
EVENTS = recording([(0, 0, 0, 0),      # ch 0, step 0
                    (2, 1, 5, 1),      # ch (1*2 + 1)*3 + 2 = 11, step 0
                    (2, 1, 9, 1),      # ch 11 again, step 0
                    (1, 0, 10, 0),     # ch 1, step 1
                    (1, 1, 35, 0)])    # ch 4, step 3


def test_bin_counts_by_hand():
    got = bin_events(EVENTS, sensor_size=SENSOR, dt=10)
    assert isinstance(got, Binned) and isinstance(got, list)
    assert got == [[(0, 1), (11, 2)], [(1, 1)], [], [(4, 1)]]
    assert (got.channels, got.clipped, got.dropped) == (12, 0, 0)


def test_bin_without_polarity_binary_and_explicit_steps():
    got = bin_events(EVENTS, sensor_size=SENSOR, dt=10, polarity=False, payload="binary",
                     steps=6)
    # channel y * 3 + x: events 1 and 2 are channel 5
    assert got == [[(0, 1), (5, 1)], [(1, 1)], [], [(4, 1)], [], []]
    assert got.channels == 6 and got[4] is not got[5]


def test_bin_clipping_is_counted():
    many = np.sort(recording([(0, 0, t, 0) for t in range(7)] + [(1, 0, 3, 0)] * 2
                             + [(1, 0, 12, 0)] * 5), order="t", kind="stable")
    got = bin_events(many, sensor_size=SENSOR, dt=10, payload_max=3)
    assert got == [[(0, 3), (1, 2)], [(1, 3)]]
    assert got.clipped == 2           # (step 0, ch 0) had 7, (step 1, ch 1) had 5
    assert bin_events(many, sensor_size=SENSOR, dt=10).clipped == 0
    assert bin_events(many, sensor_size=SENSOR, dt=10)[0] == [(0, 7), (1, 2)]


def test_bin_window_drops_and_counts():
    got = bin_events(EVENTS, sensor_size=SENSOR, dt=10, t0=10, steps=2)
    # t 10..19 -> step 0; 20..29 -> step 1; t < 10 (3 events) and t = 35 are left out
    assert got == [[(1, 1)], []]
    assert got.dropped == 4
    empty = bin_events(EVENTS[:0], sensor_size=SENSOR, dt=10)
    assert empty == [] and empty.dropped == 0


def test_bin_float_times_and_bin_edges():
    ev = recording([(0, 0, 0.0, 0), (1, 0, 2.49, 0), (2, 0, 2.5, 0), (0, 1, 7.5, 1)],
                   np.dtype([("x", int), ("y", int), ("t", float), ("p", int)]))
    got = bin_events(ev, sensor_size=SENSOR, dt=2.5)
    assert got == [[(0, 1), (1, 1)], [(2, 1)], [], [(9, 1)]]


def test_bin_channel_field_and_audio_layout():
    ev = recording([(0, 699), (4, 3), (4, 3), (4, 2)],
                   np.dtype([("t", np.int64), ("ch", np.uint16)]))
    got = bin_events(ev, sensor_size=700, dt=4, channel_field="ch")
    assert got == [[(699, 1)], [(2, 1), (3, 2)]] and got.channels == 700
    # Tonic's audio sets (SHD): fields t, x, p with sensor_size (700, 1, 1): no y
    shd = recording([(1, 10, 0), (2, 699, 0)],
                    np.dtype([("t", np.int64), ("x", np.int16), ("p", np.int8)]))
    assert bin_events(shd, sensor_size=(700, 1, 1), dt=1000) == [[(10, 1), (699, 1)]]


def test_binned_steps_run_on_the_network_model():
    w = np.zeros((12, 1), np.int64)
    w[11, 0] = 5
    net = Network(12, [Layer("o", 1, Neuron("if", threshold=10), {"input": w})])
    steps = bin_events(EVENTS, sensor_size=SENSOR, dt=10)
    out = NetworkModel(net, CoreConfig()).run(steps)
    assert [o["o"] for o in out] == [[(0, 1)], [], [], []]     # 5 * 2 = 10 at step 0


@pytest.mark.parametrize("events,kwargs,message", [
    (np.zeros(3), {}, "events must be a NumPy structured array with named fields "
                      "(x, y, t, p in the Tonic convention), not ndarray"),
    (recording([(0, 0, 1)], np.dtype([("x", int), ("t", int), ("p", int)])), {},
     "events have no field 'y' (fields: x, t, p)"),
    (recording([(0, 0, 1)], np.dtype([("x", int), ("y", int), ("t", int)])), {},
     "events have no field 'p' (fields: x, y, t)"),
    (recording([(0, 0, 1, 0)], np.dtype([("x", float), ("y", int), ("t", int), ("p", int)])),
     {}, "field 'x' must hold integers, not float64"),
    (recording([(0, 0, 1, 0), (3, 0, 2, 0)]), {},
     "event 1: x = 3 is outside 0..2 (sensor_size (3, 2, 2))"),
    (recording([(0, 0, 1, 0), (0, -1, 2, 0)]), {},
     "event 1: y = -1 is outside 0..1 (sensor_size (3, 2, 2))"),
    (recording([(0, 0, 1, 0), (0, 0, 2, 1)]), {"sensor_size": (3, 2, 1)},
     "event 1: p = 1 is outside 0..0 (sensor_size (3, 2, 1))"),
    (recording([(0, 0, 1, 0), (0, 1, 2, 0), (1, 1, -4, 0)]), {},
     "event 2: t = -4 is negative"),
    (recording([(0, 0, 1, 0), (0, 1, 5, 0), (1, 1, 9, 0), (2, 1, 7, 0)]), {},
     "event 3: t = 7 is before t = 9 of event 2; events must be sorted by t"),
    (recording([(0, 0, np.nan, 0)], np.dtype([("x", int), ("y", int), ("t", float),
                                              ("p", int)])), {},
     "event 0: t = nan is not finite"),
    (EVENTS, {"channel_field": "ch", "sensor_size": 12},
     "events have no field 'ch' (fields: x, y, t, p)"),
    (recording([(0, 12)], np.dtype([("t", int), ("ch", int)])),
     {"channel_field": "ch", "sensor_size": 12},
     "event 0: ch = 12 is outside 0..11 (sensor_size 12)"),
    (EVENTS, {"payload": "rate"}, "payload must be 'count' or 'binary', not 'rate'"),
    (EVENTS, {"payload_max": 0}, "payload_max must be a positive integer, not 0"),
    (EVENTS, {"dt": 0}, "dt must be a positive number of microseconds, not 0"),
    (EVENTS, {"steps": 0}, "steps must be a positive integer, not 0"),
    (EVENTS, {"sensor_size": (3, 2)},
     "sensor_size must be (width, height, polarities) of positive integers, not (3, 2)"),
])
def test_bin_refusals(events, kwargs, message):
    kwargs = {"sensor_size": SENSOR, "dt": 10, **kwargs}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        bin_events(events, **kwargs)


def test_rate_code_current_by_hand():
    # payloads: 0 -> none, 0.04 * 10 = 0.4 -> 0 -> none, 2.5 -> 3 (halves up), 5, 10
    got = rate_code([0, 0.04, 0.25, 0.5, 1.0], steps=3, max_payload=10, mode="current")
    assert got == [[(2, 3), (3, 5), (4, 10)]] * 3
    assert got[0] is not got[1]
    assert rate_code(np.array([0.5]), steps=1, max_payload=127) == [[(0, 64)]]


def test_rate_code_bernoulli():
    x = [0.0, 1.0, 0.5]
    a = rate_code(x, steps=400, mode="bernoulli", rng=7)
    assert a == rate_code(x, steps=400, mode="bernoulli", rng=np.random.default_rng(7))
    assert a != rate_code(x, steps=400, mode="bernoulli", rng=8)
    counts = [sum(1 for step in a for i, _ in step if i == k) for k in range(3)]
    assert counts[0] == 0 and counts[1] == 400 and 160 < counts[2] < 240
    assert all(p == 1 for step in a for _, p in step)
    assert all(step == sorted(step) for step in a)


def test_latency_code_by_hand():
    # steps 5: (1 - x) * 4 -> 1: 0; 0.5: 2; 0: none; 0.2: 3.2 -> 3; 0.875: 0.5 -> 1 (halves up)
    got = latency_code([1.0, 0.5, 0.0, 0.2, 0.875], steps=5)
    assert got == [[(0, 1)], [(4, 1)], [(1, 1)], [(3, 1)], []]
    assert latency_code([0.3, 1.0], steps=1) == [[(0, 1), (1, 1)]]


@pytest.mark.parametrize("call,message", [
    (lambda: rate_code([0.5, 1.5], steps=2, max_payload=3),
     "x[1] = 1.5 is outside 0..1 (scale the inputs first)"),
    (lambda: rate_code([np.nan], steps=2, max_payload=3),
     "x[0] = nan is outside 0..1 (scale the inputs first)"),
    (lambda: latency_code([-0.1], steps=2),
     "x[0] = -0.1 is outside 0..1 (scale the inputs first)"),
    (lambda: rate_code([[0.5]], steps=2, max_payload=3),
     "x must be one-dimensional (one value per input), not shape (1, 1)"),
    (lambda: rate_code([0.5], steps=0, max_payload=3), "steps must be a positive integer, not 0"),
    (lambda: latency_code([0.5], steps=2.0), "steps must be a positive integer, not 2.0"),
    (lambda: rate_code([0.5], steps=2), "mode 'current' needs max_payload (the payload of x = 1)"),
    (lambda: rate_code([0.5], steps=2, max_payload=-1),
     "max_payload must be a positive integer, not -1"),
    (lambda: rate_code([0.5], steps=2, mode="poisson"),
     "mode must be 'current' or 'bernoulli', not 'poisson'"),
    (lambda: rate_code([0.5], steps=2, mode="bernoulli"),
     "mode 'bernoulli' needs rng (a seed or a numpy Generator), so that the spike trains "
     "are reproducible"),
    (lambda: rate_code([0.5], steps=2, mode="bernoulli", rng=1, max_payload=5),
     "max_payload applies to mode 'current'; bernoulli spikes carry payload 1"),
])
def test_code_refusals(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()
