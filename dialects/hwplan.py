"""The hardware plan: what the datapath computes, as printable IR.

`plan-hardware` turns a lowered `fxp` function into one `hwplan.design`; the
datapath construction (`build-datapath`) reads it and builds the hw/comb/seq/sv
circuit (docs/hardware.md). The plan holds no layout op: every vector a stage
reads is a list of buffer segments, every output a list of buffer runs.

```mlir
hwplan.design @main batch 1 {
  %input = hwplan.buffer "input" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  %r0_hp = hwplan.buffer "r0_hp" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %r0_ys = hwplan.buffer "r0_ys" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  hwplan.input %input : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 3 units 2 {
    %xt = hwplan.fetch %input[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %hp = hwplan.state %r0_hp init [0, 0] : tensor<1x2x!fxp.fixed<8, 6>>
    %z = hwplan.matvec %xt, dense<[[32, -16], [96, 48]]> : tensor<2x2xi64>
        as !fxp.fixed<8, 6> : tensor<1x2x!fxp.fixed<8, 6>>
        -> tensor<1x2x!fxp.fixed<17, 12>>
    ...  // fxp.add / sub / mul / cast / clip / lut / pwl and rnn.select, in order
    hwplan.update %hp, %hn : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %hn, %r0_ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "ys" %r0_ys[0 +: 6] positions [0, 1, 2, 3, 4, 5] stride 6
}
```

- `hwplan.buffer`: an on-chip memory of `rows × cols` raw words of one format.
- `hwplan.input`: the buffer the input stream fills (time-major), with `seq_len`
  when the model has sequence lengths (sampled with the first input beat).
- `hwplan.stage`: run `steps` times (reversed: time counts down) over `units`
  output units. Its block holds, in this order, the sources (`fetch`, `state`,
  `mask`, `constant`), the mat-vecs, the elementwise ops (cloned `fxp` ops and
  `rnn.select`, one pipeline stage each), then `update` and `write`.
- `hwplan.fetch`: element k of a vector read from segments `%buf[row][col +: n]`
  (row `t` = the stage's time index), scaled left by `shl s` (a lossless cast).
- `hwplan.state`: a recurrence state: its buffer has two rows (step t reads row
  t mod 2 and writes the other); the first step reads `init`, or the one-row
  buffer `loaded` with the sequence (a host-given initial state).
- `hwplan.output`: one result of the function, streamed from buffer runs
  `%buf[address +: n]`; element i of sequence b is the flat position
  `positions[i] + b · stride` of the function's result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_attr_def,
    opt_operand_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.parser.core import UnresolvedOperand
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, NoTerminator
from xdsl.utils.exceptions import VerifyException

from rnnc.dialects import fixed, fxp
from rnnc.dialects.arrays import array_of
from rnnc.dialects.fixed import Format

# --------------------------------------------------------------------------- type


@irdl_attr_definition
class BufferType(ParametrizedAttribute, TypeAttribute):
    """`!hwplan.buffer<R x C x !fxp.fixed<W, F>>`: R rows of C raw words."""

    name = "hwplan.buffer"

    rows_attr: IntAttr
    cols_attr: IntAttr
    element: fxp.FixedType

    def __init__(self, rows: int, cols: int, fmt: Format):
        super().__init__(IntAttr(rows), IntAttr(cols), fxp.FixedType.of(fmt))

    @property
    def rows(self) -> int:
        return self.rows_attr.data

    @property
    def cols(self) -> int:
        return self.cols_attr.data

    @property
    def format(self) -> Format:
        return self.element.format

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            rows = parser.parse_shape_dimension(allow_dynamic=False)
            parser.parse_shape_delimiter()
            cols = parser.parse_shape_dimension(allow_dynamic=False)
            parser.parse_shape_delimiter()
            element = parser.parse_type()
        return (IntAttr(rows), IntAttr(cols), element)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.rows}x{self.cols}x")
        printer.print_attribute(self.element)
        printer.print_string(">")

    def verify(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise VerifyException("hwplan.buffer: rows and columns must be positive")


def _buffer_type(value: SSAValue) -> BufferType:
    assert isinstance(value.type, BufferType)
    return value.type


# ------------------------------------------------------------------ syntax helpers


def _ints(values) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def _print_ints(printer: Printer, values: Sequence[int]) -> None:
    printer.print_string("[" + ", ".join(str(v) for v in values) + "]")


def _parse_ints(parser: Parser) -> list[int]:
    return parser.parse_comma_separated_list(
        parser.Delimiter.SQUARE, lambda: parser.parse_integer(allow_boolean=False)
    )


def _parse_fixed_tensor(parser: Parser) -> TensorType:
    pos = parser.pos
    typ = parser.parse_type()
    if not isinstance(typ, TensorType) or not isinstance(
        typ.element_type, fxp.FixedType
    ):
        parser.raise_error("expected a tensor of !fxp.fixed", pos, parser.pos)
    return typ


def _units(value: SSAValue) -> int:
    typ = value.type
    assert isinstance(typ, TensorType)
    shape = typ.get_shape()
    return shape[-1] if shape else 1


def _stage_of(op: Operation) -> StageOp | None:
    parent = op.parent_op()
    return parent if isinstance(parent, StageOp) else None


def _check_in_range(name: str, raw: np.ndarray, fmt: Format) -> None:
    if raw.size and (int(raw.min()) < fmt.min_raw or int(raw.max()) > fmt.max_raw):
        raise VerifyException(f"{name}: raw values outside the range of {fmt}")


def _check_vector(op: IRDLOperation, value: SSAValue) -> None:
    """A stage vector has the stage's units as its last dimension."""
    stage = _stage_of(op)
    if stage is not None and _units(value) != stage.units:
        raise VerifyException(
            f"{op.name}: vector of {_units(value)} elements in a stage of "
            f"{stage.units} units"
        )


