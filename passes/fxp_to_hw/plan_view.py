"""The hardware plan as Python objects: what the datapath builder walks.

The plan itself is IR (`hwplan.design`, dialects/hwplan.py); `read_plan` gives
the view the builder indexes by buffer number and SSA value. The planner fills
the same objects while it walks the `fxp` function, before it writes the IR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import Operation, SSAValue

from rnnc.dialects import fxp, hwplan
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format


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

    result: SSAValue
    source: SSAValue  # the vector operand (its value)
    lhs: Fetch
    lhs_fmt: Format
    weight: np.ndarray  # raw (K, N)
    weight_fmt: Format
    out_fmt: Format


@dataclass
class State:
    """A recurrence state: buffer with two rows (read row t % 2, write the other).

    Its initial vector is the constant `init`, or, when `loaded` is a buffer,
    the host's: one row loaded with each sequence (the input stream's preamble).
    """

    buffer: int
    init: np.ndarray  # raw initial vector (N,); empty when loaded
    arg: SSAValue
    next: SSAValue | None
    loaded: int | None = None


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
    phase: int = 0  # phase `phase` of a step split in `phases` (hwplan.stage)
    phases: int = 1

    @property
    def last_phase(self) -> bool:
        return self.phase == self.phases - 1

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
    name: str
    runs: tuple[Run, ...]
    positions: np.ndarray  # flat positions of sequence b: positions + b * offset
    batch_offset: int
    index: int  # position among the function results

    def of_sequence(self, result: np.ndarray, b: int) -> np.ndarray:
        """The elements the hardware streams out for sequence b of a batch run."""
        return result.reshape(-1)[self.positions + b * self.batch_offset]


@dataclass
class HostBinding:
    """Where the hardware's streams are in the `fxp` function the plan came from
    (what a testbench feeds and checks); not part of the plan's IR."""

    input_value: SSAValue  # the host value streamed in, (T, B, I)
    seq_len: SSAValue | None  # host lengths, when the model has sequence_lens
    outputs: list[SSAValue]  # the raw (fixed-point) result of each output
    # the host's initial state of each loaded state, (B, N), in preamble order
    states: list[SSAValue] = field(default_factory=list)


@dataclass
class HardwarePlan:
    buffers: list[Buffer]
    stages: list[Stage]
    input_buffer: int
    outputs: list[Output]
    has_seq_len: bool
    batch: int
    host: HostBinding | None = None

    @property
    def steps(self) -> int:
        return self.buffers[self.input_buffer].rows

    @property
    def loaded_states(self) -> list[State]:
        """The states whose initial vector the host gives, in the order of the
        input stream's preamble (stage by stage, state by state)."""
        return [st for s in self.stages for st in s.states if st.loaded is not None]

    @property
    def preamble_words(self) -> int:
        """Beats of a sequence before its input words: the loaded states."""
        return sum(self.buffers[st.loaded].words for st in self.loaded_states)

    def read_buffers(self) -> set[int]:
        """Buffers something reads: a stage operand, a state or an output."""
        used = {r.buffer for o in self.outputs for r in o.runs}
        for stage in self.stages:
            used.update(st.buffer for st in stage.states)
            used.update(st.loaded for st in stage.states if st.loaded is not None)
            fetches = [*stage.fetches.values(), *(m.lhs for m in stage.matvecs)]
            used.update(seg.buffer for f in fetches for seg in f.segments)
        return used

    @property
    def input_size(self) -> int:
        return self.buffers[self.input_buffer].cols


# ------------------------------------------------------------------ from the IR


def design_of(module: Operation) -> hwplan.DesignOp:
    """The one `hwplan.design` of a module."""
    designs = [op for op in module.walk() if isinstance(op, hwplan.DesignOp)]
    if len(designs) != 1:
        raise RnncError(
            f"expected one hwplan.design (from plan-hardware), found {len(designs)}"
        )
    return designs[0]


def read_plan(design: hwplan.DesignOp, host: HostBinding | None = None):
    """The view of a `hwplan.design`."""
    buffers: list[Buffer] = []
    index: dict[SSAValue, int] = {}
    stages: list[Stage] = []
    outputs: list[Output] = []
    input_buffer, has_seq_len = None, False
    for op in design.block.ops:
        if isinstance(op, hwplan.BufferOp):
            typ = op.result.type
            index[op.result] = len(buffers)
            buffers.append(Buffer(op.buffer_name.data, typ.rows, typ.cols, typ.format))
        elif isinstance(op, hwplan.InputOp):
            input_buffer = index[op.buffer]
            has_seq_len = op.seq_len is not None
        elif isinstance(op, hwplan.StageOp):
            stages.append(_read_stage(op, index))
        elif isinstance(op, hwplan.OutputOp):
            runs = tuple(
                Run(index[b], start, length, shift)
                for b, start, length, shift in op.runs()
            )
            positions = np.asarray(op.positions.get_values(), np.int64)
            outputs.append(
                Output(
                    op.output_name.data,
                    runs,
                    positions,
                    op.stride.value.data,
                    len(outputs),
                )
            )
    return HardwarePlan(
        buffers,
        stages,
        input_buffer,
        outputs,
        has_seq_len,
        design.batch.value.data,
        host,
    )


def _read_stage(op: hwplan.StageOp, index: dict[SSAValue, int]) -> Stage:
    stage = Stage(op.stage_name.data, op.steps, op.reverse is not None, op.units)
    stage.phase, stage.phases = op.phase
    states: dict[SSAValue, State] = {}
    for inner in op.block.ops:
        if isinstance(inner, hwplan.FetchOp):
            segments, lo = [], 0
            for buffer, row, start, size, shift in inner.segments():
                row = None if row < 0 else row
                segments.append(
                    Segment(lo, lo + size, index[buffer], start, row, shift)
                )
                lo += size
            stage.fetches[inner.result] = Fetch(tuple(segments))
        elif isinstance(inner, hwplan.StateOp):
            init = np.asarray(inner.init.get_values(), np.int64)
            loaded = index[inner.loaded] if inner.loaded is not None else None
            state = State(index[inner.buffer], init, inner.result, None, loaded)
            states[inner.result] = state
            stage.states.append(state)
            stage.fetches[inner.result] = Fetch(state=len(stage.states) - 1)
        elif isinstance(inner, hwplan.MaskOp):
            stage.mask = inner.result
        elif isinstance(inner, hwplan.ConstantOp):
            stage.constants[inner.result] = inner.raw()
        elif isinstance(inner, hwplan.MatVecOp):
            stage.matvecs.append(
                MatVec(
                    inner.result,
                    inner.lhs,
                    stage.fetches[inner.lhs],
                    fxp.format_of(inner.lhs),
                    inner.weights(),
                    inner.weight_format,
                    fxp.format_of(inner.result),
                )
            )
        elif isinstance(inner, hwplan.UpdateOp):
            states[inner.state].next = inner.next
        elif isinstance(inner, hwplan.WriteOp):
            stage.writes.append((inner.value, index[inner.buffer]))
        else:
            stage.ops.append(inner)
    return stage
