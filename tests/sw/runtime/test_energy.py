"""Energy model (sw/runtime/energy.py): the table's interpolation, the arithmetic, the swappable
table's errors, and the golden chip's router traversals it uses."""

import json

import pytest

from sw.runtime.energy import (HOROWITZ_45NM, Activity, EnergyParams, estimate, load_params,
                               sram_pj_per_bit)

P = EnergyParams(name="t", node="n", sram_points=((1024, 1.0), (4096, 2.0)), mul_pj=0.5,
                 add_pj=0.25, neuron_update_adds=2, router_pj_per_bit=0.01)


def test_sram_energy_interpolates_in_log_size_and_clamps():
    assert sram_pj_per_bit(P, 16) == 1.0                 # below the table: smallest point
    assert sram_pj_per_bit(P, 1024) == 1.0
    assert sram_pj_per_bit(P, 2048) == pytest.approx(1.5)  # halfway in log2
    assert sram_pj_per_bit(P, 4096) == 2.0
    assert sram_pj_per_bit(P, 1 << 30) == 2.0
    # the published points of the default table: 10 pJ per 64-bit read at 8 KB
    assert 64 * sram_pj_per_bit(HOROWITZ_45NM, 8 * 8192) == pytest.approx(10.0)
    assert 64 * sram_pj_per_bit(HOROWITZ_45NM, 1024 * 8192) == pytest.approx(100.0)


def test_estimate_adds_up_each_part():
    act = Activity(memories={"w": {"width": 8, "bits": 1024, "reads": 10, "writes": 0},
                             "s": {"width": 16, "bits": 4096, "reads": 3, "writes": 2}},
                   synops=10, neuron_updates=4, router_hops=7, packet_bits=20)
    e = estimate(act, P)
    assert e["memories_pj"] == {"w": 80.0, "s": 160.0}
    assert e["breakdown_pj"] == {"memories": 240.0, "synaptic_arithmetic": 7.5,
                                 "neuron_arithmetic": 2.0, "noc": pytest.approx(1.4)}
    assert e["total_pj"] == pytest.approx(250.9)
    assert e["pj_per_sop"] == pytest.approx(25.09)


def test_load_params_round_trip_and_errors(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps(P.to_dict()))
    assert load_params(f) == P
    f.write_text(json.dumps({**P.to_dict(), "sram_pj": 1}))
    with pytest.raises(ValueError, match=r"unknown energy parameter\(s\) \['sram_pj'\]"):
        load_params(f)
    d = P.to_dict()
    del d["mul_pj"]
    f.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"missing energy parameter\(s\) \['mul_pj'\]"):
        load_params(f)
