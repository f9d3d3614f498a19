"""Running a campaign: every run's faults drawn up front, the runs executed in this
process, on local worker processes or on a Dask cluster (the ``distributed`` extra),
each finished run journaled (:class:`~sw.campaign.journal.Journal`) so a killed campaign
resumes, and the results summarized.

Every worker gets the model once; every run draws from its own random stream (the seed
and the run's index) and the fault lists are drawn up front, so the results are the
same for any worker count or cluster (only :data:`TIMING_FIELDS` differ).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from sw.campaign import reliability as rel
from sw.campaign.faults import fault_lists, inject_faults, model_targets
from sw.campaign.journal import Journal
from sw.campaign.model import CampaignModel, make_model
from sw.campaign.outputs import json_default, summarize
from sw.campaign.spec import CampaignSpec

__all__ = ["run_campaign", "open_cluster", "close_clusters", "limit_blas_threads",
           "keep_freed_memory", "TIMING_FIELDS"]


def _run_one(model, spec, faults, r: int) -> dict:
    """Run ``r`` of a campaign: its own random stream (seeded by the campaign's seed
    and the run index, so any worker computes the same record)."""
    rng = np.random.default_rng([spec.seed, r])
    g = model.acquire()
    try:
        return (_seu_run if spec.fault_model == "seu" else _static_run)(model, spec, faults,
                                                                        rng, g)
    finally:
        model.release(g)


def _static_run(model, spec, faults, rng, g) -> dict:
    applied = inject_faults(g, faults)
    out = model.infer(g)
    rec = {"accuracy": out["accuracy"], "outcome": model.outcome(g, out),
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
        inject_faults(g, now)
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
           "time_to_failure": ttf, "outcome": model.outcome(g, out), "applied": len(faults),
           "agreement": None if out["accuracy"] is None else
           float(np.mean(out["predictions"] == model.baseline["predictions"]))}
    if known < len(times):
        # censored where the model stops: the run had not failed by the last checkpoint
        rec["censored_at"] = float(times[known - 1]) if known else 0.0
        rec["reason"] = out.get("unmodelled")
    return rec


def run_campaign(spec: CampaignSpec, *, model: CampaignModel | None = None, progress=True,
                 log=print, workers: int = 1, cluster: str | None = None,
                 journal: "Journal | Path | None" = None, campaign: int = 0,
                 fresh: bool = False, on_run=None) -> dict:
    """Run one campaign on the golden model; returns the results (see :func:`sw.campaign.cli.main`).

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
    lists = fault_lists(model, spec, rng)
    population = sum(m["words"] * m["width"] for m in model_targets(model, spec.targets))
    needed = rel.sample_size(population, spec.margin, spec.confidence)
    for faults in lists:
        for f in faults:
            f["field"] = model.field_of(f["memory"], f["bit"])
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
                                            default=json_default))
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
