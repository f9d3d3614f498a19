"""Fault-injection campaigns: ``python sw/inject.py ...`` (or ``python -m sw.inject``).

Radiation-style reliability studies of a trained network running on the chip, in the
manner of Nijsink et al. ("Shooting Neutrons at Neurons": ODIN on a PolarFire FPGA under
a neutron beam, weights trained offline and loaded, SDSP running online while upsets
accumulate in the synapse memory).

Model
    ``sdsp-digits``: the SDSP core of :mod:`sw.apps.sdsp_digits` (N = 256, ODIN's widths),
    trained offline on the digits training split (``--train-epochs`` passes of the demo's
    supervised on-chip learning, golden model), then loaded. Its accuracy is measured on
    the first ``--samples`` test images (learning off, batched golden inference,
    :meth:`sim.golden.sdsp.GoldenSdsp.infer`). The memories are the core's five
    FaultSRAMs, with the protection ``--protection`` (all roles).

Targets
    ``--targets`` selects memories of the memory directory by shell pattern (``*`` all;
    ``*.synapses``, ``*.params`` ...), as :meth:`hw.spec.directory.MemoryDirectory.select`.

Fault models (``--fault-model``)
    ``seu``     upsets accumulate as a Poisson process: per-bit cross-section
                ``--sigma`` (cm^2/bit, or ``--cross-section FILE`` per memory, or
                ``--beam-upsets/--beam-fluence/--beam-bits`` to derive it from a beam
                test) times ``--flux`` (particles/cm^2/s) over ``--duration`` seconds,
                optional multi-bit upsets ``--mbu 2:0.05,3:0.01`` (adjacent bits of one
                word); accuracy is measured at ``--checkpoints`` times; between them, with
                learning on, the chip runs ``--online-samples`` training images (``--online
                unsupervised``: learning on, no teacher, as in the paper; ``supervised``:
                the demo's teacher events).
    ``flips``   ``--flips`` random distinct single-bit flips per run, at time 0
                (``--fields weight,mapped,...`` and ``--mapped-only`` narrow the bits:
                e.g. only the weight bits of the synapses the network uses).
    ``stuck``   ``--flips`` random stuck-at-``--stuck-value`` bits per run (the
                FaultSRAM's ``fault_slots`` per memory hold them; more are refused and
                counted), in memories the core never rewrites.
    ``sweep``   every single-bit flip of the one memory ``--targets`` names, one per run
                (``--runs`` limits it to a seeded sample).

Every injected fault is logged (run, memory, word, bit, mask, kind, time, fluence) in
``faults.csv`` and ``campaign.json``, so any run can be replayed exactly
(``--replay DIR``: on ``--backend verilator`` the SDSP core in Verilator takes the same
faults through its memory bus and the same test images; each run's predictions and
spikes must equal the golden model's).

Metrics
    Per run: accuracy (and over time for ``seu``), output agreement with the fault-free
    run (every neuron's spike count on every test image), outcome ``masked`` (outputs
    equal: spike counts and the class neurons' final membranes), ``sdc`` (silent data
    corruption: outputs differ, nothing detected) or ``detected`` (a read met an
    uncorrectable error: parity or SECDED flagged it). Per campaign: outcome fractions with Clopper-Pearson
    intervals, per-memory and per-field vulnerability (which bits matter: synapse weight
    bits, mapping bits, neuron parameters ...), time to failure (accuracy below
    ``--threshold``) with a t interval, and the Leveugle et al. sample size for
    ``--margin``/``--confidence`` (printed; a warning if ``--runs`` is below it).
    ``--learning both`` and ``--protection all`` repeat the campaign for each setting.

Outputs (``--out DIR``): ``campaign.json`` (everything), ``runs.csv``, ``faults.csv``,
``accuracy_vs_fluence.png`` (``seu``: mean and confidence band per setting),
``vulnerability.png`` (SDC fraction per memory and field), a progress bar while it
runs and a summary table at the end.

Execution: the runs of a campaign run in parallel, ``--workers`` processes on this
machine (default: every core; ``--workers 1`` in this process), or on a Dask cluster
(``--cluster local:N`` or ``--cluster tcp://HOST:8786``, the ``distributed`` extra).
Every worker gets the model once; every run draws from its own random stream (the seed
and the run's index) and the fault lists are drawn up front, so the results are the
same for any worker count or cluster (only ``seconds``, ``runs_per_second`` and
``execution`` differ). Each finished run is appended to ``runs.jsonl`` in ``--out``
as it completes; a killed campaign started again with the same command resumes from
it (the runs in it are not run again); a different spec is refused while that
journal's campaign is unfinished (``--fresh`` starts over).

Backends: ``golden`` runs campaigns; ``verilator`` replays a golden campaign's runs on the
RTL (``--replay``). ``serial:PORT`` is not available for SDSP campaigns yet: the host
link does not carry SDSP tiles' memories to the golden host model, so a board's runs
could not be checked; the command says so.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hw.spec.config import Protection
from hw.spec.memory import FaultKind
from hw.spec.protection import code_layout
from sw.campaign import reliability as rel

__all__ = ["CampaignSpec", "SdspDigits", "Journal", "run_campaign", "replay_runs", "field_of",
           "open_cluster", "close_clusters", "limit_blas_threads", "TIMING_FIELDS", "main"]

FAULT_MODELS = ("seu", "flips", "stuck", "sweep")
OUTCOMES = ("masked", "sdc", "detected", "hang", "unmodelled")
MODELS = ("sdsp-digits", "core-digits")


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
        if self.model == "core-digits":
            if self.learning != "off":
                bad("learning", "core-digits has no on-chip learning (the neurocore's "
                                "weights are fixed); use --learning off")
            if self.mapped_only:
                bad("mapped_only", "core-digits: every weight word the network's "
                                   "programs read is mapped; use --fields weight and "
                                   "--targets '*.weights'")
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


# -- the model under test ------------------------------------------------------------------

class SdspDigits:
    """The trained SDSP digits core, its test presentations and its memories."""

    def __init__(self, spec: CampaignSpec, *, log=print, trained: dict | None = None):
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

    def __reduce__(self):
        # pickled as its recipe (spec and trained images): a spawned or remote worker
        # rebuilds the same model once instead of receiving its arrays and module refs
        return _rebuild_model, (asdict(self.spec), self.images)

    def copy(self):
        return self.trained.copy()

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
            if name.endswith(".neurons"):   # the host rewrites it before every test image
                continue
            for word, stored in ups.items():
                if name.endswith(".synapses") and word // K not in rows:
                    continue
                if name.endswith(".signs") and word not in signs:
                    continue
                if g._decode(name, g._forced(name, word, stored))[2]:
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
        if s.name.endswith(".neurons"):
            out[-1]["no_stuck"] = ("the neurons memory is rewritten by every event; "
                                   "target parameters, signs, control or synapses")
    return out


def make_model(spec: CampaignSpec, *, log=print, trained: dict | None = None):
    """The model under test that ``spec.model`` names."""
    if spec.model == "core-digits":
        from sw.apps.core_digits import CoreDigits
        return CoreDigits(spec, log=log)
    return SdspDigits(spec, log=log, trained=trained)


def _rebuild_model(spec: dict, images: dict | None):
    """A model from its pickled recipe (:meth:`SdspDigits.__reduce__`)."""
    return make_model(CampaignSpec(**spec), log=None, trained=images)


def model_memories(model: str, protection: str = "none") -> list[dict]:
    """The memories of a model's chip (to check ``--targets`` before building it)."""
    if model == "core-digits":
        from sw.apps import core_digits
        return core_digits.memories(core_digits.config_for(protection))
    from sw.apps.sdsp_digits import demo_config
    return memories(demo_config())


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


