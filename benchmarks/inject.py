"""Fault campaigns: golden-model speed, RTL replay agreement and time to failure per
protection mode (``sw/inject.py`` on the SDSP digits model).

* ``golden_runs_per_second``: a campaign of single-bit flips over every memory
  (accuracy on 100 test images per run, batched golden inference; 1,000 runs, 100 with
  ``--quick``), runs per wall-clock second on this machine with the campaign's default
  worker count (every core: ``config.workers``) (a rate, not a ratio: it varies with
  the machine and with what else runs on it).
* ``replay_matches``: runs of a 300-flip campaign (synapses, parameters, signs) replayed
  on the SDSP core in Verilator that match the golden model exactly (spikes, membranes,
  predictions on 5 test images each): of 20 (of 2 with ``--quick``; CI replays 20 in
  ``tests/sw/campaign/test_replay_rtl.py``).
* ``mean_time_to_failure_s_<protection>``: upsets accumulating at the stated flux and
  cross-section (every memory, learning off) until the accuracy falls below 0.5,
  measured at 12 checkpoints over two hours; runs that never fail count as two hours
  (so the mean is a lower bound, and the censored count is reported). 10 runs per mode,
  2 with ``--quick``. At this fluence (about 4 % of all stored bits upset per hour)
  double and triple upsets in one word are common, which SECDED cannot correct; no
  scrubber rewrites the words.
* ``core_golden_runs_per_second``, ``core_replay_matches``: the same for the neurocore
  digits network (``--model core-digits``: single flips over every memory of the two-core
  chip, 100 test images per run on the batched golden chip; 1,000 runs, 100 with
  ``--quick``; every core), and runs of a 4-flip campaign replayed on the chip in Verilator through
  the driver (every host output event of 3 test images): of 20 (2 with ``--quick``).
"""

from __future__ import annotations

import os

FLUX = 1e9          # particles/cm^2/s (an accelerated beam)
SIGMA = 1e-14       # cm^2/bit
DURATION = 7200.0   # s
THRESHOLD = 0.5


