"""On-chip SDSP learning of the digits (:mod:`sw.apps.sdsp_digits`): the events, the teacher
protocol on the golden model, learning above chance, determinism and the CLI."""

import json

import numpy as np
import pytest

from hw.spec.config import ChipConfig, SdspConfig
from hw.spec.sdsp import EventKind
from sim.golden.sdsp import GoldenSdsp
from sw.apps import sdsp_digits as sd

CONFIG = sd.demo_config(128)            # smaller core: faster events, same network


@pytest.fixture(scope="module")
def split():
    return sd.load_split()


def _payload_range(config):
    bits = config.core.payload_bits
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@pytest.mark.parametrize("neurons", [128, 256])
@pytest.mark.parametrize("train", [True, False])
def test_sample_events_are_valid(split, neurons, train):
    config = sd.demo_config(neurons)
    lo, hi = _payload_range(config)
    x_train, _, y_train, _ = split
    rng = np.random.default_rng(3)
    for image, label in zip(x_train[:20], y_train[:20]):
        events = sd.sample_events(config, image, int(label), train=train, rng_or_seed=rng)
        for kind, index, arg in events:
            assert isinstance(kind, EventKind)
            assert 0 <= index < neurons
            assert lo <= arg <= hi
            if kind is EventKind.SPIKE:
                assert index in sd.INPUTS and arg == 0
            elif kind is EventKind.VIRTUAL:
                assert train and index in sd.OUTPUTS and arg != 0
            else:
                assert kind is EventKind.TIME and (index, arg) == (0, 1)
        kinds = [e[0] for e in events]
        k = sd.LEARN_SPIKES[0] if train else 0
        assert kinds.count(EventKind.SPIKE) == sd.SPIKES + k
        assert kinds.count(EventKind.TIME) == sd.STEPS + (1 if train else 0)


def test_rate_code_is_normalised_and_one_spike_per_step():
    image = np.arange(64) % 17
    counts = sd.spike_counts(image, 60, 0)
    assert counts.sum() == 60 and counts.min() >= 0
    assert np.abs(counts - image / image.sum() * 60).max() < 1
    assert counts[image == 0].sum() == 0
    events = sd.sample_events(CONFIG, image, None, train=False, rng_or_seed=0)
    steps, seen = [set()], []
    for kind, index, _ in events:
        if kind is EventKind.TIME:
            steps.append(set())
        else:
            assert index not in steps[-1]           # at most one spike per pixel and step
            steps[-1].add(index)
            seen.append(index)
    assert np.array_equal(np.bincount(seen, minlength=64), counts)
    assert not sd.spike_counts(np.zeros(64)).any()


def _present(g, image, label, k=2):
    g.reset_state()
    g.learn = True
    before = g.w.copy()
    g.run(sd.sample_events(CONFIG, image, label, train=True, rng_or_seed=1, learn_spikes=k))
    return g.w - before


def test_teacher_potentiates_a_target_below_its_margin_only():
    image = np.arange(64) % 17
    brightest = np.flatnonzero(image == 16)        # 4 pixels at 16: the top 2 are random
    g = sd.build_core(CONFIG, weight=3)            # every score 3 * 60 = 180
    dw = _present(g, image, 5)
    col = sd.FIRST_OUTPUT + 5
    assert dw.sum() == 2 and (dw >= 0).all()       # the target only, no rival depressed
    changed = np.flatnonzero(dw[:, col])
    assert len(changed) == 2 and set(changed) <= set(brightest)
    assert g.counters["weight_updates"] == 2


def test_teacher_depresses_rivals_above_their_margin_only():
    image = np.arange(64) % 17
    g = sd.build_core(CONFIG, weight=4)            # every score 240: target and rivals reached
    dw = _present(g, image, 5, k=3)
    rivals = [c for c in sd.OUTPUTS if c != sd.FIRST_OUTPUT + 5]
    changed = np.flatnonzero(dw[:, rivals[0]])
    assert len(changed) == 3 and set(changed) <= set(np.flatnonzero(image == 16))
    expected = np.zeros_like(dw)
    expected[np.ix_(changed, rivals)] = -1         # every rival, the same 3 synapses;
    assert np.array_equal(dw, expected)            # the target at its margin: none
    assert g.counters["weight_updates"] == 27


def test_training_learns_above_chance(split):
    x_train, x_test, y_train, y_test = split
    g, history = sd.train(CONFIG, x_train[:300], y_train[:300], epochs=1, seed=0,
                          x_test=x_test[:100], y_test=y_test[:100], log=None,
                          learn_spikes=3)
    h = history[0]
    assert h["test_accuracy"] > 0.4                # chance is 0.1
    assert h["weight_updates"] > 0 and h["potentiated"] > 0
    assert not g.learn
    # every class neuron's weights now favour its own digit: on the training images its
    # score is higher for its class than for the others
    w = g.w[np.ix_(np.array(sd.INPUTS), np.array(sd.OUTPUTS))]
    x = x_train[:300] / x_train[:300].sum(1, keepdims=True)
    scores = x @ w
    for c in range(sd.CLASSES):
        assert scores[y_train[:300] == c, c].mean() > scores[y_train[:300] != c, c].mean()
    # the weights only moved on the plastic synapses
    mask = np.zeros_like(g.mapped)
    mask[np.ix_(np.array(sd.INPUTS), np.array(sd.OUTPUTS))] = True
    assert (g.mapped == mask).all() and not g.w[~mask].any()


