"""``python -m sw.deploy`` (sw/deploy.py): end to end on a tiny float model (golden and
network backends agree exactly), NIR and structured-event inputs, the files it writes,
the default chip rule, and every user error as one clear line (exit status 2). One test
runs the RTL in Verilator and checks it equals the golden chip."""

import json

import nir
import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from sw import deploy
from sw.frontend.float_model import FloatLayer, FloatModel, save_float_model
from sw.frontend.nir import to_nir
from sw.toolchain.network import Layer, Network, Neuron

INPUTS, STEPS, SAMPLES = 6, 12, 5


def tiny_model(seed=0):
    rng = np.random.default_rng(seed)
    return FloatModel(1e-3, INPUTS, [
        FloatLayer("h", 10, {"model": "lif", "tau_mem": 0.02, "v_threshold": 1.0},
                   {"input": rng.normal(0.3, 0.5, (INPUTS, 10))}),
        FloatLayer("o", 3, {"model": "lif", "tau_mem": 0.02, "v_threshold": 1.0},
                   {"h": rng.normal(0.2, 0.5, (10, 3))}),
    ])


@pytest.fixture
def files(tmp_path):
    model = tmp_path / "model.npz"
    save_float_model(tiny_model(), model)
    rng = np.random.default_rng(1)
    x = (rng.random((SAMPLES, STEPS, INPUTS)) < 0.4).astype(np.uint8)
    y = rng.integers(0, 3, SAMPLES)
    inputs = tmp_path / "x.npz"
    np.savez(inputs, x=x, y=y)
    return tmp_path, model, inputs, x, y


