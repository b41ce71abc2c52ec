"""What the hardware computes: an `fxp` module read as buffers and stages.

The datapath (docs/hardware.md) processes one sequence at a time. This module turns
the lowered `fxp` function into a plan the hardware builder follows:

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
output is a list of (buffer, address) runs. Ops on the function's arguments before
the first recurrence (quantize, embedding lookup, ...) are the host's: their result
that feeds the recurrences is the hardware's input stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, BlockArgument, Operation, SSAValue

from rnnc.backends.interpreter import fxp_interpreter  # noqa: F401  (registers fxp impls)
from rnnc.backends.interpreter.float_interpreter import COMPILERS, IMPLS, main_function
from rnnc.dialects import fxp, rnn
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format
from rnnc.dialects.rnn import shape_of

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


@dataclass
class Buffer:
    """An on-chip memory: `rows × cols` raw words of one format."""

    name: str
    rows: int
    cols: int
    fmt: Format

    @property
    def words(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class Segment:
    """Vector elements [lo, hi) read from `buffer` columns col0 + (k - lo).

    The row is the stage's time index when `row` is None, else the fixed `row`.
    """

    lo: int
    hi: int
    buffer: int
    col0: int
    row: int | None
    shift: int = 0  # raw words are scaled by 2^shift (a lossless cast)


@dataclass
class Fetch:
    """How element k of a vector operand is read: segments, or a state."""

    segments: tuple[Segment, ...] = ()
    state: int | None = None  # index into the stage's states

    @property
    def size(self) -> int:
        return self.segments[-1].hi if self.segments else 0


@dataclass
class MatVec:
    """y[j] = Σ_k lhs[k] · weight[k, j], exact (the `fxp.matmul` result format)."""

    op: fxp.MatMulOp
    lhs: Fetch
    lhs_fmt: Format
    weight: np.ndarray  # raw (K, N)
    weight_fmt: Format
    out_fmt: Format


@dataclass
class State:
    """A recurrence state: buffer with two rows (read row t % 2, write the other)."""

    buffer: int
    init: np.ndarray  # raw initial vector (N,)
    arg: BlockArgument
    next: SSAValue


@dataclass
class Stage:
    name: str
    steps: int
    reverse: bool
    units: int
    matvecs: list[MatVec] = field(default_factory=list)
    ops: list[Operation] = field(default_factory=list)  # elementwise, in order
    states: list[State] = field(default_factory=list)
    # value -> its elementwise source: a constant vector, a view fetch or the mask.
    constants: dict[SSAValue, np.ndarray] = field(default_factory=dict)
    fetches: dict[SSAValue, Fetch] = field(default_factory=dict)
    mask: SSAValue | None = None
    writes: list[tuple[SSAValue, int]] = field(default_factory=list)  # value, buffer

    @property
    def macs_per_step(self) -> int:
        return sum(m.weight.size for m in self.matvecs)


@dataclass(frozen=True)
class Run:
    """Output elements read from consecutive addresses of one buffer."""

    buffer: int
    start: int
    length: int
    shift: int = 0


@dataclass
class Output:
    value: SSAValue  # the raw (fixed-point) result
    runs: tuple[Run, ...]
    positions: np.ndarray  # flat positions of sequence b: positions + b * offset
    batch_offset: int
    index: int  # position among the function results

    def of_sequence(self, result: np.ndarray, b: int) -> np.ndarray:
        """The elements the hardware streams out for sequence b of a batch run."""
        return result.reshape(-1)[self.positions + b * self.batch_offset]


@dataclass
class HardwarePlan:
    buffers: list[Buffer]
    stages: list[Stage]
    input_value: SSAValue  # the host value streamed in, (T, B, I)
    input_buffer: int
    outputs: list[Output]
    seq_len: SSAValue | None  # host lengths, when the model has sequence_lens
    batch: int

    @property
    def steps(self) -> int:
        return self.buffers[self.input_buffer].rows

    def read_buffers(self) -> set[int]:
        """Buffers something reads: a stage operand, a state or an output."""
        used = {r.buffer for o in self.outputs for r in o.runs}
        for stage in self.stages:
            used.update(st.buffer for st in stage.states)
            fetches = [*stage.fetches.values(), *(m.lhs for m in stage.matvecs)]
            used.update(seg.buffer for f in fetches for seg in f.segments)
        return used

    @property
    def input_size(self) -> int:
        return self.buffers[self.input_buffer].cols


def _evaluate(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """One op on arrays, as the interpreters run it (compiled kernel or impl)."""
    compile_kernel = COMPILERS.get(type(op))
    if compile_kernel is not None:
        return compile_kernel(op)(args)
    return IMPLS[type(op)](op, args)


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
        self.ids: _Ids | None = None

    # -------------------------------------------------------------- helpers
    def buffer(self, name: str, rows: int, cols: int, fmt: Format) -> int:
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
    def run(self) -> HardwarePlan:
        for op in self.fn.body.block.ops:
            if isinstance(op, func.ReturnOp):
                outputs = self.outputs(op)
            else:
                self.visit(op)
        if self.input_value is None:
            raise _unsupported("a model without a recurrence")
        return HardwarePlan(
            self.buffers,
            self.stages,
            self.input_value,
            self.input_buffer,
            outputs,
            self.seq_len,
            self.batch,
        )

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
        elif isinstance(op, (fxp.MatMulOp, *ELEMENTWISE)):
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
        stage = Stage(
            name=f"r{len(self.stages)}",
            steps=steps,
            reverse=op.is_reverse,
            units=0,
        )
        x_arg = block.args[0]
        if data in self.host:
            self.claim_input(data)
            stage.fetches[x_arg] = Fetch(self.segments(self.views[data], True))
        else:
            stage.fetches[x_arg] = Fetch(self.segments(self.value_ids(data), True))
        for seq, arg in zip(seqs[1:], block.args[1 : len(seqs)], strict=False):
            owner = seq.owner
            if not isinstance(owner, rnn.SequenceMaskOp) or owner.seq_lens not in (
                self.host
            ):
                raise _unsupported(f"sequence input %{_name(seq)} of a recurrence")
            if self.seq_len not in (None, owner.seq_lens):
                raise _unsupported("two different sequence-length inputs")
            self.seq_len = owner.seq_lens
            stage.mask = arg
        n_states = len(op.inits)
        yielded = list(block.last_op.operands)
        state_args = block.args[len(seqs) :]
        for init, arg, nxt in zip(
            op.inits, state_args, yielded[:n_states], strict=False
        ):
            if init not in self.consts:
                raise _unsupported(f"a non-constant initial state %{_name(init)}")
            init_raw = self.consts[init]
            if (init_raw != init_raw[0:1]).any():
                raise _unsupported("initial states that differ between sequences")
            units = shape_of(arg)[-1]
            buf = self.buffer(
                f"{stage.name}_{_name(arg)}", 2, units, fxp.format_of(arg)
            )
            stage.states.append(State(buf, np.asarray(init_raw[0]), arg, nxt))
            stage.fetches[arg] = Fetch(state=len(stage.states) - 1)
        self.body(stage, block)
        # Results: final states (row steps % 2 of the state buffer), per-step outputs.
        for res, state in zip(op.final_states, stage.states, strict=False):
            ids = self.buffer_ids(state.buffer, (batch, stage.units))
            self.views[res] = ids + (steps % 2) * stage.units
        for res, value in zip(op.step_outputs, yielded[n_states:], strict=False):
            units = shape_of(value)[-1]
            buf = self.buffer(
                f"{stage.name}_{_name(res)}", steps, units, fxp.format_of(value)
            )
            stage.writes.append((value, buf))
            self.views[res] = self.buffer_ids(buf, (steps, batch, units))
        self.stages.append(stage)

    def claim_input(self, value: SSAValue) -> None:
        if self.input_value is None:
            steps, batch, size = shape_of(value)
            self.input_value = value
            self.input_buffer = self.buffer("input", steps, size, fxp.format_of(value))
            self.views[value] = self.buffer_ids(self.input_buffer, (steps, batch, size))
        elif value is not self.input_value:
            raise _unsupported("two different input sequences")

    def body(self, stage: Stage, block: Block) -> None:
        for op in block.ops:
            if isinstance(op, rnn.YieldOp):
                break
            self.step_op(stage, op, inside=block)

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
                    f"a matrix product of a computed vector (%{_name(lhs)}): "
                    "e.g. GRU with linear_before_reset=0"
                )
            weight = self.consts[op.rhs]
            if weight.ndim != 2:
                raise _unsupported("a batched matrix product")
            stage.matvecs.append(
                MatVec(
                    op,
                    fetch,
                    fxp.format_of(lhs),
                    weight,
                    fxp.format_of(op.rhs),
                    fxp.format_of(op.result),
                )
            )
            self.set_units(stage, weight.shape[1])
            return
        if not isinstance(op, ELEMENTWISE):
            raise _unsupported(f"'{op.name}' in a recurrence step")
        for v in op.operands:
            self.ew_operand(stage, v, inside)
        self.set_units(stage, shape_of(op.results[0])[-1])
        stage.ops.append(op)

    def ew_operand(self, stage: Stage, v: SSAValue, inside: Block | None) -> None:
        if v in stage.constants or v is stage.mask:
            return
        if isinstance(v.owner, Operation) and v.owner in stage.ops:
            return
        if any(m.op.result is v for m in stage.matvecs):
            return
        fetch = stage.fetches.get(v)
        if fetch is not None:
            if fetch.state is None and inside is not None:
                raise _unsupported(f"elementwise use of the step input %{_name(v)}")
            return
        if v in self.consts:
            raw = np.asarray(self.consts[v])
            if raw.ndim == 2:
                if (raw != raw[0:1]).any():
                    raise _unsupported(f"per-sequence constant %{_name(v)}")
                raw = raw[0]
            stage.constants[v] = raw.reshape(-1)
            return
        if inside is None:  # head: a view of a buffer
            stage.fetches[v] = Fetch(self.segments(self.value_ids(v), False))
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
            m.op.result for m in stage.matvecs
        }

    def head_op(self, op: Operation) -> None:
        if self.pending is None:
            self.pending = Stage(f"h{len(self.stages)}", 1, False, 0)
        stage = self.pending
        if isinstance(op, fxp.MatMulOp):
            if op.lhs in self.pending_values:
                self.close_pending()
                self.head_op(op)
                return
            lhs_ids = self.value_ids(op.lhs)
            if lhs_ids.ndim != 2:
                raise _unsupported("a matrix product of a non-vector")
            self.set_batch(lhs_ids.shape[0])
            stage.fetches[op.lhs] = Fetch(self.segments(lhs_ids, False))
        self.step_op(stage, op, inside=None)

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
            if len(shape) != 2:
                raise _unsupported(f"a head result of rank {len(shape)}")
            self.set_batch(shape[0])
            buf = self.buffer(
                f"{stage.name}_{_name(value)}", 1, shape[1], fxp.format_of(value)
            )
            stage.writes.append((value, buf))
            self.views[value] = self.buffer_ids(buf, shape)
        self.stages.append(stage)

    # -------------------------------------------------------------- outputs
    def outputs(self, ret: func.ReturnOp) -> list[Output]:
        self.close_pending()
        outs = []
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
            outs.append(Output(raw, tuple(runs), mine, offset, index))
        return outs


def plan_hardware(module: ModuleOp) -> HardwarePlan:
    """The hardware plan of a lowered `fxp` module (RnncError when unsupported)."""
    return _Planner(module).run()
