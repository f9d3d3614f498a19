"""Campaigns at scale (``sw/inject.py``): the same results in this process, on local
worker processes and on a Dask cluster; the journal that resumes a killed campaign; the
refusals of both."""

import json

import pytest

from sw.campaign import cli, engine
from sw.campaign.core_digits import CoreDigits
from sw.campaign.engine import TIMING_FIELDS, run_campaign
from sw.campaign.journal import Journal
from sw.campaign.sdsp_digits import SdspDigits
from sw.campaign.spec import CampaignSpec


def _results(res: dict) -> dict:
    """A campaign's results without the fields that depend on how it ran."""
    return {k: v for k, v in res.items() if k not in TIMING_FIELDS}


@pytest.fixture(scope="module")
def sdsp():
    return SdspDigits(CampaignSpec(samples=30), log=None)


@pytest.fixture(scope="module")
def core():
    return CoreDigits(CampaignSpec(model="core-digits", samples=8), log=None)


SDSP_SPECS = [
    CampaignSpec(fault_model="flips", flips=40, runs=20, samples=30, seed=3,
                 targets="*.synapses,*.params"),
    # online learning between checkpoints: each run's own random stream decides it
    CampaignSpec(fault_model="seu", runs=4, samples=30, flux=2e9, duration=100,
                 checkpoints=2, learning="on", online_samples=2, mbu={2: 0.1}),
]
CORE_SPEC = CampaignSpec(model="core-digits", fault_model="flips", flips=3, runs=16,
                         samples=8, seed=5)


@pytest.mark.parametrize("spec", SDSP_SPECS, ids=["sdsp-flips", "sdsp-seu-learning"])
def test_sdsp_results_do_not_depend_on_the_worker_count(sdsp, spec):
    one = run_campaign(spec, model=sdsp, progress=False, log=None, workers=1)
    two = run_campaign(spec, model=sdsp, progress=False, log=None, workers=2)
    assert one["execution"] == {"engine": "in-process", "workers": 1, "ran": spec.runs,
                                "resumed": 0}
    assert two["execution"]["engine"] == "processes:2"
    assert _results(two) == _results(one)
    # the runs differ from each other (so that an order mix-up would show)
    assert len({json.dumps(r.get("predictions", r.get("accuracies")))
                for r in one["runs"]}) > 1


def test_core_results_do_not_depend_on_the_worker_count(core):
    one = run_campaign(CORE_SPEC, model=core, progress=False, log=None, workers=1)
    two = run_campaign(CORE_SPEC, model=core, progress=False, log=None, workers=2)
    assert _results(two) == _results(one)
    assert [r["run"] for r in two["runs"]] == list(range(CORE_SPEC.runs))
    # the model in this process is as it was: the workers had their own
    assert run_campaign(CORE_SPEC, model=core, progress=False, log=None)["runs"] == \
        one["runs"]


def test_a_local_dask_cluster_gives_the_same_results(sdsp, core):
    pytest.importorskip("dask.distributed")
    try:
        for model, spec in ((sdsp, SDSP_SPECS[0]), (core, CORE_SPEC)):
            want = run_campaign(spec, model=model, progress=False, log=None)
            got = run_campaign(spec, model=model, progress=False, log=None,
                               cluster="local:2")
            assert got["execution"]["engine"] == "dask:local:2"
            assert got["execution"]["workers"] == 2
            assert _results(got) == _results(want)
    finally:
        engine.close_clusters()


class _Killed(Exception):
    pass


def _kill_after(k: int):
    """An ``on_run`` hook that stops the campaign once ``k`` runs are journaled, as a
    kill would (the journal keeps what was flushed)."""
    seen = []

    def hook(r, rec):
        seen.append(r)
        if len(seen) >= k:
            raise _Killed
    return hook


def _journal_runs(path) -> list:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [x["run"] for x in lines if "run" in x]


def test_a_killed_campaign_resumes_to_the_same_results(sdsp, tmp_path):
    spec = SDSP_SPECS[0]
    want = run_campaign(spec, model=sdsp, progress=False, log=None)
    path = tmp_path / "runs.jsonl"
    with pytest.raises(_Killed):
        run_campaign(spec, model=sdsp, progress=False, log=None, workers=2,
                     journal=path, on_run=_kill_after(5))
    done = _journal_runs(path)
    assert 5 <= len(done) < spec.runs
    got = run_campaign(spec, model=sdsp, progress=False, log=None, journal=path)
    assert got["execution"]["resumed"] == len(done)
    assert got["execution"]["ran"] == spec.runs - len(done)
    assert _results(got) == _results(want)
    runs = _journal_runs(path)                 # every run once: none lost, none twice
    assert sorted(runs) == list(range(spec.runs))


