"""Fault campaigns (``sw/inject.py``) on the golden model: outputs, logging and exact
replay of every run, metrics, the command line and its refusals."""

import csv
import json

import pytest

from sw.campaign import cli
from sw.campaign.engine import run_campaign
from sw.campaign.outputs import write_outputs
from sw.campaign.sdsp_digits import SdspDigits
from sw.campaign.spec import OUTCOMES, CampaignSpec


@pytest.fixture(scope="module")
def model():
    return SdspDigits(CampaignSpec(samples=40), log=None)


def test_flips_campaign_logs_every_fault_and_replays_exactly(model):
    spec = CampaignSpec(fault_model="flips", flips=60, runs=12, samples=40,
                        targets="*.synapses,*.params")
    res = run_campaign(spec, model=model, progress=False, log=None)
    s = res["summary"]
    assert sum(s[o]["count"] for o in OUTCOMES) == 12
    assert s["sdc"]["count"] > 0                       # 60 flips do some harm
    for r in res["runs"]:
        assert len(r["faults"]) == 60
        assert all(f["memory"] in ("sdsp.synapses", "sdsp.params") for f in r["faults"])
        # the log alone reproduces the run
        g = model.trained.copy()
        for f in r["faults"]:
            g.inject(f["memory"], f["word"], f["mask"])
        assert model.infer(g)["predictions"].tolist() == r["predictions"]
    again = run_campaign(spec, model=model, progress=False, log=None)
    assert [r["faults"] for r in again["runs"]] == [r["faults"] for r in res["runs"]]


def test_masked_sdc_and_detected_follow_the_protection(model):
    # a flip in a weight word the test reads: SECDED corrects it, parity flags it
    K, L = model.config.sdsp.words, model.config.sdsp.lanes
    row = next(r for r in model.read_rows if model.trained.w[r, 64:74].any())
    word = row * K + 64 // L
    for prot, outcome in (("secded", "masked"), ("parity", "detected")):
        m = SdspDigits(CampaignSpec(protection=prot, samples=40), log=None,
                       trained=model.images)
        assert m.accuracy0 == model.accuracy0
        g = m.trained.copy()
        g.inject("sdsp.synapses", word, 0b1)
        assert m.outcome(g, m.infer(g)) == outcome


def test_field_names_the_bits(model):
    assert model.field_of("sdsp.synapses", 0) == "weight"
    assert model.field_of("sdsp.synapses", 3) == "mapped"
    assert model.field_of("sdsp.params", 0) == "thr"
    assert model.field_of("sdsp.control", 1) == "gate"


def test_seu_campaign_with_learning_writes_curves(model, tmp_path):
    spec = CampaignSpec(fault_model="seu", runs=3, samples=40, flux=2e9, duration=100,
                        checkpoints=3, learning="on", online_samples=2, threshold=0.7,
                        mbu={2: 0.1})
    res = run_campaign(spec, model=model, progress=False, log=None)
    for r in res["runs"]:
        assert len(r["accuracies"]) == 3 and r["times"][-1] == 100
        assert [f["time"] for f in r["faults"]] == sorted(f["time"] for f in r["faults"])
    assert res["summary"]["upsets_per_run"] > 50
    paths = write_outputs([res], tmp_path)
    assert (tmp_path / "accuracy_vs_fluence.png").exists()
    rows = list(csv.DictReader(open(tmp_path / "faults.csv")))
    assert len(rows) == sum(len(r["faults"]) for r in res["runs"])
    assert {"time_s", "fluence", "mask", "memory", "word", "bit"} <= set(rows[0])
    assert all(p.exists() for p in paths)


def test_cli_runs_a_campaign_and_prints_the_table(tmp_path, capsys):
    assert cli.main(["--fault-model", "sweep", "--targets", "sdsp.control", "--runs", "4",
                        "--samples", "20", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Leveugle sample size" in out and "masked" in out
    res = json.loads((tmp_path / "campaign.json").read_text())
    from hw.spec.sdsp import control_layout, unsigned_fields
    fields = [name for name, _ in unsigned_fields(control_layout())]
    assert len(res[0]["runs"]) == min(4, len(fields))  # one run per control-word bit
    assert res[0]["runs"][0]["faults"][0]["field"] in fields


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for option in ("--backend", "--targets", "--fault-model", "--runs", "--seed", "--out",
                   "--protection", "--learning", "--sigma", "--cross-section", "--flux",
                   "--mbu", "--beam-upsets", "--threshold", "--margin", "--confidence",
                   "--replay"):
        assert option in text


@pytest.mark.parametrize("argv,message", [
    (["--targets", "nothing*"], "--targets 'nothing\\*' matches no memory"),
    (["--fault-model", "sweep"], "--fault-model sweep needs --targets to name one memory"),
    (["--backend", "serial:/dev/ttyUSB1"], "a board replays a core-digits campaign's runs"),
    (["--backend", "verilator"], "campaigns run on 'golden'"),
    (["--runs", "0"], "--runs: must be at least 1, not 0"),
    (["--beam-upsets", "3"], "--beam-upsets, --beam-fluence and --beam-bits go together"),
    (["--fault-model", "stuck", "--learning", "on"], "stuck-at campaigns run with learning off"),
])
def test_bad_arguments_are_refused_with_the_reason(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(argv + ["--samples", "10", "--out", str(tmp_path), "--no-progress"])
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)


def test_fields_and_mapped_only_narrow_the_bits(model):
    spec = CampaignSpec(fault_model="flips", flips=5, runs=4, samples=40,
                        targets="*.synapses", fields="weight", mapped_only=True)
    res = run_campaign(spec, model=model, progress=False, log=None)
    K, L = model.config.sdsp.words, model.config.sdsp.lanes
    for r in res["runs"]:
        for f in r["faults"]:
            assert f["field"] == "weight"
            a, k = divmod(f["word"], K)
            assert model.trained.mapped[a, k * L + f["bit"] // 4]
    with pytest.raises(ValueError, match="--fields: thrr is not a field of"):
        run_campaign(CampaignSpec(fault_model="flips", targets="*.params", fields="thrr",
                                  samples=40), model=model, progress=False, log=None)