def field_of(model: SdspDigits, memory: str, bit: int) -> str:
    """Which field a stored bit of ``memory`` belongs to (``check`` for ECC bits)."""
    if hasattr(model, "field_of"):
        return model.field_of(memory, bit)
    table = model.__dict__.setdefault("_bit_fields", {})
    if memory not in table:
        from hw.spec.sdsp import (control_layout, neuron_layout, param_layout, synapse_layout, unsigned_fields)
        info = next(m for m in model.memories if m["name"] == memory)
        lay = code_layout(info["data_width"],
                          model.config.memory.protection.for_role(info["role"]))
        s = model.config.sdsp
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


# -- campaigns ------------------------------------------------------------------------------

def _targets(model: SdspDigits, pattern: str) -> list[dict]:
    return select_targets(model.memories, pattern, model.spec.fault_model)


def select_targets(mems, pattern: str, fault_model: str) -> list[dict]:
    """The memories a ``--targets`` pattern selects (refusing an empty selection and, for
    stuck-at faults, memories that cannot hold one: marked ``no_stuck``, or without
    fault slots in the configuration)."""
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    out = [m for m in mems if any(fnmatch.fnmatchcase(m["name"], p) for p in pats)]
    if not out:
        raise ValueError(f"--targets {pattern!r} matches no memory; the memories are "
                         f"{', '.join(m['name'] for m in mems)}")
    if fault_model == "sweep" and len(out) != 1:
        raise ValueError(f"--fault-model sweep needs --targets to name one memory, not "
                         f"{len(out)} ({', '.join(t['name'] for t in out)})")
    if fault_model == "stuck":
        def why_not(m):
            if m["fault_slots"] == 0:
                return "the configuration has no stuck-at fault slots (memory.fault_slots = 0)"
            return m.get("no_stuck")
        refused = [m for m in out if why_not(m)]
        out = [m for m in out if not why_not(m)]
        if not out:
            raise ValueError(f"--fault-model stuck: {refused[0]['name']}: "
                             f"{why_not(refused[0])}")
    return out


def _sigma(spec: CampaignSpec, name: str) -> float:
    for pat, cs in spec.cross_section.items():
        if fnmatch.fnmatchcase(name, pat):
            return float(cs["sigma"] if isinstance(cs, dict) else cs)
    return spec.sigma


def _fault_lists(model: SdspDigits, spec: CampaignSpec, rng) -> list[list[dict]]:
    targets = _targets(model, spec.targets)
    if spec.fault_model == "sweep":
        every = rel.exhaustive_bits(targets[0])
        pick = rng.choice(len(every), size=min(spec.runs, len(every)), replace=False)
        return [[every[i]] for i in sorted(pick)]
    if spec.fault_model in ("flips", "stuck"):
        if spec.fields or spec.mapped_only:
            lists = _selected_flips(model, spec, targets, rng)
        else:
            lists = [rel.fixed_flips(rng, targets, spec.flips) for _ in range(spec.runs)]
        if spec.fault_model == "stuck":
            kind = FaultKind.STUCK_AT_1 if spec.stuck_value else FaultKind.STUCK_AT_0
            for faults in lists:
                for f in faults:
                    f["kind"] = kind.name
        return lists
    mems = [{**t, "sigma": _sigma(spec, t["name"])} for t in targets]
    return [rel.seu_schedule(rng, mems, spec.flux, spec.duration, mbu=spec.mbu or None)
            for _ in range(spec.runs)]


def _selected_flips(model, spec, targets, rng) -> list[list[dict]]:
    """Flips drawn uniformly from the stored bits of the fields ``spec.fields`` (all
    fields when empty), in synapse memories only the synapses the network maps when
    ``spec.mapped_only``."""
    fields = {f.strip() for f in spec.fields.split(",") if f.strip()}
    s = model.config.sdsp
    cands = []                                   # (memory, word, stored bit)
    names = {t["name"]: [field_of(model, t["name"], b) for b in range(t["width"])]
             for t in targets}
    known = {n for v in names.values() for n in v}
    if fields - known:
        raise ValueError(f"--fields: {', '.join(sorted(fields - known))} is not a field of "
                         f"{spec.targets!r}; its fields are {', '.join(sorted(known))}")
    for t in targets:
        bits = [b for b, n in enumerate(names[t["name"]]) if not fields or n in fields]
        if not bits:
            continue
        if spec.mapped_only and t["name"].endswith(".synapses"):
            lay = code_layout(t["data_width"],
                              model.config.memory.protection.for_role(t["role"]))
            pos = {b: i for i, b in enumerate(lay.data_pos)}
            for a, j in zip(*np.nonzero(model.trained.mapped)):
                word, lane = a * s.words + j // s.lanes, j % s.lanes
                for b in bits:
                    if b in pos and pos[b] // s.synapse_bits == lane:
                        cands.append((t["name"], int(word), b))
        elif not spec.mapped_only or not t["name"].endswith(".synapses"):
            cands += [(t["name"], w, b) for w in range(t["words"]) for b in bits]
    if len(cands) < spec.flips:
        raise ValueError(f"--fields {spec.fields or '(all)'}"
                         f"{' --mapped-only' if spec.mapped_only else ''} leaves "
                         f"{len(cands)} bits in {spec.targets!r}, fewer than --flips "
                         f"{spec.flips}")
    out = []
    for _ in range(spec.runs):
        pick = rng.choice(len(cands), size=spec.flips, replace=False)
        out.append([{"time": 0.0, "fluence": 0.0, "memory": cands[i][0],
                     "word": cands[i][1], "bit": cands[i][2], "mask": 1 << cands[i][2],
                     "bits": 1} for i in sorted(pick)])
    return out


