"""The RTL builds that software runs: each one a design of :mod:`hw`, built by
Verilator once per configuration and cached (:mod:`sim.runner`).

``sw`` reaches the generators only through here, so the driver, the campaigns and the
demos never import an RTL module themselves (``tests/test_dependencies.py``).
"""

from __future__ import annotations

from hw.spec.config import ChipConfig

__all__ = ["hostchip_exe", "sdsp_core_build"]


def hostchip_exe(config: ChipConfig, *, opt: str):
    """Path of the stand-alone Verilator executable of the chip behind its host link
    (:class:`hw.host.HostChip`), speaking the host protocol on stdin/stdout."""
    from hw.host import HostChip
    from sim.runner import verilator_exe
    return verilator_exe("hostchip", lambda: HostChip(config), key=config.to_dict(), opt=opt)


def sdsp_core_build(config: ChipConfig):
    """The Verilator build of one SDSP core (:class:`hw.sdsp.SdspCore`), for the
    cocotb tests of :mod:`sim.tb.sdsp` (:func:`sim.runner.run_cocotb`)."""
    from hw.sdsp.core import SdspCore
    from sim.runner import verilator_build
    return verilator_build("sdsp_core", lambda: SdspCore(config), key=config.to_dict())
