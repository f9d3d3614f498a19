"""How each framework's NIR export is meant: the conventions :func:`~sw.frontend.nir.from_nir`
needs and NIR does not carry.

A NIR ``LIF`` is the ODE ``tau dv/dt = (v_leak - v) + r I`` with ``v > v_threshold``
firing. A framework that exports one simulated a discretisation of it, with choices the
graph does not record: the per-step decay (exact ``exp(-dt/tau)`` or forward Euler
``1 - dt/tau``), the comparison (``>`` or ``>=``), the reset (to zero, subtracting the
threshold, or subtracting it one step later), the timestep (snnTorch and Norse write no
``dt``), whether spikes reach the next layer in the same step, and, for one exporter,
what ``tau`` means. A :class:`Convention` names every choice; :data:`PRESETS` holds one
per framework, each written from that framework's source (file and version in its
``source`` field); ``from_nir(graph, framework="snntorch")`` applies one.

Every field can also be overridden one by one (``from_nir(..., reset="zero")``), for a
model trained with non-default options (e.g. snnTorch's ``reset_mechanism="zero"``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["Convention", "PRESETS", "convention", "FRAMEWORKS"]


@dataclass(frozen=True)
class Convention:
    """One framework's reading of a NIR graph.

    Dynamics: ``decay``: ``"exp"`` (``alpha = exp(-dt/tau)``) or ``"euler"``
    (``1 - dt/tau``). ``compare``: ``">"`` or ``">="``. ``reset``: ``"zero"``,
    ``"subtract"`` or ``"subtract_delayed"`` (the threshold subtracted at the next step,
    after the leak), for neuron nodes whose ``metadata["reset"]`` does not say;
    ``reset_cuba``: the same for current-based nodes, if different. ``timing``:
    ``"same_step"`` (a spike reaches the next layer in the step it is emitted) or
    ``"delayed"`` (one step per projection, the chip's).

    Time: ``dt``: the exporter's fixed timestep (seconds; 1 for exporters whose time
    constants count steps), used when neither the caller nor the graph's metadata gives
    one. ``dt_from``: how dt can be read off the graph: ``"tau/r"`` (the exporter writes
    ``r = tau/dt``: snnTorch), ``"lambert"`` (``r = tau exp(-dt/tau) / dt``, so ``dt =
    tau W0(1/r)``: Rockpool) or ``""``. ``tau_times_dt``: the exporter writes ``dt * tau``
    where NIR wants ``tau`` (Norse's ``tau = dt / tau_mem_inv``); the true time constant
    is ``tau_nir / dt``.

    Gains: ``gain_rule``: the per-step input gain of a neuron: ``"nir"`` (``r dt / tau``,
    the ODE's Euler step; ``r dt`` for IF), ``"unit"`` (1, whatever ``r`` says: the
    exporter writes an ``r`` its simulation does not use), ``"norm_lif"`` (``1 - alpha``
    for LIF, 1 for the others: Sinabs' ``norm_input``). ``syn_first``: in a current-based
    neuron the membrane integrates the current of the same step (``True``) or of the step
    before (``False``). ``syn_gain``: the input's gain into the synaptic current:
    ``"nir"`` (``w_in dt / tau_syn``), ``"w_in"`` (the current jumps by ``w_in x``:
    Norse) or ``"decayed"`` (``w_in beta_syn x``: Rockpool adds, then decays).
    ``expected_gain``: the gain ``r dt / tau`` the exporter's ``r`` implies (1 for
    snnTorch), or None: a graph whose gain differs by more than 1 % is refused, since its
    dt is then not the one the model was trained with.

    Spikes: ``multi_spike``: the framework emits ``floor(v / threshold)`` spikes per step
    (Sinabs' MultiSpike, Rockpool); the chip emits one, so the import is exact only while
    ``v < 2 threshold`` (a note says so). ``output_shift``: the framework records a
    spike this many steps after the kit does (Spyx emits the spike of ``v[t-1]`` at
    ``t``): its train at ``t + output_shift`` is the kit's at ``t``.
    """

    name: str
    decay: str = "exp"
    compare: str = ">="
    reset: str = "zero"
    reset_cuba: str | None = None
    timing: str = "delayed"
    dt: float | None = None
    dt_from: str = ""
    tau_times_dt: bool = False
    gain_rule: str = "nir"
    syn_first: bool = True
    syn_gain: str = "nir"
    expected_gain: float | None = None
    multi_spike: bool = False
    output_shift: int = 0
    source: str = ""

    def describe(self) -> str:
        """One line naming every choice (for import notes and reports)."""
        dt = f"dt {self.dt:g} s" if self.dt is not None else "dt from the caller/metadata"
        parts = [f"decay {self.decay}", f"fire when v {self.compare} threshold",
                 f"reset {self.reset}" + (f" (current-based: {self.reset_cuba})"
                                          if self.reset_cuba else ""),
                 f"{self.timing.replace('_', '-')} propagation", dt]
        if self.dt_from:
            parts.append(f"dt from {'r = tau/dt' if self.dt_from == 'tau/r' else 'r = tau exp(-dt/tau)/dt'}")
        if self.tau_times_dt:
            parts.append("tau written as dt*tau")
        parts.append(f"gain {self.gain_rule}")
        if self.multi_spike:
            parts.append("multi-spike (one spike per step on the chip)")
        if self.output_shift:
            parts.append(f"its spikes recorded {self.output_shift} step later")
        return f"{self.name}: " + ", ".join(parts)


#: Conventions by framework name, each from the framework's own source (``source``).
PRESETS = {
    # The kit's own to_nir/from_nir pair: exact decay, >=, reset in node metadata,
    # dt in the graph metadata, the chip's timing.
    "spikeforge": Convention(
        "spikeforge", source="sw/frontend/nir.py (to_nir writes metadata dt, timing, reset)"),
    # snnTorch 1.0.0: _neurons/leaky.py forward (reset = H(mem_prev - thr) from the
    # previous membrane; _base_sub: beta*mem + input - reset*thr: reset_delay=True and
    # reset_mechanism="subtract" are the defaults), _neurons/neurons.py fire (spike_grad
    # of mem - thr; the surrogates' forward is x > 0), export_nir.py (dt = 1e-4 fixed,
    # tau = dt/(1-beta), r = tau/dt; Synaptic: tau_syn = dt/(1-alpha), w_in = tau_syn/dt;
    # syn = alpha*syn + input, mem = beta*mem + syn), no graph metadata.
    "snntorch": Convention(
        "snntorch", decay="euler", compare=">", reset="subtract_delayed", timing="same_step",
        dt=1e-4, dt_from="tau/r", syn_first=True, syn_gain="nir", expected_gain=1.0,
        source="snntorch 1.0.0: _neurons/leaky.py, _neurons/synaptic.py, _neurons/neurons.py, "
               "export_nir.py"),
    # Norse 1.1.0: torch/utils/export_nir.py writes tau = dt/tau_mem_inv (dt*tau; dt =
    # 1e-3 by default, not written) and r = 1; torch/functional/lif_box.py: v += dt *
    # tau_mem_inv * (input + v_leak - v), z = heaviside(v - v_th) (x > 0), v = v_reset
    # where z; functional/lif.py (LIFCell): j = i + input, the membrane integrates j,
    # then i = j * (1 - dt * tau_syn_inv).
    "norse": Convention(
        "norse", decay="euler", compare=">", reset="zero", timing="same_step", dt=1e-3,
        tau_times_dt=True, syn_first=True, syn_gain="w_in",
        source="norse 1.1.0: torch/utils/export_nir.py, torch/functional/lif_box.py, "
               "torch/functional/lif.py, torch/functional/threshold.py"),
    # Sinabs 2.0.3: layers/functional/lif.py (alpha = exp(-1/tau_mem), tau in steps;
    # input * (1 - alpha) when norm_input, the LIF default; v = alpha*v + input), the
    # default spike_fn MultiSpike (activation/spike_generation.py: floor(v/thr) spikes
    # when v >= thr) and reset MembraneSubtract in the same step; nir.py writes tau =
    # tau_mem (steps), r = 1, no metadata; IAF -> IF (gain 1), ExpLeak -> LI (gain 1).
    "sinabs": Convention(
        "sinabs", decay="exp", compare=">=", reset="subtract", timing="same_step", dt=1.0,
        gain_rule="norm_lif", multi_spike=True,
        source="sinabs 2.0.3: layers/functional/lif.py, layers/lif.py, "
               "activation/spike_generation.py, activation/reset_mechanism.py, nir.py"),
    # Rockpool 3.1.0: nn/modules/torch/lif_torch.py (isyn += x; vmem *= alpha; isyn *=
    # beta; vmem += isyn + bias; spikes floor(v/thr) when v >= thr; vmem -= spikes*thr),
    # nn/modules/torch/nir.py (LIFTorch -> CubaLIF, LIFNeuronTorch -> LIF, ExpSynTorch
    # -> LI, r = tau*exp(-dt/tau)/dt, dt not written, neuron bias dropped).
    "rockpool": Convention(
        "rockpool", decay="exp", compare=">=", reset="subtract", timing="same_step",
        dt_from="lambert", gain_rule="unit", syn_first=True, syn_gain="decayed",
        multi_spike=True,
        source="rockpool 3.1.0: nn/modules/torch/lif_torch.py, lif_neuron_torch.py, "
               "exp_syn_torch.py, nn/modules/torch/nir.py"),
    # Spyx 1.0.0 (src/spyx/nn.py, src/spyx/nir.py): LIF s_t = H(V_{t-1} - thr), V_t =
    # beta*V_{t-1} + x_t - s_t*thr (the spike of the previous membrane: one step per
    # layer, as the chip; the subtraction not decayed); CuBaLIF subtracts before the
    # decay; to_nir(..., dt=1) writes tau = dt/(1-beta), r = beta (unused), H is x > 0.
    "spyx": Convention(
        "spyx", decay="euler", compare=">", reset="subtract_delayed", reset_cuba="subtract",
        timing="delayed", dt=1.0, gain_rule="unit", syn_first=True, syn_gain="w_in",
        output_shift=1,
        source="spyx 1.0.0: src/spyx/nn.py, src/spyx/nir.py, src/spyx/axn.py"),
}

#: Framework names :func:`convention` accepts.
FRAMEWORKS = tuple(PRESETS)

_CHOICES = {"decay": ("exp", "euler"), "compare": (">", ">="),
            "reset": ("zero", "subtract", "subtract_delayed"),
            "reset_cuba": ("zero", "subtract", "subtract_delayed"),
            "timing": ("same_step", "delayed"), "syn_gain": ("nir", "w_in", "decayed"),
            "gain_rule": ("nir", "unit", "norm_lif"), "dt_from": ("", "tau/r", "lambert")}


def convention(framework: str | None = None, **overrides) -> Convention:
    """The preset of ``framework`` (``None``: ``"spikeforge"``) with ``overrides``
    (fields of :class:`Convention` whose value is not None) applied and checked.

    Raises ValueError naming the framework or field and the allowed values."""
    from sw.frontend.float_model import ModelImportError
    name = "spikeforge" if framework is None else str(framework).lower()
    if name not in PRESETS:
        raise ModelImportError(f"framework must be one of {', '.join(FRAMEWORKS)}, "
                               f"not {framework!r}")
    known = {f.name for f in fields(Convention)} - {"name", "source"}
    changes = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in known:
            raise ModelImportError(f"unknown convention field {key!r}; fields: "
                                   f"{', '.join(sorted(known))}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ModelImportError(f"{key} must be one of "
                                   f"{', '.join(map(repr, _CHOICES[key]))}, not {value!r}")
        changes[key] = value
    return replace(PRESETS[name], **changes)