def _inject(g, faults) -> int:
    applied = 0
    for f in faults:
        applied += bool(g.inject(f["memory"], f["word"], f["mask"],
                                 FaultKind[f.get("kind", "FLIP")]))
    return applied


def _outcome(model, g, out) -> str:
    """The run's outcome as the model defines it (:meth:`SdspDigits.outcome`)."""
    return model.outcome(g, out)


def _acquire(model):
    return model.acquire() if hasattr(model, "acquire") else model.copy()


def _release(model, g) -> None:
    if hasattr(model, "release"):
        model.release(g)


def _run_one(model, spec, faults, r: int) -> dict:
    """Run ``r`` of a campaign: its own random stream (seeded by the campaign's seed
    and the run index, so any worker computes the same record)."""
    rng = np.random.default_rng([spec.seed, r])
    g = _acquire(model)
    try:
        return (_seu_run if spec.fault_model == "seu" else _static_run)(model, spec, faults,
                                                                        rng, g)
    finally:
        _release(model, g)


def _static_run(model, spec, faults, rng, g) -> dict:
    applied = _inject(g, faults)
    out = model.infer(g)
    rec = {"accuracy": out["accuracy"], "outcome": _outcome(model, g, out),
           "applied": applied,
           "agreement": None if out["accuracy"] is None else
           float(np.mean(out["predictions"] == model.baseline["predictions"])),
           "predictions": out["predictions"].tolist()}
    if "path" in out:               # how the model computed it (core-digits)
        rec["path"] = out["path"]
    for why in ("hang", "unmodelled"):
        if out.get(why):
            rec["reason"] = out[why]
    if spec.learning == "on" and spec.online_samples:
        model.online(g, rng, spec.online_samples)
        after = model.infer(g)
        rec["accuracy_after_online"] = after["accuracy"]
    return rec


def _seu_run(model, spec, faults, rng, g) -> dict:
    times = np.linspace(0, spec.duration, spec.checkpoints + 1)[1:]
    accs, done = [], 0
    out = None
    for t in times:
        now = [f for f in faults[done:] if f["time"] < t]
        _inject(g, now)
        done += len(now)
        if spec.learning == "on" and spec.online_samples:
            model.online(g, rng, spec.online_samples)
        out = model.infer(g)
        if out["accuracy"] is None:
            break                   # unmodelled from here on: the curve stops
        accs.append(out["accuracy"])
    known = len(accs)
    ttf = rel.time_to_failure([0.0, *times[:known]], [model.accuracy0, *accs],
                              spec.threshold)
    rec = {"accuracy": accs[-1] if accs else None, "times": times.tolist(),
           "fluence": (times * spec.flux).tolist(),
           "accuracies": accs + [None] * (len(times) - known),
           "time_to_failure": ttf, "outcome": _outcome(model, g, out), "applied": len(faults),
           "agreement": None if out["accuracy"] is None else
           float(np.mean(out["predictions"] == model.baseline["predictions"]))}
    if known < len(times):
        # censored where the model stops: the run had not failed by the last checkpoint
        rec["censored_at"] = float(times[known - 1]) if known else 0.0
        rec["reason"] = out.get("unmodelled")
    return rec


def run_campaign(spec: CampaignSpec, *, model: SdspDigits | None = None, progress=True,
                 log=print, workers: int = 1, cluster: str | None = None,
                 journal: "Journal | Path | None" = None, campaign: int = 0,
                 fresh: bool = False, on_run=None) -> dict:
    """Run one campaign on the golden model; returns the results (see :func:`main`).

    Parameters
    ----------
    workers : int
        Processes running the runs at once on this machine (1: in this process). Each
        gets the model once (forked, or rebuilt from its recipe where processes are
        spawned).
    cluster : str, optional
        Run on a Dask cluster instead (:func:`open_cluster`: ``local:N`` or a
        scheduler address such as ``tcp://host:8786``); needs the ``distributed``
        extra.
    journal : Journal or Path, optional
        Append every finished run to this journal (``runs.jsonl``) as it completes,
        and take the runs already in it instead of running them again (a killed
        campaign resumes); ``campaign`` is the campaign's index in it and ``fresh``
        starts the journal over.
    on_run : callable, optional
        ``on_run(run_index, record)`` after each run is journaled (progress hooks,
        tests).

    Every run draws from its own random stream (the seed and its index) and the fault
    lists are drawn up front, so the results do not depend on ``workers``,
    ``cluster`` or the order runs finish in; ``seconds``, ``runs_per_second`` and
    ``execution`` are the only fields that do.
    """
    spec.validate()
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers: must be at least 1, not {workers!r}")
    model = model or make_model(spec, log=log)
    rng = np.random.default_rng(spec.seed)
    lists = _fault_lists(model, spec, rng)
    population = sum(m["words"] * m["width"] for m in _targets(model, spec.targets))
    needed = rel.sample_size(population, spec.margin, spec.confidence)
    for faults in lists:
        for f in faults:
            f["field"] = field_of(model, f["memory"], f["bit"])
    if journal is not None and not isinstance(journal, Journal):
        journal = Journal(Path(journal))
        journal.prepare([spec], fresh=fresh)
    done = journal.runs(campaign, spec, lists) if journal is not None else {}
    todo = [r for r in range(len(lists)) if r not in done]
    from tqdm import tqdm
    bar = tqdm(total=len(lists), initial=len(done), desc=f"{spec.fault_model} learning "
               f"{spec.learning} {spec.protection}", unit="run", disable=not progress,
               leave=False)
    runs = dict(done)
    engine = "in-process" if cluster is None and workers == 1 else \
        f"processes:{workers}" if cluster is None else f"dask:{cluster}"
    t0 = time.perf_counter()
    try:
        for batch in _execute(model, spec, lists, todo, workers, cluster):
            for r, rec in batch:
                # as JSON reads it back: a resumed campaign equals an uninterrupted one
                run = json.loads(json.dumps({"run": r, "faults": lists[r], **rec},
                                            default=_json))
                runs[r] = run
                if journal is not None:
                    journal.append(campaign, run)
            if journal is not None:
                journal.flush()
            bar.update(len(batch))
            if on_run is not None:
                for r, _ in batch:
                    on_run(r, runs[r])
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    runs = [runs[r] for r in range(len(lists))]
    return {"spec": asdict(spec), "accuracy0": model.accuracy0,
            "baseline_predictions": model.baseline["predictions"].tolist(),
            "population_bits": population, "sample_size": needed, "seconds": seconds,
            "runs_per_second": len(todo) / seconds if seconds and todo else None,
            "execution": {"engine": engine, "workers": _engine_workers(workers, cluster),
                          "ran": len(todo), "resumed": len(done)},
            "summary": summarize(spec, runs, model.accuracy0), "runs": runs}


