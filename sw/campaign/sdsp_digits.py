"""The SDSP digits core as a campaign model (``--model sdsp-digits``).

The SDSP core of :mod:`sw.apps.sdsp_digits` (N = 256, ODIN's widths), trained offline on
the digits training split (``--train-epochs`` passes of the demo's supervised on-chip
learning, golden model), then loaded; the training is cached (keyed by the demo's and
the golden model's source and the epochs), so later campaigns load it. Its accuracy is
measured on the first ``--samples`` test images (learning off, batched golden inference,
:meth:`sim.golden.sdsp.GoldenSdsp.infer`). The memories are the core's five
FaultSRAMs, with the protection ``--protection`` (all roles).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hw.spec.memmap import MemoryName
from hw.spec.protection import code_layout
from sw.campaign.model import CampaignModel

__all__ = ["SdspDigits", "memories"]


class SdspDigits(CampaignModel):
    """The trained SDSP digits core, its test presentations and its memories."""

    name = "sdsp-digits"
    description = "the SDSP core, on-chip learning"

    def __init__(self, spec: "CampaignSpec", *, log=print, trained: dict | None = None):
        from sw.apps import sdsp_digits as sd
        self.sd, self.spec = sd, spec
        prot = spec.protection
        base = sd.demo_config()
        self.config = base.replace(memory=base.memory.replace(
            protection=base.memory.protection.replace(weights=prot, state=prot, tables=prot,
                                                      other=prot)))
        x_train, x_test, y_train, y_test = sd.load_split()
        t0 = time.perf_counter()
        trained = trained or _cached_training(spec.train_epochs)
        if trained is None:
            golden, _ = sd.train(self.config, x_train, y_train, epochs=spec.train_epochs,
                                 seed=0, log=None)
            _cache_training(spec.train_epochs, golden.images())
        else:               # the same trained weights (protection changes no fault-free bit)
            from sim.golden.sdsp import GoldenSdsp
            golden = GoldenSdsp(self.config)
            golden.load(trained)
        self.train_seconds = time.perf_counter() - t0
        golden.learn = False
        self.trained = golden
        self.images = golden.images()
        self.x_train, self.y_train = x_train, y_train
        self.x, self.y = x_test[:spec.samples], y_test[:spec.samples]
        rng = np.random.default_rng([0, 1])     # the demo's test presentations
        self.events = [sd.sample_events(self.config, img, None, train=False, rng_or_seed=rng)
                       for img in self.x]
        self.memories = self._memories()
        self.encoded = golden.encode_samples(self.events)
        self._reference = None
        base_out = self.infer(golden)
        # later inferences compute only the neurons a fault changed (GoldenSdsp.infer)
        self._reference = (golden, (base_out["spikes"], base_out["v_all"]))
        self.baseline = base_out
        self.accuracy0 = base_out["accuracy"]
        self.read_rows = sorted({i for ev in self.events for _, i, _ in ev})
        if log:
            how = (f"trained {spec.train_epochs} epoch(s) on chip in "
                   f"{self.train_seconds:.1f} s" if trained is None else "trained weights")
            log(f"model sdsp-digits: {how}; fault-free accuracy "
                f"{100 * self.accuracy0:.1f} % on {len(self.y)} test images; protection "
                f"{prot}")

    def _memories(self) -> list[dict]:
        return memories(self.config)

    @classmethod
    def chip_memories(cls, protection: str = "none") -> list[dict]:
        """The core's memories (widths of the demo's configuration, unprotected)."""
        from sw.apps.sdsp_digits import demo_config
        return memories(demo_config())

    def trained_images(self) -> dict:
        """The trained core's memory images (the same for every protection)."""
        return self.images

    def copy(self):
        """A copy of the trained core."""
        return self.trained.copy()

    def field_of(self, memory: str, bit: int) -> str:
        """Which field a stored bit of ``memory`` belongs to (``check`` for ECC bits)."""
        table = self.__dict__.setdefault("_bit_fields", {})
        if memory not in table:
            from hw.spec.sdsp import (control_layout, neuron_layout, param_layout,
                                      synapse_layout, unsigned_fields)
            info = next(m for m in self.memories if m["name"] == memory)
            lay = code_layout(info["data_width"],
                              self.config.memory.protection.for_role(info["role"]))
            s = self.config.sdsp
            fields = {".synapses": unsigned_fields(synapse_layout(s)),
                      ".neurons": unsigned_fields(neuron_layout(s)),
                      ".params": unsigned_fields(param_layout(s)), ".signs": [("inh", 1)],
                      ".control": unsigned_fields(control_layout())}[memory[memory.rindex("."):]]
            per_lane = [name for name, width in fields for _ in range(width)]
            names = ["check"] * lay.stored_width
            for d, pos in enumerate(lay.data_pos):
                names[pos] = per_lane[d % len(per_lane)]
            table[memory] = names
        return table[memory][bit]

    def mapped_bits(self, target: dict, bits: list[int]) -> list[tuple[int, int]]:
        """``(word, stored bit)`` of the bits among ``bits`` that hold a synapse the
        trained network maps, in synapse memory ``target``."""
        s = self.config.sdsp
        lay = code_layout(target["data_width"],
                          self.config.memory.protection.for_role(target["role"]))
        pos = {b: i for i, b in enumerate(lay.data_pos)}
        out = []
        for a, j in zip(*np.nonzero(self.trained.mapped)):
            word, lane = a * s.words + j // s.lanes, j % s.lanes
            for b in bits:
                if b in pos and pos[b] // s.synapse_bits == lane:
                    out.append((int(word), b))
        return out

    def acquire(self):
        """The fault-free core for one run, to :meth:`release` after it: a copy of the
        trained core (runs change weights and state), written over the copy an
        earlier run released (no new N x N arrays per run)."""
        spare = self.__dict__.pop("_spare", None)
        return self.trained.copy(into=spare)

    def release(self, g) -> None:
        """Keep ``g``'s arrays for the next run's copy."""
        self._spare = g

    def outcome(self, g, out) -> str:
        """``detected``, else ``masked`` if every output equals the fault-free run's
        (every neuron's spike count and the class neurons' final membranes, which the
        host reads to classify), else ``sdc``."""
        if self.detected(g):
            return "detected"
        same = np.array_equal(out["spikes"], self.baseline["spikes"]) \
            and np.array_equal(out["v"], self.baseline["v"])
        return "masked" if same else "sdc"

    def infer(self, g) -> dict:
        """The test images on core ``g`` (batched golden inference): ``spikes`` (spike
        count per image and neuron, ``(samples, N)``), ``v`` (the class neurons' final
        membranes), ``v_all``, ``predictions`` and ``accuracy``."""
        spikes, v = g.infer(self.encoded, like=self._reference)
        out = self.sd.OUTPUTS
        pred = self.sd.predict_counts(spikes[:, out.start:out.stop], v[:, out.start:out.stop])
        return {"spikes": spikes, "v": v[:, out.start:out.stop], "v_all": v,
                "predictions": pred,
                "accuracy": float(np.mean(pred == self.y)) if len(self.y) else 0.0}

    def online(self, g, rng, count: int):
        """``count`` training images presented with learning on (online phase)."""
        sd = self.sd
        g.learn = True
        try:
            for i in rng.integers(0, len(self.x_train), count):
                g.reset_state()
                label = int(self.y_train[i]) if self.spec.online == "supervised" else None
                g.run(sd.sample_events(self.config, self.x_train[i], label,
                                       train=label is not None, rng_or_seed=rng))
        finally:
            g.learn = False

    def detected(self, g) -> bool:
        """Whether any word the test reads decodes as an uncorrectable error."""
        K, L = self.config.sdsp.words, self.config.sdsp.lanes
        rows = set(self.read_rows)
        signs = {r // L for r in rows}
        for name, ups in g.upsets.items():
            if MemoryName(name).kind == "neurons":   # the host rewrites it before every test image
                continue
            for word in ups:
                if MemoryName(name).kind == "synapses" and word // K not in rows:
                    continue
                if MemoryName(name).kind == "signs" and word not in signs:
                    continue
                if g.peek(name, word)[2]:
                    return True
        return False


def memories(config) -> list[dict]:
    """The SDSP core's memories as campaigns see them (stored width with check bits)."""
    from hw.spec.memmap import sdsp_memories
    m = config.memory
    out = []
    for s in sdsp_memories(config, "sdsp"):
        lay = code_layout(s.width, m.protection.for_role(s.role))
        out.append({"name": s.name, "role": s.role, "words": s.depth,
                    "width": lay.stored_width, "data_width": s.width,
                    "fault_slots": m.fault_slots})
        if s.name.kind == "neurons":
            out[-1]["no_stuck"] = ("the neurons memory is rewritten by every event; "
                                   "target parameters, signs, control or synapses")
    return out


def _training_cache(epochs: int) -> Path:
    from sim.runner import cache_root
    from sw.apps import sdsp_digits as sd
    src = Path(sd.__file__).read_bytes() + Path(__file__).resolve().parents[2].joinpath(
        "sim", "golden", "sdsp.py").read_bytes()
    import hashlib
    digest = hashlib.sha256(src + str(epochs).encode()).hexdigest()[:16]
    return cache_root() / "sdsp_digits" / f"trained-{digest}.json"


def _cached_training(epochs: int) -> dict | None:
    """Trained images from an earlier campaign (keyed by the demo's and the golden
    model's source and the epochs), or None."""
    path = _training_cache(epochs)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _cache_training(epochs: int, images: dict) -> None:
    path = _training_cache(epochs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: [int(w) for w in v] for k, v in images.items()}))
    tmp.replace(path)

