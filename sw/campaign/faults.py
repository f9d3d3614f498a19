"""Where a campaign puts its faults: the target memories a ``--targets`` pattern selects
and every run's fault list, drawn up front from the campaign's seed (single-bit flips,
stuck-at bits, a sweep of one memory, or SEU schedules from :mod:`.reliability`)."""

from __future__ import annotations

import fnmatch

from hw.spec.memory import FaultKind
from hw.spec.memmap import MemoryName
from sw.campaign import reliability as rel
from sw.campaign.model import CampaignModel
from sw.campaign.spec import CampaignSpec

__all__ = ["select_targets", "model_targets", "fault_lists", "inject_faults"]


def model_targets(model: CampaignModel, pattern: str) -> list[dict]:
    """The memories of ``model`` a ``--targets`` pattern selects (:func:`select_targets`)."""
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


def fault_lists(model: CampaignModel, spec: CampaignSpec, rng) -> list[list[dict]]:
    """Every run's faults, drawn up front from ``rng`` (one list of fault dicts per run:
    ``time`` s, ``fluence`` /cm^2, ``memory``, ``word``, ``bit``, ``mask``, ``bits``, and
    ``kind`` for stuck-at faults)."""
    targets = model_targets(model, spec.targets)
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
    cands = []                                   # (memory, word, stored bit)
    names = {t["name"]: [model.field_of(t["name"], b) for b in range(t["width"])]
             for t in targets}
    known = {n for v in names.values() for n in v}
    if fields - known:
        raise ValueError(f"--fields: {', '.join(sorted(fields - known))} is not a field of "
                         f"{spec.targets!r}; its fields are {', '.join(sorted(known))}")
    for t in targets:
        bits = [b for b, n in enumerate(names[t["name"]]) if not fields or n in fields]
        if not bits:
            continue
        if spec.mapped_only and MemoryName(t["name"]).kind == "synapses":
            cands += [(t["name"], w, b) for w, b in model.mapped_bits(t, bits)]
        elif not spec.mapped_only or MemoryName(t["name"]).kind != "synapses":
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


def inject_faults(g, faults) -> int:
    """Inject ``faults`` into chip ``g``; returns how many it applied."""
    applied = 0
    for f in faults:
        applied += bool(g.inject(f["memory"], f["word"], f["mask"],
                                 FaultKind[f.get("kind", "FLIP")]))
    return applied

