"""Board clocking: the chip's ``sync`` domain at a board's ``clock_hz``.

When ``clock_hz`` equals the oscillator's frequency the platform's default domain is
used. Otherwise (ECP5 only) :class:`EcpPllDomain` derives it with an EHXPLLL PLL whose
dividers :func:`ecp5_pll_params` finds exactly (no rounding: a UART divisor and every
cycle count assume the stated frequency), and constrains the PLL's output net at that
frequency so that nextpnr times the chip against it.
"""

from __future__ import annotations

from amaranth import Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import io

__all__ = ["ecp5_pll_params", "EcpPll"]

#: ECP5 EHXPLLL limits (Lattice TN1263): VCO 400-800 MHz, PFD at least 3.125 MHz.
_VCO_MHZ = (400.0, 800.0)
_PFD_MIN_MHZ = 3.125


def ecp5_pll_params(in_hz: float, out_hz: float) -> dict:
    """EHXPLLL dividers for ``out_hz`` exactly from ``in_hz`` (feedback from CLKOP):
    ``{"CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "vco_hz"}``; ValueError when none exist."""
    for clki in range(1, 129):
        pfd = in_hz / clki
        if pfd < _PFD_MIN_MHZ * 1e6:
            break
        for clkfb in range(1, 81):
            if abs(pfd * clkfb - out_hz) > 1e-3:
                continue
            for clkop in range(1, 129):
                vco = out_hz * clkop
                if _VCO_MHZ[0] * 1e6 <= vco <= _VCO_MHZ[1] * 1e6:
                    return {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop,
                            "vco_hz": vco}
    raise ValueError(f"no ECP5 PLL setting makes {out_hz / 1e6:g} MHz exactly from "
                     f"{in_hz / 1e6:g} MHz")


class EcpPll(Elaboratable):
    """``out`` at ``out_hz`` from the platform's default clock (ECP5 PLL), ``lock`` high
    once it is stable; the owner makes ``out`` a domain's clock (Amaranth wants domains
    defined by the module that uses them or a parent)."""

    def __init__(self, out_hz: float):
        self.out_hz = out_hz
        self.out, self.lock = Signal(name="pll_out"), Signal(name="pll_lock")

    def elaborate(self, platform):
        m = Module()
        in_hz = platform.default_clk_frequency
        p = ecp5_pll_params(in_hz, self.out_hz)
        clk = platform.request(platform.default_clk, dir="-")
        m.submodules.clk_in = buf = io.Buffer("i", clk)
        out, lock = self.out, self.lock
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{in_hz / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{self.out_hz / 1e6:g}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            i_CLKI=buf.i, i_CLKFB=out, i_RST=Const(0), i_STDBY=Const(0),
            i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(0),
            i_PHASESTEP=Const(0), i_PHASELOADREG=Const(0), i_PLLWAKESYNC=Const(0),
            i_ENCLKOP=Const(0), o_CLKOP=out, o_LOCK=lock)
        platform.add_clock_constraint(out, self.out_hz)
        return m