def test_same_seed_same_weights(split):
    x_train, x_test, y_train, y_test = split

    def run(seed):
        g, history = sd.train(CONFIG, x_train[:40], y_train[:40], epochs=2, seed=seed,
                              x_test=x_test[:10], y_test=y_test[:10], log=None)
        untimed = [{k: v for k, v in h.items() if not k.endswith("seconds")}
                   for h in history]
        return g, untimed

    (g1, h1), (g2, h2), (g3, _) = run(7), run(7), run(8)
    assert np.array_equal(g1.w, g2.w) and h1 == h2
    assert g1.images() == g2.images()
    assert not np.array_equal(g1.w, g3.w)


def test_predict_breaks_ties_by_membrane_then_index():
    spikes = [[], [66, 70], [3], [70, 66], [64]]
    assert sd.predict(spikes) == 2                 # 66 and 70 tie on 2 spikes: lowest
    v = np.zeros(128, np.int64)
    v[70] = 9
    assert sd.predict(spikes, v) == 6
    assert sd.predict(spikes, v[64:74]) == 6
    assert sd.predict([]) == 0
    with pytest.raises(ValueError, match="class neurons' membranes"):
        sd.predict(spikes, np.zeros(5))


def test_initial_images_load_back():
    images = sd.initial_images(CONFIG, prefix="plastic")
    assert set(images) == {f"plastic.{m}" for m in ("synapses", "neurons", "params",
                                                    "signs", "control")}
    g = GoldenSdsp(CONFIG, "plastic")
    g.load(images)
    ref = sd.build_core(CONFIG)
    assert np.array_equal(g.w, ref.w) and np.array_equal(g.mapped, ref.mapped)
    assert all(np.array_equal(g.params[k], ref.params[k]) for k in ref.params)
    assert g.gate and not g.learn
    assert g.params["thr"][sd.FIRST_OUTPUT] == sd.NEURON_PARAMS["thr"]
    assert (g.params["thr"][:sd.FIRST_OUTPUT] == 255).all()
    rand = sd.build_core(CONFIG, 4, weight=(1, 3)).w[:64, 64:74]
    assert rand.min() >= 1 and rand.max() <= 3
    assert np.array_equal(rand, sd.build_core(CONFIG, 4, weight=(1, 3)).w[:64, 64:74])


def test_bad_arguments():
    image = np.arange(64) % 17
    with pytest.raises(ValueError, match="at least 74"):
        sd.demo_config(64)
    with pytest.raises(ValueError, match="neurons"):
        sd.demo_config(100)                         # not a power of two (ConfigError)
    with pytest.raises(ValueError, match="needs a label"):
        sd.sample_events(CONFIG, image, None, train=True, rng_or_seed=0)
    with pytest.raises(ValueError, match="label must be an integer in 0..9"):
        sd.sample_events(CONFIG, image, 10, train=True, rng_or_seed=0)
    with pytest.raises(ValueError, match="64 pixels or 8 x 8"):
        sd.sample_events(CONFIG, np.zeros(63), None, train=False, rng_or_seed=0)
    with pytest.raises(ValueError, match="within 0..16"):
        sd.sample_events(CONFIG, image + 1, None, train=False, rng_or_seed=0)
    with pytest.raises(ValueError, match="learn_spikes must be in 1.."):
        sd.sample_events(CONFIG, image, 1, train=True, rng_or_seed=0, learn_spikes=0)
    with pytest.raises(ValueError, match="at most 68 for training"):
        sd.sample_events(CONFIG, image, 1, train=True, rng_or_seed=0, spikes=100)
    with pytest.raises(ValueError, match="Generator or an integer seed"):
        sd.sample_events(CONFIG, image, 1, train=True, rng_or_seed="x")
    with pytest.raises(ValueError, match="widths"):
        sd.initial_images(ChipConfig(sdsp=SdspConfig(tiles=1, neurons=128, weight_bits=4)))
    with pytest.raises(ValueError, match="no SDSP tile"):
        sd.initial_images(ChipConfig())
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        sd.train(CONFIG, np.zeros((2, 64)), [0, 1], epochs=0)
    with pytest.raises(ValueError, match="one per image"):
        sd.train(CONFIG, np.zeros((2, 64)), [0], epochs=1)
    with pytest.raises(ValueError, match="both x_test and y_test"):
        sd.train(CONFIG, np.zeros((2, 64)), [0, 1], x_test=np.zeros((2, 64)))


def test_cli_quick(tmp_path, capsys):
    out = tmp_path / "history.json"
    result = sd.main(["--quick", "--neurons", "128", "--rtl-samples", "0", "--json", str(out)])
    text = capsys.readouterr().out
    assert "epoch 1: train-pass 500 samples" in text and "test accuracy" in text
    assert "final: test accuracy" in text
    saved = json.loads(out.read_text())
    assert saved["history"][0]["test_samples"] == sd.QUICK_TEST
    assert saved["history"] == json.loads(json.dumps(result["history"]))
    assert result["history"][0]["test_accuracy"] > 0.3
