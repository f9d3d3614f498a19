"""The integer network on the golden network model, batched."""

import numpy as np
import pytest

from sw.frontend.integer_sim import simulate_network
from sw.frontend.quantize import quantize
from sw.toolchain.network_model import NetworkModel
from tests.sw.frontend.models import CFG, random_model


def test_simulate_network_is_the_network_model_per_sample():
    net, _ = quantize(random_model(), CFG)
    rng = np.random.default_rng(7)
    p = (rng.random((2, 12, 16)) < 0.4).astype(np.int64)
    counts, v = simulate_network(net, CFG, p)
    assert set(counts) == set(v) == {"h", "o", "ro"}
    for b in range(2):
        sim = NetworkModel(net, CFG.core)
        want = {l.name: np.zeros(l.size, np.int64) for l in net.layers}
        for t in range(12):
            for name, spikes in sim.step([(int(i), 1) for i in np.nonzero(p[b, t])[0]]).items():
                for i, _ in spikes:
                    want[name][i] += 1
        for name in want:
            np.testing.assert_array_equal(counts[name][b], want[name])
            np.testing.assert_array_equal(v[name][b], sim.v[name])
            assert v[name].dtype == np.int64


@pytest.mark.parametrize("payloads,what", [
    (np.zeros((2, 5, 16)), "float64 (2, 5, 16)"),
    (np.zeros((2, 5, 3), np.int64), "int64 (2, 5, 3)"),
    (np.zeros((5, 16), np.int64), "int64 (5, 16)"),
])
def test_simulate_network_checks_the_payloads(payloads, what):
    net, _ = quantize(random_model(), CFG)
    with pytest.raises(ValueError) as e:
        simulate_network(net, CFG, payloads)
    assert str(e.value) == f"payloads must be integers of shape (batch, steps, 16), not {what}"
