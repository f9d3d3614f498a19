"""FaultSRAM cross-check: RTL vs :class:`~sim.golden.fault_sram.GoldenFaultSRAM`.

The same seeded random sequence of cycles drives the RTL and the golden model; every
read (data, corrected, detected), every counter, both sticky flags and the fault port's
handshake are compared on every cycle. A mismatch raises :class:`~sim.tb.Divergence`
naming the seed, the cycle, the operation and both values.

Cycle kinds in the sequence (see :func:`random_ops`):

* access cycles: an optional write, an optional read on each port, an optional
  ``clear_status``, all in the same cycle;
* fault operations: one idle cycle, the fault transfer, then the flip's write-back.

Runs under cocotb (the module's ``test_fault_sram_random`` test, parameters from the
runner) and under ``amaranth.sim`` (``tests/hw/mem/test_fault_sram.py`` awaits
:func:`crosscheck` directly).
"""

from __future__ import annotations

import cocotb
import numpy as np

from hw.spec.config import Protection
from hw.spec.memory import FaultKind, fault_layout
from hw.spec.protection import code_layout
from sim.golden.fault_sram import GoldenFaultSRAM
from sim.tb import Divergence, SignalAccess, params, start_cocotb

__all__ = ["random_ops", "crosscheck"]


def _random_mask(rng, stored_width):
    r = rng.random()
    n = 1 if r < 0.55 else 2 if r < 0.8 else 3 if r < 0.9 else int(rng.integers(1, stored_width + 1))
    bits = rng.choice(stored_width, size=min(n, stored_width), replace=False)
    return int(sum(1 << int(b) for b in bits))


def random_ops(seed: int, n: int, *, width: int, depth: int, protection,
               read_ports: int, fault_rate: float = 0.08):
    """A seeded list of ``n`` operations (dicts) for :func:`crosscheck`.

    Faults are frequent and the memory small, so that single, double and triple errors
    in one word, stuck-at slot exhaustion and clears all occur many times in a run.
    """
    rng = np.random.default_rng(seed)
    sw = code_layout(width, Protection(protection)).stored_width
    kinds = [FaultKind.FLIP, FaultKind.STUCK_AT_0, FaultKind.STUCK_AT_1, FaultKind.CLEAR]
    ops = []
    for _ in range(n):
        if rng.random() < fault_rate:
            kind = kinds[rng.choice(4, p=[0.6, 0.16, 0.16, 0.08])]
            ops.append({"fault": (int(rng.integers(depth)), _random_mask(rng, sw), int(kind.value))})
            continue
        op = {"write": None, "reads": [None] * read_ports,
              "clear": bool(rng.random() < 0.01)}
        if rng.random() < 0.4:
            op["write"] = (int(rng.integers(depth)), int(rng.integers(1 << width)))
        for p in range(read_ports):
            if rng.random() < 0.55:
                op["reads"][p] = int(rng.integers(depth))
        ops.append(op)
    return ops


_STATUS = ("corrected_count", "detected_count", "overflow_count", "error", "fault_overflow")


def _status(gold):
    return {k: int(getattr(gold, k)) for k in _STATUS}


async def crosscheck(dut: SignalAccess, ops, *, seed: int, width: int, depth: int,
                     protection, read_ports: int, fault_slots: int, counter_bits: int):
    """Drive ``ops`` into the DUT and the golden model; raise Divergence on a mismatch.

    The DUT must be freshly reset. Returns the number of clock cycles used.
    """
    protection = Protection(protection)
    gold = GoldenFaultSRAM(width, depth, protection, fault_slots=fault_slots,
                           counter_bits=counter_bits)
    sw = gold.stored_width
    aw = max(1, (depth - 1).bit_length())
    flayout = fault_layout(aw, sw)
    where = f"FaultSRAM {width}x{depth} {protection.value}, seed {seed}"
    cycles = 0

    def fail(i, op, what, rtl, exp):
        raise Divergence(f"{where}: first divergence at op {i} {op}: {what}: "
                         f"RTL {rtl}, golden {exp}")

    def check_status(i, op, expected):
        for k in _STATUS:
            got = dut.get(k)
            if got != expected[k]:
                fail(i, op, k, got, expected[k])

    def idle():
        dut.set("write.en", 0)
        dut.set("clear_status", 0)
        dut.set("fault.valid", 0)
        for p in range(read_ports):
            dut.set(f"read.{p}.en", 0)

    idle()
    for i, op in enumerate(ops):
        if "fault" in op:
            addr, mask, kind = op["fault"]
            idle()
            expected = _status(gold)
            await dut.tick(); cycles += 1
            check_status(i, op, expected)
            if dut.get("fault.ready") != 1:
                fail(i, op, "fault.ready with the write port idle", 0, 1)
            dut.set("fault.payload", flayout.const(
                {"addr": addr, "mask": mask, "kind": FaultKind(kind)}).as_value().value)
            dut.set("fault.valid", 1)
            gold.inject(addr, mask, kind)
            await dut.tick(); cycles += 1
            dut.set("fault.valid", 0)
            expect_pending = int(kind == FaultKind.FLIP.value)
            if dut.get("fault_pending") != expect_pending:
                fail(i, op, "fault_pending after the transfer", dut.get("fault_pending"),
                     expect_pending)
            if expect_pending:
                await dut.tick(); cycles += 1
                if dut.get("fault_pending") != 0:
                    fail(i, op, "fault_pending after the write-back cycle", 1, 0)
            check_status(i, op, _status(gold))
            continue

        # access cycle: clear first, then reads see the state before this cycle's write
        dut.set("clear_status", int(op["clear"]))
        if op["clear"]:
            gold.clear_status()
        expected_status = _status(gold)
        expected_reads = []
        for p, a in enumerate(op["reads"]):
            dut.set(f"read.{p}.en", int(a is not None))
            if a is not None:
                dut.set(f"read.{p}.addr", a)
                expected_reads.append((p, a, gold.read(a)))
        if op["write"] is not None:
            dut.set("write.addr", op["write"][0])
            dut.set("write.data", op["write"][1])
            gold.write(*op["write"])
        dut.set("write.en", int(op["write"] is not None))
        await dut.tick(); cycles += 1
        for p, a, exp in expected_reads:
            got = (dut.get(f"read.{p}.data"), dut.get(f"read.{p}.corrected"),
                   dut.get(f"read.{p}.detected"))
            want = (exp.data, int(exp.corrected), int(exp.detected))
            if got != want:
                fail(i, op, f"read port {p} at address {a} (data, corrected, detected)",
                     got, want)
        check_status(i, op, expected_status)
    idle()
    await dut.tick(2); cycles += 2
    check_status(len(ops), "end", _status(gold))
    return cycles


@cocotb.test()
async def test_fault_sram_random(dut):
    p = params()
    access = await start_cocotb(dut)
    ops = random_ops(p["seed"], p["n_ops"], width=p["width"], depth=p["depth"],
                     protection=p["protection"], read_ports=p["read_ports"])
    cycles = await crosscheck(access, ops, seed=p["seed"], width=p["width"],
                              depth=p["depth"], protection=p["protection"],
                              read_ports=p["read_ports"], fault_slots=p["fault_slots"],
                              counter_bits=p["counter_bits"])
    dut._log.info("%d operations, %d cycles, RTL == golden", len(ops), cycles)
