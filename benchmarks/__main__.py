"""Command line: ``python -m benchmarks NAME [--quick] [--json FILE] [--report DIR]``.

``NAME`` is one benchmark or ``all``; ``all`` also writes the report (``report/`` unless
``--report`` says otherwise): ``index.md`` with tables and PNG plots, and
``results.json`` (:mod:`benchmarks.report`).
"""

import argparse
import importlib
import json
import shlex
import sys
import time
from pathlib import Path

from . import BENCHMARKS


def run_one(name: str, quick: bool, command: str) -> dict:
    module = importlib.import_module(BENCHMARKS[name])
    t0 = time.monotonic()
    result = module.run(quick=quick)
    result = {"name": name, "command": command, **result,
              "seconds": round(time.monotonic() - t0, 1)}
    return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure spikeforge on the RTL (Verilator) and write JSON results.")
    parser.add_argument("name", choices=sorted(BENCHMARKS) + ["all"])
    parser.add_argument("--quick", action="store_true",
                        help="the small variant (what CI runs)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the result here (default: print it)")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="write the report (index.md, results.json, PNG plots) here; "
                             "default for 'all': report/")
    args = parser.parse_args(argv)
    command = " ".join(["python -m benchmarks", *map(shlex.quote, argv)])
    names = sorted(BENCHMARKS) if args.name == "all" else [args.name]
    results = [run_one(n, args.quick, command) for n in names]
    for r in results:
        module = importlib.import_module(BENCHMARKS[r["name"]])
        print(module.table(r))
    report_dir = args.report or (Path("report") if args.name == "all" else None)
    if report_dir is not None:
        from .report import write_report
        index = write_report(results, report_dir, command=command, quick=args.quick)
        print(f"wrote {index}")
    out = results[0] if len(results) == 1 else {"benchmarks": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    else:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
