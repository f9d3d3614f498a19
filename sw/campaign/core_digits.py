"""The neurocore digits network as a campaign model (``--model core-digits``).

The network of :mod:`sw.apps.demo` (the NIR digits model quantized and mapped on a 2x1 chip of
4-lane neurocores: hidden layer on tile (0, 0), output layer on tile (1, 0), spikes
crossing the mesh) with every memory of the chip as a target: per tile the microcode,
the axon, layer and target tables, each lane's weights, accumulators and neuron state,
and the route and destination tables. Each accuracy measurement presents the first
``samples`` test images as :func:`sw.apps.demo.classify` does (neuron state and accumulators
rewritten before each image, pixel values as graded payloads every step, the class the
output neuron with the most spikes).

Inference runs on :class:`sim.golden.batched.BatchedChip`: the chip's control traced from
its (faulty) memories once per run, the test images then run together in NumPy. A tile
whose memories no fault touched keeps the fault-free trace, and the run reuses the
fault-free run's spikes of every tile a fault does not reach; a run whose faults are
all flips in words rewritten before every image is the fault-free run (as it is on the
chip). Campaign runs take the trained chip itself (:meth:`CoreDigits.acquire`) and
rewrite the memories they faulted afterwards (:meth:`CoreDigits.release`): building a
new golden chip per run cost more than the run. A fault that makes a program run away (a job of more than
:data:`~sim.golden.batched.TIMEOUT_ISSUES` issues) or address outside a memory ends the
run with outcome ``hang``: the chip would not answer in time. A fault that makes an
event program issue VEC or SETR gets outcome ``unmodelled`` (excluded from accuracy
statistics, counted and listed): the neuron updates would then run at event time, and
their spikes leave while other events are still arriving, so the result depends on the
mesh's timing, which no golden model here fixes (the event-by-event
:class:`~sim.golden.chip.GoldenChip` drops spikes emitted by event programs). Stuck-at
accumulator bits are refused as targets for the same reason (the order of a timestep's
MACs would matter).

:func:`replay` runs a campaign's runs on the RTL or a board through the driver
(:class:`sw.runtime.driver.Chip`, ``verilator`` or ``serial:PORT``): the same image, the faults
through the memory bus, the same test images, and every host output event of every
step compared with the batched model's.
"""

from __future__ import annotations

import time

import numpy as np

from hw.spec.config import Protection
from hw.spec.memory import FaultKind
from hw.spec.protection import code_layout
from sw.campaign.model import CampaignModel
from sw.campaign.spec import CampaignSpec, replace_samples

__all__ = ["CoreDigits", "memories", "bit_fields", "replay"]

#: Neuron-state memories: the host rewrites every word before each test image.
REWRITTEN = (".acc", ".state")


def config_for(protection: str):
    """The demo's chip with ``protection`` on every memory."""
    from sw.apps.demo import DEMO_CONFIG
    m = DEMO_CONFIG.memory
    p = Protection(protection)
    return DEMO_CONFIG.replace(memory=m.replace(protection=m.protection.replace(
        weights=p, state=p, tables=p, microcode=p, other=p)))


def memories(config) -> list[dict]:
    """Every memory of the chip as campaigns see it (stored width with check bits)."""
    from hw.spec.memmap import chip_memories
    out = []
    for s in chip_memories(config):
        lay = code_layout(s.width, config.memory.protection.for_role(s.role))
        info = {"name": s.name, "role": s.role, "words": s.depth,
                "width": lay.stored_width, "data_width": s.width,
                "fault_slots": config.memory.fault_slots}
        if s.name.kind == "acc":
            info["no_stuck"] = ("a stuck-at accumulator bit makes the result depend on the "
                                "order events arrive in, which the mesh does not fix")
        out.append(info)
    return out


