"""The neurocore: loop controller, NPE lanes, tables, event generator, counters."""

from .neurocore import COUNTERS, Neurocore

__all__ = ["Neurocore", "COUNTERS"]
