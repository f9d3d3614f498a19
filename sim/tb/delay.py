"""Delay queue cross-check: RTL (:mod:`hw.delay`) vs the golden model
(:mod:`sim.golden.delay`) on seeded random traffic.

The coroutine drives a seeded random sequence of clock cycles into the DUT
and the golden model and compares, on every cycle, every drained item (in order), the
outcome of every advance, ``now``, every counter and the sticky flag; a mismatch raises
:class:`~sim.tb.Divergence` naming the seed, the cycle, the operation count and both
values. The traffic is organised in timesteps, each with its own push rate,
consumer readiness and length: bursts that fill the queue, long back-pressure on
``drain``, idle timesteps, every delay ``0 .. D-1``, occasional ``clear_counters``.
Each timestep ends with an ``advance`` request held until the DUT takes it (the DUT
must take it within a bound once its due slot can drain). After ``n_ops`` operations
(pushes, drains and advances) the queue is drained to empty.

The testbench is a well-behaved ``lib.stream`` source and sink: a push offered stays
offered, unchanged, until taken; it also checks that the DUT keeps ``drain`` valid and
unchanged until taken.

Runs under cocotb (``test_delay_queue_random``; parameters from the runner) and under
``amaranth.sim`` (``tests/hw/delay`` awaits :func:`scdq_crosscheck` directly).
"""

from __future__ import annotations

import cocotb
import numpy as np
from amaranth import Shape

from hw.spec.config import ChipConfig
from hw.spec.delay import item_layout, push_layout
from sim.golden.delay import GoldenDelayQueue, PushResult
from sim.tb import Divergence, SignalAccess, params, start_cocotb

__all__ = ["Codec", "scdq_crosscheck", "wait_ready"]


class Codec:
    """Packs and unpacks a ``StructLayout`` value as an int, fast (no Amaranth objects)."""

    def __init__(self, layout):
        self.fields = []
        for name, f in layout:
            self.fields.append((name, f.offset, f.width, Shape.cast(f.shape).signed))
        self.names = [f[0] for f in self.fields]

    def pack(self, *values) -> int:
        word = 0
        for (_, off, w, _), v in zip(self.fields, values):
            word |= (int(v) & ((1 << w) - 1)) << off
        return word

    def unpack(self, word: int) -> tuple:
        out = []
        for _, off, w, sgn in self.fields:
            v = (word >> off) & ((1 << w) - 1)
            if sgn and v >> (w - 1):
                v -= 1 << w
            out.append(v)
        return tuple(out)


async def wait_ready(dut: SignalAccess, limit: int) -> int:
    """Tick until ``ready``; returns the cycles waited. Raises Divergence after ``limit``."""
    n = 0
    while not dut.get("ready"):
        if n > limit:
            raise Divergence(f"ready still low {limit} cycles after reset")
        await dut.tick()
        n += 1
    return n


class _Timestep:
    """Random shape of one timestep: rate of offers, consumer readiness, length."""

    def __init__(self, rng):
        self.rate = float(rng.choice([0.0, 0.15, 0.5, 1.0], p=[0.1, 0.3, 0.3, 0.3]))
        self.sink = float(rng.choice([1.0, 0.7, 0.25, 0.0], p=[0.4, 0.25, 0.2, 0.15]))
        self.length = int(rng.integers(1, 48))