# -------------------------------------------------------------------- top level


@irdl_op_definition
class DesignOp(IRDLOperation):
    """The whole plan: buffers, the input stream, stages in order, outputs.

    Syntax: `hwplan.design @function batch B { ... }` (the planned function's
    name, B sequences per call).
    """

    name = "hwplan.design"

    sym_name = attr_def(StringAttr)
    batch = prop_def(IntegerAttr)
    body = region_def("single_block")
    traits = traits_def(NoTerminator(), IsolatedFromAbove())

    def __init__(self, name: str, batch: int, body: Region | None = None):
        super().__init__(
            attributes={"sym_name": StringAttr(name)},
            properties={"batch": IntegerAttr(batch, i64)},
            regions=[body if body is not None else Region(Block())],
        )

    @property
    def block(self) -> Block:
        return self.body.block

    def verify_(self) -> None:
        if self.batch.value.data < 1:
            raise VerifyException("hwplan.design: batch must be positive")
        inputs = [op for op in self.block.ops if isinstance(op, InputOp)]
        if len(inputs) != 1:
            raise VerifyException("hwplan.design: expected exactly one hwplan.input")
        if not any(isinstance(op, StageOp) for op in self.block.ops):
            raise VerifyException("hwplan.design: expected at least one stage")
        if not any(isinstance(op, OutputOp) for op in self.block.ops):
            raise VerifyException("hwplan.design: expected at least one output")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        printer.print_string(f" batch {self.batch.value.data} ")
        printer.print_region(self.body, print_entry_block_args=False)
        printer.print_op_attributes(self.attributes, reserved_attr_names=("sym_name",))

    @classmethod
    def parse(cls, parser: Parser) -> DesignOp:
        name = parser.parse_symbol_name().data
        parser.parse_keyword("batch")
        batch = parser.parse_integer(allow_boolean=False, allow_negative=False)
        region = parser.parse_region()
        if not region.blocks:
            region.add_block(Block())
        op = cls(name, batch, region)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


