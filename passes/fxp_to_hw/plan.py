"""plan-hardware: what the hardware computes, an `fxp` function as a `hwplan.design`.

The datapath (docs/hardware.md) processes one sequence at a time. This pass turns
the lowered `fxp` function into a plan (dialects/hwplan.py: printable IR, which
`build-datapath` reads to build the circuit):

- **buffers**: on-chip memories of raw words (`rows × cols`), one per sequence the
  hardware holds: the input sequence, each recurrence's per-step outputs, each
  recurrence state (two rows, ping-pong between steps) and each stage result.
- **stages**: one per recurrence (run for every time step) and one per group of
  fixed-point ops after the recurrences (a head, run once). A stage is a set of
  mat-vecs (`fxp.matmul` of a fetched vector by a constant matrix) followed by an
  elementwise DAG over the output unit index j, whose results are written to
  buffers.

Layout ops (transpose, reshape, concat, slice, gather by constant indices) are not
hardware: they are resolved at compile time by running them on arrays of element
ids, so every vector a stage reads is a list of (buffer, column) segments and every
output is a list of (buffer, address) runs. Constants are folded by the ops'
reference semantics (`rnn_semantics.evaluate`, `fxp.evaluate`), as every consumer
of the dialects reads them. Ops on the function's arguments before
the first recurrence (quantize, embedding lookup, ...) are the host's: their result
that feeds the recurrences is the hardware's input stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from rnnc.dialects import fixed, fxp, hwplan, rnn, rnn_semantics
from rnnc.dialects.arrays import dense_of
from rnnc.dialects.errors import RnncError
from rnnc.dialects.rnn import shape_of
from rnnc.dialects.rnn_semantics import main_function
from rnnc.passes.fxp_to_hw.plan_view import (
    Buffer,
    Fetch,
    HardwarePlan,
    HostBinding,
    MatVec,
    Output,
    Run,
    Segment,
    Stage,
    State,
    read_plan,
)

ELEMENTWISE = (
    fxp.AddOp,
    fxp.SubOp,
    fxp.MulOp,
    fxp.CastOp,
    fxp.ClipOp,
    fxp.LutOp,
    fxp.PwlOp,
    rnn.SelectOp,
)
"""Ops the elementwise unit implements (one unit index per cycle)."""

DATA_MOVEMENT = (*rnn.LAYOUT_OPS, rnn.ConcatOp, rnn.GatherOp)

_ADDRESS_BITS = 32
_OUTER_BITS = 26  # buffer · batch + batch; above them, a 5-bit shift


def _evaluate(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """One op on arrays at compile time, by its dialect's reference semantics."""
    if op.name.startswith("fxp."):
        return fxp.evaluate(op, args)
    return rnn_semantics.evaluate(op, args)


def _lossless(op: fxp.CastOp) -> bool:
    """The cast only re-scales: every value of the input format is kept."""
    src, dst = fxp.format_of(op.input), fxp.format_of(op.result)
    return dst.frac >= src.frac and dst.width - dst.frac >= src.width - src.frac


def _unsupported(what: str) -> RnncError:
    return RnncError(f"hardware backend does not support {what}")


def _name(value: SSAValue) -> str:
    return value.name_hint or "value"


class _Ids:
    """Element ids: a left shift (exact re-scaling by lossless casts), buffer,
    batch and address packed in one int64."""

    def __init__(self, batch: int):
        self.batch = batch

    def encode(self, buffer: int, batch: np.ndarray, address: np.ndarray):
        return ((buffer * self.batch + batch) << _ADDRESS_BITS) + address

    def decode(self, ids: np.ndarray):
        address = ids & ((1 << _ADDRESS_BITS) - 1)
        outer = (ids >> _ADDRESS_BITS) & ((1 << _OUTER_BITS) - 1)
        return outer // self.batch, outer % self.batch, address

    @staticmethod
    def shift(ids: np.ndarray) -> np.ndarray:
        return ids >> (_ADDRESS_BITS + _OUTER_BITS)

    @staticmethod
    def shifted(ids: np.ndarray, amount: int) -> np.ndarray:
        return ids + (amount << (_ADDRESS_BITS + _OUTER_BITS))


