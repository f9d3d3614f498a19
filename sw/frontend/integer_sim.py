"""The integer side of a comparison: run a quantized
:class:`~sw.toolchain.network.Network` on the golden
:class:`~sw.toolchain.network_model.NetworkModel`, batched, with the same result layout
as :func:`sw.frontend.float_model.simulate_float` (so float and integer runs compare
entry by entry; :meth:`sw.frontend.quantize.QuantReport.state_to_float` converts the
membranes).
"""

from __future__ import annotations

import numpy as np

from sw.toolchain.network import Network

__all__ = ["simulate_network"]


def simulate_network(network: Network, config, payloads) -> tuple:
    """Run an integer network on the golden :class:`~sw.toolchain.network_model.NetworkModel`.

    ``payloads``: integer input payloads, shape ``(batch, steps, inputs)`` (0 = no
    event). Returns ``(counts, v)`` like :func:`~sw.frontend.float_model.simulate_float`,
    for every layer, with ``v`` in integer state units (divide by the layer's
    :attr:`~sw.frontend.quantize.LayerQuant.scale` to compare with the float model).
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