def test_a_line_cut_short_by_the_kill_is_run_again(core, tmp_path):
    want = run_campaign(CORE_SPEC, model=core, progress=False, log=None)
    path = tmp_path / "runs.jsonl"
    with pytest.raises(_Killed):
        run_campaign(CORE_SPEC, model=core, progress=False, log=None, journal=path,
                     on_run=_kill_after(6))
    text = path.read_text()
    path.write_text(text[:-40])                 # the last run's line, half written
    got = run_campaign(CORE_SPEC, model=core, progress=False, log=None, journal=path)
    assert got["execution"]["resumed"] == 5
    assert _results(got) == _results(want)
    assert sorted(_journal_runs(path)) == list(range(CORE_SPEC.runs))


def test_a_journal_of_another_unfinished_campaign_is_refused(sdsp, tmp_path):
    path = tmp_path / "runs.jsonl"
    spec = SDSP_SPECS[0]
    with pytest.raises(_Killed):
        run_campaign(spec, model=sdsp, progress=False, log=None, journal=path,
                     on_run=_kill_after(2))
    other = CampaignSpec(**{**spec.__dict__, "flips": 41})
    with pytest.raises(ValueError, match=r"--out .*: runs.jsonl holds the unfinished "
                                         r"campaign with --flips 40, not 41; run the same "
                                         r"command to resume it, or give --fresh"):
        run_campaign(other, model=sdsp, progress=False, log=None, journal=path)
    got = run_campaign(other, model=sdsp, progress=False, log=None, journal=path,
                       fresh=True)
    assert got["execution"] == {"engine": "in-process", "workers": 1, "ran": other.runs,
                                "resumed": 0}
    assert json.loads(path.read_text().splitlines()[0])["spec"]["flips"] == 41


def test_a_journal_whose_faults_differ_is_refused(sdsp, tmp_path):
    spec = CampaignSpec(fault_model="flips", runs=3, samples=30)
    path = tmp_path / "runs.jsonl"
    run_campaign(spec, model=sdsp, progress=False, log=None, journal=path)
    lines = path.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["record"]["faults"][0]["word"] += 1
    lines[1] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"run 0 in runs.jsonl has other faults than "
                                         r"this campaign draws"):
        run_campaign(spec, model=sdsp, progress=False, log=None, journal=path)


def test_a_journal_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"campaign": 0, "spec": {}}\nnot json\n')
    with pytest.raises(ValueError, match=r"line 2 of runs.jsonl is not JSON .*--fresh"):
        Journal(path).prepare([CampaignSpec()])


def test_cli_resumes_and_a_finished_journal_gives_way(tmp_path, capsys):
    argv = ["--fault-model", "flips", "--runs", "6", "--samples", "20", "--workers", "1",
            "--out", str(tmp_path), "--no-progress"]
    assert cli.main(argv) == 0
    first = json.loads((tmp_path / "campaign.json").read_text())
    capsys.readouterr()
    assert cli.main(argv) == 0                # finished: every run from the journal
    assert "6 runs; 0 runs in" in capsys.readouterr().out
    again = json.loads((tmp_path / "campaign.json").read_text())
    assert [_results(r) for r in again] == [_results(r) for r in first]
    assert again[0]["execution"]["resumed"] == 6
    # a finished journal of another campaign does not stand in the way
    assert cli.main(argv[:3] + ["5"] + argv[4:]) == 0
    assert json.loads((tmp_path / "campaign.json").read_text())[0]["execution"]["ran"] == 5


def test_cli_refuses_an_unfinished_journal_of_another_campaign(tmp_path, capsys):
    path = tmp_path / "runs.jsonl"
    j = Journal(path)
    j.prepare([CampaignSpec(fault_model="flips", runs=7, samples=20)])
    j.close()                                   # started, never finished
    with pytest.raises(SystemExit):
        cli.main(["--fault-model", "flips", "--runs", "6", "--samples", "20",
                     "--out", str(tmp_path), "--no-progress"])
    assert "holds the unfinished campaign with --runs 7, not 6" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--workers", "0"], "--workers: must be at least 1, not 0"),
    (["--cluster", "somewhere"], "--cluster 'somewhere': give local:N"),
])
def test_bad_execution_options_are_refused(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv + ["--runs", "2", "--samples", "10", "--out", str(tmp_path),
                            "--no-progress"])
    assert message in capsys.readouterr().err


def test_cluster_refusals_name_the_address():
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="--cluster local:2: needs Dask's distributed"):
            engine.open_cluster("local:2")
        return
    with pytest.raises(ValueError, match="--cluster local:0: local:N needs a worker "
                                         "count N of at least 1"):
        engine.open_cluster("local:0")
    with pytest.raises(ValueError, match="--cluster local:x: local:N needs a worker count"):
        engine.open_cluster("local:x")


def test_run_campaign_refuses_a_bad_worker_count(sdsp):
    with pytest.raises(ValueError, match="--workers: must be at least 1, not 0"):
        run_campaign(SDSP_SPECS[0], model=sdsp, progress=False, log=None, workers=0)


def test_campaign_processes_keep_blas_to_one_thread_and_restore_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]
    before = blas_threads()
    # the fallback without threadpoolctl: NumPy's bundled OpenBLAS through ctypes
    with engine._OpenBlasThreads(1) as limit:
        if not limit.saved:
            pytest.skip("no OpenBLAS loaded in this process")
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
    with engine.limit_blas_threads():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
