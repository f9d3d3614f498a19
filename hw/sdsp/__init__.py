"""ODIN-style plastic crossbar core: spike-driven synaptic plasticity (SDSP). Its formats
(events, memory words) are in :mod:`hw.spec.sdsp`."""