async def scdq_crosscheck(dut: SignalAccess, config: ChipConfig, *, seed: int, n_ops: int,
                          clear_rate: float = 0.003) -> dict:
    """Random traffic on a freshly reset :class:`~hw.delay.DelayQueue` vs
    :class:`~sim.golden.delay.GoldenDelayQueue`. Returns statistics."""
    rng = np.random.default_rng(seed)
    gold = GoldenDelayQueue(config)
    c, D, C = config.core, config.delay.slots, config.delay.capacity
    pcodec, icodec = Codec(push_layout(config)), Codec(item_layout(config))
    gmax = (1 << Shape.cast(push_layout(config).members["group"]).width) - 1
    where = f"DelayQueue D={D} capacity={C}, seed {seed}"
    stats = {"cycles": 0, "ops": 0, "pushes": 0, "drains": 0, "advances": 0,
             "stored": 0, "overflows": 0, "bad_delay": 0, "clears": 0, "full_cycles": 0}
    cycle = 0

    def fail(what, rtl, exp):
        raise Divergence(f"{where}: first divergence at cycle {cycle} (after {stats['ops']} "
                         f"operations): {what}: RTL {rtl}, golden {exp}")

    for k in ("push.valid", "drain.ready", "advance.valid", "clear_counters"):
        dut.set(k, 0)
    await wait_ready(dut, C + 8)

    def check_state():
        exp = gold.counters()
        for k, v in exp.items():
            got = dut.get(k)
            if got != v:
                fail(k, got, v)
        if dut.get("now") != gold.now:
            fail("now", dut.get("now"), gold.now)
        if dut.get("due_empty") != int(gold.due_empty):
            fail("due_empty", dut.get("due_empty"), int(gold.due_empty))

    check_state()
    step = _Timestep(rng)
    step_cycles = 0
    pending = None                     # push being offered: (axon, group, delay, payload)
    adv_wait = 0                       # cycles the advance request has been pending
    push_wait = 0
    last_drain = None                  # (payload) offered but not taken last cycle
    while True:
        finishing = stats["ops"] >= n_ops
        if finishing and gold.occupancy == 0 and pending is None:
            break
        want_advance = finishing or step_cycles >= step.length
        if pending is None and not finishing and rng.random() < step.rate:
            delay = 0 if rng.random() < 0.06 else int(rng.integers(1, D))
            pending = (int(rng.integers(1 << c.axon_bits)), int(rng.integers(gmax + 1)), delay,
                       int(rng.integers(-(1 << (c.payload_bits - 1)), 1 << (c.payload_bits - 1))))
        dut.set("push.valid", int(pending is not None))
        if pending is not None:
            dut.set("push.payload", pcodec.pack(*pending))
        sink_p = max(step.sink, 0.5) if want_advance else step.sink
        drain_ready = int(rng.random() < sink_p)
        dut.set("drain.ready", drain_ready)
        dut.set("advance.valid", int(want_advance))
        clear = int(rng.random() < clear_rate)
        dut.set("clear_counters", clear)
        await dut.settle()
        push_ready = dut.get("push.ready")
        drain_valid = dut.get("drain.valid")
        drain_word = dut.get("drain.payload") if drain_valid else None
        adv_ready = dut.get("advance.ready")
        if last_drain is not None and (not drain_valid or drain_word != last_drain):
            fail("drain held (valid, payload) while not taken", (drain_valid, drain_word),
                 (1, last_drain))
        await dut.tick()
        # golden, in the RTL's order: push, drain, advance, clear
        if pending is not None and push_ready:
            res = gold.push(*pending)
            stats["pushes"] += 1
            stats["ops"] += 1
            stats[{PushResult.STORED: "stored", PushResult.OVERFLOW: "overflows",
                   PushResult.BAD_DELAY: "bad_delay"}[res]] += 1
            pending = None
            push_wait = 0
        elif pending is not None:
            push_wait += 1
            if push_wait > 8:
                fail("push.ready low for 8 cycles (only a drain turn may hold it)", 0, 1)
        if drain_valid and drain_ready:
            exp = gold.drain()
            got = icodec.unpack(drain_word)
            if exp is None or got != tuple(exp):
                fail(f"drained item (axon, group, payload) of slot {gold.now}", got, exp)
            stats["drains"] += 1
            stats["ops"] += 1
            last_drain = None
        else:
            last_drain = drain_word if drain_valid else None
        if want_advance and adv_ready:
            if not gold.advance():
                fail(f"advance taken with slot {gold.now} not empty "
                     f"({len(gold.slots[gold.now])} events left)", 1, 0)
            stats["advances"] += 1
            stats["ops"] += 1
            step, step_cycles, adv_wait = _Timestep(rng), 0, 0
        elif want_advance:
            adv_wait += 1
            if adv_wait > 8 * C + 64:
                fail(f"advance not taken for {adv_wait} cycles", 0, 1)
        else:
            step_cycles += 1
        if clear:
            gold.clear_counters()
            stats["clears"] += 1
        stats["full_cycles"] += int(gold.occupancy == C)
        cycle += 1
        check_state()
    for k in ("push.valid", "drain.ready", "advance.valid", "clear_counters"):
        dut.set(k, 0)
    await dut.tick(2)
    cycle += 2
    check_state()
    stats["cycles"] = cycle
    return stats


@cocotb.test()
async def test_delay_queue_random(dut):
    p = params()
    config = ChipConfig.from_dict(p["config"])
    access = await start_cocotb(dut)
    stats = await scdq_crosscheck(access, config, seed=p["seed"], n_ops=p["n_ops"])
    dut._log.info("DelayQueue, seed %d: RTL == golden: %s", p["seed"], stats)
