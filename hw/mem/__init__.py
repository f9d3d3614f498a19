"""Fault-injectable memories and the memory directory."""

from .directory import MemoryDirectory, MemoryInfo
from .fault_sram import FaultKind, FaultSRAM
from .protection import Protection, code_layout

__all__ = ["FaultSRAM", "FaultKind", "MemoryDirectory", "MemoryInfo", "Protection", "code_layout"]
