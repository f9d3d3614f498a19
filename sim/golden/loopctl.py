"""Golden semantics of the loop controller (:mod:`hw.loopctl.controller`).

A *job* is one run of a microprogram: an event on an axon (descriptor from the axon
table, plus the event's payload) or one layer of a tick (descriptor from the layer
table). Its descriptor gives ``pc`` (entry), ``base``, ``count`` and ``mask``.

Issue order, written once here:

* Execution starts at ``pc`` with no loop nest open, and issues one instruction at a
  time. ``pc`` wraps at the microcode depth.
* An instruction with ``loop`` set opens a *loop nest* (replacing any open one, unless
  it is the start of the running nest, reached by looping back) over the body
  ``[pc, body_end]`` with counts ``c0`` (innermost), ``c1``, ``c2`` taken from
  ``cnt_src``/``cnt_imm`` (ONE, an immediate, or the job's ``count``). The body runs
  ``c0*c1*c2`` times; indices advance like an odometer, ``i0`` fastest. If a count is
  zero the body is skipped: execution continues at ``body_end + 1``, or the job ends if
  the opening instruction has ``end`` set.
* Address generator ``k`` (0, 1): inside a nest, the address of an instruction is
  ``B_k + i0*s_k0 + i1*s_k1 + i2*s_k2 + offset_k`` where ``B_k`` (the job's ``base`` or
  0) and the strides ``s_k*`` come from the opening instruction and ``offset_k`` from
  the instruction itself. Outside a nest it is ``B_k + offset_k`` from the instruction's
  own fields. Arithmetic wraps at ``row_bits + 1`` bits (signed); a bank uses the low
  bits of the address that it needs.
* The lane mask is all lanes, except on the last iteration of a nest (every index at
  its last value), where it is the job's ``mask``.
* After the last instruction of the body: back to the body's start while iterations
  remain, else on to the next instruction. ``end`` ends the job when execution would
  move on (not loop back).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from hw.spec.config import CoreConfig
from hw.spec.isa import AGUS, LOOP_LEVELS, CountSrc
from sim.golden.npe import wrap

__all__ = ["Job", "Issue", "run_job", "ProgramError"]

#: Instructions one job may issue before the model calls it a runaway program.
MAX_ISSUES = 1 << 24


class ProgramError(RuntimeError):
    """The microprogram misbehaves (does not end, addresses outside a bank)."""


@dataclass(frozen=True)
class Job:
    pc: int
    base: int
    count: int
    mask: int
    payload: int = 0


@dataclass
class Issue:
    """One instruction issued for ``n`` consecutive iterations (``n > 1`` only for a
    single-instruction loop body, issued back to back)."""

    pc: int
    ins: object
    addr: np.ndarray   # (n, AGUS) int64, before truncation to a bank
    mask: np.ndarray   # (n,) int64 lane masks
    idx: np.ndarray    # (n, LOOP_LEVELS) loop indices


def _count(ins, level, job):
    src = int(ins.cnt_src[level])
    if src == CountSrc.ONE:
        return 1
    if src == CountSrc.IMM:
        return int(ins.cnt_imm[level])
    if src == CountSrc.PARAM:
        return job.count
    return 1  # encoding 3 reads as ONE, as in the RTL


def run_job(fetch, job: Job, core: CoreConfig):
    """Yield the :class:`Issue` records of one job, in issue order.

    ``fetch(pc)`` returns the decoded instruction at ``pc`` (re-fetched every time, so
    faults injected in microcode act as in the RTL).
    """
    abits = core.row_bits + 1
    all_lanes = (1 << core.lanes) - 1
    depth = core.microcode_depth
    pc = job.pc
    nest = None   # dict(start, end, counts, bases, strides, idx)
    issued = 0
    while True:
        ins = fetch(pc)
        if int(ins.loop) and not (nest is not None and nest["start"] == pc):
            counts = [_count(ins, lvl, job) for lvl in range(LOOP_LEVELS)]
            if min(counts) == 0:
                nest = None
                if int(ins.end):
                    return
                pc = (int(ins.body_end) + 1) % depth
                continue
            bases = [job.base if int(ins.agu[k].base) else 0 for k in range(AGUS)]
            strides = [[int(ins.agu[k].stride[l]) for l in range(LOOP_LEVELS)]
                       for k in range(AGUS)]
            nest = {"start": pc, "end": int(ins.body_end), "counts": counts,
                    "bases": bases, "strides": strides, "idx": [0] * LOOP_LEVELS}
        offsets = np.array([int(ins.agu[k].offset) for k in range(AGUS)], dtype=np.int64)
        if nest is not None and nest["start"] == pc == nest["end"]:
            # Single-instruction body: all iterations back to back, vectorised.
            c = nest["counts"]
            idx = np.array([t[::-1] for t in product(*(range(n) for n in c[::-1]))],
                           dtype=np.int64)
            addr = (np.array(nest["bases"], dtype=np.int64)[None, :] + offsets[None, :]
                    + idx @ np.array(nest["strides"], dtype=np.int64).T)
            mask = np.full(len(idx), all_lanes, dtype=np.int64)
            mask[-1] = job.mask
            issued += len(idx)
            yield Issue(pc, ins, wrap(addr, abits), mask, idx)
            nest = None
            looped = False
        elif nest is not None:
            i = nest["idx"]
            addr = np.array([nest["bases"][k] + offsets[k]
                             + sum(i[l] * nest["strides"][k][l] for l in range(LOOP_LEVELS))
                             for k in range(AGUS)], dtype=np.int64)
            last = all(i[l] == nest["counts"][l] - 1 for l in range(LOOP_LEVELS))
            issued += 1
            yield Issue(pc, ins, wrap(addr, abits)[None, :],
                        np.array([job.mask if last else all_lanes]), np.array([i]))
            looped = False
            if pc == nest["end"]:
                for lvl in range(LOOP_LEVELS):
                    if i[lvl] < nest["counts"][lvl] - 1:
                        i[lvl] += 1
                        for j in range(lvl):
                            i[j] = 0
                        looped = True
                        break
                if looped:
                    pc = nest["start"]
                else:
                    nest = None
        else:
            addr = np.array([(job.base if int(ins.agu[k].base) else 0) + offsets[k]
                             for k in range(AGUS)], dtype=np.int64)
            issued += 1
            yield Issue(pc, ins, wrap(addr, abits)[None, :], np.array([all_lanes]),
                        np.zeros((1, LOOP_LEVELS), np.int64))
            looped = False
        if issued > MAX_ISSUES:
            raise ProgramError(f"the program started at pc {job.pc} issued more than "
                               f"{MAX_ISSUES} instructions without ending (no `end`?)")
        if looped:
            continue
        if int(ins.end) and nest is None:
            return
        pc = (pc + 1) % depth