def _layout_bits(shape, name: str) -> list[str]:
    """Per-bit field names of a ``lib.data`` layout (``agu[0].stride[1]``, ...)."""
    from amaranth import Shape
    from amaranth.lib import data
    if isinstance(shape, data.ArrayLayout):
        w = data.Layout.cast(shape.elem_shape).size if isinstance(
            shape.elem_shape, data.Layout) else Shape.cast(shape.elem_shape).width
        return [b for i in range(shape.length)
                for b in _layout_bits(shape.elem_shape, f"{name}[{i}]")][:w * shape.length]
    if isinstance(shape, data.Layout):
        bits = [name or "pad"] * shape.size
        for fname, f in shape:
            sub = _layout_bits(f.shape, f"{name}.{fname}" if name else fname)
            bits[f.offset:f.offset + len(sub)] = sub
        return bits
    return [name] * Shape.cast(shape).width


def bit_fields(config) -> dict:
    """``{memory suffix: per data bit field name}`` of a neurocore tile."""
    from hw.spec.isa import Isa
    from hw.spec.packet import dest_layout, route_layout
    isa = Isa.of(config)
    c = config.core
    return {
        "microcode": _layout_bits(isa.instruction, ""),
        "axon_table": _layout_bits(isa.job, ""),
        "layer_table": _layout_bits(isa.layer, ""),
        "target_table": ["row"] * isa.target_bits,
        "weights": ["weight"] * c.weight_bits,
        "acc": ["acc"] * c.acc_bits,
        "state": _layout_bits(isa.state, ""),
        "route_table": _layout_bits(route_layout(config), ""),
        "dest_table": _layout_bits(dest_layout(config), ""),
    }


class FaultyChip:
    """A GoldenChip and the memories faults have touched (campaigns' ``g``)."""

    def __init__(self, chip, changed=()):
        self.chip, self.changed = chip, set(changed)
        self.stuck = False

    def inject(self, memory: str, word: int, mask: int, kind) -> bool:
        kind = FaultKind(kind)
        if memory not in self.chip.mems:
            raise ValueError(f"{memory!r} is not a memory of the chip")
        self.changed.add(memory)
        self.stuck |= kind in (FaultKind.STUCK_AT_0, FaultKind.STUCK_AT_1)
        return self.chip.mems[memory].inject(word, mask, kind)