class _Planner:
    def __init__(self, module: ModuleOp):
        self.fn: func.FuncOp = main_function(module)
        self.consts: dict[SSAValue, np.ndarray] = {}
        self.views: dict[SSAValue, np.ndarray] = {}  # id arrays
        self.host: set[SSAValue] = set(self.fn.body.block.args)
        self.buffers: list[Buffer] = []
        self.stages: list[Stage] = []
        self.input_value: SSAValue | None = None
        self.input_buffer: int | None = None
        self.seq_len: SSAValue | None = None
        self.batch: int | None = None
        self.pending: Stage | None = None  # head ops collected since the last stage
        # A per-step head's rows: (step, sequence) of each row of its vectors.
        self.pending_rows: tuple[np.ndarray, np.ndarray] | None = None
        self.ids: _Ids | None = None
        self.scalars: set[SSAValue] = set()  # results of reductions in heads
        self.host_states: list[SSAValue] = []  # host initial states, in order

    # -------------------------------------------------------------- helpers
    def buffer(self, name: str, rows: int, cols: int, fmt: fixed.Format) -> int:
        self.buffers.append(Buffer(name, rows, cols, fmt))
        return len(self.buffers) - 1

    def set_batch(self, batch: int) -> None:
        if self.batch is None:
            self.batch = batch
            self.ids = _Ids(batch)
        elif batch != self.batch:
            raise _unsupported(f"two batch sizes ({self.batch} and {batch})")

    def buffer_ids(self, buffer: int, shape: Sequence[int]) -> np.ndarray:
        """Ids of a (rows, B, cols) or (B, cols) tensor stored in `buffer`."""
        buf = self.buffers[buffer]
        if len(shape) == 3:
            t, b, c = np.meshgrid(
                np.arange(shape[0]),
                np.arange(shape[1]),
                np.arange(shape[2]),
                indexing="ij",
            )
            return self.ids.encode(buffer, b, t * buf.cols + c)
        b, c = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
        return self.ids.encode(buffer, b, c)

    def segments(self, ids: np.ndarray, timed: bool) -> tuple[Segment, ...]:
        """Segments of a (T, B, K) (timed) or (B, K) id array, for batch 0."""
        rows = ids[:, 0, :] if timed else ids[0][None, :]
        if rows.ndim != 2:
            raise _unsupported(f"a stage operand of rank {ids.ndim}")
        shifts = _Ids.shift(rows)
        buffer, batch, address = self.ids.decode(rows)
        if (batch != 0).any() or (buffer != buffer[0:1]).any():
            raise _unsupported("a vector whose elements move between time steps")
        segs: list[Segment] = []
        for k in range(rows.shape[1]):
            buf = self.buffers[int(buffer[0, k])]
            col = address[:, k] % buf.cols
            row = address[:, k] // buf.cols
            if (col != col[0]).any():
                raise _unsupported("a vector whose layout changes with time")
            if timed and (row != np.arange(rows.shape[0])).any():
                raise _unsupported("a sequence read out of time order")
            if (shifts[:, k] != shifts[0, k]).any():
                raise _unsupported("a vector whose scaling changes with time")
            fixed_row = None if timed else int(row[0])
            shift, buf_index = int(shifts[0, k]), int(buffer[0, k])
            last = segs[-1] if segs else None
            if (
                last is not None
                and last.buffer == buf_index
                and last.row == fixed_row
                and last.shift == shift
                and last.col0 + (k - last.lo) == int(col[0])
            ):
                segs[-1] = Segment(
                    last.lo, k + 1, last.buffer, last.col0, last.row, shift
                )
            else:
                segs.append(Segment(k, k + 1, buf_index, int(col[0]), fixed_row, shift))
        return tuple(segs)

    # ------------------------------------------------------------ main walk
    def run(self) -> tuple[HardwarePlan, HostBinding]:
        for op in self.fn.body.block.ops:
            if isinstance(op, func.ReturnOp):
                outputs, raws = self.outputs(op)
            else:
                self.visit(op)
        if self.input_value is None:
            raise _unsupported("a model without a recurrence")
        plan = HardwarePlan(
            self.buffers,
            self.stages,
            self.input_buffer,
            outputs,
            self.seq_len is not None,
            self.batch,
        )
        host = HostBinding(self.input_value, self.seq_len, raws, self.host_states)
        return plan, host

    def visit(self, op: Operation) -> None:
        operands = list(op.operands)
        if all(v in self.consts for v in operands) and not isinstance(
            op, rnn.RecurrenceOp
        ):
            results = _evaluate(op, [self.consts[v] for v in operands])
            self.consts.update(zip(op.results, results, strict=False))
        elif isinstance(op, rnn.RecurrenceOp):
            self.recurrence(op)
        elif any(v in self.host for v in operands):
            self.host.update(op.results)
        elif isinstance(op, DATA_MOVEMENT):
            self.move(op)
        elif isinstance(op, fxp.CastOp) and _lossless(op) and op.input in self.views:
            shift = fxp.format_of(op.result).frac - fxp.format_of(op.input).frac
            self.views[op.result] = _Ids.shifted(self.views[op.input], shift)
        elif isinstance(op, (fxp.MatMulOp, *ELEMENTWISE, *fxp.REDUCTIONS)):
            self.head_op(op)
        elif isinstance(op, fxp.DequantizeOp):
            self.views[op.result] = self.value_ids(op.input)
        else:
            raise _unsupported(f"'{op.name}' after the input")

    def value_ids(self, value: SSAValue) -> np.ndarray:
        if value in self.views:
            return self.views[value]
        if self.pending is not None and value in self.pending_values:
            self.close_pending()
            return self.views[value]
        if value in self.host:
            raise _unsupported(f"host value %{_name(value)} used after the input")
        raise _unsupported(f"%{_name(value)} ({value.owner.name}) as hardware data")

    def move(self, op: Operation) -> None:
        args = []
        for v in op.operands:
            args.append(self.consts[v] if v in self.consts else self.value_ids(v))
        results = _evaluate(op, args)
        self.views.update(zip(op.results, results, strict=False))

    # ----------------------------------------------------------- recurrence
    def recurrence(self, op: rnn.RecurrenceOp) -> None:
        self.close_pending()
        block = op.body.block
        seqs = list(op.seqs)
        data = seqs[0]
        steps, batch = shape_of(data)[:2]
        self.set_batch(batch)
        phase_of, phases = step_phases(block, set(self.consts))
        base = f"r{len(self.stages)}"
        stages = [
            Stage(
                name=base if phases == 1 else f"{base}p{p}",
                steps=steps,
                reverse=op.is_reverse,
                units=0,
                phase=p,
                phases=phases,
            )
            for p in range(phases)
        ]
        x_arg = block.args[0]
        if data in self.host:
            self.claim_input(data)
            x_fetch = Fetch(self.segments(self.views[data], True))
        else:
            x_fetch = Fetch(self.segments(self.value_ids(data), True))
        mask = None
        for seq, arg in zip(seqs[1:], block.args[1 : len(seqs)], strict=False):
            owner = seq.owner
            if not isinstance(owner, rnn.SequenceMaskOp) or owner.seq_lens not in (
                self.host
            ):
                raise _unsupported(f"sequence input %{_name(seq)} of a recurrence")
            if self.seq_len not in (None, owner.seq_lens):
                raise _unsupported("two different sequence-length inputs")
            self.seq_len = owner.seq_lens
            mask = arg
        n_states = len(op.inits)
        yielded = list(block.last_op.operands)
        state_args = block.args[len(seqs) :]
        for stage in stages:
            stage.fetches[x_arg] = x_fetch
            stage.mask = mask
        for init, arg, nxt in zip(
            op.inits, state_args, yielded[:n_states], strict=False
        ):
            units = shape_of(arg)[-1]
            buf = self.buffer(f"{base}_{_name(arg)}", 2, units, fxp.format_of(arg))
            state = self.initial_state(init, buf, arg, nxt)
            for stage in stages:  # earlier phases read the state, the last updates
                nxt_p = nxt if stage.last_phase else None
                stage.states.append(dataclasses.replace(state, next=nxt_p))
                stage.fetches[arg] = Fetch(state=len(stage.states) - 1)
        self.phased_body(stages, block, phase_of)
        last = stages[-1]
        for value in yielded:  # computed in an earlier phase: passed on
            self.pass_on(stages, value, phase_of, phases - 1)
        # Results: final states (row steps % 2 of the state buffer), per-step outputs.
        for res, state in zip(op.final_states, last.states, strict=False):
            ids = self.buffer_ids(state.buffer, (batch, last.units))
            self.views[res] = ids + (steps % 2) * last.units
        for res, value in zip(op.step_outputs, yielded[n_states:], strict=False):
            units = shape_of(value)[-1]
            buf = self.buffer(
                f"{last.name}_{_name(res)}", steps, units, fxp.format_of(value)
            )
            last.writes.append((value, buf))
            self.views[res] = self.buffer_ids(buf, (steps, batch, units))
        for stage in stages:
            if not stage.units:
                raise _unsupported(f"phase {stage.phase} of a step without work")
        self.stages.extend(stages)

    def phased_body(self, stages: list[Stage], block: Block, phase_of) -> None:
        """The step's ops, each into the stage of its phase; a value a later
        phase reads goes through a one-row buffer (`pass_on`)."""
        for op in block.ops:
            if isinstance(op, rnn.YieldOp):
                break
            p = phase_of.get(op, 0)
            for v in op.operands:
                self.pass_on(stages, v, phase_of, p)
            self.step_op(stages[p], op, inside=block)

    def pass_on(self, stages: list[Stage], value: SSAValue, phase_of, p: int):
        """Make `value`, computed in an earlier phase than p, readable in
        phase p: the earlier phase writes it to a one-row buffer."""
        owner = value.owner
        if not isinstance(owner, Operation) or owner not in phase_of:
            return
        q = phase_of[owner]
        if q >= p or value in stages[p].fetches or value in self.consts:
            return
        writes = stages[q].writes
        buf = next((b for v, b in writes if v is value), None)
        if buf is None:
            units = shape_of(value)[-1]
            buf = self.buffer(
                f"{stages[q].name}_{_name(value)}", 1, units, fxp.format_of(value)
            )
            writes.append((value, buf))
        units = self.buffers[buf].cols
        stages[p].fetches[value] = Fetch((Segment(0, units, buf, 0, 0),))

    def initial_state(
        self, init: SSAValue, buf: int, arg: SSAValue, nxt: SSAValue
    ) -> State:
        """A state starting from a constant (the same for every sequence: a
        ROM), or from the host's value, loaded with each sequence."""
        if init in self.host:
            units = shape_of(arg)[-1]
            loaded = self.buffer(
                f"{self.buffers[buf].name}_init", 1, units, fxp.format_of(arg)
            )
            self.host_states.append(init)
            return State(buf, np.zeros(0, np.int64), arg, nxt, loaded)
        if init not in self.consts:
            raise _unsupported(f"an initial state computed in hardware %{_name(init)}")
        init_raw = self.consts[init]
        if (init_raw != init_raw[0:1]).any():
            raise _unsupported(
                "constant initial states that differ between sequences (give "
                "them as a graph input to load them with each sequence)"
            )
        return State(buf, np.asarray(init_raw[0]), arg, nxt)

    def claim_input(self, value: SSAValue) -> None:
        if self.input_value is None:
            steps, batch, size = shape_of(value)
            self.input_value = value
            self.input_buffer = self.buffer("input", steps, size, fxp.format_of(value))
            self.views[value] = self.buffer_ids(self.input_buffer, (steps, batch, size))
        elif value is not self.input_value:
            raise _unsupported("two different input sequences")

    def step_op(self, stage: Stage, op: Operation, inside: Block | None) -> None:
        """Add one op of a step body (or of a head) to `stage`."""
        if all(v in self.consts for v in op.operands):
            self.consts.update(
                zip(
                    op.results,
                    _evaluate(op, [self.consts[v] for v in op.operands]),
                    strict=False,
                )
            )
            return
        if isinstance(op, fxp.MatMulOp):
            if op.rhs not in self.consts:
                raise _unsupported(
                    f"a matrix product by a variable (%{_name(op.result)})"
                )
            lhs = op.lhs
            fetch = stage.fetches.get(lhs)
            if fetch is None or (fetch.state is None and not fetch.segments):
                raise _unsupported(
                    f"a matrix product of a computed vector (%{_name(lhs)})"
                )
            weight = self.consts[op.rhs]
            if weight.ndim != 2:
                raise _unsupported("a batched matrix product")
            stage.matvecs.append(
                MatVec(
                    op.result,
                    lhs,
                    fetch,
                    fxp.format_of(lhs),
                    weight,
                    fxp.format_of(op.rhs),
                    fxp.format_of(op.result),
                )
            )
            self.set_units(stage, weight.shape[1])
            return
        # Reductions (ops over the unit index) run in heads only, as sweeps of
        # the elementwise unit (fxp_to_hw/reduction.py).
        if not isinstance(op, ELEMENTWISE) and not (
            inside is None and isinstance(op, fxp.REDUCTIONS)
        ):
            raise _unsupported(f"'{op.name}' in a recurrence step")
        for v in op.operands:
            self.ew_operand(stage, v, inside)
        # A reduction's result, and ops of such results, hold one value per
        # sequence through the stage's later sweeps.
        scalar = isinstance(op, fxp.REDUCTIONS) or all(
            v in self.scalars for v in op.operands if v not in stage.constants
        )
        if isinstance(op, fxp.REDUCTIONS) and op.input not in self.scalars:
            self.set_units(stage, shape_of(op.input)[-1])  # the units it sweeps
        if scalar and inside is None:
            self.scalars.update(op.results)
        else:
            self.set_units(stage, shape_of(op.results[0])[-1])
        stage.ops.append(op)

    def ew_operand(self, stage: Stage, v: SSAValue, inside: Block | None) -> None:
        if v in stage.constants or v is stage.mask:
            return
        if isinstance(v.owner, Operation) and v.owner in stage.ops:
            return
        if any(m.result is v for m in stage.matvecs):
            return
        fetch = stage.fetches.get(v)
        if fetch is not None:
            timed = any(seg.row is None for seg in fetch.segments)
            if timed and inside is not None:
                raise _unsupported(f"elementwise use of the step input %{_name(v)}")
            return
        if v in self.consts:
            raw = np.asarray(self.consts[v])
            if raw.ndim >= 2:
                raw = raw.reshape(-1, raw.shape[-1])
                if (raw != raw[0:1]).any():
                    raise _unsupported(f"per-sequence constant %{_name(v)}")
                raw = raw[0]
            stage.constants[v] = raw.reshape(-1)
            return
        if inside is None:  # head: a view of a buffer
            stage.fetches[v] = self.head_fetch(stage, v)
            return
        raise _unsupported(f"operand %{_name(v)} in a recurrence step")

    def set_units(self, stage: Stage, units: int) -> None:
        if stage.units in (0, units):
            stage.units = units
        else:
            raise _unsupported(
                f"vectors of different lengths in one stage ({stage.units} and {units})"
            )

    # ----------------------------------------------------------------- head
    @property
    def pending_values(self) -> set[SSAValue]:
        stage = self.pending
        return {r for op in stage.ops for r in op.results} | {
            m.result for m in stage.matvecs
        }

    def head_op(self, op: Operation) -> None:
        if self.pending is None:
            self.pending = Stage(f"h{len(self.stages)}", 1, False, 0)
            self.pending_rows = None
        stage = self.pending
        if isinstance(op, fxp.MatMulOp):
            if op.lhs in self.pending_values:
                self.close_pending()
                self.head_op(op)
                return
            stage.fetches[op.lhs] = self.head_fetch(stage, op.lhs)
        self.step_op(stage, op, inside=None)

    def head_fetch(self, stage: Stage, value: SSAValue) -> Fetch:
        """How a head reads `value`: one vector per sequence (rows = the
        batch), or, for a head on a sequence output (a decoder or tagger that
        runs at every step), one vector per step: rows = (step, sequence)
        pairs in any order, and the stage runs once per step."""
        ids = self.value_ids(value)
        if ids.ndim < 2:
            raise _unsupported(f"a head operand of rank {ids.ndim}")
        rows = ids.reshape(-1, ids.shape[-1])
        if self.batch is None or rows.shape[0] == self.batch:
            if self.pending_rows is not None:
                raise _unsupported("a head mixing per-step and per-sequence vectors")
            if ids.ndim != 2:
                raise _unsupported(f"a head operand of rank {ids.ndim}")
            self.set_batch(rows.shape[0])
            return Fetch(self.segments(rows, False))
        arranged, order = self.step_rows(rows, value)
        if self.pending_rows is None:
            if stage.fetches:
                raise _unsupported("a head mixing per-step and per-sequence vectors")
            stage.steps = arranged.shape[0]
            self.pending_rows = order
        elif not all(
            np.array_equal(a, b) for a, b in zip(self.pending_rows, order, strict=True)
        ):
            raise _unsupported(f"head operand %{_name(value)} in another row order")
        return Fetch(self.segments(arranged, True))

    def step_rows(self, rows: np.ndarray, value: SSAValue):
        """The rows of `value` as a (T, B, K) id array, and (t, b) of each row,
        when they are the T steps of the B sequences of a sequence buffer,
        each exactly once, every sequence's at the same addresses."""
        buffer, batch, address = self.ids.decode(rows[:, 0])
        what = f"a head operand %{_name(value)} of {rows.shape[0]} rows"
        if (buffer != buffer[0]).any():
            raise _unsupported(f"{what} from several buffers")
        buf = self.buffers[int(buffer[0])]
        steps = buf.rows
        t = address // buf.cols
        if rows.shape[0] != steps * self.batch:
            raise _unsupported(f"{what} (batch {self.batch}, {steps} steps)")
        seen = np.zeros((steps, self.batch), bool)
        seen[t, batch] = True
        if not seen.all():
            raise _unsupported(f"{what}: not every step of every sequence")
        arranged = np.empty((steps, self.batch, rows.shape[1]), rows.dtype)
        arranged[t, batch] = rows
        _, seq, addr = self.ids.decode(arranged)
        if (seq != np.arange(self.batch)[:, None]).any() or (addr != addr[:, :1]).any():
            raise _unsupported(f"{what}: sequences laid out differently")
        return arranged, (t, batch)

    def close_pending(self) -> None:
        stage = self.pending
        if stage is None:
            return
        self.pending = None
        values = [r for op in stage.ops for r in op.results]
        if not values:
            raise _unsupported("a matrix product without elementwise result")
        used_later = set()
        for value in values:
            for use in value.uses:
                if use.operation not in stage.ops:
                    used_later.add(value)
        for value in values:
            if value not in used_later:
                continue
            shape = shape_of(value)
            fmt = fxp.format_of(value)
            name = f"{stage.name}_{_name(value)}"
            if self.pending_rows is not None:  # one row per step
                t, b = self.pending_rows
                if int(np.prod(shape[:-1])) != t.size:
                    raise _unsupported(f"a head result of shape {list(shape)}")
                buf = self.buffer(name, stage.steps, shape[-1], fmt)
                ids = self.buffer_ids(buf, (stage.steps, self.batch, shape[-1]))
                self.views[value] = ids[t, b].reshape(shape)
            else:
                if len(shape) != 2:
                    raise _unsupported(f"a head result of rank {len(shape)}")
                self.set_batch(shape[0])
                buf = self.buffer(name, 1, shape[1], fmt)
                self.views[value] = self.buffer_ids(buf, shape)
            stage.writes.append((value, buf))
        self.stages.append(stage)

    # -------------------------------------------------------------- outputs
    def outputs(self, ret: func.ReturnOp) -> tuple[list[Output], list[SSAValue]]:
        self.close_pending()
        outs, raws = [], []
        for index, value in enumerate(ret.arguments):
            raw = value
            if isinstance(value.owner, fxp.DequantizeOp):
                raw = value.owner.input
            ids = self.value_ids(raw).reshape(-1)
            shifts = _Ids.shift(ids)
            buffer, batch, address = self.ids.decode(ids)
            mine = np.flatnonzero(batch == 0)
            offset = 0
            if self.batch > 1:
                offset = int(np.flatnonzero(batch == 1)[0] - mine[0])
            for b in range(1, self.batch):
                if not np.array_equal(np.flatnonzero(batch == b), mine + b * offset):
                    raise _unsupported(f"result %{_name(raw)}: batch layout")
            runs: list[Run] = []
            for pos in mine:
                buf, addr = int(buffer[pos]), int(address[pos])
                shift = int(shifts[pos])
                last = runs[-1] if runs else None
                if (
                    last
                    and last.buffer == buf
                    and last.shift == shift
                    and last.start + last.length == addr
                ):
                    runs[-1] = Run(buf, last.start, last.length + 1, shift)
                else:
                    runs.append(Run(buf, addr, 1, shift))
            outs.append(Output(raw.name_hint or "", tuple(runs), mine, offset, index))
            raws.append(raw)
        return outs, raws


