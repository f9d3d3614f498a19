"""Synaptic delays: the Shared Circular Delay Queue (SCDQ).

The neurocore instantiates it with ``delay.unit = scdq`` (``docs/delay.md``); the
ring-buffer alternative (``delay.unit = ring``) lives in the lanes' accumulator banks
(:mod:`hw.npe.lane`) and needs no unit of its own. The queue's formats are in
:mod:`hw.spec.delay`.
"""

from .scdq import DelayQueue

__all__ = ["DelayQueue"]
