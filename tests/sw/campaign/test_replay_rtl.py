"""Equivalence of fault injection in the golden model and in the RTL: the runs of a
golden campaign replayed in Verilator with the same faults through the memory bus give
identical outputs (``sw/inject.py --replay``, :mod:`sw.campaign.replay`): on the SDSP
core (flips in synapses, parameters and signs: spikes, membranes, predictions) and on the
two-core neurocore chip of the digits demo (flips anywhere: every host output event of
every step)."""

import pytest

from sw.campaign.engine import run_campaign
from sw.campaign.replay import replay_runs
from sw.campaign.spec import CampaignSpec

pytestmark = pytest.mark.verilator


def test_twenty_golden_runs_replayed_on_the_rtl_match_exactly():
    spec = CampaignSpec(fault_model="flips", flips=300, runs=20, samples=5, seed=3,
                        targets="*.synapses,*.params,*.signs")
    res = run_campaign(spec, progress=False, log=None)
    assert res["summary"]["sdc"]["count"] > 0           # the faults do change outputs
    rep = replay_runs(res, range(20), samples=5)
    assert rep["replayed"] == 20
    assert rep["matches"] == 20, [r for r in rep["runs"] if not r["match"]]


def test_core_digits_runs_replayed_on_the_rtl_match_exactly():
    # faults in every memory of the two-core chip (microcode, tables, weights, routes,
    # state); the replay compares every host output event of every step
    from sw.campaign.core_digits import replay
    spec = CampaignSpec(model="core-digits", fault_model="flips", flips=4, runs=24,
                        samples=3, seed=11)
    res = run_campaign(spec, progress=False, log=None)
    chosen = [r["run"] for r in res["runs"] if r["outcome"] in ("masked", "sdc")][:20]
    assert len(chosen) == 20
    assert sum(res["runs"][r]["outcome"] == "sdc" for r in chosen) >= 5
    rep = replay(res, chosen, samples=3)
    assert rep["replayed"] == 20
    assert rep["matches"] == 20, [r for r in rep["runs"] if not r["match"]]


def test_core_digits_replay_over_a_serial_port():
    """``--backend serial:PORT``: pyserial on a pseudo-terminal whose other side is the
    RTL (the board's place here); the replay must still match."""
    from hw.host import HostChip
    from sim.pty_bridge import pty_bridge
    from sim.runner import verilator_exe
    from sw.campaign.core_digits import config_for, replay
    spec = CampaignSpec(model="core-digits", fault_model="flips", flips=4, runs=6,
                        samples=2, seed=11)
    res = run_campaign(spec, progress=False, log=None)
    chosen = [r["run"] for r in res["runs"] if r["outcome"] in ("masked", "sdc")][:3]
    config = config_for("none")
    exe = verilator_exe("hostchip", lambda: HostChip(config), key=config.to_dict(),
                        opt="-O2")
    with pty_bridge([exe]) as port:
        rep = replay(res, chosen, samples=2, backend=f"serial:{port}")
    assert rep["backend"].startswith("serial:")
    assert (rep["replayed"], rep["matches"]) == (3, 3), rep["runs"]


def test_replay_command_defaults_to_the_rtl(tmp_path, capsys):
    # the README's command: --replay DIR without --backend replays on Verilator
    from sw.campaign import cli
    assert cli.main(["--model", "core-digits", "--fault-model", "flips", "--flips", "2",
                        "--runs", "2", "--samples", "1", "--seed", "4", "--out",
                        str(tmp_path), "--no-progress"]) == 0
    assert cli.main(["--replay", str(tmp_path), "--replay-runs", "2",
                        "--replay-samples", "1"]) == 0
    assert "match the golden model exactly" in capsys.readouterr().out
    assert (tmp_path / "replay.json").exists()
