"""Network-level integer model: layers as vectorised NumPy formulas.

The reference for what a compiled network computes, written from the neuron models'
definitions (:mod:`sw.toolchain.programs`) rather than from their microcode, and independent of
placement: tests check that the instruction-level core model running the compiled
images produces the same spikes.

Timestep ``t``: accumulators start at zero; input events of ``t`` and the spikes that
layers emitted at ``t - 1`` are integrated (``acc += W[i, :] * payload``, wrapped to
``acc_bits``); then each layer, in order, updates and emits.

Synaptic delays (``Layer.delays``, :mod:`sw.toolchain.network`): each layer keeps a ring of
``D = network.max_delay() + 1`` future accumulator vectors (``pending[layer]``, shape
``(D, size)``; row ``(now + d) mod D`` is due ``d`` timesteps from now). Every event
integrated at ``t`` adds ``W[i, j] * payload`` to row ``(t + delay[i, j]) mod D``
(synapses with delay 0: to the row of ``t`` itself); the row of ``t`` then becomes the
layer's accumulator for ``t`` and is cleared. Wrap rule: a row's contributions are
summed exactly (int64) and the sum is wrapped to ``acc_bits`` once, at its due step.
Two's-complement wrapping is addition modulo ``2**acc_bits``, so this equals wrapping
after every addition, in any order and at any time (as the ring-buffer unit,
:mod:`sim.golden.delay`, does); without delays ``D = 1`` and the model is what it was.

Layer start (``Layer.start``): at timesteps ``t < start`` the layer's bias counts as 0,
nothing else changes (``t`` counts the model's steps from 0).
"""

from __future__ import annotations

import numpy as np

from hw.spec.config import CoreConfig
from sim.golden.npe import clamp, wrap
from sw.toolchain.network import INPUT, Network

__all__ = ["NetworkModel"]


class NetworkModel:
    """Runs a :class:`~sw.toolchain.network.Network` with the number formats of ``core``."""

    def __init__(self, network: Network, core: CoreConfig):
        network.validate()
        self.net, self.core = network, core
        self.v = {l.name: np.zeros(l.size, np.int64) for l in network.layers}
        self.u = {l.name: np.zeros(l.size, np.int64) for l in network.layers}
        self._last = {l.name: [] for l in network.layers}
        #: ring slots: 1 + the largest synaptic delay
        self.slots = network.max_delay() + 1
        #: layer -> (slots, size) future accumulators; row ``now`` is due this step
        self.pending = {l.name: np.zeros((self.slots, l.size), np.int64)
                        for l in network.layers}
        self.now = 0
        #: timesteps run so far (the ``t`` of the next step, for ``Layer.start``)
        self.t = 0
        # delays are read here, once (they size the ring); weights every step, as before
        self._d = {(l.name, s): l.synapse_delays(s)
                   for l in network.layers for s in l.inputs}

    def step(self, events) -> dict:
        """One timestep; ``events`` are (input index, payload). Returns
        ``{layer: [(index, payload), ...]}`` in ascending index order."""
        c = self.core
        D, S = c.alu_bits, c.state_bits
        now, slots = self.now, self.slots
        acc = {}
        spikes_in = {INPUT: list(events), **self._last}
        for layer in self.net.layers:
            ring = self.pending[layer.name]
            for source, w in layer.inputs.items():
                if spikes_in[source]:
                    idx = np.array([i for i, _ in spikes_in[source]], dtype=np.int64)
                    pay = np.array([p for _, p in spikes_in[source]], dtype=np.int64)
                    contrib = np.asarray(w, np.int64)[idx] * pay[:, None]
                    delay = self._d[(layer.name, source)]
                    if delay is None:
                        ring[now] += contrib.sum(axis=0)
                    else:
                        due = (now + delay[idx]) % slots
                        np.add.at(ring, (due, np.broadcast_to(np.arange(layer.size),
                                                              due.shape)), contrib)
            acc[layer.name] = ring[now].copy()
            ring[now] = 0
        self.now = (now + 1) % slots
        out = {}
        for layer in self.net.layers:
            n = layer.neuron
            a = wrap(acc[layer.name], c.acc_bits)
            v, u = self.v[layer.name], self.u[layer.name]
            bias, thr = layer.param("bias"), layer.param("threshold")
            if self.t < layer.start:
                bias = np.zeros_like(bias)
            payload = np.ones(layer.size, np.int64)
            if n.model in ("lif", "if"):
                x = v
                if n.model == "lif":
                    x = self._leak(v, n.leak_mult, n.leak_shift)
                x, spike = self._membrane(x, v, thr, n.reset, a, bias)
                self.v[layer.name] = wrap(x, S)
            elif n.model == "cuba_lif":
                def current():
                    return clamp(wrap(wrap(self._leak(u, n.syn_mult, n.syn_shift) + a, D)
                                      + bias, D), S)
                i = current() if n.syn_first else u
                x, spike = self._membrane(self._leak(v, n.leak_mult, n.leak_shift), v, thr,
                                          n.reset, i)
                self.v[layer.name] = wrap(x, S)
                self.u[layer.name] = i if n.syn_first else current()
            else:  # sigma_delta
                x = clamp(wrap(v + a, D), S)
                y = np.maximum(wrap(x + bias, D), 0)
                d = clamp(wrap(y - u, D), c.payload_bits)
                spike = np.abs(d) >= thr
                self.v[layer.name] = wrap(x, S)
                self.u[layer.name] = wrap(np.where(spike, wrap(u + d, D), u), S)
                payload = d
            out[layer.name] = [(int(i), int(payload[i])) for i in np.nonzero(spike)[0]]
        self.t += 1
        self._last = out
        return out

    def _leak(self, x, mult, shift):
        """``(x * mult) >> shift``: ``mult`` wrapped to ``state_bits``, the product at
        full width, floor, the result wrapped to ``alu_bits``."""
        return wrap((x * int(wrap(mult, self.core.state_bits))) >> shift, self.core.alu_bits)

    def _membrane(self, x, v, thr, reset, *adds):
        """The binary membrane after the leak ``x`` (``v``: as stored last step):
        ``x = sat_state(x + adds...)``, spike on ``x >= thr``, then the reset. Returns
        ``(new v, spike)``."""
        D, S = self.core.alu_bits, self.core.state_bits
        if reset == "subtract_delayed":
            x = np.where(v >= thr, wrap(x - thr, D), x)
        for b in adds:
            x = wrap(x + b, D)
        x = clamp(x, S)
        spike = x >= thr
        if reset == "zero":
            x = np.where(spike, 0, x)
        elif reset == "subtract":
            x = np.where(spike, wrap(x - thr, D), x)
        return x, spike

    def run(self, steps) -> list:
        return [self.step(events) for events in steps]
