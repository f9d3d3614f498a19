"""Equivalence of fault injection in the golden model and in the RTL: the runs of a
golden campaign (flips in synapses, parameters and signs, SECDED-protected weights)
replayed on the SDSP core in Verilator through its memory bus give identical spikes,
membranes and predictions (``sw/inject.py --replay``)."""

import pytest

from sw.inject import CampaignSpec, replay_runs, run_campaign

pytestmark = pytest.mark.verilator


def test_twenty_golden_runs_replayed_on_the_rtl_match_exactly():
    spec = CampaignSpec(fault_model="flips", flips=300, runs=20, samples=5, seed=3,
                        targets="*.synapses,*.params,*.signs")
    res = run_campaign(spec, progress=False, log=None)
    assert res["summary"]["sdc"]["count"] > 0           # the faults do change outputs
    rep = replay_runs(res, range(20), samples=5)
    assert rep["replayed"] == 20
    assert rep["matches"] == 20, [r for r in rep["runs"] if not r["match"]]
