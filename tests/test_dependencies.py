"""Dependency direction, read from the sources' imports (module level and inside
functions alike).

* ``hw.spec`` (the shared formats) imports nothing of the project outside ``hw.spec``;
* ``hw`` never imports ``sw`` or ``sim``; of ``hw``, only the build commands
  (:data:`BUILD_COMMANDS`) import ``boards``, the layer where hardware and software meet
  (board definitions, and the board demo whose image the toolchain compiles);
* ``sim.golden`` never imports ``sw``;
* ``sw`` imports from ``hw`` only the formats (``hw.spec``);
* no import circles between modules.

Every rule holds today, without exceptions: a new import against them fails the test.
"""

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hw", "sim", "sw", "boards", "benchmarks", "fixtures")

#: The modules of ``hw`` that put designs on boards.
BUILD_COMMANDS = ("hw.build", "hw.block_timing")


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
    if (a.split(".")[0] == "hw" and b.split(".")[0] == "boards"
            and a not in BUILD_COMMANDS):
        return "hw generator imports boards"
    if a.startswith("sim.golden") and b.split(".")[0] == "sw":
        return "sim.golden imports sw"
    if a.split(".")[0] == "sw" and b.split(".")[0] == "hw" and not _is_spec(b):
        return "sw imports an hw generator"
    return None


def test_dependency_direction():
    _, edges = _graph()
    found = {(a, b): why for a, bs in edges.items() for b in bs if (why := _breaks(a, b))}
    assert not found, f"imports against the dependency direction: {found}"


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
    assert not cycles, f"import circles: {sorted(cycles)}"
