"""Framework conventions: presets, dt resolution (given, metadata, r = tau/dt, exporter
default), and the refusal of a dt that cannot be the model's."""

import math

import nir
import numpy as np
import pytest

from sw.frontend import ModelImportError, convention, from_nir
from sw.frontend.conventions import PRESETS


def snntorch_like(beta=0.875, n=4, threshold=1.0):
    """What snnTorch 1.0.0's export_to_nir writes for Linear(3, n) -> Leaky(beta): dt =
    1e-4, tau = dt / (1 - beta), r = tau / dt, no graph metadata."""
    dt = 1e-4
    tau = dt / (1 - beta)
    rng = np.random.default_rng(0)
    return nir.NIRGraph(nodes={
        "input": nir.Input(np.array([3])),
        "fc": nir.Affine(weight=rng.normal(0, 1, (n, 3)), bias=np.zeros(n)),
        "lif": nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n),
                       v_threshold=np.full(n, threshold), v_reset=np.zeros(n)),
        "output": nir.Output(np.array([n])),
    }, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)


def norse_like(tau_true=0.01, dt=1e-3, n=4):
    """Norse 1.1.0's to_nir for LIFBoxCell: tau = dt / tau_mem_inv (= dt * tau), r = 1."""
    return nir.NIRGraph(nodes={
        "input": nir.Input(np.array([3])),
        "fc": nir.Affine(weight=np.ones((n, 3)), bias=np.zeros(n)),
        "lif": nir.LIF(tau=np.full(n, dt * tau_true), r=np.ones(n), v_leak=np.zeros(n),
                       v_threshold=np.ones(n)),
        "output": nir.Output(np.array([n])),
    }, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)


def test_snntorch_preset_reproduces_beta_and_reads_dt_from_r(capsys):
    model = from_nir(snntorch_like(beta=0.875), framework="snntorch")
    layer = model.layer("lif")
    assert model.dt == pytest.approx(1e-4, rel=1e-12)
    assert layer.alpha(model.dt) == pytest.approx(0.875, abs=1e-12)        # beta exactly
    assert layer.param("r") == pytest.approx(1.0)                          # gain 1
    assert layer.neuron["reset"] == "subtract_delayed"
    assert layer.neuron["compare"] == ">"
    assert model.timing == "same_step"
    err = capsys.readouterr().err
    assert "dt = 0.0001 s (r = tau/dt (snntorch's export convention))" in err
    assert any("dt = 0.0001 s" in n for n in model.notes)


def test_snntorch_reset_override():
    model = from_nir(snntorch_like(), framework="snntorch", reset="zero", quiet=True)
    assert model.layer("lif").neuron["reset"] == "zero"


def test_the_readme_mistake_is_refused_with_the_numbers():
    """The issue's case: an snnTorch export imported with dt=1e-3 and no framework."""
    with pytest.raises(ModelImportError) as e:
        from_nir(snntorch_like(), 1e-3)
    (problem,) = e.value.problems
    assert problem.startswith("node 'lif' (LIF): per-step decay exp(-dt/tau) = 0.2865 with "
                              "dt = 0.001 s (given) and tau = 0.0008 s is below 0.5 (gain "
                              "r*dt/tau = 10)")
    assert "r = 8 would be tau/dt for dt = 0.0001 s" in problem
    assert "framework='snntorch'" in problem
    # and with the framework but the wrong dt: the gain says so
    with pytest.raises(ModelImportError) as e:
        from_nir(snntorch_like(beta=0.99), 1e-3, framework="snntorch")
    assert "gain r*dt/tau = 100 * 0.001 / 0.01 = 10, but snntorch's exporter writes r = " \
           "tau/dt (gain 1): dt = 0.001 s (given) is not the model's; it is 0.0001 s" \
           in e.value.problems[0]
    # check_dt=False imports anyway
    assert from_nir(snntorch_like(), 1e-3, check_dt=False, quiet=True).dt == 1e-3


def test_norse_preset_undoes_dt_times_tau():
    model = from_nir(norse_like(tau_true=0.01), framework="norse", quiet=True)
    layer = model.layer("lif")
    assert model.dt == 1e-3
    assert layer.neuron["tau_mem"] == pytest.approx(0.01)
    assert layer.alpha(model.dt) == pytest.approx(0.9)                   # 1 - dt * tau_inv
    assert layer.param("r") == pytest.approx(0.1)                        # dt * tau_inv
    assert layer.neuron["reset"] == "zero" and layer.neuron["compare"] == ">"
    # without the preset the decay is absurd, and the message says so
    with pytest.raises(ModelImportError, match=r"per-step decay exp\(-dt/tau\) = 3\.72e-44"):
        from_nir(norse_like(), 1e-3)


