"""ODIN-style plastic crossbar core: spike-driven synaptic plasticity (SDSP)."""

from .format import EventKind, sdsp_memories

__all__ = ["EventKind", "sdsp_memories"]
