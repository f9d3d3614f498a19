"""Neurocore cross-check: RTL vs the instruction-level golden model on compiled networks.

:class:`CoreDriver` drives a :class:`hw.core.Neurocore` through a
:class:`~sim.tb.SignalAccess` (cocotb or ``amaranth.sim``): it loads images through the
memory bus, runs timesteps (events in, one tick, spikes out until ``tick_done``) and
reads counters and memories back. :func:`crosscheck` runs a network for some
timesteps on the RTL and on :class:`~sim.golden.core.GoldenCore` side by side and
raises :class:`~sim.tb.Divergence` at the first difference: the timestep and the
spikes, then final counters, access counts and memory words (memory, address).

The cocotb entry point (``test_core_random``) builds seeded random networks with
:mod:`sim.stimulus` from the parameters the runner passes.
"""

from __future__ import annotations

import cocotb
import numpy as np

from hw.spec.isa import Isa
from hw.spec.memmap import core_memories
from hw.spec.memory import BusOp
from sim.golden.core import GoldenCore
from sim.tb import Divergence, SignalAccess, params, start_cocotb
from sim.tb.bus import BusDriver

__all__ = ["CoreDriver", "crosscheck"]

#: Cycles a timestep may take before the testbench calls the core hung.
MAX_STEP_CYCLES = 2_000_000


class CoreDriver(BusDriver):
    """Cycle-level driver of a Neurocore's ports."""

    def __init__(self, dut: SignalAccess, config):
        self.isa = isa = Isa.of(config)
        super().__init__(dut, config, core_memories(isa, "core"))
        for name in ("events.valid", "tick.valid", "clear_counters"):
            dut.set(name, 0)
        dut.set("spikes.ready", 1)

    async def access_counts(self, mem: int):
        data = (await self.bus(BusOp.COUNTS, mem))[0]
        ab = self.config.core.counter_bits
        return data & ((1 << ab) - 1), data >> ab & ((1 << ab) - 1)

    async def clear(self):
        """Zero the core's counters and every memory's status and access counters."""
        self.dut.set("clear_counters", 1)
        await self.tick()
        self.dut.set("clear_counters", 0)
        for i in range(len(self.specs)):
            await self.bus(BusOp.CLEAR, i)

    async def send(self, events) -> None:
        """Push events back to back (one per cycle while the queue takes them)."""
        d = self.dut
        layout = self.isa.event
        for axon, payload in events:
            d.set("events.payload", Isa.pack(layout, {"axon": axon, "payload": payload}))
            d.set("events.valid", 1)
            while True:
                await d.settle()
                ready = d.get("events.ready")
                await self.tick()
                if ready:
                    break
        d.set("events.valid", 0)

    async def wait_idle(self, limit: int = MAX_STEP_CYCLES) -> None:
        for _ in range(limit):
            if self.dut.get("idle"):
                return
            await self.tick()
        raise Divergence(f"core not idle within {limit} cycles")

    async def step(self, events, *, spike_ready=None) -> list:
        """Send ``events`` (axon, payload), then a tick; returns the spikes of the tick.

        ``spike_ready(cycle)``, when given, drives ``spikes.ready`` (back-pressure)."""
        d = self.dut
        ev_layout = self.isa.event
        nb = self.config.core.neuron_bits
        pb = self.config.core.payload_bits
        spikes = []
        queue = list(events)
        tick_sent = False
        taking = 1          # what we drive on spikes.ready (never read back)
        for cycle in range(MAX_STEP_CYCLES):
            if spike_ready is not None:
                taking = int(spike_ready(cycle))
                d.set("spikes.ready", taking)
            if queue:
                axon, payload = queue[0]
                d.set("events.payload", Isa.pack(ev_layout, {"axon": axon, "payload": payload}))
                d.set("events.valid", 1)
                d.set("tick.valid", 0)
            else:
                d.set("events.valid", 0)
                d.set("tick.valid", int(not tick_sent))
            await d.settle()
            ev_ready = d.get("events.ready")
            tick_ready = d.get("tick.ready")
            sp_valid = d.get("spikes.valid") and taking
            sp = d.get("spikes.payload")
            done = d.get("tick_done")
            await self.tick()
            if queue and ev_ready:
                queue.pop(0)
            elif not queue and not tick_sent and tick_ready:
                tick_sent = True
            if sp_valid:
                p = sp >> nb & ((1 << pb) - 1)
                spikes.append((sp & ((1 << nb) - 1), p - (1 << pb) if p >> (pb - 1) else p))
            if done:
                break
        else:
            raise Divergence(f"no tick_done within {MAX_STEP_CYCLES} cycles")
        d.set("events.valid", 0)
        d.set("tick.valid", 0)
        d.set("spikes.ready", 1)
        # spikes still in the output FIFO belong to this tick
        while d.get("spikes.valid") or not d.get("idle"):
            sp_valid, sp = d.get("spikes.valid"), d.get("spikes.payload")
            await self.tick()
            if sp_valid:
                p = sp >> nb & ((1 << pb) - 1)
                spikes.append((sp & ((1 << nb) - 1), p - (1 << pb) if p >> (pb - 1) else p))
        return spikes