class CoreDigits(CampaignModel):
    """The mapped neurocore digits network, its test presentations and its memories
    (a :class:`~sw.campaign.model.CampaignModel`)."""

    name = "core-digits"
    description = ("the demo network on two neurocores: microcode, tables, weights, state, "
                   "routes")
    compare = ("spikes", "payloads", "host", "host_payloads")

    def __init__(self, spec, *, log=print, trained: dict | None = None):
        # ``trained`` is ignored: the network comes quantized from the demo's model
        from sw.apps import demo
        from sim.golden.batched import BatchedChip
        self.spec = spec
        self.config = config_for(spec.protection)
        model, data = demo.load_model()
        t0 = time.perf_counter()
        self.network, _, self.image = demo.prepare(model, self.config)
        self.steps, self.scale = data["steps"], data["payload_scale"]
        self.x, self.y = data["x"][:spec.samples], data["y"][:spec.samples]
        self.packets = [[self.image.host_packets(ev)
                         for ev in demo.sample_inputs(x, self.steps, self.scale)]
                        for x in self.x]
        self.inputs = BatchedChip.inputs(self.config, self.packets)
        self.memories = memories(self.config)
        self.state = {m["name"]: self.image.images[m["name"]] for m in self.memories
                      if m["name"].endswith(REWRITTEN)}
        self._fields = bit_fields(self.config)
        self.out_layer = self.image.outputs[0]
        self.trained = FaultyChip(self._fresh())
        self._acquired = None
        self.base = BatchedChip.compile(self.trained.chip)
        self.baseline = self._base_result = None
        self.baseline, self._base_result = self._infer(self.trained, reference=None)
        self.accuracy0 = self.baseline["accuracy"]
        self.prepare_seconds = time.perf_counter() - t0
        if log:
            log(f"model core-digits: the demo network on a {self.config.noc.width}x"
                f"{self.config.noc.height} chip of {self.config.core.lanes}-lane cores; "
                f"fault-free accuracy {100 * self.accuracy0:.1f} % on {len(self.y)} test "
                f"images; protection {spec.protection}")

    @classmethod
    def chip_memories(cls, protection: str = "none") -> list[dict]:
        """Every memory of the demo's chip with ``protection``."""
        return memories(config_for(protection))

    @classmethod
    def check_spec(cls, spec) -> None:
        """No on-chip learning, no ``--mapped-only`` (every weight word is mapped)."""
        if spec.learning != "off":
            raise ValueError("--learning: core-digits has no on-chip learning (the "
                             "neurocore's weights are fixed); use --learning off")
        if spec.mapped_only:
            raise ValueError("--mapped-only: core-digits: every weight word the network's "
                             "programs read is mapped; use --fields weight and "
                             "--targets '*.weights'")

    def trained_images(self) -> None:
        """None: a worker builds the network from the demo's model again."""
        return None

    def _fresh(self):
        from sim.golden.chip import GoldenChip
        chip = GoldenChip(self.config)
        chip.load(self.image.images)
        return chip

    def copy(self) -> FaultyChip:
        """A fault-free chip of its own: a new GoldenChip loaded with the trained
        images."""
        return FaultyChip(self._fresh())

    def acquire(self) -> FaultyChip:
        """The fault-free chip for one run, to :meth:`release` after it: the trained
        chip itself (building a GoldenChip costs more than a run), so one run at a
        time."""
        if self._acquired is not None:
            raise RuntimeError("core-digits: acquire() again before release(): one run "
                               "at a time uses the trained chip (use copy() for more)")
        self._acquired = g = FaultyChip(self.trained.chip)
        return g

    def release(self, g: FaultyChip) -> None:
        """Undo a run's faults: the memories it touched rewritten from the trained
        images, their stuck-at slots and status cleared."""
        if g is not self._acquired:
            raise RuntimeError("core-digits: release() of a chip that acquire() did not "
                               "hand out")
        chip = g.chip
        for name in sorted(g.changed):
            mem = chip.mems[name]
            mem.inject(0, 0, FaultKind.CLEAR)
            chip.load({name: self.image.images[name]})
            mem.clear_status()
        g.changed.clear()
        self._acquired = None

    # -- fields ---------------------------------------------------------------------------

    def field_of(self, memory: str, bit: int) -> str:
        """Which field a stored bit of ``memory`` belongs to (``check`` for ECC bits)."""
        table = self.__dict__.setdefault("_bit_names", {})
        if memory not in table:
            info = next(m for m in self.memories if m["name"] == memory)
            suffix = memory.rsplit(".", 1)[1]
            per = self._fields[suffix]
            lay = code_layout(info["data_width"],
                              self.config.memory.protection.for_role(info["role"]))
            names = ["check"] * lay.stored_width
            for d, pos in enumerate(lay.data_pos):
                names[pos] = per[d]
            table[memory] = names
        return table[memory][bit]

    # -- inference ------------------------------------------------------------------------

    def infer(self, g: FaultyChip) -> dict:
        """The test images on chip ``g`` (batched golden chip; the tiles and steps a
        fault does not reach are the fault-free run's)."""
        return self._infer(g, reference=self._base_result)[0]

    def _infer(self, g: FaultyChip, reference) -> tuple:
        from sim.golden.batched import BatchedChip, NotBatchable
        from sim.golden.loopctl import ProgramError
        rewritten_only = all(n.endswith(REWRITTEN) for n in g.changed) and not g.stuck
        if self.baseline is not None and rewritten_only:
            # flips in words the host rewrites before every image: the fault-free run
            return {**self.baseline, "path": "rewritten"}, None
        B = len(self.y)
        try:
            bc = BatchedChip.compile(g.chip, base=self.base, changed=g.changed)
            res = bc.run(self.inputs, self.state, reference=reference)
            path = "batched"
        except (ProgramError, ValueError) as e:
            return {"predictions": np.full(B, -1), "accuracy": 0.0, "hang": str(e),
                    "detected": False, "path": "hang",
                    **{k: None for k in self.compare}}, None
        except NotBatchable as e:
            return {"predictions": np.full(B, -1), "accuracy": None, "unmodelled": str(e),
                    "detected": False, "path": "unmodelled",
                    **{k: None for k in self.compare}}, None
        counts = self._class_counts(res.host, res.host_keys)
        pred = np.argmax(counts, axis=1)
        return {"spikes": res.spikes, "payloads": res.payloads,
                "host": self._align(res.host, res.host_keys),
                "host_payloads": self._align(res.host_payloads, res.host_keys),
                "host_keys": res.host_keys, "counts": counts, "predictions": pred,
                "accuracy": float(np.mean(pred == self.y)) if len(self.y) else 0.0,
                "detected": bool(res.detected.any()), "path": path}, res

    def _align(self, arr, keys):
        """Host outputs on the fault-free run's keys, then any new keys (so runs compare
        by value)."""
        base = self.base.host_keys
        extra = [k for k in keys if k not in base]
        order = {k: i for i, k in enumerate(keys)}
        out = np.zeros(arr.shape[:2] + (len(base) + len(extra),), np.int64)
        for j, k in enumerate(base + extra):
            if k in order:
                out[:, :, j] = arr[:, :, order[k]]
        return out

    def _class_counts(self, host, keys) -> np.ndarray:
        size = self.image.network.layer(self.out_layer).size
        counts = np.zeros((host.shape[0], size), np.int64)
        for k, key in enumerate(keys):
            layer, j = self.image.host_map.get(key, (None, None))
            if layer == self.out_layer:
                counts[:, j] += host[:, :, k].sum(axis=1)
        return counts

    def _event_by_event(self, chip, bc_keys):
        """The event-by-event golden chip on every test image: the reference the batched
        model is tested against (``tests/sim/golden/test_batched.py``)."""
        from sim.golden.batched import BatchResult
        B, T = len(self.packets), self.steps
        coords = chip.coords
        N = self.config.core.neurons
        spikes = np.zeros((B, T, len(coords) * N), np.int64)
        pays = np.zeros_like(spikes)
        keys = list(bc_keys)
        rows = []
        recorded = []
        for ti, xy in enumerate(coords):
            core = chip.cores[xy]
            tick = core.tick

            def wrapped(tick=tick, ti=ti):
                out = tick()
                recorded.append((ti, out))
                return out
            core.tick = wrapped
        detected = np.zeros(B, bool)
        for b, steps in enumerate(self.packets):
            chip.load(self.state)
            for m in chip.mems.values():
                m.clear_status()
            per_step = []
            for t, step in enumerate(steps):
                recorded.clear()
                out = chip.step(step)
                for ti, sp in recorded:
                    for n, p in sp:
                        spikes[b, t, ti * N + n] += 1
                        pays[b, t, ti * N + n] += p
                per_step.append(out)
                for x, y, n, _ in out:
                    if (x, y, n) not in keys:
                        keys.append((x, y, n))
            rows.append(per_step)
            detected[b] = any(m.error for m in chip.mems.values()
                              if not m.name.endswith(REWRITTEN))
        host = np.zeros((B, T, len(keys)), np.int64)
        hpay = np.zeros_like(host)
        index = {k: i for i, k in enumerate(keys)}
        for b, per_step in enumerate(rows):
            for t, out in enumerate(per_step):
                for x, y, n, p in out:
                    host[b, t, index[(x, y, n)]] += 1
                    hpay[b, t, index[(x, y, n)]] += p
        return BatchResult(spikes, pays, host, hpay, keys, detected)

    def host_events(self, out, b: int, t: int) -> list:
        """Image ``b``'s host output events of step ``t`` from an inference."""
        from sim.golden.batched import host_events
        keys = list(self.base.host_keys) + [k for k in out["host_keys"]
                                            if k not in self.base.host_keys]
        return host_events(out["host"], out["host_payloads"], keys, b, t)

    def outcome(self, g, out) -> str:
        """``unmodelled``, ``hang``, ``detected``, else ``masked`` if every neuron's spikes (count and
        payload per step) and every host output equal the fault-free run's, else
        ``sdc``."""
        if out.get("unmodelled"):
            return "unmodelled"
        if out.get("hang"):
            return "hang"
        if out["detected"]:
            return "detected"
        same = all(out[k].shape == self.baseline[k].shape
                   and np.array_equal(out[k], self.baseline[k]) for k in self.compare)
        return "masked" if same else "sdc"

    def online(self, g, rng, count: int):
        raise ValueError("core-digits has no on-chip learning (use --learning off)")


