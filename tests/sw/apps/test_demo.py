"""The demo's software path without the RTL: the fixture imports the same from NIR and
from the float-model npz, maps onto the demo chip, and the image-level golden chip
equals the network model on a few images."""

import numpy as np

from sw.apps.demo import DEMO_CONFIG, load_model, main, prepare


def test_nir_and_npz_give_the_same_network():
    a, data = load_model("nir")
    b, _ = load_model("npz")
    na, ra, image = prepare(a)
    nb, rb, _ = prepare(b)
    for la, lb in zip(na.layers, nb.layers):
        for src in la.inputs:
            assert np.array_equal(la.inputs[src], lb.inputs[src])
        assert np.array_equal(la.param("threshold"), lb.param("threshold"))
    assert data["x"].shape == (360, 64) and data["steps"] == 16
    # the hidden layer and the output layer on the two tiles of the 2x1 chip
    assert [t for t, _, _ in image.placement["hidden"]] == [(0, 0)]
    assert [t for t, _, _ in image.placement["output"]] == [(1, 0)]
    assert DEMO_CONFIG.noc.tiles == 2


def test_demo_without_rtl(capsys):
    assert main(["--samples", "12", "--golden-samples", "3", "--rtl-samples", "0"]) == 0
    out = capsys.readouterr().out
    assert "quantized golden" in out and "golden chip (image level) == network model on 3" in out
