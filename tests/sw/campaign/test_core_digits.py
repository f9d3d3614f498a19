"""The neurocore digits network as a campaign model (``sw/campaign/core_digits.py``): campaigns
over every memory of the chip, exact reproduction from the fault log, outcomes under
each protection, field names, and refusals."""

import json

import numpy as np
import pytest

from hw.spec.isa import Isa
from hw.spec.memory import FaultKind
from hw.spec.protection import code_layout
from sw.campaign import cli
from sw.campaign.core_digits import CoreDigits, FaultyChip
from sw.campaign.engine import run_campaign
from sw.campaign.spec import OUTCOMES, CampaignSpec


@pytest.fixture(scope="module")
def model():
    return CoreDigits(CampaignSpec(model="core-digits", samples=12), log=None)


def test_fault_free_run_is_the_demo_classification(model):
    # the demo's own path (the golden chip behind the driver) on the first images
    from sw.apps import demo
    from sw.runtime.driver import Chip
    with Chip("golden", model.config) as chip:
        chip.load(model.image)
        ref = demo.classify(chip, model.image, model.x[:3], model.steps, model.scale)
    assert [r["prediction"] for r in ref] == model.baseline["predictions"][:3].tolist()
    assert [r["counts"] for r in ref] == model.baseline["counts"][:3].tolist()
    assert model.accuracy0 > 0.8


def test_campaign_over_every_memory_replays_from_its_log(model):
    spec = CampaignSpec(model="core-digits", fault_model="flips", flips=3, runs=16,
                        samples=12, seed=5)
    res = run_campaign(spec, model=model, progress=False, log=None)
    s = res["summary"]
    assert sum(s[o]["count"] for o in OUTCOMES) == 16
    assert s["sdc"]["count"] > 0 and s["masked"]["count"] > 0
    names = {f["memory"].split(".", 1)[1].split(".")[-1] for r in res["runs"]
             for f in r["faults"]}
    assert len(names) >= 4                     # faults land in many kinds of memory
    for r in res["runs"]:
        g = model.copy()
        for f in r["faults"]:
            g.inject(f["memory"], f["word"], f["mask"], FaultKind.FLIP)
        assert model.infer(g)["predictions"].tolist() == r["predictions"]
        assert all(f["field"] and f["field"] != "pad" for f in r["faults"])


def test_outcome_follows_the_protection():
    # flip the class field of the output layer's VEC (tile1_0, pc 1): VEC -> NOP, the
    # output layer never fires
    got = {}
    for prot in ("none", "parity", "secded"):
        m = CoreDigits(CampaignSpec(model="core-digits", samples=6, protection=prot),
                       log=None)
        isa = Isa.of(m.config)
        lay = code_layout(isa.instruction.size, m.config.memory.protection.microcode)
        bit = lay.data_pos[isa.instruction["cls"].offset]
        g = m.copy()
        g.inject("tile1_0.microcode", 1, 1 << bit, FaultKind.FLIP)
        out = m.infer(g)
        got[prot] = m.outcome(g, out)
        assert m.field_of("tile1_0.microcode", bit) == "cls"
    assert got == {"none": "sdc", "parity": "detected", "secded": "masked"}


def test_flips_in_rewritten_words_are_the_fault_free_run(model):
    g = model.copy()
    g.inject("tile0_0.lane2.state", 3, 1 << 5, FaultKind.FLIP)
    g.inject("tile1_0.lane0.acc", 0, 1 << 20, FaultKind.FLIP)
    out = model.infer(g)
    assert out["path"] == "rewritten" and model.outcome(g, out) == "masked"
    # a stuck-at bit in the same state word persists through the rewrites
    g = model.copy()
    g.inject("tile1_0.lane0.state", 0, 1 << 63, FaultKind.STUCK_AT_1)
    out = model.infer(g)
    assert out["path"] == "batched"


def test_a_runaway_program_is_a_hang(model):
    # clear the `end` bit of every microcode word of tile 1: its programs never end
    isa = Isa.of(model.config)
    lay = code_layout(isa.instruction.size, model.config.memory.protection.microcode)
    end = lay.data_pos[isa.instruction["end"].offset]
    g = model.copy()
    words = model.image.images["tile1_0.microcode"]
    for pc, w in enumerate(words):
        if int(w) >> isa.instruction["end"].offset & 1:
            g.inject("tile1_0.microcode", pc, 1 << end, FaultKind.FLIP)
    out = model.infer(g)
    assert out["path"] == "hang" and model.outcome(g, out) == "hang"
    assert "without ending" in out["hang"]
    assert out["accuracy"] == 0.0


def test_refusals_name_the_reason(model, tmp_path, capsys):
    with pytest.raises(ValueError, match="core-digits has no on-chip learning"):
        CampaignSpec(model="core-digits", learning="on").validate()
    with pytest.raises(ValueError, match="--mapped-only"):
        CampaignSpec(model="core-digits", mapped_only=True).validate()
    with pytest.raises(SystemExit):
        cli.main(["--model", "core-digits", "--fault-model", "stuck", "--targets",
                     "*.acc", "--samples", "4", "--out", str(tmp_path), "--no-progress"])
    assert "a stuck-at accumulator bit makes the result depend on the order" in \
        capsys.readouterr().err


def test_cli_sweeps_a_layer_table(tmp_path, capsys):
    assert cli.main(["--model", "core-digits", "--fault-model", "sweep", "--targets",
                        "tile1_0.layer_table", "--runs", "6", "--samples", "6",
                        "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "core-digits" in out and "Leveugle sample size" in out
    res = json.loads((tmp_path / "campaign.json").read_text())[0]
    assert len(res["runs"]) == 6
    assert all(r["faults"][0]["memory"] == "tile1_0.layer_table" for r in res["runs"])
    assert {r["path"] for r in res["runs"]} <= {"batched", "hang"} | {
        r["path"] for r in res["runs"] if r["path"].startswith("event-by-event")}
    assert (tmp_path / "runs.csv").exists() and (tmp_path / "faults.csv").exists()


def test_faulty_chip_names_an_unknown_memory(model):
    g = model.copy()
    assert isinstance(g, FaultyChip)
    with pytest.raises(ValueError, match="'tile9_9.microcode' is not a memory"):
        g.inject("tile9_9.microcode", 0, 1, FaultKind.FLIP)
    assert np.array_equal(model.infer(g)["predictions"], model.baseline["predictions"])


def test_stuck_at_targets_are_refused_without_fault_slots():
    """A configuration without stuck-at slots (the Arty A7's) would refuse every
    stuck-at fault in hardware: a stuck campaign says so before it starts."""
    from sw.campaign import core_digits
    from sw.campaign.faults import select_targets
    config = core_digits.config_for("none")
    config = config.replace(memory=config.memory.replace(fault_slots=0))
    mems = core_digits.memories(config)
    with pytest.raises(ValueError, match=r"no stuck-at fault slots \(memory.fault_slots = 0\)"):
        select_targets(mems, "*.weights", "stuck")
    assert select_targets(mems, "*.weights", "flips")
    # the SDSP model's memories take the same rule
    from sw.campaign.sdsp_digits import memories
    from sw.apps.sdsp_digits import demo_config
    sdsp = demo_config()
    sdsp = sdsp.replace(memory=sdsp.memory.replace(fault_slots=0))
    with pytest.raises(ValueError, match=r"no stuck-at fault slots \(memory.fault_slots = 0\)"):
        select_targets(memories(sdsp), "*.synapses", "stuck")