# -- replay on the RTL or a board ----------------------------------------------------------

def replay(results: dict, runs, *, samples: int = 5, backend: str = "verilator") -> dict:
    """Replay runs of a core-digits campaign through the driver (``verilator`` or
    ``serial:PORT``): per run, the chip's registers reset (fault slots cleared), the
    words earlier runs faulted rewritten, this run's faults injected through the memory
    bus, then the first ``samples`` test images as the campaign presented them. Every
    host output event of every step must equal the batched golden model's for the same
    faults, and the predictions the campaign's record."""
    from sw.runtime.driver import Chip
    spec = replace_samples(CampaignSpec(**results["spec"]), samples)
    model = CoreDigits(spec, log=None)
    out = {"replayed": 0, "matches": 0, "backend": backend, "samples": samples, "runs": []}
    touched = set()
    with Chip(backend, model.config) as chip:
        chip.load(model.image)
        for r in runs:
            rec = results["runs"][r]
            chip.reset()
            for name, word in sorted(touched):
                chip.write(name, word, [int(model.image.images[name][word])])
            touched.clear()
            g = model.copy()
            for f in rec["faults"]:
                kind = FaultKind[f.get("kind", "FLIP")]
                g.inject(f["memory"], f["word"], f["mask"], kind)
                chip.fault(f["memory"], f["word"], kind, f["mask"])
                touched.add((f["memory"], f["word"]))
            want = model.infer(g)
            row = {"run": rec["run"], "outcome": rec["outcome"], "path": want["path"]}
            if want.get("hang") or want.get("unmodelled"):
                row.update(match=None, note=f"{want['path']} in the golden model "
                                            f"({want.get('hang') or want['unmodelled']}); "
                                            "not replayed")
                out["runs"].append(row)
                continue
            first = None
            preds = []
            for b, steps in enumerate(model.packets):
                chip.restore_state(model.image)
                counts = np.zeros(want["counts"].shape[1], np.int64)
                for t, step in enumerate(steps):
                    got = sorted(chip.step(step))
                    exp = model.host_events(want, b, t)
                    if got != exp and first is None:
                        first = {"image": b, "step": t, "rtl": got[:8], "golden": exp[:8]}
                    for x, y, n, _ in got:
                        layer, j = model.image.host_map.get((x, y, n), (None, None))
                        if layer == model.out_layer:
                            counts[j] += 1
                preds.append(int(np.argmax(counts)))
            same_pred = preds == [int(p) for p in rec["predictions"][:samples]]
            row.update(match=first is None and same_pred, first_divergence=first,
                       predictions=preds)
            out["replayed"] += 1
            out["matches"] += bool(row["match"])
            out["runs"].append(row)
    return out
