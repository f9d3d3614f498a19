"""Every documented rule of the SDSP golden model (:mod:`sim.golden.sdsp`), one by one,
including the subtle ones: the old weight is integrated, the flags are those before
the event, the threshold test runs on time references too."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, SdspConfig
from hw.spec.sdsp import EventKind
from sim.golden.sdsp import GoldenSdsp, pack_words, unpack_words

SPIKE, SYNAPSE, VIRTUAL, TIME = EventKind
CONFIG = ChipConfig(sdsp=SdspConfig(tiles=1, neurons=16, lanes=4))


def core(**params):
    g = GoldenSdsp(CONFIG)
    g.params["thr"][:] = 200
    for name, value in params.items():
        g.params[name][:] = value
    return g


def test_integration_saturates_both_ways():
    g = core(thr=255)                           # reached only at saturation
    g.w[0, 1] = 3
    g.v[1] = 250
    g.event(SPIKE, 0)
    assert g.v[1] == 253
    assert g.event(SPIKE, 0) == [1]             # 256 saturates at 255 and fires
    g.inh[0] = True
    g.v[1] = 2
    g.event(SPIKE, 0)
    assert g.v[1] == 0                          # 2 - 3 clips at 0


def test_spike_resets_and_raises_calcium_saturating():
    g = core(thr=5)
    g.w[3, 2] = 5
    g.ca[2] = 7
    assert g.event(SPIKE, 3) == [2]
    assert g.v[2] == 0 and g.ca[2] == 7       # calcium saturates at 2**3 - 1
    g.ca[2] = 1
    g.event(SPIKE, 3)
    assert g.ca[2] == 2


def test_threshold_test_runs_on_time_reference_events():
    g = core(thr=10, leak=0)
    g.v[4] = 12                                  # above threshold without an input
    assert g.event(TIME, 4) == [4]
    assert g.v[4] == 0


def test_leak_and_calcium_leak_on_time_references():
    g = core(leak=3, ca_leak=2)
    g.v[:] = 5
    g.ca[:] = 3
    g.event(TIME, 0, 1)                          # all neurons
    assert list(g.v[:2]) == [2, 2] and list(g.count[:2]) == [1, 1] and g.ca[0] == 3
    g.event(TIME, 0, 1)
    assert g.v[0] == 0 and g.count[0] == 0 and g.ca[0] == 2   # every 2nd reference
    g.event(TIME, 5, 0)                          # one neuron only
    assert g.count[5] == 1 and g.count[4] == 0
    g = core(ca_leak=0)
    g.ca[:] = 3
    g.event(TIME, 0, 1)
    assert g.ca[0] == 3 and g.count[0] == 0     # ca_leak 0: no calcium leak


def test_calcium_leak_counter_runs_as_odin_and_stops_with_calcium_off():
    """ODIN ``lif_calcium.v``: the leak is due when ``count == caleak - 1``; a count
    beyond that (an image) counts on, wrapping at the counter width; with calcium off
    (``param_ca_en = 0``) neither the counter nor calcium moves."""
    g = core(leak=0, ca_leak=3)
    g.ca[:] = 4
    g.count[0] = 5                               # beyond ca_leak - 1
    g.event(TIME, 0)
    assert g.count[0] == 6 and g.ca[0] == 4
    g.count[0] = 255                             # wraps at 2**period_bits
    g.event(TIME, 0)
    assert g.count[0] == 0 and g.ca[0] == 4
    g.count[0] = 2
    g.event(TIME, 0)
    assert g.count[0] == 0 and g.ca[0] == 3
    g.params["ca_off"][1] = 1
    g.count[1] = 2
    g.v[1] = 250
    g.params["thr"][1] = 10
    assert g.event(TIME, 1) == [1]
    assert g.count[1] == 2 and g.ca[1] == 4      # frozen, though it fired


def test_flags():
    g = core(theta_m=100, theta_1=2, theta_2=4, theta_3=6)
    g.v[:4] = [100, 100, 99, 99]
    g.ca[:4] = [2, 6, 3, 4]
    up, down = g.flags()
    assert list(up[:4]) == [True, False, False, False]
    assert list(down[:4]) == [False, False, True, False]


def test_old_weight_integrated_and_flags_from_before_the_event():
    # neuron 1 is in the UP band before the event; the spike makes it fire, which
    # would leave it DOWN (v = 0) - the step must still be UP, and the integrated
    # weight must be the old one.
    g = core(thr=10, theta_m=5, theta_1=1, theta_2=7, theta_3=7)
    g.learn = True
    g.mapped[0, 1] = True
    g.w[0, 1] = 4
    g.v[1] = 6
    g.ca[1] = 1
    assert g.event(SPIKE, 0) == [1]             # 6 + 4 (old weight) = 10 fires
    assert g.w[0, 1] == 5                        # stepped up although now v = 0
    # now v = 0 < theta_m and ca = 2 in [1, 7): DOWN
    g.event(SPIKE, 0)
    assert g.v[1] == 5 and g.w[0, 1] == 4        # integrated 5, then stepped down


def test_weights_saturate_and_only_mapped_learn():
    g = core(theta_m=0, theta_1=0, theta_3=7)   # every neuron UP
    g.learn = True
    g.w[2, :] = 7
    g.mapped[2, :8] = True
    g.event(SPIKE, 2)
    assert (g.w[2] == 7).all()
    g.w[2, :] = 3
    g.event(SPIKE, 2)
    assert list(g.w[2, :8]) == [4] * 8 and list(g.w[2, 8:]) == [3] * 8
    g.learn = False
    g.event(SPIKE, 2)
    assert list(g.w[2, :8]) == [4] * 8


def test_gate_makes_unmapped_synapses_silent():
    g = core()
    g.w[0, :] = 2
    g.mapped[0, 0] = True
    g.event(SPIKE, 0)
    assert g.v[0] == 2 and g.v[1] == 2
    g.gate = True
    g.event(SPIKE, 0)
    assert g.v[0] == 4 and g.v[1] == 2


def test_single_synapse_event_masks_unmapped_weights_like_a_spike():
    """Rule 1, after ODIN ``neuron_core.v``: a SYNAPSE event's weight passes through the
    same mapping mask as a pre-synaptic spike's (``syn_weight_int[2:0] &
    {3{mapped | SPI_PROPAGATE_UNMAPPED_SYN}}``): with ``gate`` an unmapped synapse
    integrates 0. (The old model integrated it regardless.)"""
    g = core(theta_m=0, theta_1=0, theta_3=7)
    g.learn = g.gate = True
    g.w[3, 9] = 5                                # unmapped
    g.event(SYNAPSE, 3, 9)
    assert g.v[9] == 0 and g.w[3, 9] == 5        # gated; no learning (syn_learn off)
    g.mapped[3, 9] = True
    g.event(SYNAPSE, 3, 9)
    assert g.v[9] == 5 and g.v[8] == 0
    g.event(SYNAPSE, 3, -7)                      # payload bits: -7 mod 16 = 9
    assert g.v[9] == 10
    g.gate = False                               # unmapped synapses propagate
    g.mapped[3, 9] = False
    g.event(SYNAPSE, 3, 9)
    assert g.v[9] == 15


def test_calcium_spike_and_due_leak_cancel():
    """Rule 2, after ODIN ``lif_calcium.v``: on a time reference where the neuron fires
    and its calcium leak is due, calcium does not change (the old model leaked, then
    added: also no change from the middle, but 0 -> 1 and CMAX -> CMAX - 1 at the
    ends); +1 only below saturation, -1 only above 0."""
    g = core(thr=10, leak=0, ca_leak=1)          # the leak is due on every reference
    g.v[:3] = 12                                 # fires on the reference
    g.ca[:3] = [0, 7, 3]
    g.v[3], g.ca[3] = 0, 0                       # due, does not fire, ca = 0: stays 0
    g.event(TIME, 0, 1)
    assert list(g.ca[:4]) == [0, 7, 3, 0]
    assert list(g.count[:4]) == [0, 0, 0, 0]
    g.v[0] = 12
    g.params["ca_leak"][0] = 2                   # not due this time: +1
    g.event(TIME, 0, 0)
    assert g.ca[0] == 1 and g.count[0] == 1
    g.event(TIME, 0, 0)                          # due, no spike: -1
    assert g.ca[0] == 0 and g.count[0] == 0


def test_flags_are_latched_state_from_the_next_membrane_and_calcium():
    """Rule 3, after ODIN ``neuron_core.v`` (NEUR_V_UP/NEUR_V_DOWN registers written
    with each neuron-memory write) and ``lif_calcium.v`` (v_up_next/v_down_next from
    the next v and ca): the flags are per-neuron state, not derived from stored v, ca.
    An image with ``v >= thr`` is programmed with the flags of its no-event update
    (ODIN's W_NEUR): v' = 0, ca' = ca + 1, while v and ca stay as written."""
    g = core(thr=50, theta_m=40, theta_1=1, theta_2=7, theta_3=7)
    g.learn = True
    g.mapped[0, :] = True
    g.w[0, :] = 3
    g.v[1], g.ca[1] = 60, 1                      # v >= thr and >= theta_m
    images = g.images()
    g2 = GoldenSdsp(CONFIG)
    g2.load(images)
    assert g2.v[1] == 60 and g2.ca[1] == 1       # stored as written
    up, down = g2.flags()
    assert not up[1] and down[1]                 # from v' = 0, ca' = 2 (old: UP)
    g2.event(SPIKE, 0)                           # fires; the step uses DOWN
    assert g2.w[0, 1] == 2 and g2.ca[1] == 2
    # thr = 0: every update fires, so v' = 0 < theta_m whatever v was
    g = core(thr=0, theta_m=0, theta_1=0, theta_2=7, theta_3=7)
    g.learn = True
    g.mapped[0, :] = True
    g.w[0, :] = 3
    g.ca[2] = 6                                  # ca' = 7 = theta_3: neither flag
    g.event(SPIKE, 0)
    assert g.w[0, 2] == 3 and g.ca[2] == 7
    up, down = g.flags()
    assert not up[2] and not down[2]             # (old, from v = 0, ca = 7: no flag)
    g.params["ca_off"][:] = 1                    # calcium off: flags 0, ca frozen
    g.event(SPIKE, 0)
    assert g.ca[2] == 7 and not g.flags()[0].any() and not g.flags()[1].any()


def test_sdsp_on_single_synapse_events_steps_only_that_synapse():
    """ODIN ``controller.v`` SYNAPSE state (CTRL_PRE_EN of the one synapse when
    SPI_SDSP_ON_SYN_STIM): the synapse steps by its neuron's flags from before."""
    g = core(theta_m=0, theta_1=0, theta_2=7, theta_3=7)    # every neuron UP
    g.mapped[1, :] = True
    g.w[1, :] = 2
    g.event(SYNAPSE, 1, 4)
    assert (g.w[1] == 2).all()                   # syn_learn off
    g.syn_learn = True
    g.event(SYNAPSE, 1, 4)
    assert g.w[1, 4] == 3 and (np.delete(g.w[1], 4) == 2).all()
    assert g.counters["weight_updates"] == 1


def test_update_unmapped_synapses():
    """ODIN ``synaptic_core.v``: SYN_PRE = CTRL_PRE_EN & (SPI_UPDATE_UNMAPPED_SYN |
    mapped)."""
    g = core(theta_m=0, theta_1=0, theta_2=7, theta_3=7)
    g.learn = True
    g.mapped[2, :4] = True
    g.w[2, :] = 3
    g.event(SPIKE, 2)
    assert list(g.w[2, :6]) == [4, 4, 4, 4, 3, 3]
    g.learn_unmapped = True
    g.event(SPIKE, 2)
    assert list(g.w[2, :6]) == [5, 5, 5, 5, 4, 4]


def test_disabled_neuron_updates_but_emits_nothing():
    """ODIN ``neuron_core.v``: NEUR_EVENT_OUT is 0 when NEUR_STATE[127], but the next
    state (reset, calcium) is written all the same."""
    g = core(thr=5)
    g.w[0, :] = 6
    g.params["off"][3] = 1
    out = g.event(SPIKE, 0)
    assert 3 not in out and len(out) == 15
    assert g.v[3] == 0 and g.ca[3] == 1
    assert g.counters["events_out"] == 15


def test_virtual_events_carry_weight_and_sign():
    g = core()
    g.event(VIRTUAL, 5, 100)
    assert g.v[5] == 100
    g.event(VIRTUAL, 5, -128)
    assert g.v[5] == 0


def test_spikes_in_ascending_order_and_counters():
    g = core(thr=1)
    g.w[0, [9, 2, 14]] = 1
    assert g.event(SPIKE, 0) == [2, 9, 14]
    assert g.counters["synops"] == 16 and g.counters["neuron_updates"] == 16
    assert g.counters["events_out"] == 3


def test_bad_events_are_refused_with_the_reason():
    g = core()
    with pytest.raises(ValueError, match="neuron 16 is outside 0..15"):
        g.event(SPIKE, 16)
    with pytest.raises(ValueError, match="arg 128 does not fit the 8-bit signed payload"):
        g.event(VIRTUAL, 1, 128)


def test_images_round_trip():
    rng = np.random.default_rng(1)
    g = core()
    g.w = rng.integers(0, 8, (16, 16))
    g.mapped = rng.random((16, 16)) < 0.5
    g.v = rng.integers(0, 256, 16)
    g.inh = rng.random(16) < 0.5
    g.learn = True
    h = GoldenSdsp(CONFIG)
    h.load(g.images())
    assert h.images() == g.images() and h.learn
    assert (h.w == g.w).all() and (h.mapped == g.mapped).all()


def test_pack_words_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError, match="field 'v' has values outside 0..7"):
        pack_words([("v", 3)], 2, {"v": [1, 8]})
    assert unpack_words([("v", 3)], 2, pack_words([("v", 3)], 2, {"v": [1, 7]}))["v"].tolist() == [1, 7]


