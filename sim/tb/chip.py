"""Chip cross-check: RTL (:class:`hw.chip.Chip`) vs :class:`sim.golden.chip.GoldenChip`.

:class:`ChipDriver` speaks the chip's timestep protocol through a
:class:`~sim.tb.SignalAccess`: memory images through the chip's memory bus, host
packets in, one step request, output packets collected until ``step_done``.
:func:`crosscheck` compares, per timestep, the host's output events (as sorted lists:
the mesh decides arrival order), then every core's counters, the chip counters and
the final neuron memories of every tile; the first difference raises
:class:`~sim.tb.Divergence` naming the network seed, timestep, tile or memory.
"""

from __future__ import annotations

import cocotb
import numpy as np

from hw.spec.counters import CHIP_COUNTERS
from hw.spec.isa import Isa
from hw.spec.memmap import MemoryName, chip_memories, sdsp_tiles, tile_coords
from hw.spec.packet import packet_layout
from sim.golden.chip import GoldenChip
from sim.tb import Divergence, SignalAccess, params, start_cocotb
from sim.tb.bus import BusDriver

__all__ = ["ChipDriver", "crosscheck", "sdsp_chip_case"]

MAX_STEP_CYCLES = 1_000_000


class ChipDriver(BusDriver):
    def __init__(self, dut: SignalAccess, config):
        super().__init__(dut, config, chip_memories(config))
        self.packet = packet_layout(config)
        for name in ("host_in.valid", "step.valid", "clear_counters"):
            dut.set(name, 0)
        dut.set("host_out.ready", 1)

    async def clear(self):
        self.dut.set("clear_counters", 1)
        await self.tick()
        self.dut.set("clear_counters", 0)

    def core_counters(self, t: int) -> dict:
        return self.counters(f"core_counters.{t}")

    def chip_counters(self) -> dict:
        return self.counters("counters", CHIP_COUNTERS)

    def _unpack(self, raw):
        p = Isa.unpack(self.packet, raw)
        return int(p.x), int(p.y), int(p.axon), int(p.payload)

    async def step(self, packets) -> list:
        """Host packets (x, y, axon, payload) in, one timestep; returns sorted output
        packets (x, y, neuron, payload)."""
        d = self.dut
        out = []
        queue = list(packets)
        step_sent = False
        for _ in range(MAX_STEP_CYCLES):
            if queue:
                x, y, axon, payload = queue[0]
                d.set("host_in.payload", Isa.pack(self.packet, {
                    "to_host": 0, "x": x, "y": y, "axon": axon, "payload": payload}))
            d.set("host_in.valid", int(bool(queue)))
            d.set("step.valid", int(not queue and not step_sent))
            await d.settle()
            in_ready = d.get("host_in.ready")
            step_ready = d.get("step.ready")
            o_valid, o_raw = d.get("host_out.valid"), d.get("host_out.payload")
            done = d.get("step_done")
            await self.tick()
            if queue and in_ready:
                queue.pop(0)
            elif not queue and not step_sent and step_ready:
                step_sent = True
            if o_valid:
                out.append(self._unpack(o_raw))
            if done:
                break
        else:
            raise Divergence(f"no step_done within {MAX_STEP_CYCLES} cycles")
        d.set("host_in.valid", 0)
        d.set("step.valid", 0)
        return sorted(out)


async def crosscheck(dut: SignalAccess, config, images: dict, steps, *,
                             label: str, fresh: bool = False) -> dict:
    """Load ``images``, run one timestep per list of host packets ``(x, y, axon,
    payload)`` on the RTL and the golden chip, compare the host's output events per
    step, every counter, the final neuron memories of neurocores and every memory of
    SDSP tiles. ``fresh``: the chip's memories are all zero (first network after
    power-up), so only nonzero words are loaded."""
    drv = ChipDriver(dut, config)
    gold = GoldenChip(config)
    gold.load(images)
    await drv.load(images, skip_zero=fresh)
    await drv.clear()
    for t, packets in enumerate(steps):
        want = gold.step(packets)
        got = await drv.step(packets)
        if got != want:
            raise Divergence(f"{label}: first divergence at timestep {t}: RTL host events "
                             f"{got[:10]}{'...' if len(got) > 10 else ''} ({len(got)}), golden "
                             f"{want[:10]}{'...' if len(want) > 10 else ''} ({len(want)})")
    for t, xy in enumerate(tile_coords(config)):
        rtl = drv.core_counters(t)
        gc = gold.cores[xy].counters
        for name, value in gc.items():
            if rtl[name] != value:
                raise Divergence(f"{label}: tile {xy} counter {name}: RTL {rtl[name]}, "
                                 f"golden {value}")
    chip = drv.chip_counters()
    for name, value in gold.counters.items():
        if chip[name] != value:
            raise Divergence(f"{label}: chip counter {name}: RTL {chip[name]}, golden {value}")
    if chip["misrouted"]:
        raise Divergence(f"{label}: {chip['misrouted']} flits misrouted")
    plastic = {}
    for xy in sdsp_tiles(config):
        plastic.update(gold.cores[xy].images())
    for i, spec in enumerate(drv.specs):
        if spec.name in plastic:
            words = [int(w) for w in plastic[spec.name]]
        elif spec.role == "state":
            want = gold.mems[spec.name]
            words = [int(w) for w in want.peek()[0]]
        else:
            continue
        for addr in range(spec.depth):
            got = await drv.read(i, addr)
            if got != words[addr]:
                raise Divergence(f"{label}: final {spec.name}[{addr}]: RTL {got:#x}, "
                                 f"golden {words[addr]:#x}")
    return {"cycles": drv.cycles, "chip": chip}


