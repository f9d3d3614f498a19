"""Fault-injection campaigns: ``python sw/inject.py ...`` (or ``python -m sw.inject``).

Radiation-style reliability studies of a trained network running on the chip, in the
manner of Nijsink et al. ("Shooting Neutrons at Neurons": ODIN on a PolarFire FPGA under
a neutron beam, weights trained offline and loaded, SDSP running online while upsets
accumulate in the synapse memory).

Models (``--model``, :data:`sw.campaign.model.MODELS`)
    ``sdsp-digits``: the SDSP core of :mod:`sw.apps.sdsp_digits`, trained offline and
    loaded (:mod:`sw.campaign.sdsp_digits`); ``core-digits``: the demo network on two
    neurocores (:mod:`sw.campaign.core_digits`). Both are
    :class:`~sw.campaign.model.CampaignModel` subclasses.

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
import json
import os
from pathlib import Path

from sw.campaign import reliability as rel
from sw.campaign.engine import close_clusters, open_cluster, run_campaign
from sw.campaign.faults import select_targets
from sw.campaign.journal import Journal
from sw.campaign.model import MODELS, make_model, model_memories
from sw.campaign.outputs import table, write_outputs
from sw.campaign.replay import replay
from sw.campaign.spec import FAULT_MODELS, CampaignSpec

__all__ = ["parser", "main"]


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
    """The command's options (``python sw/inject.py --help``)."""
    p = argparse.ArgumentParser(
        prog="python sw/inject.py",
        description="Fault-injection campaigns on the golden model, replayed on the RTL.",
        epilog="Examples: python sw/inject.py --fault-model flips --runs 1000 --out "
               "results/flips; python sw/inject.py --fault-model seu --protection all "
               "--learning both --runs 20 --out results/seu; python sw/inject.py --replay "
               "results/flips --replay-runs 20",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = CampaignSpec()
    models = [f"{name} ({cls.description})" for name, cls in MODELS.items()]
    p.add_argument("--model", default=d.model, choices=list(MODELS),
                   help="network and chip under test: " + (
                       " or ".join(models) if len(models) < 3 else
                       ", ".join(models[:-1]) + " or " + models[-1]))
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
    """The command: run the campaigns ``argv`` asks for (or replay one); the exit status."""
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
                        spec, trained=None if first is None else first.trained_images())
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
        rep = replay(res, range(n), samples=args.replay_samples, backend=backend)
    except ValueError as e:
        parser().error(str(e))
    print(f"replayed {rep['replayed']} runs on {backend} ({args.replay_samples} test images "
          f"each): {rep['matches']} match the golden model exactly")
    (args.replay / "replay.json").write_text(json.dumps(rep, indent=1) + "\n")
    return 0 if rep["matches"] == rep["replayed"] else 1