async def crosscheck(dut: SignalAccess, config, image, steps, *, label: str,
                     check_memories: bool = True, spike_ready=None) -> dict:
    """Run ``steps`` (network input events per timestep) of a compiled ``image`` on the
    RTL and the golden core; raise Divergence at the first difference. Returns the RTL
    counters and cycle count."""
    drv = CoreDriver(dut, config)
    gold = GoldenCore(config)
    gold.load(image.images)
    await drv.load(image.images)
    await drv.clear()
    fb_rtl, fb_gold = [], []
    for t, inputs in enumerate(steps):
        ev = image.input_events(inputs)
        for axon, payload in ev + fb_gold:
            gold.event(axon, payload)
        want = gold.tick()
        got = await drv.step(ev + fb_rtl, spike_ready=spike_ready)
        if got != want:
            raise Divergence(f"{label}: first divergence at timestep {t}: RTL spikes "
                             f"{got[:12]}{'...' if len(got) > 12 else ''} ({len(got)}), golden "
                             f"{want[:12]}{'...' if len(want) > 12 else ''} ({len(want)})")
        fb_rtl, fb_gold = image.feedback(got), image.feedback(want)
    counters = drv.counters()
    for name, value in gold.counters.items():
        if counters[name] != value:
            raise Divergence(f"{label}: counter {name}: RTL {counters[name]}, golden {value}")
    for i, spec in enumerate(drv.specs):
        if spec.role == "delay":
            continue        # the queue's memory traffic is timing, not modelled (golden core)
        reads, writes = await drv.access_counts(i)
        if (reads, writes) != (gold.reads[spec.name], gold.writes[spec.name]):
            raise Divergence(f"{label}: {spec.name} reads/writes: RTL ({reads}, {writes}), "
                             f"golden ({gold.reads[spec.name]}, {gold.writes[spec.name]})")
    if check_memories:
        for i, spec in enumerate(drv.specs):
            if spec.role != "state":
                continue
            want = gold.dump(spec.name)
            for addr in range(spec.depth):
                got = await drv.read(i, addr)
                if got != int(want[addr]):
                    raise Divergence(f"{label}: final {spec.name}[{addr}]: RTL {got:#x}, "
                                     f"golden {int(want[addr]):#x}")
    return {"counters": counters, "cycles": drv.cycles}


@cocotb.test()
async def test_core_random(dut):
    """Seeded random networks on the core under test (parameters from the runner)."""
    from hw.spec.config import ChipConfig
    from sim.stimulus import random_case
    p = params()
    config = ChipConfig.from_dict(p["config"])
    access = await start_cocotb(dut)
    overflows = 0
    for k in range(p["networks"]):
        seed = p["seed"] + k
        image, steps = random_case(np.random.default_rng(seed), config, p["steps"])
        if k and config.delay.enabled:
            await access.reset()        # an empty delay queue / ring slot 0, as the golden core
        res = await crosscheck(access, config, image, steps,
                               label=f"{config.core.lanes}-lane core, network seed {seed}")
        n = res["counters"]["delay_overflows"]
        if access.get("delay_overflow") != (n > 0):
            raise Divergence(f"network seed {seed}: delay_overflow flag "
                             f"{access.get('delay_overflow')} with {n} overflows")
        overflows += n
        dut._log.info("network seed %d: RTL == golden over %d timesteps (%d delay-queue "
                      "overflows)", seed, len(steps), n)
    if p.get("expect_overflow") and not overflows:
        raise AssertionError("no network overflowed the delay queue: the overflow path "
                             "went untested")