def sdsp_chip_case(rng, config, steps: int):
    """A random network on the neurocore tiles whose output spikes all go to the (first)
    SDSP tile as pre-synaptic spikes (neuron ``n`` -> SPIKE ``n mod N``); the SDSP core
    random (learning on), every SDSP neuron routed to the host; and per step, host
    events to the SDSP tile before the tick: a time reference for all neurons and a few
    virtual (teacher) events. Returns ``(images, host packets per step)``."""
    from hw.spec.isa import decode
    from hw.spec.memmap import core_tiles, tile_prefix
    from hw.spec.packet import dest_layout, route_layout
    from hw.spec.sdsp import EventKind, axon_of
    from sim.stimulus import random_chip_case
    from sim.tb.sdsp import random_case
    s = config.sdsp
    image, inputs = random_chip_case(rng, config, steps)
    images = dict(image.images)
    sx, sy = sdsp_tiles(config)[0]
    dlay, rlay = dest_layout(config), route_layout(config)
    for xy in core_tiles(config):
        name = f"{tile_prefix(*xy)}.dest_table"
        words = list(images[name])
        for i, w in enumerate(words):
            d = decode(dlay, w)
            if d.to_host:
                words[i] = Isa.pack(dlay, {"to_host": 0, "x": sx, "y": sy,
                                           "axon": axon_of(s, EventKind.SPIKE,
                                                           d.axon % s.neurons)})
        images[name] = words
    p = tile_prefix(sx, sy)
    core_images, _ = random_case(config, rng, 0, learn=True)
    for name, words in core_images.items():
        images[p + name[len("sdsp"):]] = words
    images[MemoryName.of(p, "route_table")] = [Isa.pack(rlay, {"first": n, "count": 1})
                                  for n in range(s.neurons)]
    images[MemoryName.of(p, "dest_table")] = [Isa.pack(dlay, {"to_host": 1, "x": sx, "y": sy, "axon": n})
                                 for n in range(s.neurons)]
    steps_packets = []
    for ev in inputs:
        extra = [(sx, sy, axon_of(s, EventKind.VIRTUAL, int(rng.integers(s.neurons))),
                  int(rng.integers(-40, 100))) for _ in range(int(rng.integers(0, 3)))]
        extra.append((sx, sy, axon_of(s, EventKind.TIME, 0), 1))
        steps_packets.append(image.host_packets(ev) + extra)
    return images, steps_packets


@cocotb.test()
async def test_chip_random(dut):
    from hw.spec.config import ChipConfig
    from sim.stimulus import random_chip_case
    p = params()
    config = ChipConfig.from_dict(p["config"])
    access = await start_cocotb(dut)
    n = config.noc
    for k in range(p["networks"]):
        seed = p["seed"] + k
        rng = np.random.default_rng(seed)
        if config.sdsp.enabled:         # neurocores feeding an SDSP tile (sdsp_chip_case)
            images, steps = sdsp_chip_case(rng, config, p["steps"])
            label = f"{n.width}x{n.height} chip with an SDSP tile, network seed {seed}"
        else:
            image, inputs = random_chip_case(rng, config, p["steps"])
            images, steps = image.images, [image.host_packets(ev) for ev in inputs]
            label = f"{n.width}x{n.height} chip, network seed {seed}"
        if k and config.delay.enabled:
            await access.reset()        # empty delay queues / ring slot 0, as the golden chip
        await crosscheck(access, config, images, steps, fresh=k == 0, label=label)
        dut._log.info("network seed %d: RTL == golden over %d timesteps", seed, len(steps))


@cocotb.test()
async def test_chip_bench(dut):
    """Whole-chip throughput for ``python -m benchmarks noc``: a layered network, one
    layer per tile; writes synaptic ops (all cores) and chip cycles to params()["out"]."""
    import json
    from hw.spec.config import ChipConfig
    from sim.stimulus import bench_chip_network, random_inputs
    from sw.toolchain.mapper import map_network
    p = params()
    config = ChipConfig.from_dict(p["config"])
    net = bench_chip_network(config)
    image = map_network(net, config)
    inputs = random_inputs(np.random.default_rng(1), net, p["steps"], config, rate=0.5,
                           graded=False)
    access = await start_cocotb(dut)
    drv = ChipDriver(access, config)
    await drv.load(image.images, skip_zero=True)
    await drv.clear()
    spikes = 0
    for events in inputs:
        spikes += len(await drv.step(image.host_packets(events)))
    synops = sum(drv.core_counters(t)["synops"] for t in range(config.noc.tiles))
    cycles = drv.chip_counters()["cycles_busy"]
    with open(p["out"], "w") as f:
        json.dump({"synops": synops, "cycles": cycles, "steps": len(inputs),
                   "output_spikes": spikes,
                   "placement": {k: [list(map(list, [xy])) + [a, b] for xy, a, b in v]
                                 for k, v in image.placement.items()}}, f)
