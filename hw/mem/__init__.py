"""Fault-injectable memories (:class:`FaultSRAM`) and their memory bus; their formats
(fault kinds, bus words, protection codes, the memory directory) are in :mod:`hw.spec`."""

from .fault_sram import FaultSRAM

__all__ = ["FaultSRAM"]
