"""Mat-vec weights off chip: which tensors stream, in what order, and the stall.

A design with an on-chip budget (`--onchip-kbits`) keeps the weight matrices
that fit in the MAC array's ROM and reads the others from a weight stream port
(`weight_valid`, `weight_data`, `weight_ready`), one word of P weights per beat,
in exactly the order the MAC array issues them. When the array needs a word
that is not there, every register and memory write of the computation holds for
the cycle (`hold_while_stalled`): the schedule resumes where it stopped, so the
result is bit-exact and a sequence takes its planned cycles plus the stalls.
docs/hardware.md ("Weights off chip") has the protocol and the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

import numpy as np
from xdsl.dialects import seq
from xdsl.ir import Block, Operation, SSAValue

from rnnc.dialects import sv
from rnnc.dialects.errors import RnncError
from rnnc.passes.fxp_to_hw.circuit import and_, mux
from rnnc.passes.fxp_to_hw.plan_view import HardwarePlan, MatVec

KBIT = 1024
"""Bits of one kbit of `--onchip-kbits` (block RAMs come in 18 Kbit = 18,432
bits)."""
MAX_ONCHIP_KBITS = 1 << 30
STREAM_FILE = "weight_stream.hex"
REFERENCE_MHZ = 100
"""The clock at which the manifest states the stream's bits per second."""


def check_onchip_kbits(kbits: int | None) -> None:
    if kbits is not None and not 0 <= kbits <= MAX_ONCHIP_KBITS:
        raise RnncError(
            f"--onchip-kbits must be in [0, {MAX_ONCHIP_KBITS}] (got {kbits})"
        )


def rom_words(m: MatVec, lanes: int) -> int:
    """Words a mat-vec's weights take in the MAC array's ROM (or the stream,
    per step): K rows of every group of P columns."""
    return ceil(m.weight.shape[1] / lanes) * m.weight.shape[0]


def place(plan: HardwarePlan, lanes: int, kbits: int | None) -> frozenset[int]:
    """The mat-vecs (indices in stage order, then each stage's mat-vec order)
    whose weights stream: None keeps every one on chip. The budget holds the
    ROM words (P fields of the widest weight format); tensors that are read
    most often per bit (those of recurrences, read every step) are kept first,
    smaller before larger, each one that still fits."""
    check_onchip_kbits(kbits)
    mvs = [(s.steps, m) for s in plan.stages for m in s.matvecs]
    if kbits is None or not mvs:
        return frozenset()
    width = max(m.weight_fmt.width for _, m in mvs)
    bits = [rom_words(m, lanes) * lanes * width for _, m in mvs]
    left = kbits * KBIT
    streamed = set(range(len(mvs)))
    for index in sorted(streamed, key=lambda i: (-mvs[i][0], bits[i], i)):
        if bits[index] <= left:
            left -= bits[index]
            streamed.discard(index)
    return frozenset(streamed)


def words_of(m: MatVec, lanes: int, group: int) -> list[list[int]]:
    """The P weights of each row k for columns [group·P, (group+1)·P) of a
    mat-vec (zero past its last column): the fields of its words."""
    k, n = m.weight.shape
    cols = np.zeros((k, lanes), np.int64)
    hi = min(n, (group + 1) * lanes)
    cols[:, : hi - group * lanes] = m.weight[:, group * lanes : hi]
    return cols.tolist()


@dataclass
class Segment:
    """The words of one stage's step (a pipelined stage's round: input
    mat-vecs of step t, then state mat-vecs of step t), sent `repeats` times."""

    stage: str
    first_word: int  # in the stream file
    words: int
    repeats: int
    pipelined: bool
    # Per phase in stream order: (phase, groups, [(tensor, rows, columns)]).
    phases: list[tuple[str, int, list[tuple[str, int, int]]]]