@irdl_op_definition
class BufferOp(IRDLOperation):
    """An on-chip memory; `name` names it in the RTL (`buf_<name>`).

    Syntax: `%b = hwplan.buffer "name" : !hwplan.buffer<RxCx!fxp.fixed<W, F>>`.
    """

    name = "hwplan.buffer"

    buffer_name = attr_def(StringAttr, attr_name="name")
    result = result_def(BufferType)
    traits = traits_def(HasParent(DesignOp))

    def __init__(self, name: str, rows: int, cols: int, fmt: Format):
        super().__init__(
            attributes={"name": StringAttr(name)},
            result_types=[BufferType(rows, cols, fmt)],
        )
        if SSAValue.is_valid_name(name):
            self.result.name_hint = name

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.buffer_name.data)
        printer.print_op_attributes(self.attributes, reserved_attr_names=("name",))
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> BufferOp:
        name = parser.parse_str_literal("buffer name")
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        pos = parser.pos
        typ = parser.parse_type()
        if not isinstance(typ, BufferType):
            parser.raise_error("expected a !hwplan.buffer type", pos, parser.pos)
        op = cls(name, typ.rows, typ.cols, typ.format)
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class InputOp(IRDLOperation):
    """The input stream: raw words, time-major, into `buffer` (two banks).

    Syntax: `hwplan.input %buf (seq_len)? : !hwplan.buffer<...>`.
    """

    name = "hwplan.input"

    buffer = operand_def(BufferType)
    seq_len = opt_attr_def(UnitAttr)
    traits = traits_def(HasParent(DesignOp))

    def __init__(self, buffer: SSAValue, seq_len: bool = False):
        super().__init__(
            operands=[buffer], attributes={"seq_len": UnitAttr()} if seq_len else {}
        )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.buffer)
        if self.seq_len is not None:
            printer.print_string(" seq_len")
        printer.print_op_attributes(self.attributes, reserved_attr_names=("seq_len",))
        printer.print_string(" : ")
        printer.print_attribute(self.buffer.type)

    @classmethod
    def parse(cls, parser: Parser) -> InputOp:
        buffer = parser.parse_unresolved_operand()
        seq_len = parser.parse_optional_keyword("seq_len") is not None
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        typ = parser.parse_type()
        op = cls(parser.resolve_operand(buffer, typ), seq_len)
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class StageOp(IRDLOperation):
    """A stage: a recurrence (run for every step) or a head (`steps 1`).

    Syntax: `hwplan.stage "name" steps T units N (reverse)? (phase i of n)? {...}`.

    A step whose recurrent product reads a value computed in the same step (GRU
    with linear_before_reset=0: `(r ⊙ h) · R_h`) is split into n consecutive
    stages, phases 0 … n-1 of one step: the controller runs phase 0 of step t,
    then phase 1 of step t, …, then phase 0 of step t + 1. Values passed from a
    phase to a later one go through one-row buffers; only the last phase updates
    the states (earlier phases read them).
    """

    name = "hwplan.stage"

    stage_name = attr_def(StringAttr, attr_name="name")
    steps_attr = attr_def(IntegerAttr, attr_name="steps")
    units_attr = attr_def(IntegerAttr, attr_name="units")
    reverse = opt_attr_def(UnitAttr)
    phase_attr = opt_attr_def(DenseArrayBase, attr_name="phase")  # [i, n]
    body = region_def("single_block")
    traits = traits_def(NoTerminator(), HasParent(DesignOp))

    def __init__(
        self,
        name: str,
        steps: int,
        units: int,
        reverse: bool = False,
        body: Region | None = None,
        phase: tuple[int, int] = (0, 1),
    ):
        attributes = {
            "name": StringAttr(name),
            "steps": IntegerAttr(steps, i64),
            "units": IntegerAttr(units, i64),
        }
        if reverse:
            attributes["reverse"] = UnitAttr()
        if phase[1] > 1:
            attributes["phase"] = _ints(phase)
        super().__init__(
            attributes=attributes,
            regions=[body if body is not None else Region(Block())],
        )

    @property
    def steps(self) -> int:
        return self.steps_attr.value.data

    @property
    def units(self) -> int:
        return self.units_attr.value.data

    @property
    def phase(self) -> tuple[int, int]:
        """(i, n): phase i of a step split in n (n = 1: the whole step)."""
        if self.phase_attr is None:
            return 0, 1
        i, n = self.phase_attr.get_values()
        return int(i), int(n)

    @property
    def block(self) -> Block:
        return self.body.block

    def verify_(self) -> None:
        if self.steps < 1 or self.units < 1:
            raise VerifyException("hwplan.stage: steps and units must be positive")
        phase, phases = self.phase
        if self.phase_attr is not None and not 0 <= phase < phases:
            raise VerifyException(f"hwplan.stage: phase {phase} of {phases}")
        # Sources, then mat-vecs, then elementwise ops, then updates and writes.
        order = {SOURCES: 0, (MatVecOp,): 1, (UpdateOp, WriteOp): 3}
        last = 0
        for op in self.block.ops:
            rank = next((r for kinds, r in order.items() if isinstance(op, kinds)), 2)
            if rank < last:
                raise VerifyException(
                    f"hwplan.stage: '{op.name}' after the stage's "
                    + ("sinks" if last == 3 else "computation")
                )
            last = rank
        if sum(isinstance(op, MaskOp) for op in self.block.ops) > 1:
            raise VerifyException("hwplan.stage: more than one hwplan.mask")
        for op in self.block.ops:
            if not isinstance(op, StateOp):
                continue
            updates = [u for u in op.result.uses if isinstance(u.operation, UpdateOp)]
            if phase < phases - 1:  # an earlier phase of a step reads states only
                if updates:
                    raise VerifyException(
                        "hwplan.stage: only the last phase updates the states"
                    )
            elif len(updates) != 1 or updates[0].index != 0:
                raise VerifyException(
                    "hwplan.stage: each state has exactly one hwplan.update"
                )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.stage_name.data)
        printer.print_string(f" steps {self.steps} units {self.units}")
        if self.reverse is not None:
            printer.print_string(" reverse")
        if self.phase_attr is not None:
            printer.print_string(" phase {} of {}".format(*self.phase))
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)
        printer.print_op_attributes(
            self.attributes,
            reserved_attr_names=("name", "steps", "units", "reverse", "phase"),
        )

    @classmethod
    def parse(cls, parser: Parser) -> StageOp:
        name = parser.parse_str_literal("stage name")
        parser.parse_keyword("steps")
        steps = parser.parse_integer(allow_boolean=False, allow_negative=False)
        parser.parse_keyword("units")
        units = parser.parse_integer(allow_boolean=False, allow_negative=False)
        reverse = parser.parse_optional_keyword("reverse") is not None
        phase = (0, 1)
        if parser.parse_optional_keyword("phase") is not None:
            i = parser.parse_integer(allow_boolean=False, allow_negative=False)
            parser.parse_keyword("of")
            n = parser.parse_integer(allow_boolean=False, allow_negative=False)
            if n < 2:
                parser.raise_error("a step splits into at least 2 phases")
            phase = (i, n)
        region = parser.parse_region()
        if not region.blocks:
            region.add_block(Block())
        op = cls(name, steps, units, reverse, region, phase)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