def run(argv, capsys):
    rc = deploy.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def fails(argv, capsys, match):
    """The command exits 2 with one line ``deploy: error: ...`` matching ``match``."""
    rc, out, err = run(argv, capsys)
    assert rc == 2, (out, err)
    errors = [line for line in err.splitlines() if line.startswith("deploy: error: ")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    assert "Traceback" not in err
    import re
    assert re.search(match, errors[0]), errors[0]
    return errors[0]


def load(out):
    report = json.loads((out / "report.json").read_text())
    with np.load(out / "outputs.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return report, arrays


def test_golden_and_network_backends_agree_and_write_everything(files, capsys):
    tmp, model, inputs, x, y = files
    rc, out, err = run([model, "--inputs", inputs, "--labels", "y", "--out", tmp / "g"],
                       capsys)
    assert rc == 0, err
    assert "weights 8 bits, state 16 bits" in out          # the quantization table
    assert "layer  model  scale" in out
    assert "5 samples on golden" in out
    assert "100%" in err and "5/5" in err                  # tqdm on stderr
    rc, _, err = run([model, "--inputs", inputs, "--labels", "y", "--backend", "network",
                      "--out", tmp / "n"], capsys)
    assert rc == 0, err
    rg, ag = load(tmp / "g")
    rn, an = load(tmp / "n")
    assert set(ag) >= {"counts/o", "trains/o", "predictions", "labels"}
    for key in ("counts/o", "trains/o", "predictions", "labels"):
        assert np.array_equal(ag[key], an[key]), key
    assert ag["trains/o"].shape == (SAMPLES, STEPS, 3) and ag["trains/o"].dtype == np.uint8
    assert ag["counts/o"].shape == (SAMPLES, 3)
    assert np.array_equal(ag["counts/o"], ag["trains/o"].sum(axis=1))
    assert ag["counts/o"].sum() > 0
    assert np.array_equal(ag["predictions"], ag["counts/o"].argmax(axis=1))
    assert np.array_equal(ag["labels"], y)
    assert ag["counters/chip/steps"].tolist() == [STEPS] * SAMPLES
    assert "counters/cores/synops" in ag and not any(k.startswith("counters") for k in an)

    # report.json
    assert rg["command"].startswith("python -m sw.deploy ") and "--labels y" in rg["command"]
    assert {"python", "numpy"} <= set(rg["versions"])
    assert rg["config"]["mesh"] == [2, 1] and rg["config"]["core"]["neurons"] == 64
    assert rg["config"]["source"].startswith("default rule")
    q = rg["quantization"]
    assert "layer  model  scale" in q["table"]
    assert [l["name"] for l in q["layers"]] == ["h", "o"]
    assert {"scale", "clipped", "zeroed", "weight_err_max", "alpha_realised",
            "threshold"} <= set(q["layers"][0])
    assert rg["accuracy"] == pytest.approx(float(np.mean(ag["predictions"] == y)))
    assert rg["accuracy"] == rn["accuracy"]
    assert rg["predictions"] == ag["predictions"].tolist() == rn["predictions"]
    assert rg["samples"] == SAMPLES and rg["inputs"]["key"] == "x"
    assert rg["alignment"] == {"starts": {"h": 0, "o": 0}, "steps": STEPS, "extra_steps": 0,
                               "chip_steps": STEPS, "unaligned_spikes": {"o": 0}}
    c = rg["counters"]
    assert c["total"]["chip"]["steps"] == STEPS * SAMPLES
    assert c["mean_per_sample"]["chip"]["steps"] == STEPS
    assert c["mean_per_sample"]["cores"]["synops"] > 0
    assert rn["counters"] is None
    assert rg["metrics"]["mean_per_sample"] == rn["metrics"]["mean_per_sample"]
    assert {"effective_synops", "dense_synops", "activation_sparsity",
            "connection_sparsity"} <= set(rg["metrics"]["mean_per_sample"])
    assert rg["metrics"]["memory_footprint_bytes"] > 0
    assert rg["agreement_with_network_model"] == 1.0 and rg["disagreeing_samples"] == []


def test_nir_model_samples_and_board(files, capsys):
    tmp, _, inputs, x, _ = files
    path = tmp / "model.nir"
    nir.write(str(path), to_nir(tiny_model()))
    rc, _, err = run([path, "--inputs", inputs, "--backend", "network", "--samples", 2,
                      "--board", "arty_a7", "--quiet", "--out", tmp / "o"], capsys)
    assert rc == 0, err
    report, arrays = load(tmp / "o")
    assert report["samples"] == 2 and arrays["counts/o"].shape == (2, 3)
    assert report["config"]["source"] == "board arty_a7"
    assert report["accuracy"] is None and "labels" not in arrays


def events_from_counts(counts, dt_us, sensor, sample_field=False):
    """Tonic-style events whose binning gives ``counts`` [N, T, W*H*P] back."""
    W, H, P = sensor
    dtype = [("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)]
    if sample_field:
        dtype.append(("sample", np.int32))
    recs = []
    for k, c in enumerate(counts):
        rows = []
        for t in range(c.shape[0]):
            for ch in range(c.shape[1]):
                for e in range(int(c[t, ch])):
                    p, rest = divmod(ch, W * H)
                    yy, xx = divmod(rest, W)
                    row = (xx, yy, t * dt_us + 10 * e + ch, p)
                    rows.append(row + ((k,) if sample_field else ()))
        rows.sort(key=lambda r: r[2])
        recs.append(np.array(rows, dtype=dtype))
    return recs


def test_structured_events_equal_their_dense_bins(files, capsys):
    tmp, model, _, _, _ = files
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 3, (3, STEPS, INPUTS))
    sensor = (3, 1, 2)
    dense = tmp / "dense.npz"
    np.savez(dense, x=counts)
    recs = events_from_counts(counts, 1000, sensor)
    obj = np.empty(len(recs), dtype=object)
    obj[:] = recs
    per_sample = tmp / "events.npz"
    np.savez(per_sample, events=obj)
    flat = tmp / "flat.npz"
    np.savez(flat, events=np.concatenate(events_from_counts(counts, 1000, sensor, True)))
    common = ["--backend", "network", "--quiet"]
    assert run([model, "--inputs", dense, *common, "--out", tmp / "d"], capsys)[0] == 0
    for name, path in (("e", per_sample), ("f", flat)):
        rc, _, err = run([model, "--inputs", path, "--events-dt", 1000, "--sensor-size",
                          "3,1,2", "--steps", STEPS, *common, "--out", tmp / name], capsys)
        assert rc == 0, err
    rd, ad = load(tmp / "d")
    for name in ("e", "f"):
        r, a = load(tmp / name)
        assert np.array_equal(a["trains/o"], ad["trains/o"]), name
        assert r["inputs"]["kind"] == "events"
        assert r["inputs"]["binning"]["steps"] == STEPS
        assert r["inputs"]["binning"]["clipped_bins"] == 0
        assert r["inputs"]["binning"]["dropped_events"] == 0
        assert r["inputs"]["events"] == int(counts.sum())
    # without --steps: up to the latest event
    rc, _, err = run([model, "--inputs", per_sample, "--events-dt", 1000, "--sensor-size",
                      "3,1,2", *common, "--out", tmp / "s"], capsys)
    assert rc == 0, err
    assert load(tmp / "s")[0]["inputs"]["steps"] <= STEPS


def test_default_rule_grows_the_chip():
    rng = np.random.default_rng(0)
    net = Network(40, [
        Layer("h", 300, Neuron("if", threshold=50), {"input": rng.integers(-3, 8, (40, 300))}),
        Layer("o", 10, Neuron("if", threshold=50), {"h": rng.integers(-3, 8, (300, 10))}),
    ])
    first = next(deploy.default_configs(net))
    assert first.core.neurons * first.noc.tiles >= 310
    config, image = deploy.fit_config(net, ["o"])
    assert config.noc.tiles * config.core.neurons >= 310
    assert image.outputs == ["o"]
    small = Network(2, [Layer("o", 3, Neuron("if"), {"input": np.ones((2, 3), np.int64)})])
    from sw.apps.demo import DEMO_CONFIG
    assert next(deploy.default_configs(small)) == DEMO_CONFIG


# -- user errors ---------------------------------------------------------------------------

def test_input_errors_name_the_array_and_what_was_expected(files, capsys):
    tmp, model, inputs, x, y = files
    out = ["--out", tmp / "out", "--backend", "network"]

    def bad(match, **arrays):
        path = tmp / "bad.npz"
        np.savez(path, **arrays)
        return fails([model, "--inputs", path, *out], capsys, match)

    fails([model, "--inputs", inputs, "--key", "nope", *out], capsys,
          r"has no array 'nope' \(arrays: x, y\)")
    bad(r"has arrays a, b: say which holds the inputs with --key", a=x, b=x)
    bad(r"array 'x' has shape \(5, 12\); expected \[samples, steps, inputs\] = "
        r"\(N, T, 6\)", x=x[:, :, 0])
    bad(r"array 'x' has shape \(5, 12, 4\): 4 inputs per step, but the model has 6 inputs",
        x=x[:, :, :4])
    f = x.astype(np.float64)
    f[1, 2, 3] = 0.5
    bad(r"array 'x' holds floats that are not whole numbers \(sample 1, step 2, input 3: "
        r"0.5\)", x=f)
    assert run([model, "--inputs", _save(tmp, x=x.astype(np.float32) * 3), *out,
                "--quiet"], capsys)[0] == 0                           # whole floats are fine
    bad(r"array 'x' has dtype <U1; expected integers", x=np.full((2, 3, 6), "a"))
    big = x.astype(np.int64)
    big[2, 4, 1] = 200
    bad(r"array 'x': sample 2, step 4, input 1 has payload 200, outside the 8-bit payload "
        r"range -128..127 \(core.payload_bits\)", x=big)
    fails([model, "--inputs", inputs, "--labels", "z", *out], capsys,
          r"has no labels array 'z' \(arrays: x, y\)")
    fails([model, "--inputs", _save(tmp, x=x, y=y[:3]), "--labels", "y", *out], capsys,
          r"labels array 'y' has shape \(3,\) and dtype int64; expected \(5,\) integers")
    fails([model, "--inputs", tmp / "none.npz", *out], capsys, r"inputs file .*none.npz "
          "does not exist")
    (tmp / "junk.npz").write_text("hello")
    fails([model, "--inputs", tmp / "junk.npz", *out], capsys, r"is not an .npz file")


def _save(tmp, **arrays):
    path = tmp / "saved.npz"
    np.savez(path, **arrays)
    return path


def test_event_errors(files, capsys):
    tmp, model, _, _, _ = files
    recs = events_from_counts(np.ones((2, 3, INPUTS), np.int64), 1000, (3, 1, 2))
    obj = np.empty(2, dtype=object)
    obj[:] = recs
    path = _save(tmp, events=obj)
    out = ["--out", tmp / "out", "--backend", "network"]
    fails([model, "--inputs", path, *out], capsys,
          r"array 'events' holds events: give --events-dt US .* and --sensor-size W,H,P")
    fails([model, "--inputs", path, "--events-dt", 1000, "--sensor-size", "4,4,2", *out],
          capsys, r"--sensor-size 4,4,2 gives 32 input channels, but the model has 6 inputs")
    fails([model, "--inputs", path, "--events-dt", 1000, "--sensor-size", "6,1,1", *out],
          capsys, r"array 'events', sample 0: event \d+: p = 1 is outside 0..0")
    obj[1] = [1, 2, 3]
    fails([model, "--inputs", _save(tmp, events=obj), "--events-dt", 1000, "--sensor-size",
           "3,1,2", *out], capsys, r"array 'events': sample 1 is list, not a structured "
          "array of events")


def test_model_config_and_backend_errors(files, capsys):
    tmp, model, inputs, _, _ = files
    out = ["--inputs", inputs, "--out", tmp / "out"]
    fails([tmp / "missing.nir", *out], capsys, r"model file .*missing.nir does not exist")
    (tmp / "text.nir").write_text("not a graph")
    fails([tmp / "text.nir", *out], capsys, r"text.nir.*(not a NIR file|NIR)")
    small = tmp / "small.toml"
    ChipConfig(core=CoreConfig(lanes=1, neurons=4, axons=16, synapses=64, layers=2,
                               microcode_depth=16, out_fifo_depth=4),
               noc=NocConfig(width=1, height=1, routes=64)).save(small)
    fails([model, *out, "--config", small], capsys,
          r"the network does not fit the chip of file .*small.toml: layer 'h'")
    fails([model, *out, "--config", tmp / "nope.toml"], capsys,
          r"config file .*nope.toml does not exist")
    fails([model, *out, "--board", "fpga9"], capsys, r"Unknown board 'fpga9'; known boards")
    fails([model, *out, "--backend", "gpu"], capsys,
          r"--backend must be golden, verilator, serial:PORT\[@BAUD\] or network, not 'gpu'")
    fails([model, *out, "--backend", "serial:/dev/nonexistent-tty"], capsys,
          r"backend serial:/dev/nonexistent-tty: ")


def test_too_big_for_every_default_chip(monkeypatch):
    monkeypatch.setattr(deploy, "DEFAULT_MESHES", ((2, 1),))
    monkeypatch.setattr(deploy, "DEFAULT_SCALES", (1,))
    net = Network(4, [Layer("h", 200, Neuron("if"), {"input": np.ones((4, 200), np.int64)})])
    with pytest.raises(deploy.DeployError, match=r"the network's 200 neurons exceed every "
                                                 r"default chip"):
        deploy.fit_config(net, ["h"])
    net = Network(400, [Layer("h", 100, Neuron("if"), {"input": np.ones((400, 100), np.int64)})])
    with pytest.raises(deploy.DeployError, match=r"fits none of the 1 default chips; the "
                                                 r"largest \(2x1 tiles of 64 neurons\) "
                                                 r"refused: .*give --config FILE"):
        deploy.fit_config(net, ["h"])


# -- the RTL -------------------------------------------------------------------------------

@pytest.mark.verilator
def test_verilator_equals_golden(files, capsys):
    """Two samples of the tiny model on a 1x1 chip of 1-lane cores: the RTL's outputs,
    predictions and architectural counters equal the golden chip's."""
    tmp, model, inputs, _, _ = files
    config = tmp / "chip.toml"
    ChipConfig(core=CoreConfig(lanes=1, neurons=16, axons=16, synapses=128, layers=2,
                               microcode_depth=16, out_fifo_depth=16),
               noc=NocConfig(width=1, height=1, routes=64)).save(config)
    reports = {}
    for backend in ("golden", "verilator"):
        rc, _, err = run([model, "--inputs", inputs, "--samples", 2, "--config", config,
                          "--backend", backend, "--quiet", "--out", tmp / backend], capsys)
        assert rc == 0, err
        reports[backend] = load(tmp / backend)
    (rg, ag), (rv, av) = reports["golden"], reports["verilator"]
    for key in ("counts/o", "trains/o", "predictions"):
        assert np.array_equal(ag[key], av[key]), key
    from sw.apps.demo import ARCHITECTURAL
    for group in ("chip", "cores"):
        for name in ARCHITECTURAL:
            key = f"counters/{group}/{name}"
            if key in ag:
                assert np.array_equal(ag[key], av[key]), key
    assert rv["agreement_with_network_model"] == 1.0
    assert "cycles_busy" in rv["counters"]["total"]["chip"]


FRAMEWORK_FIXTURE = (__import__("pathlib").Path(__file__).resolve().parents[2] / "fixtures"
                     / "frameworks" / "snntorch_leaky")


def test_same_step_framework_trains_line_up_with_the_frameworks_spikes(tmp_path, capsys):
    """snnTorch passes spikes within a step: its output layer gets start 1, and the
    deployed output train lines up with snnTorch's own recorded spikes at shift 0
    (quantization aside), much better than one step early or late."""
    rc, _, err = run([FRAMEWORK_FIXTURE.with_suffix(".nir"), "--framework", "snntorch",
                      "--inputs", FRAMEWORK_FIXTURE.with_suffix(".npz"), "--key", "x",
                      "--labels", "y", "--samples", 50, "--backend", "network", "--quiet",
                      "--out", tmp_path], capsys)
    assert rc == 0, err
    report, arrays = load(tmp_path)
    out = report["model"]["outputs"][0]
    assert report["alignment"]["starts"][out] == 1 and report["alignment"]["extra_steps"] == 1
    with np.load(FRAMEWORK_FIXTURE.with_suffix(".npz")) as z:
        ref = z[f"spikes/{out}"][:50]
    got = arrays[f"trains/{out}"]
    assert got.shape == ref.shape
    same = (got == ref).mean()
    early, late = (got[:, 1:] == ref[:, :-1]).mean(), (got[:, :-1] == ref[:, 1:]).mean()
    assert same > 0.95 and same > max(early, late) + 0.03
