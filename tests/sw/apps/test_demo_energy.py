"""The digits demo's energy estimate (sw/apps/demo_energy.py): its command with another
parameter table, and a clear error for a missing one."""

import json

import pytest

from sw.apps.demo_energy import main


def test_cli_with_a_swapped_table(tmp_path, capsys):
    assert main(["--dump-params"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["name"] == "horowitz-isscc2014-45nm"
    table.update(name="doubled", mul_pj=2 * table["mul_pj"], add_pj=2 * table["add_pj"],
                 router_pj_per_bit=2 * table["router_pj_per_bit"],
                 sram_points=[[s, 2 * e] for s, e in table["sram_points"]])
    f = tmp_path / "doubled.json"
    f.write_text(json.dumps(table))
    assert main(["--samples", "1"]) == 0
    base = capsys.readouterr().out
    assert main(["--samples", "1", "--params", str(f)]) == 0
    doubled = capsys.readouterr().out
    per_sop = [float(t.split(" pJ/SOP")[0].split()[-1]) for t in (base, doubled)]
    assert per_sop[1] == pytest.approx(2 * per_sop[0], rel=1e-3)
    assert "doubled: a model, not a measurement" in doubled
    assert main(["--params", str(tmp_path / "missing.json")]) == 2
    assert "error:" in capsys.readouterr().err
