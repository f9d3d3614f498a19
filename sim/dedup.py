"""Merge identical modules of Amaranth's Verilog before Verilator compiles it.

Amaranth writes one Verilog module per instance (``top.chip.core0_0``,
``top.chip.core1_0``, ...), each with its own generated names (``\\port$53402$195``,
``\\$1234``), so Verilator compiles every tile of a mesh separately and a mesh's build
time grows with its tile count: a default 3x2 mesh was 16 MB of Verilog and 49 MB of
C++. Tiles, lanes and memories built from the same Python code are the same circuit,
so :func:`dedup_modules` renames each module's generated names in order of first
appearance, compares the modules (children first, so a parent's instances already
name the merged children) and keeps one module per distinct body. Instance names stay,
so hierarchical paths (cocotb, waveforms) are unchanged; only module names and
generated (``$``) names inside modules other than the top change.

Only the simulation models use this; ``hw.build`` hands Amaranth's output to the FPGA
tools untouched.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["dedup_modules"]

_HEAD = re.compile(r"^module (\S+?)\s*\(", re.M)
# a generated name: an escaped identifier with a '$' in it, or a plain one
_GEN = re.compile(r"\\\S*\$\S*|\b[A-Za-z_][A-Za-z0-9_]*\$[A-Za-z0-9_$]*")
# "  <module> <instance> (" opens an instantiation (Yosys' Verilog backend layout)
_INST = re.compile(r"^  (\S+) +(\S+) \($")
# "    .<port>(<expression>)," inside one
_PORT = re.compile(r"^(\s+\.)(\\\S+ |[A-Za-z_][A-Za-z0-9_$]*)\((.*)$")


def _units(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(text before the first module, [(module name, its text with attributes)])."""
    pieces = re.split(r"(?<=^endmodule\n)", text, flags=re.M)
    head, units = "", []
    for piece in pieces:
        m = _HEAD.search(piece)
        if m is not None:
            units.append((m.group(1), piece))
        elif units:                          # trailing text: stays with the last module
            units[-1] = (units[-1][0], units[-1][1] + piece)
        else:
            head += piece
    return head, units


def dedup_modules(text: str, top: str = "top") -> tuple[str, dict]:
    """Verilog with each set of identical modules merged into one.

    Returns the new text and ``{"modules": before, "kept": after}``.
    """
    head, units = _units(text)
    bodies = dict(units)
    order = [name for name, _ in units]
    children = {}
    for name, body in units:
        children[name] = [m.group(1) for line in body.split("\n")
                          if (m := _INST.match(line)) and m.group(1) in bodies]
    canon: dict[str, str] = {}          # module -> the module kept for it
    ports: dict[str, dict] = {}         # module -> its generated names renamed
    kept: dict[str, str] = {}           # module kept -> its new text
    seen: dict[str, str] = {}           # body digest -> module kept

    def visit(name: str):
        stack = [(name, False)]
        while stack:
            n, ready = stack.pop()
            if n in canon:
                continue
            if not ready:
                stack.append((n, True))
                stack.extend((c, False) for c in children[n] if c not in canon)
                continue
            _merge(n)

    def _merge(name: str):
        own: dict[str, str] = {}

        def rename(m):
            tok = m.group(0)
            if tok not in own:
                own[tok] = f"\\g${len(own)}"
            return own[tok]

        sub = (lambda s: s) if name == top else (lambda s: _GEN.sub(rename, s))
        out, child = [], None
        for line in bodies[name].split("\n"):
            inst = _INST.match(line)
            if inst and inst.group(1) in bodies:
                child = inst.group(1)
                out.append(f"  {canon[child]} {sub(inst.group(2))} (")
                continue
            if child is not None:
                port = _PORT.match(line)
                if port:
                    p = port.group(2).rstrip()
                    q = ports[child].get(p, p)
                    sep = " " if q.startswith("\\") else ""
                    out.append(f"{port.group(1)}{q}{sep}({sub(port.group(3))}")
                    continue
                if line.strip() == ");":
                    child = None
            m = _HEAD.match(line)
            if m:
                out.append(line[:m.end(1)] + sub(line[m.end(1):]))
            else:
                out.append(sub(line))
        new = "\n".join(out)
        digest = hashlib.sha256(_HEAD.sub("module X (", new, count=1).encode()).hexdigest()
        if name != top and digest in seen:
            canon[name] = seen[digest]
        else:
            seen[digest] = canon[name] = name
            kept[name] = new
        ports[name] = own

    for name in order:
        visit(name)
    merged = head + "".join(kept[n] for n in order if n in kept)
    return merged, {"modules": len(order), "kept": len(kept)}