def test_dt_order_given_metadata_default():
    g = norse_like()
    g.metadata = {"dt": 2e-3}
    assert from_nir(g, framework="norse", quiet=True).dt == 2e-3          # metadata
    assert from_nir(g, 5e-4, framework="norse", quiet=True).dt == 5e-4    # given wins
    g.metadata = {}
    with pytest.raises(ModelImportError) as e:
        from_nir(g)                                                       # no dt anywhere
    assert e.value.problems == [
        "dt: the graph has no metadata dt; pass dt= (the model's timestep in seconds) or "
        "framework= (snntorch and norse exports carry none)"]


def test_inconsistent_tau_over_r_is_not_an_snntorch_export():
    g = snntorch_like()
    g.nodes["lif"].r = g.nodes["lif"].r * np.array([1, 1, 1, 2])
    with pytest.raises(ModelImportError, match="tau/r differs between neurons"):
        from_nir(g, framework="snntorch")


def test_every_preset_names_its_source_and_the_overrides_are_checked():
    for name, conv in PRESETS.items():
        assert conv.name == name and conv.source
        assert name in conv.describe()
    with pytest.raises(ModelImportError, match="decay must be one of 'exp', 'euler', not 'rk4'"):
        convention("snntorch", decay="rk4")
    assert convention("snntorch", compare=">=").compare == ">="


@pytest.mark.parametrize("decay,alpha", [("exp", math.exp(-0.1)), ("euler", 0.9)])
def test_decay_choice(decay, alpha):
    g = norse_like()
    model = from_nir(g, framework="norse", decay=decay, quiet=True)
    assert model.layer("lif").alpha(model.dt) == pytest.approx(alpha, rel=1e-12)


def test_rockpool_dt_from_lambert_w():
    """Rockpool writes r = tau exp(-dt/tau) / dt: dt = tau W0(1/r) exactly."""
    dt, tau, tau_syn = 1e-3, 5e-3, 3e-3
    r = tau * math.exp(-dt / tau) / dt
    g = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([3])),
        "fc": nir.Linear(weight=np.ones((2, 3))),
        "lif": nir.CubaLIF(tau_syn=np.full(2, tau_syn), tau_mem=np.full(2, tau),
                           r=np.full(2, r), v_leak=np.zeros(2), v_threshold=np.ones(2)),
        "output": nir.Output(np.array([2]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    model = from_nir(g, framework="rockpool", quiet=True)
    layer = model.layer("lif")
    assert model.dt == pytest.approx(dt, rel=1e-9)
    assert layer.alpha(model.dt) == pytest.approx(math.exp(-dt / tau))
    # i = beta_s (i + x): the input's gain into the current is beta_s
    assert layer.param("r") == pytest.approx(math.exp(-dt / tau_syn))
    assert layer.neuron["reset"] == "subtract" and "compare" not in layer.neuron   # >=
    assert any("floor(v/threshold)" in n for n in model.notes)


def test_sinabs_steps_and_norm_input():
    g = norse_like()                        # any LIF graph: sinabs writes tau in steps, r = 1
    g.nodes["lif"].tau = np.full(4, 5.0)
    model = from_nir(g, framework="sinabs", quiet=True)
    layer = model.layer("lif")
    assert model.dt == 1.0
    assert layer.alpha(1.0) == pytest.approx(math.exp(-0.2))
    assert layer.param("r") == pytest.approx(1 - math.exp(-0.2))      # norm_input
    unit = from_nir(g, framework="sinabs", gain_rule="unit", quiet=True).layer("lif")
    assert unit.param("r") == pytest.approx(1.0)


def test_spyx_is_delayed_timing_with_undecayed_subtraction():
    g = norse_like()
    g.nodes["lif"].tau = np.full(4, 1 / (1 - 0.8))          # to_nir(dt=1): dt/(1-beta)
    g.nodes["lif"].r = np.full(4, 0.8)                        # r = beta, unused
    model = from_nir(g, framework="spyx", quiet=True)
    layer = model.layer("lif")
    assert model.timing == "delayed" and layer.neuron["reset"] == "subtract_delayed"
    assert layer.alpha(1.0) == pytest.approx(0.8) and layer.param("r") == pytest.approx(1.0)
    assert convention("spyx").output_shift == 1
