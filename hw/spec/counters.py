"""Event counters: their names, the words that carry them, and the saturation rule.

Every counter is ``core.counter_bits`` wide, saturates at all ones and is zeroed by the
owner's ``clear_counters`` (RTL: :func:`hw.counters.saturating`; models:
:func:`saturate`). A counter word (host ``COUNTERS`` reply, :func:`counter_layout`)
holds the counters in the order of their names tuple, the first lowest.

* :data:`CORE_COUNTERS`: the layout of every core's word (neurocore and SDSP core alike;
  a counter that does not apply to a core kind reads 0 there);
* :data:`CHIP_COUNTERS`: the chip's own word;
* :data:`NEUROCORE_MODEL_COUNTERS` / :data:`SDSP_MODEL_COUNTERS`: the counters the
  golden models of a neurocore / an SDSP core keep (all but the cycle counters, which
  only the RTL has, and the other kind's);
* :data:`ACCESS_COUNTERS`: each memory's ``reads``/``writes`` (width
  :func:`access_bits`), carried by the memory status commands (:mod:`hw.spec.memory`).
"""

from __future__ import annotations

from amaranth.lib import data

__all__ = ["CORE_COUNTERS", "CHIP_COUNTERS", "CYCLE_COUNTERS", "DELAY_COUNTERS",
           "NEUROCORE_MODEL_COUNTERS", "SDSP_MODEL_COUNTERS", "counter_layout",
           "pack_counters", "unpack_counters", "saturate", "access_bits", "counter_bytes"]

#: Counted by the RTL only (a golden model has no clock).
CYCLE_COUNTERS = ("cycles_busy", "cycles_idle")
#: The SCDQ's (zero without it): events stored, refused (full), peak held.
DELAY_COUNTERS = ("delay_pushes", "delay_overflows", "delay_max_occupancy")

#: One core's counter word, first name lowest.
CORE_COUNTERS = (CYCLE_COUNTERS
                 + ("events_in", "events_out", "synops", "neuron_updates", "ticks",
                    "acc_overflows")
                 + DELAY_COUNTERS
                 # the SDSP core's (zero in a neurocore): synapses whose weight changed
                 + ("weight_updates",))

#: The chip's counter word, first name lowest.
CHIP_COUNTERS = CYCLE_COUNTERS + ("steps", "host_events_in", "host_events_out", "misrouted")

#: What the golden neurocore counts (:class:`sim.golden.core.GoldenCore`).
NEUROCORE_MODEL_COUNTERS = tuple(n for n in CORE_COUNTERS
                                 if n not in CYCLE_COUNTERS and n != "weight_updates")
#: What the golden SDSP core counts (:class:`sim.golden.sdsp.GoldenSdsp`).
SDSP_MODEL_COUNTERS = ("events_in", "events_out", "synops", "neuron_updates", "ticks",
                       "weight_updates")


def counter_layout(names, counter_bits: int) -> data.StructLayout:
    """A counter word: one ``counter_bits`` field per name, the first lowest."""
    return data.StructLayout({n: counter_bits for n in names})


def counter_bytes(names, counter_bits: int) -> int:
    """Bytes of a counter word on the host link."""
    return -(-len(names) * counter_bits // 8)


def saturate(value: int, counter_bits: int) -> int:
    """``value`` as a ``counter_bits``-wide saturating counter shows it."""
    return min(int(value), (1 << counter_bits) - 1)


def pack_counters(names, counter_bits: int, values: dict) -> int:
    """The word of ``values`` (missing names 0), each saturated to ``counter_bits``."""
    return sum(saturate(values.get(n, 0), counter_bits) << i * counter_bits
               for i, n in enumerate(names))


def unpack_counters(names, counter_bits: int, word: int) -> dict:
    top = (1 << counter_bits) - 1
    return {n: int(word) >> i * counter_bits & top for i, n in enumerate(names)}


def access_bits(config) -> int:
    """Width of every memory's access counters: the core's counter width."""
    return config.core.counter_bits