def step_phases(block: Block, consts: set[SSAValue]) -> tuple[dict, int]:
    """Phase of each op of a step body, and the number of phases.

    A mat-vec whose vector is computed in the same step (GRU with
    linear_before_reset=0: `(r ⊙ h) · R_h`) cannot start with the step: the
    step runs in phases, each a mat-vec phase then an elementwise phase, and
    such a mat-vec is one phase after its vector. The count is the longest
    chain of these dependencies plus one (ASAP); each op is then placed in the
    latest phase that still feeds its users in time (ALAP), so that mat-vecs
    run beside the work that needs them and few values pass between phases.
    Constants (folded) have no phase."""
    ops = [op for op in block.ops if not isinstance(op, rnn.YieldOp)]
    known = set(consts)
    computed: set[SSAValue] = set()
    earliest: dict[SSAValue, int] = {}
    for op in ops:
        if all(v in known for v in op.operands):
            known.update(op.results)
            continue
        p = max((earliest.get(v, 0) for v in op.operands), default=0)
        if isinstance(op, fxp.MatMulOp) and op.lhs in computed:
            p = max(p, earliest[op.lhs] + 1)
        for r in op.results:
            earliest[r] = p
            computed.add(r)
    phases = 1 + max(earliest.values(), default=0)
    phase_of: dict[Operation, int] = {}
    for op in reversed(ops):
        if not any(r in computed for r in op.results):
            continue
        p = phases - 1
        for r in op.results:
            for use in r.uses:
                user = use.operation
                if user not in phase_of:
                    continue  # the yield (the last phase)
                lhs_use = isinstance(user, fxp.MatMulOp) and use.index == 0
                p = min(p, phase_of[user] - lhs_use)
        phase_of[op] = p
    return phase_of, phases