# -- running the runs: in this process, local processes, a cluster --------------------------

#: Fields of a campaign's results that depend on how and when it ran, not on its spec.
TIMING_FIELDS = ("seconds", "runs_per_second", "execution")

_WORKER: dict = {}          # a worker process's model, set once by _worker_init


def limit_blas_threads():
    """One BLAS thread for this process while the returned context is held (as long as
    it is not exited). Campaigns spread runs over the cores; the golden models' matrix
    products are small (1,600 x 128 x 64), and OpenBLAS's own threads on top made
    core-digits runs 3.5 x slower on 2 busy cores (docs/inject.md). Through
    ``threadpoolctl`` where it is installed (the ``dev`` and ``distributed`` extras),
    else through the OpenBLAS that NumPy's wheels bundle; a no-op if neither is
    found."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return _OpenBlasThreads(1)
    return threadpool_limits(1, user_api="blas")


class _OpenBlasThreads:
    """Set the thread count of the OpenBLAS libraries loaded in this process (NumPy's
    bundled ``libscipy_openblas``), restored on exit; does nothing where there is none
    (no ``/proc/self/maps``, another BLAS)."""

    _SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                "openblas_set_num_threads64_", "openblas_set_num_threads")

    def __init__(self, n: int):
        import ctypes
        self.saved = []
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return
        paths = sorted({line.split()[-1] for line in maps.splitlines()
                        if "openblas" in line.lower() and line.split()[-1].startswith("/")})
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for name in self._SETTERS:
                setter = getattr(lib, name, None)
                getter = getattr(lib, name.replace("set_", "get_"), None)
                if setter is not None and getter is not None:
                    self.saved.append((setter, getter()))
                    setter(n)
                    break

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for setter, n in self.saved:
            setter(n)
        self.saved = []


def keep_freed_memory() -> None:
    """Let this process keep the memory it frees for its next allocations (glibc's
    ``mallopt``: no trimming, no ``mmap`` below 32 MiB; a no-op elsewhere). A run
    allocates and frees arrays of a few MiB (spikes of 100 images x 16 steps x 128
    neurons); glibc otherwise maps each afresh and returns it, and the page faults of
    touching it again made core-digits runs 2 x slower (docs/inject.md)."""
    if _WORKER.get("malloc") or not sys.platform.startswith("linux"):
        return
    _WORKER["malloc"] = True
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return                  # not glibc
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_trim_threshold, 512 << 20)
    mallopt(m_mmap_threshold, 32 << 20)        # glibc's largest on 64-bit machines


def _worker_init(model) -> None:
    _WORKER["model"] = model
    _WORKER["blas"] = limit_blas_threads()       # held for the process's life
    keep_freed_memory()
    # a killed campaign must not leave its workers behind: they share the task pipe,
    # so none of them ever sees it close
    import threading
    parent = os.getppid()

    def orphaned():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=orphaned, daemon=True, name="campaign-parent-watch").start()


def _worker_runs(spec: CampaignSpec, chunk) -> list:
    model = _WORKER["model"]
    return [(r, _run_one(model, spec, faults, r)) for r, faults in chunk]


def _chunks(todo, lists, workers: int, most: int = 16) -> list:
    """Runs in chunks of at most ``most``: several per worker, so that neither the
    messages per task nor a slow last chunk dominate."""
    size = max(1, min(most, len(todo) // (4 * workers) or 1))
    return [[(r, lists[r]) for r in todo[i:i + size]] for i in range(0, len(todo), size)]


def _engine_workers(workers: int, cluster: str | None) -> int:
    if cluster is None:
        return workers
    return _CLUSTERS[cluster][1] if cluster in _CLUSTERS else 0


def _execute(model, spec, lists, todo, workers: int, cluster: str | None):
    """Yield lists of ``(run index, record)`` as runs finish."""
    if not todo:
        return
    if cluster is not None:
        yield from _execute_dask(model, spec, lists, todo, cluster)
        return
    if workers == 1:
        keep_freed_memory()
        with limit_blas_threads():
            for r in todo:
                yield [(r, _run_one(model, spec, lists[r], r))]
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    # fork hands every worker the built model without pickling it; elsewhere the
    # model is pickled as its recipe and rebuilt once per worker (__reduce__)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    chunks = _chunks(todo, lists, workers)
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx,
                             initializer=_worker_init, initargs=(model,)) as pool:
        pending = {pool.submit(_worker_runs, spec, c) for c in chunks}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()


# -- the Dask engine (optional extra "distributed") --------------------------------------

_CLUSTERS: dict = {}        # address given -> (dask Client, workers)


def open_cluster(address: str):
    """A Dask client for ``--cluster``: ``local:N`` starts a cluster of N worker
    processes on this machine (one thread each), kept for the life of this process;
    anything else is a scheduler address (``tcp://host:8786``). Returns the client."""
    if address in _CLUSTERS:
        return _CLUSTERS[address][0]
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(f"--cluster {address}: needs Dask's distributed scheduler; "
                         "install the extra: pip install -e '.[distributed]'") from None
    if address.startswith("local:"):
        try:
            n = int(address.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"--cluster {address}: local:N needs a worker count N of at "
                             "least 1, such as local:2")
        import dask
        # the workers' statistical profiler samples every task's stack each 10 ms:
        # it cost a third of the runs/s of sdsp-digits runs (docs/inject.md)
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster)
    elif "://" in address:
        try:
            client = Client(address, timeout="10s")
        except OSError as e:
            raise ValueError(f"--cluster {address}: cannot reach the Dask scheduler "
                             f"({e})") from None
    else:
        raise ValueError(f"--cluster {address!r}: give local:N (a cluster of N workers on "
                         "this machine) or a Dask scheduler address such as "
                         "tcp://host:8786")
    n = len(client.scheduler_info()["workers"])
    _CLUSTERS[address] = (client, n)
    return client


def close_clusters() -> None:
    """Shut down the clients (and local clusters) :func:`open_cluster` started."""
    while _CLUSTERS:
        _, (client, _) = _CLUSTERS.popitem()
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


_LOCKS: dict = {}


def _cluster_runs(model, spec: CampaignSpec, chunk) -> list:
    """A task on a Dask worker: ``model`` is the worker's copy (scattered once)."""
    import threading
    if "blas" not in _WORKER:
        _WORKER["blas"] = limit_blas_threads()
        keep_freed_memory()
    # a worker with several threads shares its copy of the model: one run at a time
    lock = _LOCKS.setdefault(id(model), threading.Lock())
    with lock:
        return [(r, _run_one(model, spec, faults, r)) for r, faults in chunk]