@cocotb.test()
async def test_core_fixtures(dut):
    """The fixed networks of fixtures/core: RTL == golden == stored expected spikes."""
    from fixtures.make_core_fixtures import CONFIG
    from hw.spec.config import ChipConfig
    from sim.stimulus import fixture_names, load_fixture
    from sw.toolchain.compiler import compile_core
    config = ChipConfig.from_dict(params()["config"])
    if config != CONFIG:
        raise AssertionError("the fixtures are sized for fixtures.make_core_fixtures.CONFIG")
    access = await start_cocotb(dut)
    for name in fixture_names():
        net, inputs, expected = load_fixture(name)
        image = compile_core(net, config)
        drv = CoreDriver(access, config)
        await drv.load(image.images)
        fb = []
        for t, events in enumerate(inputs):
            got = await drv.step(image.input_events(events) + fb)
            if image.by_layer(got) != expected[t]:
                raise Divergence(f"fixture {name}: timestep {t}: RTL {image.by_layer(got)}, "
                                 f"expected {expected[t]}")
            fb = image.feedback(got)
        dut._log.info("fixture %s: RTL == expected over %d timesteps", name, len(inputs))


@cocotb.test()
async def test_core_bench(dut):
    """Throughput measurement for ``python -m benchmarks core``: writes JSON results to
    ``params()["out"]``. Cycle figures come from the core's own counters."""
    import json
    from hw.spec.config import ChipConfig
    from sim.stimulus import bench_network
    from sw.toolchain.compiler import compile_core
    p = params()
    config = ChipConfig.from_dict(p["config"])
    net, axon_of_fanout = bench_network(config, p["fanouts"])
    image = compile_core(net, config)
    access = await start_cocotb(dut)
    drv = CoreDriver(access, config)
    await drv.load(image.images, skip_zero=True)
    rows = []
    for fanout in p["fanouts"]:
        axon = image.input_events([(axon_of_fanout[fanout], 1)])[0][0]
        # isolated event: latency overhead beyond its MAC rows
        await drv.clear()
        await drv.send([(axon, 1)])
        await drv.wait_idle()
        single = drv.counters()
        # back-to-back stream
        await drv.clear()
        await drv.send([(axon, 1)] * p["events"])
        await drv.wait_idle()
        c = drv.counters()
        mac_rows = c["synops"] // config.core.lanes
        rows.append({"fanout": fanout, "events": p["events"], "synops": c["synops"],
                     "cycles": c["cycles_busy"], "mac_rows": mac_rows,
                     "synops_per_cycle": c["synops"] / c["cycles_busy"],
                     "overhead_cycles_per_event": (c["cycles_busy"] - mac_rows) / p["events"],
                     "isolated_event_cycles": single["cycles_busy"],
                     "isolated_event_overhead_cycles":
                         single["cycles_busy"] - single["synops"] // config.core.lanes})
    ticks = []
    for label, payload in (("quiet", 0), ("all_spiking", 1)):
        # "all_spiking": every neuron crosses its threshold (bias), so the event generator
        # sends one spike per neuron: the output bound of one spike per cycle shows.
        await drv.clear()
        bias_events = [(image.input_events([(0, 127)])[0][0], 127)] if payload else []
        await drv.send(bias_events)
        await drv.wait_idle()
        await drv.clear()
        spikes = await drv.step([])
        c = drv.counters()
        ticks.append({"tick": label, "neurons": c["neuron_updates"], "spikes": len(spikes),
                      "cycles": c["cycles_busy"],
                      "neuron_updates_per_cycle": c["neuron_updates"] / c["cycles_busy"]})
    with open(p["out"], "w") as f:
        json.dump({"events": rows, "ticks": ticks}, f)