# ----------------------------------------------------------------- the IR


def _emit_stage(stage: Stage, buffers: list[SSAValue]) -> hwplan.StageOp:
    """The stage's ops: sources, mat-vecs, elementwise ops (cloned), sinks."""
    block = Block()
    values: dict[SSAValue, SSAValue] = {}

    def add(op: Operation, like: SSAValue) -> None:
        block.add_op(op)
        op.results[0].name_hint = like.name_hint
        values[like] = op.results[0]

    def mapped(value: SSAValue) -> SSAValue:
        if value not in values:
            raise _unsupported(f"operand %{_name(value)} in stage {stage.name}")
        return values[value]

    for value, fetch in stage.fetches.items():
        if fetch.state is not None:
            state = stage.states[fetch.state]
            init = [int(v) for v in np.asarray(state.init).reshape(-1)]
            loaded = None if state.loaded is None else buffers[state.loaded]
            op = hwplan.StateOp(buffers[state.buffer], init, value.type, loaded)
            add(op, value)
            continue
        segs = fetch.segments
        add(
            hwplan.FetchOp(
                [buffers[s.buffer] for s in segs],
                [-1 if s.row is None else s.row for s in segs],
                [s.col0 for s in segs],
                [s.hi - s.lo for s in segs],
                [s.shift for s in segs],
                value.type,
            ),
            value,
        )
    if stage.mask is not None:
        add(hwplan.MaskOp(stage.mask.type), stage.mask)
    for value, raw in stage.constants.items():
        add(hwplan.ConstantOp([int(v) for v in raw], value.type), value)
    for m in stage.matvecs:
        weight = dense_of(np.asarray(m.weight).astype(np.int64))
        op = hwplan.MatVecOp(mapped(m.source), weight, m.weight_fmt, m.result.type)
        add(op, m.result)
    for op in stage.ops:
        for operand in op.operands:
            mapped(operand)
        block.add_op(op.clone(value_mapper=values))
    for state in stage.states:
        if state.next is not None:
            block.add_op(hwplan.UpdateOp(mapped(state.arg), mapped(state.next)))
    for value, buffer in stage.writes:
        block.add_op(hwplan.WriteOp(mapped(value), buffers[buffer]))
    return hwplan.StageOp(
        stage.name,
        stage.steps,
        stage.units,
        stage.reverse,
        Region(block),
        (stage.phase, stage.phases),
    )


