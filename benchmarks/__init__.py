"""Benchmarks: ``python -m benchmarks NAME [--quick] [--json FILE]``.

Every figure comes from the RTL's own counters (or a tool's report), measured by the
command that prints it; nothing is typed in. Each benchmark writes one JSON object::

    {"name": ..., "command": ..., "config": {...}, "figures": {...}, "rows": [...],
     "units": {...}}
"""

BENCHMARKS = {
    "core": "benchmarks.core",
    "noc": "benchmarks.noc",
    "meshes": "benchmarks.meshes",
    "demo": "benchmarks.demo",
    "delays": "benchmarks.delays",
    "sdsp": "benchmarks.sdsp",
    "inject": "benchmarks.inject",
    "energy": "benchmarks.energy",
    "boards": "benchmarks.boards",
}
