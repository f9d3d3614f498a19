"""The digits online-learning demo's first training samples (learning on, teacher
events) replayed on the SDSP core in Verilator: identical spikes, and every memory word
(all 65,536 learnt synapses) equal to the golden model's afterwards."""

import pytest

from sw.apps.sdsp_digits import demo_config, rtl_replay

pytestmark = pytest.mark.verilator


def test_demo_training_replayed_on_the_rtl_learns_the_same_weights():
    r = rtl_replay(demo_config(), samples=12, seed=0)
    assert r["samples"] == 12
    assert r["weight_updates"] > 0          # the replay did learn
