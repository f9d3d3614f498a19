"""What a campaign needs from the network and chip it injects faults into: the
:class:`CampaignModel` interface, and the registry of models by ``--model`` name.

A new model is a subclass of :class:`CampaignModel` and one line in :data:`MODELS`. The
registry names each class by ``"module:class"`` and imports it when first asked for, so
that this module imports no model (the models import the campaign's spec, whose
validation asks the registry for the model's name and checks).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

__all__ = ["CampaignModel", "MODELS", "make_model", "model_memories"]


class CampaignModel(ABC):
    """A trained network on its chip, its test presentations and its memories, as the
    campaign engine (:mod:`sw.campaign.engine`) runs it.

    A run takes the fault-free chip (:meth:`acquire`), injects its faults into it
    (``g.inject``), measures the test set (:meth:`infer`), classifies the outcome
    (:meth:`outcome`), optionally runs an online phase (:meth:`online`) and hands the
    chip back (:meth:`release`).

    Attributes every model sets in ``__init__``
    ------------------------------------------
    spec : CampaignSpec
        The campaign spec it was built for (its ``protection`` and ``samples`` shape the
        model; the engine reads ``spec.fault_model`` to select targets).
    config
        The chip configuration (:class:`hw.spec.config` object) with the spec's
        protection.
    memories : list of dict
        The chip's memories as campaigns see them, one dict per memory: ``name``,
        ``role``, ``words`` (depth), ``width`` (stored bits per word, check bits
        included), ``data_width`` (data bits per word), ``fault_slots`` (stuck-at slots
        per memory) and, where stuck-at faults are refused, ``no_stuck`` (the reason).
    accuracy0 : float
        The fault-free accuracy on the test set, a fraction in 0..1.
    baseline : dict
        The fault-free run's :meth:`infer` result (``baseline["predictions"]`` is what
        each run's agreement is measured against).
    """

    #: the ``--model`` name (its key in :data:`MODELS`)
    name: ClassVar[str]
    #: what ``--help`` says of it after the name: ``NAME (DESCRIPTION)``
    description: ClassVar[str]

    @abstractmethod
    def __init__(self, spec, *, log=print, trained: dict | None = None):
        """Build (or load) the trained network for ``spec``; ``log`` prints one line
        about it (None: silent); ``trained`` is :meth:`trained_images` of a model built
        for another protection, to reuse instead of training again (ignored by models
        that do not train)."""

    # -- before building: the chip's memories and the model's own checks --------------------

    @classmethod
    @abstractmethod
    def chip_memories(cls, protection: str = "none") -> list[dict]:
        """The memories of the model's chip (as :attr:`memories`), without building the
        model: to check ``--targets`` before a campaign starts."""

    @classmethod
    def check_spec(cls, spec) -> None:
        """Refuse (``ValueError`` naming the option, ``--name: why``) what this model
        cannot run; called by :meth:`CampaignSpec.validate` after the model name is
        checked. Accepts everything by default."""

    # -- the fault-free chip, one run at a time -------------------------------------------

    @abstractmethod
    def acquire(self):
        """The fault-free chip for one run (an object with ``inject(memory, word, mask,
        kind) -> bool``, True when the fault was applied), to :meth:`release` after the
        run."""

    @abstractmethod
    def release(self, g) -> None:
        """Take back the chip :meth:`acquire` handed out (undoing its faults or keeping
        its arrays for the next run)."""

    @abstractmethod
    def copy(self):
        """An independent fault-free chip (as :meth:`acquire`'s, not to be released)."""

    @abstractmethod
    def trained_images(self) -> dict | None:
        """The trained memory images (``{memory name: list of words}``) another model of
        this class can be built from (``trained=``), or None if building it needs none.
        It is also the recipe a worker process rebuilds the model from."""

    # -- faults ----------------------------------------------------------------------------

    @abstractmethod
    def field_of(self, memory: str, bit: int) -> str:
        """Which field stored bit ``bit`` (0 .. ``width`` - 1) of ``memory`` belongs to:
        a name such as ``weight`` or ``thr``, ``check`` for ECC check bits."""

    def mapped_bits(self, target: dict, bits: list[int]) -> list[tuple[int, int]]:
        """``(word, stored bit)`` of the bits among ``bits`` of synapse memory ``target``
        (a :attr:`memories` entry) that belong to synapses the network maps
        (``--mapped-only``). Models without such a notion refuse."""
        raise ValueError(f"--mapped-only: {self.name} does not tell mapped synapses apart")

    # -- running the test set ----------------------------------------------------------------

    @abstractmethod
    def infer(self, g) -> dict:
        """The test set (``spec.samples`` images) on chip ``g``. Returns a dict with at
        least ``predictions`` (int array of shape ``(samples,)``, the class per image,
        -1 where the chip did not answer) and ``accuracy`` (fraction in 0..1 of the
        predictions equal to the labels; None when the run is unmodelled). Optional:
        ``path`` (how it was computed), ``hang`` or ``unmodelled`` (the reason, when the
        run ends so), and whatever :meth:`outcome` compares."""

    @abstractmethod
    def outcome(self, g, out) -> str:
        """The run's outcome from chip ``g`` and its :meth:`infer` result ``out``: one
        of :data:`sw.campaign.spec.OUTCOMES` (``masked``: outputs equal the fault-free
        run's; ``sdc``: they differ, nothing detected; ``detected``: an uncorrectable
        error was flagged; ``hang``; ``unmodelled``)."""

    @abstractmethod
    def online(self, g, rng, count: int) -> None:
        """Present ``count`` training images with learning on (the online phase),
        drawing from ``rng`` (a NumPy Generator); models without on-chip learning
        raise ``ValueError``."""

    def __reduce__(self):
        # pickled as its recipe (class, spec and trained images): a spawned or remote
        # worker rebuilds the same model once instead of receiving its arrays
        return _rebuild_model, (type(self), self.spec, self.trained_images())


def _rebuild_model(cls, spec, trained):
    """A model from its pickled recipe (:meth:`CampaignModel.__reduce__`)."""
    return cls(spec, log=None, trained=trained)


class _Registry(Mapping):
    """``--model`` name -> :class:`CampaignModel` subclass, each imported when first
    looked up from its ``"module:class"``."""

    def __init__(self, paths: dict):
        self._paths = dict(paths)
        self._classes: dict = {}

    def __getitem__(self, name: str) -> type[CampaignModel]:
        if name not in self._classes:
            where = self._paths[name]
            if isinstance(where, str):
                module, _, qualname = where.partition(":")
                where = getattr(importlib.import_module(module), qualname)
            if not (isinstance(where, type) and issubclass(where, CampaignModel)):
                raise TypeError(f"model {name!r}: {where!r} is not a CampaignModel")
            self._classes[name] = where
        return self._classes[name]

    def __iter__(self):
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def register(self, name: str, where) -> None:
        """Add (or replace) model ``name``: a class or its ``"module:class"``."""
        self._paths[name] = where
        self._classes.pop(name, None)

    def unregister(self, name: str) -> None:
        del self._paths[name]
        self._classes.pop(name, None)


#: The models campaigns run (``--model``), in the order ``--help`` lists them.
MODELS = _Registry({
    "sdsp-digits": "sw.campaign.sdsp_digits:SdspDigits",
    "core-digits": "sw.campaign.core_digits:CoreDigits",
})


def make_model(spec, *, log=print, trained: dict | None = None) -> CampaignModel:
    """The model under test that ``spec.model`` names."""
    return MODELS[spec.model](spec, log=log, trained=trained)


def model_memories(model: str, protection: str = "none") -> list[dict]:
    """The memories of a model's chip (to check ``--targets`` before building it)."""
    return MODELS[model].chip_memories(protection)
