"""The neurocore: loop controller, NPE lanes, tables, event generator, counters."""

from .neurocore import Neurocore

__all__ = ["Neurocore"]
