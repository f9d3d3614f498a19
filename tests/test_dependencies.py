"""Dependency direction, read from the sources' imports (module level and inside
functions alike).

* ``hw.spec`` (the shared formats) imports nothing of the project outside ``hw.spec``;
* ``hw`` never imports ``sw`` or ``sim``;
* ``sim.golden`` never imports ``sw``;
* ``sw`` imports from ``hw`` only the formats (``hw.spec``);
* no import circles between modules.

:data:`KNOWN` lists the edges that still break a rule, each with the reason it is there.
The test fails on any new break and on a listed one that is gone (so the list only
shrinks): issue 21's refactor is not finished while it is not empty.
"""

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hw", "sim", "sw", "boards", "benchmarks", "fixtures")

#: (importer, imported) edges that break a rule today.
KNOWN = {
    # the demo image a board's --design core bakes in is compiled by sw.toolchain.compiler
    ("hw.core_demo", "sw.toolchain.compiler"), ("hw.core_demo", "sw.toolchain.network"),
}
#: Import circles (as sorted module tuples) still there.
KNOWN_CYCLES = {
    ("sw.apps.core_digits", "sw.campaign.inject"),
    ("benchmarks.energy", "sw.runtime.energy"),
    # GoldenCore builds its fast path lazily; the fast path subclasses the core
    ("sim.golden.core", "sim.golden.fast"),
}


def _modules():
    mods = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


def _graph():
    mods = _modules()
    edges = collections.defaultdict(set)
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for t in targets:
                # the longest prefix that is a module of the project
                parts = t.split(".")
                while parts and ".".join(parts) not in mods:
                    parts.pop()
                if parts and ".".join(parts) != name:
                    edges[name].add(".".join(parts))
    return mods, edges


def _is_spec(mod):
    return mod in ("hw", "hw.config") or mod == "hw.spec" or mod.startswith("hw.spec.")


def _breaks(a, b):
    if a.startswith("hw.spec") and not _is_spec(b):
        return "hw.spec imports outside hw.spec"
    if a.split(".")[0] == "hw" and b.split(".")[0] in ("sw", "sim"):
        return "hw imports sw/sim"
    if a.startswith("sim.golden") and b.split(".")[0] == "sw":
        return "sim.golden imports sw"
    if a.split(".")[0] == "sw" and b.split(".")[0] == "hw" and not _is_spec(b):
        return "sw imports an hw generator"
    return None


def test_dependency_direction():
    _, edges = _graph()
    found = {(a, b): why for a, bs in edges.items() for b in bs if (why := _breaks(a, b))}
    new = {e: w for e, w in found.items() if e not in KNOWN}
    assert not new, f"imports against the dependency direction: {new}"
    gone = KNOWN - set(found)
    assert not gone, f"fixed, remove from KNOWN: {sorted(gone)}"


def test_no_import_cycles():
    _, edges = _graph()
    # strongly connected components (Tarjan)
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(tuple(sorted(comp)))

    for v in list(edges):
        if v not in index:
            visit(v)
    # a package importing its own submodules (``__init__`` re-exports) is not a circle
    cycles = {c for c in sccs
              if not all(m.startswith(min(c, key=len) + ".") or m == min(c, key=len) for m in c)}
    new = cycles - KNOWN_CYCLES
    assert not new, f"import circles: {sorted(new)}"
    gone = KNOWN_CYCLES - cycles
    assert not gone, f"fixed, remove from KNOWN_CYCLES: {sorted(gone)}"
