"""The campaign model interface (:mod:`sw.campaign.model`): the registry lists the models
the command runs, each implements every method the engine calls, and the command's
``--model`` choices are the registry's."""

import inspect

import pytest

from sw.campaign import cli
from sw.campaign.core_digits import CoreDigits
from sw.campaign.model import MODELS, CampaignModel, make_model, model_memories
from sw.campaign.sdsp_digits import SdspDigits
from sw.campaign.spec import CampaignSpec


def test_the_registry_lists_both_models():
    assert list(MODELS) == ["sdsp-digits", "core-digits"]
    assert MODELS["sdsp-digits"] is SdspDigits
    assert MODELS["core-digits"] is CoreDigits
    for name, cls in MODELS.items():
        assert cls.name == name


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_implements_the_interface(name):
    cls = MODELS[name]
    assert issubclass(cls, CampaignModel)
    assert not cls.__abstractmethods__
    for method in CampaignModel.__abstractmethods__:
        assert getattr(cls, method) is not getattr(CampaignModel, method), method
    assert isinstance(cls.description, str) and cls.description


def test_the_interface_declares_what_the_engine_calls():
    assert CampaignModel.__abstractmethods__ == {
        "__init__", "chip_memories", "acquire", "release", "copy", "trained_images",
        "field_of", "infer", "outcome", "online"}
    for method in CampaignModel.__abstractmethods__:
        assert inspect.getdoc(getattr(CampaignModel, method)), method


def test_a_model_missing_a_method_cannot_be_built():
    class NoOutcome(CampaignModel):
        name, description = "no-outcome", "a model without outcome()"

        def __init__(self, spec, *, log=print, trained=None):
            self.spec = spec

        @classmethod
        def chip_memories(cls, protection="none"):
            return []

        def acquire(self):
            return None

        def release(self, g):
            pass

        def copy(self):
            return None

        def trained_images(self):
            return None

        def field_of(self, memory, bit):
            return "x"

        def infer(self, g):
            return {}

        def online(self, g, rng, count):
            pass

    assert NoOutcome.__abstractmethods__ == {"outcome"}
    with pytest.raises(TypeError, match="outcome"):
        NoOutcome(CampaignSpec())

    class Complete(NoOutcome):
        def outcome(self, g, out):
            return "masked"

    assert Complete(CampaignSpec()).outcome(None, {}) == "masked"


def test_the_command_offers_the_registry_models(monkeypatch):
    def choices():
        action = next(a for a in cli.parser()._actions if a.dest == "model")
        return action.choices, action.help
    got, text = choices()
    assert list(got) == list(MODELS)
    for name, cls in MODELS.items():
        assert f"{name} ({cls.description})" in text

    class Extra(CampaignModel):
        name, description = "extra", "one more model"
    monkeypatch.setitem(MODELS._paths, "extra", Extra)
    monkeypatch.delitem(MODELS._classes, "extra", raising=False)
    got, text = choices()
    assert list(got) == ["sdsp-digits", "core-digits", "extra"]
    assert text.endswith(", core-digits (" + CoreDigits.description + ") or extra (one more "
                         "model)")
    assert "extra" in cli.parser().parse_args(["--model", "extra"]).model


def test_the_registry_refuses_what_is_no_model():
    MODELS.register("bogus", "sw.campaign.spec:CampaignSpec")
    try:
        with pytest.raises(TypeError, match="not a CampaignModel"):
            MODELS["bogus"]
    finally:
        MODELS.unregister("bogus")
    assert "bogus" not in MODELS


def test_make_model_and_memories_go_through_the_registry():
    names = [m["name"] for m in model_memories("core-digits", "parity")]
    assert names == [m["name"] for m in CoreDigits.chip_memories("parity")]
    assert "sdsp.synapses" in [m["name"] for m in model_memories("sdsp-digits")]
    with pytest.raises(ValueError, match="--learning: core-digits"):
        CampaignSpec(model="core-digits", learning="on").validate()
    with pytest.raises(ValueError, match="--model"):
        CampaignSpec(model="nope").validate()
    model = make_model(CampaignSpec(model="core-digits", samples=2), log=None)
    assert isinstance(model, CoreDigits) and model.trained_images() is None