def _execute_dask(model, spec, lists, todo, address: str):
    from dask.distributed import as_completed
    client = open_cluster(address)
    workers = max(1, _CLUSTERS[address][1])
    shared = client.scatter(model, broadcast=True)
    # a Dask task costs about a millisecond more than a pool's: larger chunks
    futures = [client.submit(_cluster_runs, shared, spec, c, pure=False)
               for c in _chunks(todo, lists, workers, most=64)]
    try:
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.cancel(futures)
        client.cancel(shared)


# -- the journal: resumable campaigns ------------------------------------------------------

class Journal:
    """``runs.jsonl`` in a campaign's ``--out`` directory: one JSON line per finished
    run, written (and flushed) as it finishes, after one header line per campaign with
    its spec. A campaign started again with the same spec takes the runs it finds there
    instead of running them; the journal of a campaign that did not finish refuses a
    different spec (naming the parameter); ``fresh`` starts over. A line cut short by a
    kill is dropped."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.headers: dict = {}     # campaign -> spec (as JSON reads it)
        self.lines: dict = {}       # campaign -> {run: record}
        self.complete = False
        self._file = None

    def _read(self) -> None:
        self.headers, self.lines, self.complete = {}, {}, False
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        good = 0                    # bytes up to the last whole line
        for n, line in enumerate(raw.splitlines(keepends=True), 1):
            if not line.endswith(b"\n"):
                break               # cut short by a kill: dropped (and truncated below)
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"--out {self.path.parent}: line {n} of {self.path.name} "
                                 f"is not JSON ({e}); start over with --fresh") from None
            good += len(line)
            # finished only if the marker is the last line: campaigns may follow it
            self.complete = "complete" in rec
            if self.complete:
                continue
            if "spec" in rec:
                self.headers[rec["campaign"]] = rec["spec"]
                self.lines.setdefault(rec["campaign"], {})
            else:
                self.lines.setdefault(rec["campaign"], {})[rec["run"]] = rec["record"]
        if good < len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def prepare(self, specs: list, *, fresh: bool = False) -> None:
        """Open the journal for campaigns ``specs`` (index = campaign): keep it if
        every campaign it holds has the same spec; start over with ``fresh``, or when
        its campaigns all finished with other specs; else refuse."""
        self._read()
        if not fresh:
            for c, old in sorted(self.headers.items()):
                new = _as_json(asdict(specs[c])) if c < len(specs) else None
                if old == new:
                    continue
                if self.complete:
                    fresh = True    # a finished journal of other campaigns: start anew
                    break
                raise ValueError(f"--out {self.path.parent}: {self.path.name} holds the "
                                 f"unfinished campaign {_spec_difference(old, new)}; run "
                                 "the same command to resume it, or give --fresh to start "
                                 "over (or another --out)")
        if fresh:
            self.headers, self.lines, self.complete = {}, {}, False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w" if fresh else "a")
        self.complete = False
        for c, spec in enumerate(specs):
            if c not in self.headers:
                self.headers[c] = _as_json(asdict(spec))
                self._write({"campaign": c, "spec": self.headers[c]})
        self.flush()

    def runs(self, campaign: int, spec: CampaignSpec, lists) -> dict:
        """The journal's records of ``campaign`` (``{run: record}``), checked against
        the faults the campaign draws now."""
        if self._file is None:
            self.prepare([spec])
        out = self.lines.get(campaign, {})
        for r, rec in out.items():
            if r >= len(lists) or rec["faults"] != _as_json(lists[r]):
                raise ValueError(f"--out {self.path.parent}: run {r} in {self.path.name} "
                                 "has other faults than this campaign draws (the code or "
                                 "the model changed?); give --fresh to start over")
        return dict(out)

    def append(self, campaign: int, record: dict) -> None:
        self.lines.setdefault(campaign, {})[record["run"]] = record
        self._write({"campaign": campaign, "run": record["run"], "record": record})

    def _write(self, obj) -> None:
        self._file.write(json.dumps(obj, default=_json) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def finish(self) -> None:
        """Mark every campaign finished (its outputs written) and close."""
        self._write({"complete": True})
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _as_json(obj):
    return json.loads(json.dumps(obj, default=_json))


def _spec_difference(old: dict, new: dict | None) -> str:
    """The first parameter two specs differ in, as the option and both values."""
    if new is None:
        return (f"{old.get('fault_model')} campaign with --protection "
                f"{old.get('protection')} --learning {old.get('learning')}, which this "
                "command does not run")
    for key in list(old) + [k for k in new if k not in old]:
        if old.get(key) != new.get(key):
            return (f"with --{key.replace('_', '-')} {old.get(key)!r}, not "
                    f"{new.get(key)!r}")
    return "with the same spec"     # pragma: no cover - callers compare first


def summarize(spec: CampaignSpec, runs, accuracy0: float) -> dict:
    c = spec.confidence
    n = len(runs)
    out = {"runs": n, "accuracy0": accuracy0}
    for o in OUTCOMES:
        k = sum(r["outcome"] == o for r in runs)
        out[o] = {"count": k, "fraction": k / n if n else 0.0,
                  "interval": rel.proportion_interval(k, n, c) if n else (0.0, 1.0)}
    def bounded(values, lo, hi):
        """Mean and t interval, the interval clipped to what the quantity can be."""
        m, a, b = rel.mean_with_interval(values, c)
        return m, max(lo, a), min(hi, b)
    accs = [r["accuracy"] for r in runs if r["accuracy"] is not None]
    out["accuracy"] = bounded(accs, 0.0, 1.0) if accs else None
    out["unmodelled_reasons"] = sorted({r["reason"] for r in runs
                                        if r["outcome"] == "unmodelled" and r.get("reason")})
    if spec.learning == "on" and runs and "accuracy_after_online" in runs[0]:
        out["accuracy_after_online"] = bounded(
            [r["accuracy_after_online"] for r in runs], 0.0, 1.0)
    # vulnerability: outcome per memory and per field (single-fault runs are exact)
    groups = {}
    for r in runs:
        if len(r["faults"]) != 1 or r["accuracy"] is None:
            continue
        f = r["faults"][0]
        for key in (f["memory"], f"{f['memory']}:{f['field']}"):
            g = groups.setdefault(key, {"runs": 0, "sdc": 0, "detected": 0, "drop": []})
            g["runs"] += 1
            g["sdc"] += r["outcome"] == "sdc"
            g["detected"] += r["outcome"] == "detected"
            g["drop"].append(accuracy0 - r["accuracy"])
            if "accuracy_after_online" in r:
                g.setdefault("drop_after_online", []).append(
                    accuracy0 - r["accuracy_after_online"])
    vuln = {}
    for key, g in sorted(groups.items()):
        vuln[key] = {"runs": g["runs"], "sdc_fraction": g["sdc"] / g["runs"],
                     "sdc_interval": rel.proportion_interval(g["sdc"], g["runs"], c),
                     "detected_fraction": g["detected"] / g["runs"],
                     "mean_accuracy_drop": float(np.mean(g["drop"]))}
        if "drop_after_online" in g:
            vuln[key]["mean_accuracy_drop_after_online"] = float(np.mean(g["drop_after_online"]))
    out["vulnerability"] = vuln
    if spec.fault_model == "seu":
        ttf = [r["time_to_failure"] for r in runs]
        failed = [t for t in ttf if t is not None]
        out["failed_runs"] = len(failed)
        # runs that never failed are censored at the duration: the mean is a lower bound
        out["mean_time_to_failure_s"] = bounded(
            [t if t is not None else r.get("censored_at", spec.duration)
             for t, r in zip(ttf, runs)], 0.0, float("inf"))
        out["time_to_failure_censored"] = len(ttf) - len(failed)
        out["upsets_per_run"] = float(np.mean([len(r["faults"]) for r in runs]))
    return out


# -- outputs ---------------------------------------------------------------------------------

def write_outputs(results: list[dict], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "campaign.json").write_text(json.dumps(results, indent=1, default=_json) + "\n")
    paths = [out / "campaign.json", out / "runs.csv", out / "faults.csv"]
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["campaign", "fault_model", "protection", "learning", "run", "faults",
                    "outcome", "accuracy", "agreement", "accuracy_after_online",
                    "time_to_failure_s"])
        for c, res in enumerate(results):
            s = res["spec"]
            for r in res["runs"]:
                w.writerow([c, s["fault_model"], s["protection"], s["learning"], r["run"],
                            len(r["faults"]), r["outcome"], r["accuracy"], r["agreement"],
                            r.get("accuracy_after_online", ""), r.get("time_to_failure", "")])
    with open(out / "faults.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["campaign", "run", "memory", "word", "bit", "mask", "bits", "field",
                    "kind", "time_s", "fluence"])
        for c, res in enumerate(results):
            for r in res["runs"]:
                for x in r["faults"]:
                    w.writerow([c, r["run"], x["memory"], x["word"], x["bit"], hex(x["mask"]),
                                x["bits"], x["field"], x.get("kind", "FLIP"), x["time"],
                                x["fluence"]])
    paths += _plots(results, out)
    return paths


def _json(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


def _plots(results, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    seu = [r for r in results if r["spec"]["fault_model"] == "seu"]
    if seu:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for res in seu:
            s = res["spec"]
            fl = np.array(res["runs"][0]["fluence"])
            acc = np.array([[np.nan if a is None else a for a in r["accuracies"]]
                            for r in res["runs"]], dtype=float)
            # unmodelled checkpoints (core-digits) are left out of each point
            cols = [acc[:, i][np.isfinite(acc[:, i])] for i in range(acc.shape[1])]
            mean = np.array([c.mean() if len(c) else np.nan for c in cols])
            band = np.clip([rel.mean_with_interval(c, s["confidence"])[1:] if len(c)
                            else (np.nan, np.nan) for c in cols], 0.0, 1.0)
            label = f"protection {s['protection']}, learning {s['learning']}"
            ax.plot(np.r_[0, fl], np.r_[res["accuracy0"], mean], marker="o", label=label)
            ax.fill_between(fl, band[:, 0], band[:, 1], alpha=0.2)
        ax.axhline(seu[0]["spec"]["threshold"], color="grey", ls="--", lw=1,
                   label="failure threshold")
        ax.set_xlabel("fluence (particles/cm$^2$)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{seu[0]['spec']['model']} under accumulating SEUs ({len(seu[0]['runs'])} runs, "
                     f"{int(100 * seu[0]['spec']['confidence'])} % band)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "accuracy_vs_fluence.png", dpi=120)
        plt.close(fig)
        paths.append(out / "accuracy_vs_fluence.png")
    vul = [(res, k, v) for res in results for k, v in res["summary"]["vulnerability"].items()
           if ":" in k]
    if vul:
        fig, ax = plt.subplots(figsize=(8, 0.3 * len(vul) + 1.5))
        labels = [f"{k.split('.', 1)[1]} ({res['spec']['protection']}, "
                  f"learning {res['spec']['learning']})" for res, k, _ in vul]
        frac = [v["sdc_fraction"] for _, _, v in vul]
        err = np.array([[v["sdc_fraction"] - v["sdc_interval"][0],
                         v["sdc_interval"][1] - v["sdc_fraction"]] for _, _, v in vul]).T
        ax.barh(range(len(vul)), frac, xerr=err, color="tab:red", alpha=0.7)
        ax.set_yticks(range(len(vul)), labels, fontsize=7)
        ax.set_xlabel("fraction of single faults giving silent data corruption")
        ax.set_xlim(0, 1)
        ax.set_title("vulnerability per memory field")
        fig.tight_layout()
        fig.savefig(out / "vulnerability.png", dpi=120)
        plt.close(fig)
        paths.append(out / "vulnerability.png")
    return paths


def table(results: list[dict]) -> str:
    lines = [f"{'model':<12} {'faults':<6} {'prot':<7} {'learn':<5} {'runs':>5} "
             f"{'masked':>7} {'sdc':>7} {'detect':>7} {'hang':>6} {'unmod':>6} "
             f"{'accuracy (CI)':>22} "
             f"{'after online':>12} {'MTTF s (CI)':>24} {'runs/s':>7}"]
    for res in results:
        s, m = res["spec"], res["summary"]
        acc = m["accuracy"] or (float("nan"),) * 3
        after = m.get("accuracy_after_online")
        mttf = m.get("mean_time_to_failure_s")
        lines.append(
            f"{s['model']:<12} {s['fault_model']:<6} {s['protection']:<7} {s['learning']:<5} "
            f"{m['runs']:>5} {m['masked']['fraction']:>7.3f} {m['sdc']['fraction']:>7.3f} "
            f"{m['detected']['fraction']:>7.3f} {m['hang']['fraction']:>6.3f} "
            f"{m['unmodelled']['fraction']:>6.3f} "
            f"{acc[0]:>8.3f} ({acc[1]:.3f}-{acc[2]:.3f})  "
            f"{after[0] if after else float('nan'):>11.3f} "
            + (f"{mttf[0]:>9.0f} ({mttf[1]:.0f}-{mttf[2]:.0f})" if mttf else f"{'-':>24}")
            + f" {res['runs_per_second'] or 0:>7.1f}")
    return "\n".join(lines)


# -- replay on the RTL -------------------------------------------------------------------------

def replay_runs(results: dict, runs, *, samples: int = 20, backend: str = "verilator") -> dict:
    """Replay runs of a static golden campaign on the RTL: the trained images, the run's
    faults through the memory bus, the first ``samples`` test presentations; the RTL's
    spikes per presentation must equal the golden model's and its predictions the
    campaign's. Returns ``{"replayed": n, "matches": k, "runs": [...]}``."""
    if backend != "verilator":
        raise ValueError(f"replay backend {backend!r}: only 'verilator' replays SDSP "
                         "campaigns (the serial link does not reach SDSP tiles' memories "
                         "in the golden host model yet)")
    import tempfile

    from sim.rtl import sdsp_core_build
    from sim.runner import run_cocotb
    spec = CampaignSpec(**results["spec"])
    if spec.fault_model == "seu" or spec.learning == "on":
        raise ValueError("replay takes static campaigns with learning off (flips, stuck, "
                         "sweep): their faults are all injected before the test")
    model = SdspDigits(replace_samples(spec, samples), log=None)
    chosen = [results["runs"][r] for r in runs]
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "case.json"
        case.write_text(json.dumps({
            "images": {k: [int(w) for w in v] for k, v in model.images.items()},
            "samples": [[[int(k.value), int(i), int(a)] for k, i, a in ev]
                        for ev in model.events],
            "runs": [{"run": r["run"], "faults": [[f["memory"], f["word"], f["mask"],
                                                   f.get("kind", "FLIP")]
                                                  for f in r["faults"]],
                      "predictions": r["predictions"][:samples]} for r in chosen]}))
        out = Path(tmp) / "out.json"
        config = model.config
        build = sdsp_core_build(config)
        run_cocotb(build, "sim.tb.sdsp", testcase="test_sdsp_inject_replay",
                   params={"config": config.to_dict(), "case": str(case), "out": str(out)})
        return json.loads(out.read_text())