@dataclass
class WeightStream:
    """What the weight stream port carries for one sequence: `segments` in
    order, each `repeats` times its `words` of `fields` (P weights of `width`
    bits, lane p in bits [p·width, (p+1)·width))."""

    lanes: int
    width: int
    fields: list[list[int]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def word_width(self) -> int:
        return self.lanes * self.width

    @property
    def words_per_sequence(self) -> int:
        return sum(s.words * s.repeats for s in self.segments)

    def add_stage(self, stage, order, n_a, groups, pipelined, streamed) -> None:
        """The streamed words of a stage, in issue order: per group, each
        mat-vec of a phase, its K rows; a pipelined round issues the state
        mat-vecs of step t - 1 (phase A) before the input mat-vecs of step t
        (phase B), so the stream of a sequence is (B A) × T. Without
        pipelining, a step issues every mat-vec per group (phase `step`)."""
        phases = [("step", order, streamed)]
        if pipelined:
            phases = [
                ("input", order[n_a:], streamed[n_a:]),
                ("state", order[:n_a], streamed[:n_a]),
            ]
        first, described = len(self.fields), []
        for phase, mvs, flags in phases:
            mine = [m for m, s in zip(mvs, flags, strict=True) if s]
            if not mine:
                continue
            for g in range(groups):
                for m in mine:
                    self.fields += words_of(m, self.lanes, g)
            tensors = [(tensor_name(stage, m), *m.weight.shape) for m in mine]
            described.append((phase, groups, tensors))
        if described:
            words = len(self.fields) - first
            self.segments.append(
                Segment(stage.name, first, words, stage.steps, pipelined, described)
            )

    def hex_text(self) -> str:
        mask = (1 << self.width) - 1
        digits = max((self.word_width + 3) // 4, 1)
        lines = []
        for fields in self.fields:
            word = sum((f & mask) << (p * self.width) for p, f in enumerate(fields))
            lines.append(f"{word:0{digits}x}\n")
        return "".join(lines)

    def stall_cycles(self, valid: int, period: int) -> int:
        """Stalls of a sequence (`stall_cycles`)."""
        return stall_cycles(self.words_per_sequence, valid, period)

    def manifest(self, compute_cycles: int) -> dict:
        """The port, the order and the bandwidth for `manifest.json`."""
        words = self.words_per_sequence
        average = words / compute_cycles if compute_cycles else 0.0
        return {
            "file": STREAM_FILE,
            "word_width": self.word_width,
            "lanes": self.lanes,
            "field_width": self.width,
            "file_words": len(self.fields),
            "words_per_sequence": words,
            "segments": [
                {
                    "stage": s.stage,
                    "first_word": s.first_word,
                    "words": s.words,
                    "repeats": s.repeats,
                    "pipelined": s.pipelined,
                    "phases": [
                        {
                            "phase": phase,
                            "groups": groups,
                            "tensors": [
                                {"tensor": t, "rows": k, "columns": n}
                                for t, k, n in tensors
                            ],
                        }
                        for phase, groups, tensors in s.phases
                    ],
                }
                for s in self.segments
            ],
            # Full speed: a word in every cycle the array issues a streamed
            # weight (peak), on average words per sequence / compute cycles.
            "full_speed": {
                "peak_words_per_cycle": 1.0 if words else 0.0,
                "average_words_per_cycle": average,
                "clock_mhz": REFERENCE_MHZ,
                "peak_bits_per_second": self.word_width * REFERENCE_MHZ * 1e6
                if words
                else 0.0,
                "average_bits_per_second": average
                * self.word_width
                * REFERENCE_MHZ
                * 1e6,
            },
        }


def stall_cycles(words: int, valid: int, period: int) -> int:
    """Stalls of a sequence of `words` stream words when the memory answers on
    the first `valid` of every `period` cycles the design waits on it
    (`weight_ready`), counted from the sequence's first word: word b comes at
    ready cycle (b div valid)·period + b mod valid, so the last word waits
    ((W - 1) div valid)·(period - valid) cycles more than W. Each such cycle
    holds the computation one cycle."""
    check_bandwidth(valid, period)
    return (words - 1) // valid * (period - valid) if words else 0


def check_bandwidth(valid: int, period: int) -> None:
    if not 1 <= valid <= period:
        raise RnncError(
            f"weight stream bandwidth {valid}/{period}: need 1 <= valid <= period"
        )


def tensor_name(stage, m: MatVec) -> str:
    """`stage`/matvec`j`: the stage's j-th mat-vec in the plan (its order in
    `rnnc-opt -p plan-hardware`)."""
    j = next(j for j, other in enumerate(stage.matvecs) if other is m)
    return f"{stage.name}/matvec{j}"


def hold_while_stalled(
    block: Block, after: Operation | None, always: Block, after_write, run: SSAValue
) -> None:
    """Let the computation built after `after` (registers in `block`) and
    `after_write` (memory writes in `always`) advance only while `run`: each
    register keeps its value and each write waits in a stalled cycle."""
    regs = [op for op in _ops_after(block, after) if isinstance(op, seq.CompRegOp)]
    writes = [op for op in _ops_after(always, after_write) if isinstance(op, sv.IfOp)]
    for reg in regs:
        reg.operands[0] = mux(run, reg.operands[0], reg.results[0])
    for write in writes:
        write.operands[0] = and_(run, write.operands[0])


def _ops_after(block: Block, after: Operation | None) -> list[Operation]:
    op = block.first_op if after is None else after.next_op
    ops = []
    while op is not None:
        ops.append(op)
        op = op.next_op
    return ops