def _emit(name: str, plan: HardwarePlan) -> hwplan.DesignOp:
    design = hwplan.DesignOp(name, plan.batch)
    block = design.block
    buffers = []
    for b in plan.buffers:
        op = hwplan.BufferOp(b.name, b.rows, b.cols, b.fmt)
        block.add_op(op)
        buffers.append(op.result)
    block.add_op(hwplan.InputOp(buffers[plan.input_buffer], plan.has_seq_len))
    for stage in plan.stages:
        block.add_op(_emit_stage(stage, buffers))
    for o in plan.outputs:
        block.add_op(
            hwplan.OutputOp(
                o.name,
                [buffers[r.buffer] for r in o.runs],
                [r.start for r in o.runs],
                [r.length for r in o.runs],
                [r.shift for r in o.runs],
                [int(p) for p in o.positions],
                o.batch_offset,
            )
        )
    return design


def plan_design(module: ModuleOp) -> tuple[hwplan.DesignOp, HostBinding]:
    """The `hwplan.design` of a lowered `fxp` module, and where its streams are
    in the module's function (RnncError when the hardware cannot run it)."""
    planner = _Planner(module)
    plan, host = planner.run()
    return _emit(planner.fn.sym_name.data, plan), host


def plan_hardware(module: ModuleOp) -> HardwarePlan:
    """The plan of a lowered `fxp` module, read back from its IR, with the
    host binding (for the testbench and the CLI)."""
    design, host = plan_design(module)
    return read_plan(design, host)


@dataclass(frozen=True)
class PlanHardwarePass(ModulePass):
    """Replace a lowered `fxp` module's function by its `hwplan.design`."""

    name = "plan-hardware"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        design, _ = plan_design(op)
        for child in list(op.ops):
            child.detach()
            child.erase()
        op.body.block.add_op(design)
