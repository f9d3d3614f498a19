"""SDSP core formats: events, memory words and the memories of a plastic tile.

One source of truth for the RTL (:mod:`hw.sdsp.core`), the golden model
(:mod:`sim.golden.sdsp`) and software (:mod:`sw.sdsp`): every width comes from
:class:`hw.spec.config.SdspConfig`.

Events (``event_layout``): ``kind`` (:class:`EventKind`), ``index`` (a neuron,
``index_bits`` wide) and ``arg`` (the packet payload, ``core.payload_bits`` wide). On
the NoC an SDSP tile's axon address is ``kind * N + index`` (:func:`split_axon`), so a
neurocore's spike routed to axon ``a < N`` is a pre-synaptic spike of neuron ``a``.

Memories (N neurons, ``L = lanes`` neurons or synapses per word, ``K = N / L``):

=====================  ==========  ==============================  =================
memory                 role        word                            depth
=====================  ==========  ==============================  =================
``{p}.synapses``       weights     L x (weight, mapped bit)        N * K (row a =
                                                                   pre-synaptic
                                                                   neuron, word
                                                                   ``a*K + j//L``)
``{p}.neurons``        state       L x (v, ca, count, up, down)    K
``{p}.params``         state       L x (thr, leak, theta_m,        K
                                   theta_1, theta_2, theta_3,
                                   ca_leak, ca_off, off)
``{p}.signs``          tables      L bits: 1 = neuron's outgoing   K
                                   synapses are inhibitory
``{p}.control``        tables      learn, gate, syn_learn,         1
                                   learn_unmapped
=====================  ==========  ==============================  =================

Neuron ``j`` is lane ``j % L`` of word ``j // L``; lane ``i`` occupies bits
``i*f .. i*f+f-1`` of a word whose lanes are ``f`` bits wide (fields in layout order,
first field lowest).
"""

from __future__ import annotations

from amaranth import Shape
from amaranth.lib import data, enum

from .config import ChipConfig, SdspConfig

__all__ = ["EventKind", "event_layout", "synapse_layout", "neuron_layout", "param_layout",
           "control_layout", "sdsp_memories", "split_axon", "axon_of", "event_axon_bits",
           "unsigned_fields"]


class EventKind(enum.Enum, shape=2):
    """What an input event does (ODIN's AER event types)."""

    #: Pre-synaptic spike of neuron ``index``: every neuron j integrates w[index][j];
    #: then SDSP steps the plastic synapses of row ``index``.
    SPIKE = 0
    #: Single-synapse event: neuron ``arg % N`` integrates w[index][arg % N] (an
    #: unmapped synapse propagates 0 when ``control.gate``, as for SPIKE; ODIN
    #: ``neuron_core.v``); with ``control.syn_learn`` that one synapse gets the SDSP step.
    SYNAPSE = 1
    #: Virtual event: neuron ``index`` integrates ``|arg|``, inhibitory when ``arg < 0``
    #: (teacher signals).
    VIRTUAL = 2
    #: Time reference (leak, calcium leak, threshold test): neuron ``index`` only, or all
    #: neurons when bit 0 of ``arg`` is set.
    TIME = 3


def event_layout(config: ChipConfig) -> data.StructLayout:
    s = config.sdsp
    return data.StructLayout({"kind": EventKind, "index": s.index_bits,
                              "arg": config.core.payload_bits})


def event_axon_bits(s: SdspConfig) -> int:
    """Axon-address width an SDSP tile needs on the NoC: kind and neuron index."""
    return s.index_bits + 2


def split_axon(s: SdspConfig, axon: int) -> tuple[EventKind, int]:
    """(kind, index) of an SDSP tile's axon address."""
    return EventKind(axon >> s.index_bits & 3), axon & (s.neurons - 1)


def axon_of(s: SdspConfig, kind, index: int) -> int:
    """The axon address of an event of ``kind`` on neuron ``index``."""
    if not 0 <= index < s.neurons:
        raise ValueError(f"SDSP neuron index {index} is outside 0..{s.neurons - 1}")
    return EventKind(kind).value << s.index_bits | index


def synapse_layout(s: SdspConfig) -> data.StructLayout:
    return data.StructLayout({"weight": s.weight_bits, "mapped": 1})


def neuron_layout(s: SdspConfig) -> data.StructLayout:
    """Dynamic state of a neuron, rewritten by the core on every update of the neuron:
    membrane ``v`` (``membrane_bits``), calcium ``ca`` (``calcium_bits``), calcium-leak
    ``count`` (``period_bits``) and the SDSP flags ``up``, ``down`` (1 bit each).

    The flags are ODIN's per-neuron NEUR_V_UP/NEUR_V_DOWN registers (``neuron_core.v``):
    latched on every write of the neuron from its *next* v and ca, and read by learning
    (so a synapse steps by the flags of its neuron's last update). A host that writes
    the word sets them as ODIN latches them when a neuron word is programmed
    (:meth:`sim.golden.sdsp.GoldenSdsp.images`)."""
    return data.StructLayout({"v": s.membrane_bits, "ca": s.calcium_bits,
                              "count": s.period_bits, "up": 1, "down": 1})


def param_layout(s: SdspConfig) -> data.StructLayout:
    """Parameters of a neuron (ODIN keeps them per neuron too; the core never writes
    them): ``thr``, ``leak``, ``theta_m`` (``membrane_bits``), ``theta_1..3``
    (``calcium_bits``), ``ca_leak`` (``period_bits``), and two 1-bit switches whose 0
    is the usual ODIN setting, so an all-zero word keeps calcium and spikes on:

    * ``ca_off``: calcium disabled (ODIN ``param_ca_en = 0``): ``ca`` and ``count``
      frozen, ``up = down = 0``;
    * ``off``: neuron disabled (ODIN NEUR_STATE[127]): its state updates as usual but
      it emits no output spike."""
    mb, cb = s.membrane_bits, s.calcium_bits
    return data.StructLayout({"thr": mb, "leak": mb, "theta_m": mb, "theta_1": cb,
                              "theta_2": cb, "theta_3": cb, "ca_leak": s.period_bits,
                              "ca_off": 1, "off": 1})


def control_layout() -> data.StructLayout:
    """The core's switches (1 bit each; 0 = off):

    * ``learn``: SDSP on SPIKE events;
    * ``gate``: an unmapped synapse propagates 0 (SPIKE and SYNAPSE events; ODIN
      ``SPI_PROPAGATE_UNMAPPED_SYN = 0``);
    * ``syn_learn``: SDSP step of the one synapse of a SYNAPSE event (ODIN
      ``SPI_SDSP_ON_SYN_STIM``);
    * ``learn_unmapped``: learning steps unmapped synapses too (ODIN
      ``SPI_UPDATE_UNMAPPED_SYN``)."""
    return data.StructLayout({"learn": 1, "gate": 1, "syn_learn": 1, "learn_unmapped": 1})


def unsigned_fields(layout: data.StructLayout) -> list[tuple[str, int]]:
    """(name, width) of a flat layout's fields, lowest first."""
    return [(name, Shape.cast(f.shape).width) for name, f in layout]
