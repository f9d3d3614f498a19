"""What a campaign reports: the summary statistics of its runs, ``campaign.json``,
``runs.csv``, ``faults.csv``, the plots (``accuracy_vs_fluence.png``,
``vulnerability.png``) and the summary table the command prints."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from sw.campaign import reliability as rel
from sw.campaign.spec import OUTCOMES, CampaignSpec

__all__ = ["summarize", "write_outputs", "table", "json_default"]


def summarize(spec: CampaignSpec, runs, accuracy0: float) -> dict:
    """A campaign's statistics from its run records: outcome counts and fractions with
    Clopper-Pearson intervals, accuracy (mean and t interval), per-memory and per-field
    vulnerability and, for ``seu``, time to failure."""
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


def write_outputs(results: list[dict], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "campaign.json").write_text(json.dumps(results, indent=1, default=json_default) + "\n")
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


def json_default(o):
    """NumPy scalars and arrays as JSON (``json.dumps(..., default=json_default)``)."""
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
