"""benchmarks/report.py and ``python -m benchmarks all``: the report copies every figure
and row of the results it is given and draws the plots from them."""

import json

import benchmarks
from benchmarks.__main__ import main
from benchmarks.report import MAX_ROWS, write_report


def test_report_copies_figures_and_rows(tmp_path):
    results = [{"name": "noc", "command": "python -m benchmarks noc", "seconds": 1.5,
                "figures": {"cycles_per_hop": 1.0}, "units": {"cycles_per_hop": "cycles"},
                "rows": [{"kind": "load", "pattern": p, "rate": rate,
                          "accepted_per_node_cycle": rate / 2}
                         for p in ("uniform", "transpose") for rate in (0.1, 0.2)]
                + [{"kind": "many", "i": i} for i in range(MAX_ROWS + 5)]}]
    index = write_report(results, tmp_path, command="cmd", quick=True)
    text = index.read_text()
    assert "Written by `cmd`" in text and "(quick variant" in text
    assert "| `cycles_per_hop` | 1 | cycles |" in text
    assert "| pattern | rate | accepted_per_node_cycle |" in text
    assert "| transpose | 0.2 | 0.1 |" in text
    assert "(5 more rows in results.json)" in text
    assert "![NoC: accepted against offered load (RTL)](noc_load.png)" in text
    assert (tmp_path / "noc_load.png").stat().st_size > 1000
    assert json.loads((tmp_path / "results.json").read_text())["benchmarks"] == results


def test_all_writes_the_report(tmp_path, monkeypatch, capsys):
    """``all`` runs every registered benchmark and writes the report; here the registry
    is cut to the fast energy benchmark (each benchmark has its own quick test)."""
    monkeypatch.setattr(benchmarks, "BENCHMARKS", {"energy": "benchmarks.energy"})
    import benchmarks.__main__ as cli
    monkeypatch.setattr(cli, "BENCHMARKS", {"energy": "benchmarks.energy"})
    monkeypatch.chdir(tmp_path)
    assert main(["all", "--quick"]) == 0
    assert "wrote report/index.md" in capsys.readouterr().out
    text = (tmp_path / "report" / "index.md").read_text()
    assert "| [energy](#energy) |" in text