def test_config_requires_a_payload_wide_enough_for_a_neuron_index():
    from hw.spec.config import ConfigError
    with pytest.raises(ConfigError, match="core.payload_bits: 4 is below sdsp's neuron index"):
        ChipConfig(core=CoreConfig(payload_bits=4), sdsp=SdspConfig(tiles=1, neurons=256))


def test_batched_inference_equals_the_event_by_event_model():
    from sim.tb.sdsp import random_case
    rng = np.random.default_rng(5)
    images, _ = random_case(CONFIG, rng, 0, learn=False)
    g = GoldenSdsp(CONFIG)
    g.load(images)
    g.gate = True
    g.w[:, 8:] = 0                       # silent neurons, which infer() skips...
    g.params["thr"][12] = 0              # ...unless they can fire without input
    samples = [random_case(CONFIG, rng, int(rng.integers(0, 60)), learn=False)[1]
               for _ in range(12)]
    spikes, v = g.infer(samples)
    before = g.images()
    assert g.images() == before
    for b, events in enumerate(samples):
        g.reset_state()
        out = g.run(events)
        assert spikes[b].tolist() == np.bincount([n for f in out for n in f],
                                                 minlength=16).tolist()
        assert v[b].tolist() == g.v.tolist()


def test_stuck_at_in_a_word_the_core_rewrites_is_refused_with_the_reason():
    from hw.spec.memory import FaultKind
    g = core()
    assert g.inject("sdsp.neurons", 0, 0b1, FaultKind.STUCK_AT_1)
    with pytest.raises(ValueError, match="sdsp.neurons word 0 has a stuck-at fault and the "
                                         "core rewrites it"):
        g.event(TIME, 0, 1)
    g = core()
    assert g.inject("sdsp.params", 0, 0b1, FaultKind.STUCK_AT_1)
    assert g.params["thr"][0] == 201              # bit 0 of lane 0's threshold held at 1
    assert not g.inject("sdsp.params", 1, 0b1, FaultKind.STUCK_AT_1)   # one slot: refused
    assert g.status["sdsp.params"]["overflow"] == 1
    g.inject("sdsp.params", 0, 0, FaultKind.CLEAR)
    assert g.params["thr"][0] == 200
