"""One-command deploy of a trained model: import, quantize, map, run every sample, report.

::

    python -m sw.deploy MODEL.nir --inputs X.npz --out DIR [options]

imports ``MODEL`` (a NIR graph, or a spikeforge float model ``.npz``) with
:func:`sw.frontend.load_model`, quantizes it (:func:`sw.frontend.quantize`; the
quantization report is printed), maps it (:func:`sw.toolchain.mapper.map_network`) on the
chip of ``--config FILE``, ``--board NAME`` or the default rule
(:func:`default_configs`), runs every sample on ``--backend`` (``golden``, ``verilator``,
``serial:PORT[@BAUD]`` or ``network``) with :func:`sw.runtime.inference.run_samples`, and
writes ``DIR/report.json`` and ``DIR/outputs.npz``. ``docs/deploy.md`` is the user's
guide (options, inputs, outputs, the latency alignment rule, examples).

User errors (a missing file or key, a wrong shape, dtype or input count, payloads that
do not fit, a model the frontend refuses, a network that does not fit) end the command
with exit status 2 and one line ``deploy: error: ...`` on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["DeployError", "main", "deploy", "import_model", "load_inputs",
           "default_configs", "fit_config", "Inputs"]

FRAMEWORKS = ("snntorch", "norse", "sinabs", "rockpool", "spyx", "spikeforge")

#: Mesh shapes of the default rule, smallest first (see :func:`default_configs`).
DEFAULT_MESHES = ((2, 1), (2, 2), (3, 2), (3, 3), (4, 3), (4, 4))
#: Core size multipliers of the default rule (of the demo core: 64 neurons, 128 axons,
#: 4096 synapses, 256 route entries).
DEFAULT_SCALES = (1, 2, 4, 8, 16)


class DeployError(Exception):
    """A user error: printed as one line, exit status 2."""


# -- model -------------------------------------------------------------------------------

def import_model(path, *, framework=None, dt=None):
    """The float model of ``path``: :func:`sw.frontend.load_model` (a NIR file with the
    ``framework``'s convention preset, or a spikeforge float model ``.npz``). Tests may
    monkeypatch this function."""
    from sw.frontend import load_model
    return load_model(path, framework=framework, dt=dt)


def _load(path: Path, framework, dt):
    from sw.frontend import ModelImportError
    if not path.exists():
        raise DeployError(f"model file {path} does not exist")
    try:
        return import_model(path, framework=framework, dt=dt)
    except (ModelImportError, ValueError, OSError) as e:
        raise DeployError(_one_line(f"{path}: {e}" if str(path) not in str(e) else str(e)))


def _one_line(text: str) -> str:
    """A multi-line message (a list of problems) as one line."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return str(text)
    out = lines[0]
    for line in lines[1:]:
        out += (" " if out.endswith(":") else "; ") + line
    return out


# -- config ------------------------------------------------------------------------------

def default_configs(network):
    """The chips the default rule tries, in order; the first that
    :func:`~sw.toolchain.mapper.map_network` accepts is used.

    Start from the demo's chip (:data:`sw.apps.demo.DEMO_CONFIG`: a 2x1 mesh of 4-lane
    cores with 64 neurons, 128 axons, 4096 synapses, 256 route entries), and grow: the
    meshes of :data:`DEFAULT_MESHES` (2x1 to 4x4) times the core multipliers of
    :data:`DEFAULT_SCALES` (neurons, axons, synapses, route entries and output FIFOs x1
    to x16), ordered by total neurons (tiles x core neurons), fewer tiles first among
    equals. Every candidate keeps the demo's number formats (8-bit weights and
    payloads, 16-bit state, 24-bit accumulators), has ``core.layers`` = the network's
    layer count (at least the demo's 2, at most 64) and, for a network with synaptic
    delays, the ring-buffer delay unit with the smallest power-of-two ``delay.slots``
    above the largest delay. Candidates with fewer neurons in all than the network are
    skipped.
    """
    from hw.spec.config import DelayConfig, DelayUnit
    from sw.apps.demo import DEMO_CONFIG
    base = DEMO_CONFIG
    c = base.core
    layers = max(c.layers, min(64, len(network.layers)))
    delay = base.delay
    if network.max_delay() > 0:
        slots = 1 << max(1, network.max_delay().bit_length())
        delay = DelayConfig(unit=DelayUnit.RING, slots=min(256, slots))
    need = sum(l.size for l in network.layers)
    options = sorted(((w * h * s, w * h, w, h, s) for w, h in DEFAULT_MESHES
                      for s in DEFAULT_SCALES))
    for total, _, w, h, s in options:
        if total * c.neurons < need:
            continue
        core = c.replace(neurons=c.neurons * s, axons=c.axons * s,
                         synapses=c.synapses * s, out_fifo_depth=c.out_fifo_depth * s,
                         layers=layers)
        noc = base.noc.replace(width=w, height=h, routes=base.noc.routes * s)
        config = base.replace(core=core, noc=noc, delay=delay)
        if config == base:
            config = base               # the demo's own chip, the same hash
        yield config


def fit_config(network, outputs):
    """``(config, image)``: the first of :func:`default_configs` the network maps on;
    DeployError naming the largest chip tried and why it refused."""
    from sw.toolchain.compiler import CompileError
    from sw.toolchain.mapper import map_network
    last, tried = None, 0
    for config in default_configs(network):
        tried += 1
        try:
            return config, map_network(network, config, outputs=outputs)
        except CompileError as e:
            last = (config, e)
    neurons = sum(l.size for l in network.layers)
    if last is None:
        raise DeployError(f"the network's {neurons} neurons exceed every default chip (up "
                          "to 4x4 tiles of 1024 neurons); give --config FILE")
    config, e = last
    raise DeployError(_one_line(
        f"the network ({neurons} neurons, {len(network.layers)} layers) fits none of the "
        f"{tried} default chips; the largest ({config.noc.width}x{config.noc.height} tiles "
        f"of {config.core.neurons} neurons) refused: {e}; give --config FILE"))


def _config_summary(config, source: str) -> dict:
    c = config.core
    return {
        "source": source, "hash": config.hash,
        "mesh": [config.noc.width, config.noc.height], "tiles": config.noc.tiles,
        "core": {k: getattr(c, k) for k in ("lanes", "neurons", "axons", "synapses",
                                            "layers", "weight_bits", "payload_bits",
                                            "state_bits", "acc_bits", "microcode_depth")},
        "routes": config.noc.routes, "delay_unit": config.delay.unit.value,
        "sdsp_tiles": config.sdsp.tiles, "full": config.to_dict(),
    }


def _base_config(args):
    """``(config or None, source)``: None means the default rule (widths of the demo)."""
    from hw.spec.config import ChipConfig, ConfigError
    if args.config:
        path = Path(args.config)
        if not path.exists():
            raise DeployError(f"config file {path} does not exist")
        try:
            return ChipConfig.load(path), f"file {path}"
        except (ConfigError, ValueError, TypeError) as e:
            raise DeployError(_one_line(f"config file {path}: {e}"))
    if args.board:
        from boards import get_board
        try:
            return get_board(args.board).config, f"board {args.board}"
        except ValueError as e:
            raise DeployError(str(e))
    return None, ("default rule: the first of the demo's chip grown (docs/deploy.md) "
                  "that the network maps on")


# -- inputs ------------------------------------------------------------------------------

class Inputs:
    """Validated inputs: ``payloads`` (``[N, T, inputs]`` int64, or a list of ``N``
    samples of ``T`` per-step event lists), ``labels`` (``[N]`` or None) and a JSON
    ``summary``."""

    def __init__(self, payloads, labels, summary):
        self.payloads, self.labels, self.summary = payloads, labels, summary

    @property
    def samples(self) -> int:
        return len(self.payloads)


def _open_npz(path: Path):
    if not path.exists():
        raise DeployError(f"inputs file {path} does not exist")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DeployError(f"inputs file {path} is not an .npz file ({_one_line(e)})")
    if not hasattr(z, "files"):
        raise DeployError(f"inputs file {path} is a single .npy array, not an .npz archive "
                          "of named arrays")
    return z


def _read(z, path: Path, key: str):
    try:
        return z[key]
    except ValueError:
        # object arrays (per-sample event recordings) are pickled: the user's own file
        with np.load(path, allow_pickle=True) as again:
            return again[key]


def _choose_key(keys, key, labels, path):
    if key is not None:
        if key not in keys:
            raise DeployError(f"inputs file {path} has no array {key!r} (arrays: "
                              f"{', '.join(keys) or 'none'})")
        return key
    data = [k for k in keys if k != labels]
    if len(data) == 1:
        return data[0]
    if "x" in keys:
        return "x"
    raise DeployError(f"inputs file {path} has arrays {', '.join(keys) or '(none)'}: say "
                      "which holds the inputs with --key")


def _dense(x, key, n_inputs, payload_bits):
    """Dense payloads ``[samples, steps, inputs]`` -> int64, checked."""
    where = f"array {key!r}"
    if x.ndim != 3:
        raise DeployError(f"{where} has shape {x.shape}; expected [samples, steps, inputs] "
                          f"= (N, T, {n_inputs})")
    if x.shape[2] != n_inputs:
        raise DeployError(f"{where} has shape {x.shape}: {x.shape[2]} inputs per step, but "
                          f"the model has {n_inputs} inputs; expected (N, T, {n_inputs})")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DeployError(f"{where} has shape {x.shape}: no samples or no steps")
    kind = x.dtype.kind
    if kind == "b":
        x = x.astype(np.int64)
    elif kind in "iu":
        pass
    elif kind == "f":
        bad = ~np.isfinite(x)
        bad |= ~bad & (x != np.round(np.where(np.isfinite(x), x, 0)))
        if bad.any():
            s, t, i = (int(v) for v in np.argwhere(bad)[0])
            raise DeployError(
                f"{where} holds floats that are not whole numbers (sample {s}, step {t}, "
                f"input {i}: {x[s, t, i].item()!r}); payloads are integers: send spikes (0/1) or "
                "integer payloads, e.g. np.rint(x * scale).astype(int)")
    else:
        raise DeployError(f"{where} has dtype {x.dtype}; expected integers, bools or whole "
                          "floats (spikes or payloads), or structured events")
    lo, hi = -(1 << (payload_bits - 1)), (1 << (payload_bits - 1)) - 1
    bad = (x < lo) | (x > hi)
    if bad.any():
        s, t, i = (int(v) for v in np.argwhere(bad)[0])
        raise DeployError(f"{where}: sample {s}, step {t}, input {i} has payload "
                          f"{x[s, t, i].item():g}, outside the {payload_bits}-bit payload "
                          f"range {lo}..{hi} (core.payload_bits)")
    return x.astype(np.int64)


def _recordings(x, key):
    """Structured events -> list of per-sample structured arrays."""
    where = f"array {key!r}"
    if x.dtype == object:
        if x.ndim != 1:
            raise DeployError(f"{where} is an object array of shape {x.shape}; expected one "
                              "structured event array per sample, shape (N,)")
        out = []
        for k, rec in enumerate(x):
            if not (isinstance(rec, np.ndarray) and rec.dtype.names):
                what = type(rec).__name__
                if isinstance(rec, np.ndarray):
                    what += f" {rec.dtype}"
                raise DeployError(f"{where}: sample {k} is {what}, not a structured array "
                                  "of events (fields x, y, t, p)")
            out.append(rec.ravel())
        return out
    x = x.ravel()
    if "sample" not in x.dtype.names:
        return [x]                                 # one recording: one sample
    sample = x["sample"]
    if sample.dtype.kind not in "iu":
        raise DeployError(f"{where}: field 'sample' must hold integers, not {sample.dtype}")
    if len(x) and sample.min() < 0:
        raise DeployError(f"{where}: field 'sample' has a negative value {sample.min()}")
    n = int(sample.max()) + 1 if len(x) else 0
    order = np.argsort(sample, kind="stable")      # keeps each sample's time order
    bounds = np.searchsorted(sample[order], np.arange(n + 1))
    return [x[order[bounds[k]:bounds[k + 1]]] for k in range(n)]


def _events(x, key, n_inputs, payload_bits, args):
    from sw.runtime.inputs import bin_events
    where = f"array {key!r}"
    if args.events_dt is None or args.sensor_size is None:
        raise DeployError(f"{where} holds events: give --events-dt US (the bin width in "
                          "microseconds) and --sensor-size W,H,P")
    W, H, P = args.sensor_size
    channels = W * H * P
    if channels != n_inputs:
        raise DeployError(f"--sensor-size {W},{H},{P} gives {channels} input channels, but "
                          f"the model has {n_inputs} inputs")
    recs = _recordings(x, key)
    if not recs:
        raise DeployError(f"{where} holds no samples")
    dt = args.events_dt
    steps = args.steps
    if steps is None:
        last = [float(np.max(r["t"])) for r in recs
                if r.dtype.names and "t" in r.dtype.names and len(r)]
        steps = int(math.floor(max(last) / dt)) + 1 if last else 1
    pmax = (1 << (payload_bits - 1)) - 1
    samples, clipped, dropped = [], 0, 0
    for k, rec in enumerate(recs):
        try:
            b = bin_events(rec, sensor_size=(W, H, P), dt=dt, steps=steps,
                           payload=args.events_payload, payload_max=pmax)
        except ValueError as e:
            raise DeployError(f"{where}, sample {k}: {_one_line(e)}")
        samples.append(list(b))
        clipped += b.clipped
        dropped += b.dropped
    summary = {"kind": "events", "events": int(sum(len(r) for r in recs)),
               "binning": {"dt_us": dt, "steps": steps, "sensor_size": [W, H, P],
                           "payload": args.events_payload, "payload_max": pmax,
                           "clipped_bins": clipped, "dropped_events": dropped}}
    return samples, steps, summary


def load_inputs(path, *, key=None, labels=None, n_inputs, payload_bits, samples=None,
                args=None) -> Inputs:
    """Read and check the inputs file (see ``docs/deploy.md``); DeployError naming the
    array, its shape and what was expected for anything wrong."""
    path = Path(path)
    z = _open_npz(path)
    with z:
        keys = list(z.files)
        key = _choose_key(keys, key, labels, path)
        x = _read(z, path, key)
        if labels is not None and labels not in keys:
            raise DeployError(f"inputs file {path} has no labels array {labels!r} (arrays: "
                              f"{', '.join(keys)})")
        y = _read(z, path, labels) if labels is not None else None
    if x.dtype.names or x.dtype == object:
        payloads, steps, summary = _events(x, key, n_inputs, payload_bits, args)
    else:
        payloads = _dense(x, key, n_inputs, payload_bits)
        steps = payloads.shape[1]
        summary = {"kind": "dense", "dtype": str(x.dtype), "shape": list(x.shape)}
    total = len(payloads)
    if y is not None:
        if y.ndim != 1 or y.dtype.kind not in "iub" or len(y) != total:
            raise DeployError(f"labels array {labels!r} has shape {y.shape} and dtype "
                              f"{y.dtype}; expected ({total},) integers (one class per "
                              f"sample of {key!r})")
        y = y.astype(np.int64)
    if samples is not None:
        if samples < 1:
            raise DeployError(f"--samples must be at least 1, not {samples}")
        payloads = payloads[:samples]
        y = None if y is None else y[:samples]
    summary.update({"path": str(path), "key": key, "labels": labels,
                    "samples_in_file": total, "samples": len(payloads), "steps": steps})
    return Inputs(payloads, y, summary)


# -- report ------------------------------------------------------------------------------

def _versions() -> dict:
    from importlib import metadata
    out = {"python": platform.python_version()}
    for dist in ("spikeforge-hdl", "spikeforge", "numpy", "nir", "amaranth", "verilator"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _plain(value):
    """numpy scalars and arrays, tuples, NaN -> JSON-able values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _quant_layers(report) -> list:
    out = []
    for q in report.layers:
        d = {k: getattr(q, k) for k in ("name", "model", "scale", "weights", "clipped",
                                          "zeroed", "weight_err_max", "weight_err_rms",
                                          "alpha", "alpha_realised", "leak_mult",
                                          "leak_shift", "threshold", "peak_v", "notes")}
        d["clipped_fraction"] = q.clipped_fraction
        d["alpha_error"] = q.alpha_error
        out.append(_plain(d))
    return out


def _counter_stats(counters):
    if counters is None:
        return None
    total = {g: {} for g in ("chip", "cores")}
    for c in counters:
        for g in total:
            for name, v in c[g].items():
                total[g][name] = total[g].get(name, 0) + int(v)
    n = len(counters)
    return {"total": total,
            "mean_per_sample": {g: {k: v / n for k, v in t.items()} for g, t in total.items()}}


def _metric_stats(metrics, source, image):
    from sw.runtime.metrics import memory_footprint_bytes
    keys = [k for k in metrics[0] if isinstance(metrics[0][k], (int, float))]
    mean = {k: float(np.mean([m[k] for m in metrics])) for k in keys}
    return _plain({"source": source, "mean_per_sample": mean,
                   "total": {k: float(np.sum([m[k] for m in metrics]))
                             for k in ("input_events", "spikes", "effective_synops",
                                       "dense_synops")},
                   "memory_footprint_bytes": memory_footprint_bytes(image)})


# -- the command -------------------------------------------------------------------------

def _sensor_size(text):
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 1 for p in parts):
        raise argparse.ArgumentTypeError(f"must be W,H,P (three positive integers, Tonic's "
                                         f"sensor_size), not {text!r}")
    return tuple(parts)


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return v


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m sw.deploy",
        description="Import a trained model, quantize and map it, run every sample on a "
                    "chip backend and write report.json and outputs.npz (docs/deploy.md).")
    ap.add_argument("model", metavar="MODEL", help="NIR file (or a spikeforge float model .npz)")
    ap.add_argument("--inputs", required=True, metavar="X.npz",
                    help="samples: dense [samples, steps, inputs] spikes/payloads, or events")
    ap.add_argument("--key", help="array of --inputs holding the samples (default: the only "
                                  "array, else 'x')")
    ap.add_argument("--labels", metavar="KEY", help="array of --inputs holding one integer "
                                                    "class per sample (gives accuracy)")
    try:                                # and any other preset the frontend has
        from sw.frontend.conventions import FRAMEWORKS as more
    except ImportError:
        more = ()
    ap.add_argument("--framework", choices=FRAMEWORKS + tuple(f for f in more
                                                              if f not in FRAMEWORKS),
                    help="framework that exported the NIR file (its conventions preset)")
    ap.add_argument("--dt", type=_positive_float, metavar="SECONDS",
                    help="timestep of the model (default: the NIR graph's metadata)")
    chip = ap.add_mutually_exclusive_group()
    chip.add_argument("--config", metavar="FILE", help="chip configuration (.toml or .json)")
    chip.add_argument("--board", metavar="NAME", help="a board's chip configuration (boards/)")
    ap.add_argument("--backend", default="golden",
                    help="golden (default), verilator, serial:PORT[@BAUD], or network (the "
                         "network-level model alone: no chip, no counters, fastest)")
    ap.add_argument("--samples", type=int, metavar="N", help="run the first N samples only")
    ap.add_argument("--events-dt", type=_positive_float, metavar="US",
                    help="events: bin width in microseconds")
    ap.add_argument("--sensor-size", type=_sensor_size, metavar="W,H,P",
                    help="events: sensor size (Tonic's), W*H*P = the model's inputs")
    ap.add_argument("--steps", type=int, metavar="T",
                    help="events: steps per sample (default: up to the latest event)")
    ap.add_argument("--events-payload", choices=("count", "binary"), default="count",
                    help="events: payload = events in the bin (default, clipped to the "
                         "payload range) or 1")
    ap.add_argument("--out", required=True, metavar="DIR", help="output directory")
    ap.add_argument("--quiet", action="store_true", help="no report table, no progress bar")
    return ap


def deploy(args, argv) -> dict:
    """Run the command for parsed ``args``; returns the report dict (also written)."""
    from hw.spec.host import ProtocolError
    from sw.frontend import ModelImportError, quantize
    from sw.runtime.inference import run_samples
    from sw.toolchain.compiler import CompileError
    from sw.toolchain.mapper import map_network

    def say(*a):
        if not args.quiet:
            print(*a, file=sys.stderr, flush=True)

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DeployError(f"--out {out} exists and is not a directory")
    backend = args.backend
    if not (backend in ("golden", "golden:interp", "verilator", "network")
            or backend.startswith("serial:")):
        raise DeployError(f"--backend must be golden, verilator, serial:PORT[@BAUD] or "
                          f"network, not {backend!r}")
    if args.steps is not None and args.steps < 1:
        raise DeployError(f"--steps must be at least 1, not {args.steps}")
    t_start = time.perf_counter()

    model = _load(Path(args.model), args.framework, args.dt)
    config, config_source = _base_config(args)
    widths = config
    if widths is None:
        from sw.apps.demo import DEMO_CONFIG
        widths = DEMO_CONFIG
    inputs = load_inputs(args.inputs, key=args.key, labels=args.labels,
                         n_inputs=model.inputs, payload_bits=widths.core.payload_bits,
                         samples=args.samples, args=args)

    try:
        network, qreport = quantize(model, widths)
    except (ModelImportError, ValueError) as e:
        raise DeployError(_one_line(f"quantization: {e}"))
    outputs = list(model.outputs)
    if not outputs:
        raise DeployError("the model has no output layer (every layer feeds another)")
    if not args.quiet:
        print(qreport.table(), flush=True)
    if config is None:
        config, image = fit_config(network, outputs)
    else:
        try:
            image = map_network(network, config, outputs=outputs)
        except CompileError as e:
            raise DeployError(_one_line(f"the network does not fit the chip of "
                                        f"{config_source}: {e}"))
    say(f"chip: {config.noc.width}x{config.noc.height} tiles of {config.core.neurons} "
        f"neurons ({config_source}), config {config.hash}")

    from contextlib import nullcontext
    from tqdm import tqdm
    identity = None
    if backend == "network":
        chip, opened = "network", nullcontext()
    else:
        from sw.runtime.driver import Chip
        if backend == "verilator":
            say("verilator: building (or finding in the cache) the chip's simulator")
        try:
            chip = opened = Chip(backend, config)
        except (ProtocolError, ValueError, OSError) as e:
            raise DeployError(_one_line(f"backend {backend}: {e}"))
    with opened:
        if chip != "network":
            identity = chip.identity
            # a fresh simulator's memories are zero; a board's may hold anything
            chip.load(image, skip_zero=not backend.startswith("serial:"))
        bar = tqdm(total=inputs.samples, file=sys.stderr, unit="sample", desc=backend,
                   disable=args.quiet)
        t_run = time.perf_counter()
        try:
            result = run_samples(chip, image, inputs.payloads,
                                 progress=lambda done, total: bar.update(1))
        except ProtocolError as e:
            raise DeployError(_one_line(f"backend {backend}: {e}"))
        finally:
            bar.close()
    run_seconds = time.perf_counter() - t_run

    labels = inputs.labels
    accuracy = (float(np.mean(result.predictions == labels)) if labels is not None
                else None)
    report = {
        "command": shlex.join(["python", "-m", "sw.deploy", *argv]),
        "versions": _versions(),
        "model": {"path": str(args.model), "framework": args.framework, "dt": model.dt,
                  "inputs": model.inputs, "outputs": outputs,
                  "layers": [{"name": l.name, "size": l.size, "model": l.model}
                             for l in model.layers]},
        "inputs": inputs.summary,
        "config": _config_summary(config, config_source),
        "mapping": image.report,
        "quantization": {"table": qreport.table(), "input_scale": qreport.input_scale,
                         "weight_bits": qreport.weight_bits, "state_bits": qreport.state_bits,
                         "payload_bits": qreport.payload_bits,
                         "layers": _quant_layers(qreport)},
        "alignment": {"starts": result.starts, "steps": result.steps,
                      "extra_steps": result.extra_steps,
                      "chip_steps": result.steps + result.extra_steps,
                      "unaligned_spikes": {name: int(sum(u[name] for u in result.unaligned))
                                           for name in result.outputs}},
        "backend": backend, "chip_identity": identity,
        "samples": result.samples,
        "accuracy": accuracy,
        "predictions": result.predictions.tolist(),
        "labels": None if labels is None else labels.tolist(),
        "counts_per_sample_mean": {name: result.counts[name].mean(axis=0).tolist()
                                   for name in result.outputs},
        "counters": _counter_stats(result.counters),
        "metrics": _metric_stats(result.metrics, result.metrics_source, image),
        "agreement_with_network_model": (None if result.agreement is None else
                                         float(np.mean(result.agreement))),
        "disagreeing_samples": (None if result.agreement is None else
                                [k for k, a in enumerate(result.agreement) if not a]),
        "seconds": {"run": run_seconds, "total": time.perf_counter() - t_start},
    }
    report = _plain(report)

    out.mkdir(parents=True, exist_ok=True)
    arrays = {"predictions": result.predictions}
    if labels is not None:
        arrays["labels"] = labels
    for name in result.outputs:
        arrays[f"counts/{name}"] = result.counts[name]
        arrays[f"trains/{name}"] = result.trains[name]
    if result.counters is not None:
        for g in ("chip", "cores"):
            for cname in result.counters[0][g]:
                arrays[f"counters/{g}/{cname}"] = np.array(
                    [c[g][cname] for c in result.counters], np.int64)
    np.savez_compressed(out / "outputs.npz", **arrays)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")

    acc = "" if accuracy is None else f", accuracy {100 * accuracy:.2f}%"
    agree = ""
    if result.agreement is not None:
        agree = f", chip == network model on {sum(result.agreement)} of {result.samples}"
    print(f"{result.samples} samples on {backend} in {run_seconds:.1f} s{acc}{agree}; "
          f"wrote {out / 'report.json'} and {out / 'outputs.npz'}", flush=True)
    return report


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        deploy(args, argv)
    except DeployError as e:
        print(f"deploy: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deploy: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