def replace_samples(spec: CampaignSpec, samples: int) -> CampaignSpec:
    d = asdict(spec)
    d["samples"] = samples
    return CampaignSpec(**d)


# -- command line ----------------------------------------------------------------------------

def _mbu(text: str) -> dict:
    out = {}
    for part in filter(None, text.split(",")):
        try:
            k, p = part.split(":")
            out[int(k)] = float(p)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--mbu takes BITS:PROBABILITY pairs such as 2:0.05,3:0.01, not {text!r}")
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python sw/inject.py",
        description="Fault-injection campaigns on the golden model, replayed on the RTL.",
        epilog="Examples: python sw/inject.py --fault-model flips --runs 1000 --out "
               "results/flips; python sw/inject.py --fault-model seu --protection all "
               "--learning both --runs 20 --out results/seu; python sw/inject.py --replay "
               "results/flips --replay-runs 20",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = CampaignSpec()
    p.add_argument("--model", default=d.model, choices=MODELS,
                   help="network and chip under test: sdsp-digits (the SDSP core, on-chip "
                        "learning) or core-digits (the demo network on two neurocores: "
                        "microcode, tables, weights, state, routes)")
    p.add_argument("--backend", default="golden",
                   help="'golden' runs campaigns; 'verilator' replays them (--replay); "
                        "'serial:PORT' replays core-digits campaigns on a board (SDSP "
                        "campaigns cannot: the host link's golden model has no SDSP tile "
                        "memories)")
    p.add_argument("--targets", default=d.targets,
                   help="memories by shell pattern, comma-separated (e.g. '*.synapses')")
    p.add_argument("--fault-model", default=d.fault_model, choices=FAULT_MODELS)
    p.add_argument("--runs", type=int, default=d.runs, help="runs per setting")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", type=Path, default=Path("results/inject"),
                   help="output directory (and its journal runs.jsonl, which a campaign "
                        "started again resumes from)")
    p.add_argument("--protection", default=d.protection,
                   choices=["none", "parity", "secded", "all"],
                   help="FaultSRAM protection of every memory; 'all' runs each")
    p.add_argument("--learning", default=d.learning, choices=["on", "off", "both"],
                   help="SDSP learning during the run (online phase); 'both' runs each")
    p.add_argument("--flips", type=int, default=d.flips,
                   help="faults per run (flips, stuck)")
    p.add_argument("--fields", default=d.fields,
                   help="flips/stuck only in these fields, comma-separated (weight, mapped, "
                        "thr, leak, theta_m, theta_1..3, ca_leak, v, ca, count, inh, learn, "
                        "gate, check)")
    p.add_argument("--mapped-only", action="store_true",
                   help="in synapse memories, only the synapses the network maps")
    p.add_argument("--stuck-value", type=int, default=d.stuck_value, choices=[0, 1])
    p.add_argument("--sigma", type=float, default=d.sigma,
                   help="SEU cross-section per bit, cm^2/bit (seu)")
    p.add_argument("--cross-section", type=Path, metavar="FILE",
                   help="JSON {memory pattern: sigma or {sigma, low, high}} measured per "
                        "memory (seu; overrides --sigma where a pattern matches)")
    p.add_argument("--beam-upsets", type=int, metavar="K",
                   help="derive sigma from a beam test: upsets counted ...")
    p.add_argument("--beam-fluence", type=float, metavar="F",
                   help="... at this fluence (particles/cm^2) ...")
    p.add_argument("--beam-bits", type=int, metavar="B", help="... over this many bits")
    p.add_argument("--flux", type=float, default=d.flux, help="particles/cm^2/s (seu)")
    p.add_argument("--duration", type=float, default=d.duration, help="seconds (seu)")
    p.add_argument("--checkpoints", type=int, default=d.checkpoints,
                   help="accuracy measurements over the duration (seu)")
    p.add_argument("--mbu", type=_mbu, default={},
                   help="multi-bit upsets: BITS:PROBABILITY,... (seu)")
    p.add_argument("--online", default=d.online, choices=["unsupervised", "supervised"],
                   help="online phase with learning on: without or with the teacher")
    p.add_argument("--online-samples", type=int, default=d.online_samples,
                   help="training images per online phase (learning on)")
    p.add_argument("--samples", type=int, default=d.samples,
                   help="test images per accuracy measurement")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help="application-level failure: accuracy below this")
    p.add_argument("--train-epochs", type=int, default=d.train_epochs,
                   help="offline training epochs before the campaign")
    p.add_argument("--margin", type=float, default=d.margin,
                   help="error margin for the Leveugle sample size")
    p.add_argument("--confidence", type=float, default=d.confidence,
                   help="confidence of the sample size and of every interval")
    p.add_argument("--replay", type=Path, metavar="DIR",
                   help="replay runs of the campaign in DIR on --backend verilator")
    p.add_argument("--replay-runs", type=int, default=20, help="runs to replay")
    p.add_argument("--replay-samples", type=int, default=20,
                   help="test images per replayed run")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes running runs at once on this machine (1: in this "
                        "process); the results do not depend on it")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run on a Dask cluster instead: local:N (N worker processes "
                        "started here) or a scheduler address such as tcp://host:8786 "
                        "(needs the 'distributed' extra)")
    p.add_argument("--fresh", action="store_true",
                   help="start over: ignore the journal (runs.jsonl) in --out; without "
                        "it a campaign started again resumes from its journal")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.backend.startswith("serial:") and not args.replay:
        parser().error("--backend serial: campaigns run on the golden model; a board "
                       "replays a core-digits campaign's runs (--replay DIR --backend "
                       "serial:PORT)")
    if args.replay:
        return _main_replay(args)
    if args.backend != "golden":
        parser().error(f"--backend {args.backend}: campaigns run on 'golden'; 'verilator' "
                       "replays them (--replay DIR)")
    cross = {}
    if args.cross_section:
        try:
            cross = json.loads(args.cross_section.read_text())
        except (OSError, json.JSONDecodeError) as e:
            parser().error(f"--cross-section {args.cross_section}: {e}")
    sigma = args.sigma
    beam = (args.beam_upsets, args.beam_fluence, args.beam_bits)
    if any(b is not None for b in beam):
        if None in beam:
            parser().error("--beam-upsets, --beam-fluence and --beam-bits go together")
        cs = rel.cross_section(args.beam_upsets, args.beam_fluence, args.beam_bits,
                               args.confidence)
        sigma = cs["sigma"]
        print(f"cross-section from the beam test: {cs['sigma']:.3e} cm^2/bit "
              f"({int(100 * args.confidence)} %: {cs['low']:.3e} .. {cs['high']:.3e}) from "
              f"{args.beam_upsets} upsets at {args.beam_fluence:.3e} /cm^2 on "
              f"{args.beam_bits} bits")
        if sigma == 0:
            parser().error("the beam test counted no upset: the cross-section is 0; give "
                           "--sigma (e.g. its upper limit)")
    if args.workers < 1:
        parser().error(f"--workers: must be at least 1, not {args.workers}")
    prots = ["none", "parity", "secded"] if args.protection == "all" else [args.protection]
    learns = ["off", "on"] if args.learning == "both" else [args.learning]
    specs = []
    for prot in prots:
        for learn in learns:
            spec = CampaignSpec(
                model=args.model, fault_model=args.fault_model, targets=args.targets, runs=args.runs,
                seed=args.seed, protection=prot, learning=learn, flips=args.flips,
                fields=args.fields, mapped_only=args.mapped_only,
                stuck_value=args.stuck_value, sigma=sigma, cross_section=cross,
                flux=args.flux, duration=args.duration, checkpoints=args.checkpoints,
                mbu=args.mbu, online=args.online, online_samples=args.online_samples,
                samples=args.samples, threshold=args.threshold,
                train_epochs=args.train_epochs, margin=args.margin,
                confidence=args.confidence)
            try:
                spec.validate()
                select_targets(model_memories(spec.model, prot), spec.targets,
                               spec.fault_model)
            except ValueError as e:
                parser().error(str(e))
            specs.append(spec)
    journal = Journal(args.out / "runs.jsonl")
    try:
        journal.prepare(specs, fresh=args.fresh)
        if args.cluster:
            open_cluster(args.cluster)
    except ValueError as e:
        parser().error(str(e))
    results = []
    model_cache = {}
    try:
        for c, spec in enumerate(specs):
            prot, learn = spec.protection, spec.learning
            try:
                if prot not in model_cache:
                    first = next(iter(model_cache.values()), None)
                    model_cache[prot] = make_model(
                        spec, trained=getattr(first, "images", None))
                res = run_campaign(spec, model=model_cache[prot],
                                   progress=not args.no_progress, workers=args.workers,
                                   cluster=args.cluster, journal=journal, campaign=c)
            except ValueError as e:
                parser().error(str(e))
            s, ex = res["summary"], res["execution"]
            rate = (f"{ex['ran']} runs in {res['seconds']:.1f} s "
                    f"({res['runs_per_second'] or 0:.1f} runs/s, {ex['engine']})")
            if ex["resumed"]:
                rate += f", {ex['resumed']} from the journal"
            print(f"{args.fault_model} protection {prot}, learning {learn}: {s['runs']} runs"
                  f"; {rate}; "
                  f"Leveugle sample size for +-{args.margin} at "
                  f"{int(100 * args.confidence)} %: {res['sample_size']} of "
                  f"{res['population_bits']} bits"
                  + ("" if args.runs >= res["sample_size"] or args.fault_model == "seu"
                     else f" (warning: {args.runs} runs are fewer)"))
            results.append(res)
        paths = write_outputs(results, args.out)
        journal.finish()
    finally:
        journal.close()
        close_clusters()
    print(table(results))
    for res in results:
        for why in res["summary"].get("unmodelled_reasons", []):
            print(f"  unmodelled ({res['spec']['protection']}): {why}")
    for key, v in results[0]["summary"]["vulnerability"].items():
        if ":" in key:
            print(f"  {key:<28} runs {v['runs']:>4}  sdc {v['sdc_fraction']:.3f} "
                  f"({v['sdc_interval'][0]:.3f}-{v['sdc_interval'][1]:.3f})  mean accuracy "
                  f"drop {v['mean_accuracy_drop']:+.4f}"
                  + (f", after online {v['mean_accuracy_drop_after_online']:+.4f}"
                     if "mean_accuracy_drop_after_online" in v else ""))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _main_replay(args) -> int:
    path = args.replay / "campaign.json"
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        parser().error(f"--replay {args.replay}: cannot read {path}: {e}")
    res = results[0]
    n = min(args.replay_runs, len(res["runs"]))
    # a replay runs on hardware: the default backend means the RTL
    backend = "verilator" if args.backend == "golden" else args.backend
    try:
        if res["spec"].get("model") == "core-digits":
            from sw.apps.core_digits import replay
            rep = replay(res, range(n), samples=args.replay_samples, backend=backend)
        else:
            rep = replay_runs(res, range(n), samples=args.replay_samples, backend=backend)
    except ValueError as e:
        parser().error(str(e))
    print(f"replayed {rep['replayed']} runs on {backend} ({args.replay_samples} test images "
          f"each): {rep['matches']} match the golden model exactly")
    (args.replay / "replay.json").write_text(json.dumps(rep, indent=1) + "\n")
    return 0 if rep["matches"] == rep["replayed"] else 1