def run(quick: bool = False) -> dict:
    from sw.campaign.core_digits import CoreDigits, replay
    from sw.campaign.engine import run_campaign
    from sw.campaign.replay import replay_runs
    from sw.campaign.sdsp_digits import SdspDigits
    from sw.campaign.spec import CampaignSpec
    figures, rows = {}, []
    workers = os.cpu_count() or 1         # the campaigns' default (python sw/inject.py)
    base = SdspDigits(CampaignSpec(), log=None)
    flips = CampaignSpec(fault_model="flips", runs=100 if quick else 1000, samples=100)
    res = run_campaign(flips, model=base, progress=False, log=None, workers=workers)
    figures["golden_runs_per_second"] = round(res["runs_per_second"], 1)
    s = res["summary"]
    rows.append({"kind": "flips", "runs": s["runs"], "seconds": round(res["seconds"], 1),
                 "workers": workers,
                 **{o: s[o]["count"] for o in ("masked", "sdc", "detected")},
                 "sample_size": res["sample_size"]})
    n = 2 if quick else 20
    heavy = CampaignSpec(fault_model="flips", flips=300, runs=n, samples=5, seed=3,
                         targets="*.synapses,*.params,*.signs")
    hres = run_campaign(heavy, progress=False, log=None, workers=workers)
    rep = replay_runs(hres, range(n), samples=5)
    figures["replay_matches"] = rep["matches"]
    rows.append({"kind": "replay", "replayed": rep["replayed"], "matches": rep["matches"],
                 "sdc_runs": hres["summary"]["sdc"]["count"]})
    units = {"golden_runs_per_second": f"campaign runs per second (golden model, 100 test "
                                       f"images per run, {workers} worker processes, this "
                                       f"machine)",
             "replay_matches": f"RTL replays equal to the golden model, of {n}"}
    for prot in ("none", "parity", "secded"):
        spec = CampaignSpec(fault_model="seu", runs=2 if quick else 10, samples=100,
                            flux=FLUX, sigma=SIGMA, duration=DURATION, checkpoints=12,
                            threshold=THRESHOLD, protection=prot, learning="off")
        model = SdspDigits(spec, log=None, trained=base.images)
        r = run_campaign(spec, model=model, progress=False, log=None, workers=workers)
        m = r["summary"]
        mttf = m["mean_time_to_failure_s"]
        figures[f"mean_time_to_failure_s_{prot}"] = round(mttf[0], 1)
        units[f"mean_time_to_failure_s_{prot}"] = (
            f"s until accuracy < {THRESHOLD} at {FLUX:g} /cm^2/s, sigma {SIGMA:g} cm^2/bit, "
            f"protection {prot}, learning off (censored at {DURATION:g} s)")
        rows.append({"kind": "seu", "protection": prot, "runs": m["runs"],
                     "mttf_s": round(mttf[0], 1), "mttf_low": round(mttf[1], 1),
                     "mttf_high": round(mttf[2], 1), "failed": m["failed_runs"],
                     "censored": m["time_to_failure_censored"],
                     "upsets_per_run": round(m["upsets_per_run"], 1),
                     "final_accuracy": round(m["accuracy"][0], 4)})
    core_flips = CampaignSpec(model="core-digits", fault_model="flips",
                              runs=100 if quick else 1000, samples=100)
    cres = run_campaign(core_flips, model=CoreDigits(core_flips, log=None), progress=False,
                        log=None, workers=workers)
    figures["core_golden_runs_per_second"] = round(cres["runs_per_second"], 1)
    units["core_golden_runs_per_second"] = (f"core-digits campaign runs per second (batched "
                                            f"golden chip, 100 test images per run, "
                                            f"{workers} worker processes, this machine)")
    s = cres["summary"]
    rows.append({"kind": "core_flips", "runs": s["runs"], "seconds": round(cres["seconds"], 1),
                 "workers": workers,
                 **{o: s[o]["count"] for o in ("masked", "sdc", "detected", "hang",
                                               "unmodelled")},
                 "sample_size": cres["sample_size"]})
    core_heavy = CampaignSpec(model="core-digits", fault_model="flips", flips=4,
                              runs=n + 4, samples=3, seed=11)
    chres = run_campaign(core_heavy, progress=False, log=None, workers=workers)
    chosen = [r["run"] for r in chres["runs"] if r["outcome"] in ("masked", "sdc")][:n]
    crep = replay(chres, chosen, samples=3)
    figures["core_replay_matches"] = crep["matches"]
    units["core_replay_matches"] = (f"core-digits RTL replays equal to the batched golden "
                                    f"chip, of {crep['replayed']}")
    rows.append({"kind": "core_replay", "replayed": crep["replayed"],
                 "matches": crep["matches"],
                 "sdc_runs": sum(chres["runs"][r]["outcome"] == "sdc" for r in chosen)})
    return {"config": {"model": "sdsp-digits, core-digits", "workers": workers,
                       "flux": FLUX, "sigma": SIGMA,
                       "duration_s": DURATION, "threshold": THRESHOLD,
                       "accuracy0": base.accuracy0},
            "figures": figures, "rows": rows, "units": units}


def table(result: dict) -> str:
    lines = [f"fault campaigns ({result['command']})"]
    for r in result["rows"]:
        if r["kind"] == "flips":
            lines.append(f"single flips: {r['runs']} runs in {r['seconds']} s "
                         f"({r.get('workers', 1)} workers); masked "
                         f"{r['masked']}, sdc {r['sdc']}, detected {r['detected']} "
                         f"(Leveugle sample size {r['sample_size']})")
        elif r["kind"] == "replay":
            lines.append(f"RTL replay: {r['matches']} of {r['replayed']} runs match "
                         f"({r['sdc_runs']} of them with silent data corruption)")
        elif r["kind"] == "core_flips":
            lines.append(f"core-digits single flips: {r['runs']} runs in {r['seconds']} s "
                         f"({r.get('workers', 1)} workers); "
                         f"masked {r['masked']}, sdc {r['sdc']}, hang {r['hang']}, "
                         f"unmodelled {r['unmodelled']} (Leveugle sample size "
                         f"{r['sample_size']})")
        elif r["kind"] == "core_replay":
            lines.append(f"core-digits RTL replay: {r['matches']} of {r['replayed']} runs "
                         f"match ({r['sdc_runs']} of them with silent data corruption)")
        else:
            lines.append(f"SEU, protection {r['protection']:<7}: MTTF {r['mttf_s']:>7.1f} s "
                         f"({r['mttf_low']:.0f}-{r['mttf_high']:.0f}), {r['failed']} of "
                         f"{r['runs']} runs failed, {r['upsets_per_run']} upsets/run, final "
                         f"accuracy {r['final_accuracy']}")
    return "\n".join(lines)