# --------------------------------------------------------------- stage sources


def _print_address(printer: Printer, row: int | None, start: int, size: int) -> None:
    if row is not None:
        printer.print_string(f"[{'t' if row < 0 else row}]")
    printer.print_string(f"[{start} +: {size}]")


def _parse_part(parser: Parser) -> tuple[int, int]:
    """`[start +: size]`."""
    parser.parse_punctuation("[")
    start = parser.parse_integer(allow_boolean=False, allow_negative=False)
    parser.parse_punctuation("+")
    parser.parse_punctuation(":")
    size = parser.parse_integer(allow_boolean=False, allow_negative=False)
    parser.parse_punctuation("]")
    return start, size


def _parse_shift(parser: Parser) -> int:
    if parser.parse_optional_keyword("shl") is None:
        return 0
    return parser.parse_integer(allow_boolean=False, allow_negative=False)


@irdl_op_definition
class FetchOp(IRDLOperation):
    """A vector read from buffer segments, element k from the segment holding it.

    Syntax: `%v = hwplan.fetch %buf[row][col +: n] (shl s)?, ... : tensor<...>`;
    row `t` is the stage's time index (`rows` holds -1), else a fixed row.
    """

    name = "hwplan.fetch"

    buffers = var_operand_def(BufferType)
    rows = prop_def(DenseArrayBase)
    starts = prop_def(DenseArrayBase)
    sizes = prop_def(DenseArrayBase)
    shifts = prop_def(DenseArrayBase)
    result = result_def(TensorType)
    traits = traits_def(HasParent(StageOp))

    def __init__(
        self,
        buffers: Sequence[SSAValue],
        rows: Sequence[int],
        starts: Sequence[int],
        sizes: Sequence[int],
        shifts: Sequence[int],
        result_type: Attribute,
    ):
        super().__init__(
            operands=[list(buffers)],
            properties={
                "rows": _ints(rows),
                "starts": _ints(starts),
                "sizes": _ints(sizes),
                "shifts": _ints(shifts),
            },
            result_types=[result_type],
        )

    def segments(self) -> list[tuple[SSAValue, int, int, int, int]]:
        """(buffer, row (-1 = t), start column, size, shift) per segment."""
        return list(
            zip(
                self.buffers,
                self.rows.get_values(),
                self.starts.get_values(),
                self.sizes.get_values(),
                self.shifts.get_values(),
                strict=True,
            )
        )

    def verify_(self) -> None:
        lists = (self.rows, self.starts, self.sizes, self.shifts)
        if any(len(a.get_values()) != len(self.buffers) for a in lists):
            raise VerifyException("hwplan.fetch: one row, start, size, shift a segment")
        if not self.buffers:
            raise VerifyException("hwplan.fetch: expected at least one segment")
        fmt = fxp.format_of(self.result)
        total = 0
        for buffer, row, start, size, shift in self.segments():
            typ = _buffer_type(buffer)
            where = "t" if row < 0 else row
            if size < 1 or start + size > typ.cols or row >= typ.rows or row < -1:
                raise VerifyException(
                    f"hwplan.fetch: segment [{where}][{start} +: {size}] outside the "
                    f"{typ.rows}x{typ.cols} buffer"
                )
            stage = _stage_of(self)
            if row < 0 and stage is not None and typ.rows != stage.steps:
                raise VerifyException(
                    f"hwplan.fetch: row t of a buffer of {typ.rows} rows in a stage "
                    f"of {stage.steps} steps"
                )
            src = typ.format
            if (
                shift < 0
                or fmt.frac != src.frac + shift
                or fmt.width - fmt.frac < src.width - src.frac
            ):
                raise VerifyException(
                    f"hwplan.fetch: {src} shifted by {shift} is not exactly {fmt}"
                )
            total += size
        if total != _units(self.result):
            raise VerifyException(
                f"hwplan.fetch: segments hold {total} elements, the result "
                f"{_units(self.result)}"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        for i, (buffer, row, start, size, shift) in enumerate(self.segments()):
            if i:
                printer.print_string(", ")
            printer.print_operand(buffer)
            _print_address(printer, row, start, size)
            if shift:
                printer.print_string(f" shl {shift}")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> FetchOp:
        def segment():
            buffer = parser.parse_unresolved_operand()
            parser.parse_punctuation("[")
            if parser.parse_optional_keyword("t") is not None:
                row = -1
            else:
                row = parser.parse_integer(allow_boolean=False, allow_negative=False)
            parser.parse_punctuation("]")
            start, size = _parse_part(parser)
            return buffer, row, start, size, _parse_shift(parser)

        segments = parser.parse_comma_separated_list(
            parser.Delimiter.NONE, segment, "buffer segment"
        )
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        typ = _parse_fixed_tensor(parser)
        buffers = [_resolve_buffer(parser, s[0]) for s in segments]
        op = cls(buffers, *([s[i] for s in segments] for i in range(1, 5)), typ)
        op.attributes.update(attributes)
        return op


def _resolve_buffer(parser: Parser, operand: UnresolvedOperand) -> SSAValue:
    """A buffer operand, typed by its definition (uses do not spell the type):
    buffers are defined at the top of the design, before any use."""
    values = parser.ssa_values.get(operand.operand_name)
    if values is None or operand.index >= len(values):
        parser.raise_error(
            f"hwplan: buffer %{operand.operand_name} used before its definition",
            operand.span.start,
            operand.span.end,
        )
    value = values[operand.index]
    if not isinstance(value.type, BufferType):
        parser.raise_error(
            f"hwplan: %{operand.operand_name} is not a buffer",
            operand.span.start,
            operand.span.end,
        )
    return value


@irdl_op_definition
class StateOp(IRDLOperation):
    """A recurrence state held in a two-row buffer (ping-pong between steps).

    Syntax: `%h = hwplan.state %buf init [raw, ...] : tensor<...>`, or
    `%h = hwplan.state %buf loaded %init : tensor<...>` when the initial state
    is the host's: `%init` (one row) is loaded with each sequence, before its
    input words (the input stream's preamble, in the order of these ops).
    """

    name = "hwplan.state"

    buffer = operand_def(BufferType)
    loaded = opt_operand_def(BufferType)
    init = prop_def(DenseArrayBase)
    result = result_def(TensorType)
    traits = traits_def(HasParent(StageOp))

    def __init__(
        self,
        buffer: SSAValue,
        init: Sequence[int],
        result_type: Attribute,
        loaded: SSAValue | None = None,
    ):
        super().__init__(
            operands=[buffer, [loaded] if loaded is not None else []],
            properties={"init": _ints(init)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        typ = _buffer_type(self.buffer)
        if typ.rows != 2:
            raise VerifyException("hwplan.state: the buffer must have two rows")
        if typ.format != fxp.format_of(self.result):
            raise VerifyException("hwplan.state: result format is not the buffer's")
        init = np.asarray(self.init.get_values(), np.int64)
        if self.loaded is not None:
            source = _buffer_type(self.loaded)
            if init.size or source.rows != 1 or source.cols != typ.cols:
                raise VerifyException(
                    "hwplan.state: a loaded state needs one row of "
                    f"{typ.cols} columns and no init values"
                )
            if source.format != typ.format:
                raise VerifyException("hwplan.state: loaded format is not the buffer's")
        elif init.size != typ.cols or _units(self.result) != typ.cols:
            raise VerifyException(
                f"hwplan.state: {init.size} initial values for {typ.cols} columns"
            )
        _check_in_range(self.name, init, typ.format)
        _check_vector(self, self.result)

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.buffer)
        if self.loaded is not None:
            printer.print_string(" loaded ")
            printer.print_operand(self.loaded)
        else:
            printer.print_string(" init ")
            _print_ints(printer, self.init.get_values())
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> StateOp:
        buffer = parser.parse_unresolved_operand()
        init, loaded = [], None
        if parser.parse_optional_keyword("loaded") is not None:
            loaded = _resolve_buffer(parser, parser.parse_unresolved_operand())
        else:
            parser.parse_keyword("init")
            init = _parse_ints(parser)
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        typ = _parse_fixed_tensor(parser)
        op = cls(_resolve_buffer(parser, buffer), init, typ, loaded)
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class MaskOp(IRDLOperation):
    """The sequence-length mask of a step: t < seq_len (an `rnn.select` condition).

    Syntax: `%m = hwplan.mask : tensor<...xi1>`.
    """

    name = "hwplan.mask"

    result = result_def(TensorType)
    traits = traits_def(HasParent(StageOp))
    assembly_format = "attr-dict `:` type($result)"

    def __init__(self, result_type: Attribute):
        super().__init__(result_types=[result_type])

    def verify_(self) -> None:
        design = self.parent_op().parent_op()
        inputs = [op for op in design.regions[0].block.ops if isinstance(op, InputOp)]
        if inputs and inputs[0].seq_len is None:
            raise VerifyException("hwplan.mask: the input stream has no seq_len")


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A constant vector over the units (one value: the same for every unit).

    Syntax: `%c = hwplan.constant [raw, ...] : tensor<...>`.
    """

    name = "hwplan.constant"

    value = prop_def(DenseArrayBase)
    result = result_def(TensorType)
    traits = traits_def(HasParent(StageOp))

    def __init__(self, raw: Sequence[int], result_type: Attribute):
        super().__init__(properties={"value": _ints(raw)}, result_types=[result_type])

    def raw(self) -> np.ndarray:
        return np.asarray(self.value.get_values(), np.int64)

    def verify_(self) -> None:
        raw = self.raw()
        stage = _stage_of(self)
        if stage is not None and raw.size not in (1, stage.units):
            raise VerifyException(
                f"hwplan.constant: {raw.size} values in a stage of {stage.units} units"
            )
        _check_in_range(self.name, raw, fxp.format_of(self.result))

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        _print_ints(printer, self.value.get_values())
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        raw = _parse_ints(parser)
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        op = cls(raw, _parse_fixed_tensor(parser))
        op.attributes.update(attributes)
        return op


SOURCES = (FetchOp, StateOp, MaskOp, ConstantOp)

# ------------------------------------------------------------------- mat-vecs


@irdl_op_definition
class MatVecOp(IRDLOperation):
    """y[j] = Σ_k lhs[k] · weight[k, j], exact, on the stage's MAC lanes.

    Syntax: `%y = hwplan.matvec %x, dense<...> : tensor<KxNxi64> as
    !fxp.fixed<W, F> : tensor<...> -> tensor<...>` (the weights' raw values and
    format; the result format is `fxp.matmul`'s).
    """

    name = "hwplan.matvec"

    lhs = operand_def(TensorType)
    weight = prop_def(DenseIntOrFPElementsAttr)
    weight_type = prop_def(fxp.FixedType)
    result = result_def(TensorType)
    traits = traits_def(HasParent(StageOp))

    def __init__(
        self,
        lhs: SSAValue,
        weight: DenseIntOrFPElementsAttr,
        weight_format: Format,
        result_type: Attribute,
    ):
        super().__init__(
            operands=[lhs],
            properties={
                "weight": weight,
                "weight_type": fxp.FixedType.of(weight_format),
            },
            result_types=[result_type],
        )

    @property
    def weight_format(self) -> Format:
        return self.weight_type.format

    def weights(self) -> np.ndarray:
        return array_of(self.weight)

    def verify_(self) -> None:
        if not isinstance(self.lhs.owner, FetchOp | StateOp):
            raise VerifyException(
                "hwplan.matvec: the vector must be an hwplan.fetch or hwplan.state"
            )
        shape = tuple(self.weight.get_type().get_shape())
        if self.weight.get_type().element_type != i64 or len(shape) != 2:
            raise VerifyException("hwplan.matvec: weights must be a 2-d i64 tensor")
        if shape[0] != _units(self.lhs):
            raise VerifyException(
                f"hwplan.matvec: {shape[0]} weight rows for a vector of "
                f"{_units(self.lhs)} elements"
            )
        if shape[1] != _units(self.result):
            raise VerifyException(
                f"hwplan.matvec: {shape[1]} weight columns for a result of "
                f"{_units(self.result)} elements"
            )
        expected = fixed.matmul_format(
            fxp.format_of(self.lhs), self.weight_format, shape[0]
        )
        if fxp.format_of(self.result) != expected:
            raise VerifyException(
                f"hwplan.matvec: result format {fxp.format_of(self.result)} is not "
                f"the exact format {expected}"
            )
        _check_in_range(self.name, self.weights(), self.weight_format)
        _check_vector(self, self.result)

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.lhs)
        printer.print_string(", ")
        printer.print_attribute(self.weight)
        printer.print_string(" as ")
        printer.print_attribute(self.weight_type)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.lhs.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> MatVecOp:
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        pos = parser.pos
        weight = parser.parse_attribute()
        if not isinstance(weight, DenseIntOrFPElementsAttr):
            parser.raise_error("expected dense weights", pos, parser.pos)
        parser.parse_keyword("as")
        pos = parser.pos
        weight_type = parser.parse_type()
        if not isinstance(weight_type, fxp.FixedType):
            parser.raise_error("expected an !fxp.fixed weight type", pos, parser.pos)
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        lhs_type = _parse_fixed_tensor(parser)
        parser.parse_punctuation("->")
        result_type = _parse_fixed_tensor(parser)
        op = cls(
            parser.resolve_operand(lhs, lhs_type),
            weight,
            weight_type.format,
            result_type,
        )
        op.attributes.update(attributes)
        return op


# ---------------------------------------------------------------------- sinks


def _check_fits(op: IRDLOperation, value: SSAValue, buffer: SSAValue) -> None:
    if fxp.format_of(value) != _buffer_type(buffer).format:
        raise VerifyException(
            f"{op.name}: value format {fxp.format_of(value)} is not the buffer's "
            f"{_buffer_type(buffer).format}"
        )
    if _units(value) != _buffer_type(buffer).cols:
        raise VerifyException(
            f"{op.name}: {_units(value)} elements into a buffer of "
            f"{_buffer_type(buffer).cols} columns"
        )


@irdl_op_definition
class UpdateOp(IRDLOperation):
    """The state's value for the next step (written to the row not being read).

    Syntax: `hwplan.update %state, %next : tensor<...>`.
    """

    name = "hwplan.update"

    state = operand_def(TensorType)
    next = operand_def(TensorType)
    traits = traits_def(HasParent(StageOp))

    def __init__(self, state: SSAValue, next: SSAValue):
        super().__init__(operands=[state, next])

    def verify_(self) -> None:
        if not isinstance(self.state.owner, StateOp):
            raise VerifyException("hwplan.update: first operand must be a state")
        _check_fits(self, self.next, self.state.owner.buffer)

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.state)
        printer.print_string(", ")
        printer.print_operand(self.next)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.state.type)
        if self.next.type != self.state.type:
            printer.print_string(", ")
            printer.print_attribute(self.next.type)

    @classmethod
    def parse(cls, parser: Parser) -> UpdateOp:
        state = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        nxt = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        state_type = parser.parse_type()
        next_type = state_type
        if parser.parse_optional_punctuation(",") is not None:
            next_type = parser.parse_type()
        op = cls(
            parser.resolve_operand(state, state_type),
            parser.resolve_operand(nxt, next_type),
        )
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class WriteOp(IRDLOperation):
    """Each step's vector into `buffer`, row t; a one-row buffer holds the
    latest step's (a head's result, a value passed between phases of a step).

    Syntax: `hwplan.write %value, %buf : tensor<...>`.
    """

    name = "hwplan.write"

    value = operand_def(TensorType)
    buffer = operand_def(BufferType)
    traits = traits_def(HasParent(StageOp))

    def __init__(self, value: SSAValue, buffer: SSAValue):
        super().__init__(operands=[value, buffer])

    def verify_(self) -> None:
        _check_fits(self, self.value, self.buffer)
        stage = _stage_of(self)
        rows = _buffer_type(self.buffer).rows
        if stage is not None and rows not in (1, stage.steps):
            raise VerifyException(
                f"hwplan.write: a buffer of {_buffer_type(self.buffer).rows} rows "
                f"in a stage of {stage.steps} steps"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.value)
        printer.print_string(", ")
        printer.print_operand(self.buffer)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.value.type)

    @classmethod
    def parse(cls, parser: Parser) -> WriteOp:
        value = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        buffer = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        typ = parser.parse_type()
        op = cls(parser.resolve_operand(value, typ), _resolve_buffer(parser, buffer))
        op.attributes.update(attributes)
        return op


# --------------------------------------------------------------------- outputs


@irdl_op_definition
class OutputOp(IRDLOperation):
    """One function result, streamed word by word from buffer runs.

    Syntax: `hwplan.output "name" %buf[address +: n] (shl s)?, ...
    positions [p, ...] stride S`: element i of sequence b of a batch is the flat
    position positions[i] + b·S of the function's result.
    """

    name = "hwplan.output"

    output_name = attr_def(StringAttr, attr_name="name")
    buffers = var_operand_def(BufferType)
    starts = prop_def(DenseArrayBase)
    lengths = prop_def(DenseArrayBase)
    shifts = prop_def(DenseArrayBase)
    positions = prop_def(DenseArrayBase)
    stride = prop_def(IntegerAttr)
    traits = traits_def(HasParent(DesignOp))

    def __init__(
        self,
        name: str,
        buffers: Sequence[SSAValue],
        starts: Sequence[int],
        lengths: Sequence[int],
        shifts: Sequence[int],
        positions: Sequence[int],
        stride: int,
    ):
        super().__init__(
            operands=[list(buffers)],
            attributes={"name": StringAttr(name)},
            properties={
                "starts": _ints(starts),
                "lengths": _ints(lengths),
                "shifts": _ints(shifts),
                "positions": _ints(positions),
                "stride": IntegerAttr(stride, i64),
            },
        )

    def runs(self) -> list[tuple[SSAValue, int, int, int]]:
        """(buffer, start address, length, shift) per run."""
        return list(
            zip(
                self.buffers,
                self.starts.get_values(),
                self.lengths.get_values(),
                self.shifts.get_values(),
                strict=True,
            )
        )

    def verify_(self) -> None:
        lists = (self.starts, self.lengths, self.shifts)
        if any(len(a.get_values()) != len(self.buffers) for a in lists):
            raise VerifyException("hwplan.output: one start, length, shift a run")
        if not self.buffers:
            raise VerifyException("hwplan.output: expected at least one run")
        total = 0
        for buffer, start, length, shift in self.runs():
            typ = _buffer_type(buffer)
            if length < 1 or start < 0 or start + length > typ.rows * typ.cols:
                raise VerifyException(
                    f"hwplan.output: run [{start} +: {length}] outside the "
                    f"{typ.rows}x{typ.cols} buffer"
                )
            if shift < 0:
                raise VerifyException("hwplan.output: negative shift")
            total += length
        if len(self.positions.get_values()) != total:
            raise VerifyException(
                f"hwplan.output: {len(self.positions.get_values())} positions for "
                f"{total} elements"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.output_name.data)
        printer.print_string(" ")
        for i, (buffer, start, length, shift) in enumerate(self.runs()):
            if i:
                printer.print_string(", ")
            printer.print_operand(buffer)
            _print_address(printer, None, start, length)
            if shift:
                printer.print_string(f" shl {shift}")
        printer.print_string(" positions ")
        _print_ints(printer, self.positions.get_values())
        printer.print_string(f" stride {self.stride.value.data}")
        printer.print_op_attributes(self.attributes, reserved_attr_names=("name",))

    @classmethod
    def parse(cls, parser: Parser) -> OutputOp:
        name = parser.parse_str_literal("output name")

        def run():
            buffer = parser.parse_unresolved_operand()
            start, length = _parse_part(parser)
            return buffer, start, length, _parse_shift(parser)

        runs = parser.parse_comma_separated_list(parser.Delimiter.NONE, run, "run")
        parser.parse_keyword("positions")
        positions = _parse_ints(parser)
        parser.parse_keyword("stride")
        stride = parser.parse_integer(allow_boolean=False, allow_negative=False)
        attributes = parser.parse_optional_attr_dict()
        buffers = [_resolve_buffer(parser, r[0]) for r in runs]
        op = cls(
            name,
            buffers,
            [r[1] for r in runs],
            [r[2] for r in runs],
            [r[3] for r in runs],
            positions,
            stride,
        )
        op.attributes.update(attributes)
        return op


HWPlan = Dialect(
    "hwplan",
    [
        DesignOp,
        BufferOp,
        InputOp,
        StageOp,
        FetchOp,
        StateOp,
        MaskOp,
        ConstantOp,
        MatVecOp,
        UpdateOp,
        WriteOp,
        OutputOp,
    ],
    [BufferType],
)
