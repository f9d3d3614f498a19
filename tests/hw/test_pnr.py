"""Open-flow report parsing (hw/pnr.py): Fmax against the board clock, utilization."""


from hw.pnr import PlaceRouteError, _log_utilization, summarize_utilization, timing_failures


def test_timing_failures_use_the_higher_of_constraint_and_board_clock():
    res = {"fmax_mhz": {"clk": 80.0, "slow": 20.0}, "constraint_mhz": {"clk": 90.0, "slow": 12.0}}
    assert timing_failures(res, 25e6) == [
        "clock clk reaches 80.00 MHz after routing, below the required 90.00 MHz",
        "clock slow reaches 20.00 MHz after routing, below the required 25.00 MHz"]
    assert timing_failures({"fmax_mhz": {"clk": 30.0}, "constraint_mhz": {"clk": 25.0}},
                           25e6) == []


def test_utilization_summary_maps_cell_types():
    util = {"TRELLIS_COMB": {"used": 10, "available": 100}, "DP16KD": {"used": 2, "available": 8},
            "TRELLIS_IO": {"used": 4, "available": 50}}
    assert summarize_utilization("ecp5", util) == {"lut": util["TRELLIS_COMB"],
                                                   "bram": util["DP16KD"]}


def test_log_utilization_and_does_not_fit(tmp_path):
    log = tmp_path / "top.tim"
    log.write_text("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:    9944/   5280   188%\n"
                   "Info: \t        ICESTORM_RAM:      20/     30    66%\n")
    util = _log_utilization(log)
    assert util == {"ICESTORM_LC": {"used": 9944, "available": 5280},
                    "ICESTORM_RAM": {"used": 20, "available": 30}}
    assert PlaceRouteError("x", util).does_not_fit
    assert not PlaceRouteError("x", {"ICESTORM_LC": {"used": 1, "available": 2}}).does_not_fit
    assert not PlaceRouteError("x").does_not_fit
    assert _log_utilization(tmp_path / "missing.tim") == {}
