"""Board clocking (hw/clocks.py): exact ECP5 PLL dividers and the constrained PLL net."""

import pytest

from hw.clocks import ecp5_pll_params


@pytest.mark.parametrize("fin,fout", [(25e6, 12.5e6), (48e6, 24e6), (25e6, 20e6),
                                      (25e6, 75e6)])
def test_pll_params_are_exact_and_in_range(fin, fout):
    p = ecp5_pll_params(fin, fout)
    assert fin / p["CLKI_DIV"] * p["CLKFB_DIV"] == pytest.approx(fout, abs=1e-3)
    assert 400e6 <= p["vco_hz"] == fout * p["CLKOP_DIV"] <= 800e6
    assert fin / p["CLKI_DIV"] >= 3.125e6


def test_pll_params_refuse_an_inexact_clock():
    with pytest.raises(ValueError, match="no ECP5 PLL setting makes 12.3457 MHz exactly "
                                         "from 25 MHz"):
        ecp5_pll_params(25e6, 12.3457e6)
