"""The saturating event counter every block's counters use (:mod:`hw.spec.counters`
states the rule; :func:`hw.spec.counters.saturate` is the models' side of it).

:func:`saturating` drives a counter register in the ``sync`` domain. Cycle behaviour:
in every cycle the counter takes ``counter + increment`` (``increment`` may be more
than 1: a popcount, a sum of strobes), capped at all ones (``2**len(counter) - 1``),
from the next cycle on; while ``clear`` is high it takes 0 instead, whatever the
increment (clear wins: an event in the clearing cycle is not counted). A saturated
counter stays at all ones until cleared; it never wraps.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value

__all__ = ["saturating"]


def saturating(m: Module, counter, increment, clear=None, *, name: str | None = None) -> None:
    """Drive ``counter`` (a ``sync`` register, or a field of a View of one) as a
    saturating event counter.

    Parameters
    ----------
    m : Module
        The module whose ``comb`` and ``sync`` domains get the logic.
    counter : Value
        The counter register; its width sets the saturation value ``2**width - 1``.
    increment : Value or int
        Added every cycle (``0`` when nothing happened; any unsigned width).
    clear : Value or None
        While high the counter is zeroed and the increment is dropped. ``None``: the
        counter is never cleared (only reset zeroes it).
    name : str or None
        Names the ``{name}_next`` net (the unsaturated sum); defaults to the counter's
        own name (required when ``counter`` is not a plain Signal).
    """
    width = len(counter)
    top = (1 << width) - 1
    if name is None:
        name = counter.name
    # wide enough for counter + increment: the sum never wraps before the compare
    nxt = Signal(max(width, len(Value.cast(increment))) + 1, name=f"{name}_next")
    m.d.comb += nxt.eq(counter + increment)
    if clear is None:
        m.d.sync += counter.eq(Mux(nxt > top, top, nxt))
        return
    with m.If(clear):
        m.d.sync += counter.eq(0)
    with m.Else():
        m.d.sync += counter.eq(Mux(nxt > top, top, nxt))
