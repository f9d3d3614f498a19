"""What defines a campaign: :class:`CampaignSpec` (saved with its results) and its
checks, the fault models and the outcomes a run can have."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from hw.spec.config import Protection
from sw.campaign.model import MODELS

__all__ = ["CampaignSpec", "FAULT_MODELS", "OUTCOMES", "replace_samples"]

FAULT_MODELS = ("seu", "flips", "stuck", "sweep")
OUTCOMES = ("masked", "sdc", "detected", "hang", "unmodelled")


@dataclass
class CampaignSpec:
    """Everything that defines a campaign (saved with its results)."""

    model: str = "sdsp-digits"
    fault_model: str = "flips"
    targets: str = "*"
    runs: int = 100
    seed: int = 1
    protection: str = "none"
    learning: str = "off"
    flips: int = 1
    fields: str = ""
    mapped_only: bool = False
    stuck_value: int = 1
    sigma: float = 1e-14
    cross_section: dict = field(default_factory=dict)
    flux: float = 1e7
    duration: float = 3600.0
    checkpoints: int = 8
    mbu: dict = field(default_factory=dict)
    online: str = "unsupervised"
    online_samples: int = 20
    samples: int = 100
    threshold: float = 0.5
    train_epochs: int = 1
    margin: float = 0.05
    confidence: float = 0.95

    def validate(self):
        def bad(name, why):
            raise ValueError(f"--{name.replace('_', '-')}: {why}")
        if self.model not in MODELS:
            bad("model", f"{self.model!r} is not a known model; known: {', '.join(MODELS)}")
        MODELS[self.model].check_spec(self)
        if self.fault_model not in FAULT_MODELS:
            bad("fault_model", f"{self.fault_model!r} is not one of {', '.join(FAULT_MODELS)}")
        if self.protection not in [p.value for p in Protection]:
            bad("protection", f"{self.protection!r} is not one of none, parity, secded")
        if self.learning not in ("on", "off"):
            bad("learning", f"{self.learning!r} is not 'on' or 'off'")
        if self.online not in ("unsupervised", "supervised"):
            bad("online", f"{self.online!r} is not 'unsupervised' or 'supervised'")
        for name in ("runs", "samples", "checkpoints", "train_epochs"):
            if getattr(self, name) < 1:
                bad(name, f"must be at least 1, not {getattr(self, name)}")
        for name in ("flips", "online_samples"):
            if getattr(self, name) < 0:
                bad(name, f"must not be negative, not {getattr(self, name)}")
        if (self.fields or self.mapped_only) and self.fault_model not in ("flips", "stuck"):
            bad("fields", "--fields and --mapped-only select bits for flips and stuck "
                          "campaigns only")
        if self.stuck_value not in (0, 1):
            bad("stuck_value", f"must be 0 or 1, not {self.stuck_value}")
        for name in ("flux", "duration", "sigma"):
            if not getattr(self, name) > 0:
                bad(name, f"must be positive, not {getattr(self, name)}")
        if not 0 <= self.threshold <= 1:
            bad("threshold", f"must be an accuracy in 0..1, not {self.threshold}")
        if self.fault_model == "stuck" and self.learning == "on":
            bad("learning", "stuck-at campaigns run with learning off (the golden model "
                            "holds stuck-at bits only in words the core never rewrites)")


def replace_samples(spec: CampaignSpec, samples: int) -> CampaignSpec:
    """``spec`` with ``samples`` test images per measurement."""
    d = asdict(spec)
    d["samples"] = samples
    return CampaignSpec(**d)
