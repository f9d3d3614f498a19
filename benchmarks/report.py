"""The performance report: ``index.md`` with every benchmark's figures, its rows as
tables and PNG plots, plus ``results.json`` (what ``python -m benchmarks all`` writes to
``report/``).

Every number in the report is copied from a benchmark's result, which the same command
measured; the report adds nothing of its own except the plots drawn from those rows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

__all__ = ["write_report"]

#: Rows per table in the report (the JSON keeps them all).
MAX_ROWS = 40


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return "…"
    return str(v)


def _table(rows: list[dict]) -> list[str]:
    cols = []
    for r in rows:
        for k in r:
            if k != "kind" and k not in cols and not isinstance(r[k], (list, dict)):
                cols.append(k)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows[:MAX_ROWS]:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    if len(rows) > MAX_ROWS:
        lines.append(f"\n({len(rows) - MAX_ROWS} more rows in results.json)")
    return lines


def _plot(name: str, result: dict, out: Path) -> list[tuple[str, str]]:
    """PNG plots drawn from the rows of the benchmarks that have curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.get("rows", [])
    figs = []

    def curves(ax, rows, by, x, y, label):
        """One line per value of ``by``: ``y`` against ``x``."""
        for v in sorted({r[by] for r in rows}):
            ax.plot(*zip(*sorted((r[x], r[y]) for r in rows if r[by] == v)), marker="o",
                    label=label.format(v))

    def save(fig, stem, caption):
        path = out / f"{stem}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        figs.append((path.name, caption))

    if name == "core":
        ev = [r for r in rows if r["kind"] == "events"]
        if ev:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            curves(ax, ev, "lanes", "fanout", "synops_per_cycle", "{} lanes")
            ax.set_xscale("log", base=2)
            ax.set(xlabel="fan-out per event", ylabel="synaptic ops per cycle")
            ax.legend()
            save(fig, "core_synops_per_cycle", "Core: synaptic ops per cycle against fan-out (RTL)")
    elif name == "noc":
        load = [r for r in rows if r["kind"] == "load"]
        if load:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            curves(ax, load, "pattern", "rate", "accepted_per_node_cycle", "{}")
            ax.set(xlabel="offered flits per node and cycle",
                   ylabel="accepted flits per node and cycle")
            ax.legend()
            save(fig, "noc_load", "NoC: accepted against offered load (RTL)")
    elif name == "sdsp":
        tp = [r for r in rows if r["kind"] == "throughput" and r["scenario"] == "quiet"]
        if tp:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            pts = sorted((r["lanes"], r["synaptic_updates_per_cycle"]) for r in tp)
            ax.plot(*zip(*pts), marker="o", label="measured")
            ax.plot([p[0] for p in pts], [p[0] for p in pts], "--", label="one per lane")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log", base=2)
            ax.set(xlabel="synapses per word (lanes)", ylabel="synaptic updates per cycle")
            ax.legend()
            save(fig, "sdsp_throughput", "SDSP core: synaptic updates per cycle (RTL)")
    elif name == "energy":
        parts = [r for r in rows if r["kind"] == "breakdown"]
        anchors = [r for r in rows if r["kind"] == "anchor"]
        if parts:
            fig, ax = plt.subplots(figsize=(5.5, 3.2))
            labels = ["spikeforge\n(model)"] + [a["chip"] for a in anchors]
            ax.bar(labels, [result["figures"]["pj_per_sop_model"]] +
                   [a["pj_per_sop"] for a in anchors],
                   color=["tab:orange"] + ["tab:gray"] * len(anchors))
            ax.set(ylabel="pJ per synaptic operation")
            save(fig, "energy_pj_per_sop",
                 "Energy model (45 nm table) against published silicon (22-28 nm)")
    elif name == "boards":
        b = [r for r in rows if r["kind"] == "board" and r.get("fmax_mhz")]
        if b:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            ax.bar([r["board"] for r in b], [r["fmax_mhz"] for r in b])
            ax.set(ylabel="post-route Fmax (MHz)")
            save(fig, "boards_fmax", "Post-route Fmax per board (nextpnr)")
    return figs


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(results: list[dict], out: Path, *, command: str, quick: bool) -> Path:
    """Write ``out/index.md``, ``out/results.json`` and the plots; returns index.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"command": command, "quick": quick,
                                                  "benchmarks": results}, indent=2) + "\n")
    lines = ["# spikeforge performance report", "",
             f"Written by `{command}` at commit `{_git_commit()}`"
             + (" (quick variant: small sizes, as CI runs it)" if quick else "") + ". "
             "Every figure below was measured by that command (RTL counters, tool reports "
             "or the golden model); the JSON of every benchmark is in "
             "[results.json](results.json). Wall-clock rates depend on the machine; cycle "
             "counts and ratios do not.", "",
             "| benchmark | seconds | figures |", "|---|---|---|"]
    for r in results:
        lines.append(f"| [{r['name']}](#{r['name']}) | {r.get('seconds', '')} | "
                     f"{len(r.get('figures', {}))} |")
    for r in results:
        lines += ["", f"## {r['name']}", "", f"Command: `{r['command']}`", "",
                  "| figure | value | unit |", "|---|---|---|"]
        units = r.get("units", {})
        for k, v in r.get("figures", {}).items():
            lines.append(f"| `{k}` | {_fmt(v)} | {units.get(k, '')} |")
        for png, caption in _plot(r["name"], r, out):
            lines += ["", f"![{caption}]({png})", "", f"*{caption}*"]
        kinds = []
        for row in r.get("rows", []):
            if row.get("kind") not in kinds:
                kinds.append(row.get("kind"))
        for kind in kinds:
            rows = [row for row in r["rows"] if row.get("kind") == kind]
            lines += ["", f"### {r['name']}: {kind or 'rows'}", "", *_table(rows)]
    index = out / "index.md"
    index.write_text("\n".join(lines) + "\n")
    return index
