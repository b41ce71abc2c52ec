"""The `fxp` dialect: tensors of `!fxp.fixed<W, F>` with exact arithmetic.

Add, sub, mul and matmul results have the exact formats of docs/fixed-point.md
(checked by the verifiers); `fxp.cast` is the only op that loses information.
Activation functions are tables (`fxp.lut`) or piecewise-linear (`fxp.pwl`) with all
constants in fixed point. Shape ops, gather and select of the `rnn` dialect work on
these tensors unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from rnnc.dialects import fixed, shapes
from rnnc.dialects.fixed import Format


@irdl_attr_definition
class FixedType(ParametrizedAttribute, TypeAttribute):
    """Signed two's complement, `width` bits, value = raw · 2^-frac."""

    name = "fxp.fixed"
    width: IntAttr
    frac: IntAttr

    def __init__(self, width: int | IntAttr, frac: int | IntAttr):
        if isinstance(width, int):
            width = IntAttr(width)
        if isinstance(frac, int):
            frac = IntAttr(frac)
        super().__init__(width, frac)

    @staticmethod
    def of(fmt: Format) -> FixedType:
        return FixedType(fmt.width, fmt.frac)

    @property
    def format(self) -> Format:
        return Format(self.width.data, self.frac.data)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            width = parser.parse_integer(allow_boolean=False, allow_negative=False)
            parser.parse_punctuation(",")
            frac = parser.parse_integer(allow_boolean=False, allow_negative=True)
        return (IntAttr(width), IntAttr(frac))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.width.data}, {self.frac.data}>")

    def verify(self) -> None:
        if not 1 <= self.width.data <= fixed.MAX_WIDTH:
            raise VerifyException(
                f"fxp.fixed width must be in [1, {fixed.MAX_WIDTH}], "
                f"got {self.width.data}"
            )


def fixed_tensor(shape: Sequence[int], fmt: Format) -> TensorType:
    return TensorType(FixedType.of(fmt), [int(d) for d in shape])


def format_of(value: SSAValue | Attribute) -> Format:
    typ = value.type if isinstance(value, SSAValue) else value
    if not isinstance(typ, TensorType) or not isinstance(typ.element_type, FixedType):
        raise VerifyException(f"expected a tensor of !fxp.fixed, got {typ}")
    return typ.element_type.format


def is_fixed(value: SSAValue) -> bool:
    typ = value.type
    return isinstance(typ, TensorType) and isinstance(typ.element_type, FixedType)


def _shape(value: SSAValue) -> tuple[int, ...]:
    typ = value.type
    assert isinstance(typ, TensorType)
    return tuple(typ.get_shape())


def _check(op: IRDLOperation, expected_shape, expected_format: Format) -> None:
    got_shape, got = _shape(op.results[0]), format_of(op.results[0])
    if not shapes.compatible(expected_shape, got_shape):
        raise VerifyException(
            f"{op.name}: result shape {shapes.fmt(got_shape)}, expected "
            f"{shapes.fmt(expected_shape)}"
        )
    if got != expected_format:
        raise VerifyException(
            f"{op.name}: result format {got} is not the exact format {expected_format}"
        )


def _check_modes(op, rounding: StringAttr | None, overflow: StringAttr | None):
    if rounding is not None and rounding.data not in fixed.ROUNDING_MODES:
        raise VerifyException(
            f"{op.name}: unknown rounding mode '{rounding.data}', expected one of "
            + ", ".join(fixed.ROUNDING_MODES)
        )
    if overflow is not None and overflow.data not in fixed.OVERFLOW_MODES:
        raise VerifyException(
            f"{op.name}: unknown overflow mode '{overflow.data}', expected one of "
            + ", ".join(fixed.OVERFLOW_MODES)
        )


# ------------------------------------------------------------------- constants


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """Raw integers (i64 dense) of a fixed-point tensor: weights, biases, tables."""

    name = "fxp.constant"
    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$value attr-dict `->` type($result)"

    def __init__(self, raw: DenseIntOrFPElementsAttr, fmt: Format):
        super().__init__(
            properties={"value": raw},
            result_types=[fixed_tensor(raw.get_type().get_shape(), fmt)],
        )

    def verify_(self) -> None:
        fmt = format_of(self.result)
        raw_type = self.value.get_type()
        if raw_type.element_type != i64:
            raise VerifyException("fxp.constant: raw values must be i64")
        if tuple(raw_type.get_shape()) != _shape(self.result):
            raise VerifyException("fxp.constant: value and result shapes differ")
        from rnnc.dialects.arrays import array_of

        raw = array_of(self.value)
        if raw.size and (raw.min() < fmt.min_raw or raw.max() > fmt.max_raw):
            raise VerifyException(
                f"fxp.constant: raw values outside the range of {fmt}"
            )


# ------------------------------------------------------------- float boundary


class _ModesOp(IRDLOperation):
    rounding = prop_def(StringAttr, default_value=StringAttr("half-even"))
    overflow = prop_def(StringAttr, default_value=StringAttr("saturate"))
    irdl_options = (ParsePropInAttrDict(),)

    def verify_(self) -> None:
        _check_modes(self, self.rounding, self.overflow)


@irdl_op_definition
class QuantizeOp(_ModesOp):
    """Float tensor → fixed point (model inputs)."""

    name = "fxp.quantize"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        super().verify_()
        format_of(self.result)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException("fxp.quantize: shapes differ")


@irdl_op_definition
class DequantizeOp(IRDLOperation):
    """Fixed point → float, exact (model outputs)."""

    name = "fxp.dequantize"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        format_of(self.input)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException("fxp.dequantize: shapes differ")


# ------------------------------------------------------------------ arithmetic


class _BinaryOp(IRDLOperation):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    RULE: ClassVar = None

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = shapes.broadcast(_shape(lhs), _shape(rhs))
        fmt = type(self).RULE(format_of(lhs), format_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[fixed_tensor(shape, fmt)])

    def verify_(self) -> None:
        try:
            shape = shapes.broadcast(_shape(self.lhs), _shape(self.rhs))
        except ValueError as err:
            raise VerifyException(f"{self.name}: {err}") from err
        _check(self, shape, type(self).RULE(format_of(self.lhs), format_of(self.rhs)))


@irdl_op_definition
class AddOp(_BinaryOp):
    name = "fxp.add"
    RULE: ClassVar = staticmethod(fixed.add_format)


@irdl_op_definition
class SubOp(_BinaryOp):
    name = "fxp.sub"
    RULE: ClassVar = staticmethod(fixed.add_format)


@irdl_op_definition
class MulOp(_BinaryOp):
    name = "fxp.mul"
    RULE: ClassVar = staticmethod(fixed.mul_format)


@irdl_op_definition
class MatMulOp(IRDLOperation):
    """Exact matrix product: width grows by ceil(log2(K)) over the product width."""

    name = "fxp.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = shapes.matmul(_shape(lhs), _shape(rhs))
        fmt = fixed.matmul_format(format_of(lhs), format_of(rhs), _shape(lhs)[-1])
        super().__init__(operands=[lhs, rhs], result_types=[fixed_tensor(shape, fmt)])

    def verify_(self) -> None:
        try:
            shape = shapes.matmul(_shape(self.lhs), _shape(self.rhs))
        except ValueError as err:
            raise VerifyException(f"fxp.matmul: {err}") from err
        fmt = fixed.matmul_format(
            format_of(self.lhs), format_of(self.rhs), _shape(self.lhs)[-1]
        )
        _check(self, shape, fmt)


@irdl_op_definition
class CastOp(_ModesOp):
    """The only lossy op: re-scale with `rounding`, fit with `overflow`."""

    name = "fxp.cast"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, fmt: Format, rounding: str, overflow: str):
        super().__init__(
            operands=[input],
            result_types=[fixed_tensor(_shape(input), fmt)],
            properties={
                "rounding": StringAttr(rounding),
                "overflow": StringAttr(overflow),
            },
        )

    def verify_(self) -> None:
        super().verify_()
        format_of(self.input)
        format_of(self.result)
        if not shapes.compatible(_shape(self.input), _shape(self.result)):
            raise VerifyException("fxp.cast: shapes differ")


@irdl_op_definition
class ClipOp(IRDLOperation):
    """Clamp to [min, max], raw integers of the (unchanged) format."""

    name = "fxp.clip"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    min = prop_def(IntegerAttr)
    max = prop_def(IntegerAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, input: SSAValue, lo: int, hi: int):
        super().__init__(
            operands=[input],
            result_types=[input.type],
            properties={"min": IntegerAttr(lo, 64), "max": IntegerAttr(hi, 64)},
        )


# ------------------------------------------------------------------ activations

SYMMETRIES = ("none", "odd", "sigmoid")


@irdl_op_definition
class LutOp(IRDLOperation):
    """Table lookup over |x| (see docs/fixed-point.md, activation LUT).

    index = min(|raw| · 2^-shift, N-1); y = table[index], sign-reconstructed by
    `symmetry`: odd → -y for x < 0; sigmoid → 2^F_out - y for x < 0; none → the
    table covers [-R, R) and index = clamp((raw · 2^-shift) + N/2, 0, N-1)."""

    name = "fxp.lut"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    table = prop_def(DenseIntOrFPElementsAttr)
    shift = prop_def(IntegerAttr)
    symmetry = prop_def(StringAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        format_of(self.input)
        out = format_of(self.result)
        if self.symmetry.data not in SYMMETRIES:
            raise VerifyException(f"fxp.lut: unknown symmetry '{self.symmetry.data}'")
        if _shape(self.input) != _shape(self.result):
            raise VerifyException("fxp.lut: shapes differ")
        if self.table.get_type().element_type != i64:
            raise VerifyException("fxp.lut: table must hold i64 raw values")
        from rnnc.dialects.arrays import array_of

        table = array_of(self.table)
        if table.ndim != 1 or table.size == 0:
            raise VerifyException("fxp.lut: table must be a non-empty vector")
        if table.min() < out.min_raw or table.max() > out.max_raw:
            raise VerifyException(f"fxp.lut: table values outside the range of {out}")


@irdl_op_definition
class PwlOp(_ModesOp):
    """Piecewise linear: segment i covers [breakpoints[i-1], breakpoints[i]).

    y = cast(slope_i · x, out, rounding) + intercept_i, then `overflow`. Breakpoints
    are raw in the input format, slopes raw in `slope_frac` fractional bits,
    intercepts raw in the output format."""

    name = "fxp.pwl"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    breakpoints = prop_def(DenseArrayBase)
    slopes = prop_def(DenseArrayBase)
    intercepts = prop_def(DenseArrayBase)
    slope_frac = prop_def(IntegerAttr)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        super().verify_()
        format_of(self.input)
        format_of(self.result)
        n = len(self.slopes.get_values())
        if len(self.intercepts.get_values()) != n:
            raise VerifyException("fxp.pwl: slopes and intercepts differ in number")
        if len(self.breakpoints.get_values()) != n - 1:
            raise VerifyException("fxp.pwl: needs one breakpoint fewer than segments")
        bps = list(self.breakpoints.get_values())
        if bps != sorted(bps):
            raise VerifyException("fxp.pwl: breakpoints must be increasing")


Fxp = Dialect(
    "fxp",
    [
        ConstantOp,
        QuantizeOp,
        DequantizeOp,
        AddOp,
        SubOp,
        MulOp,
        MatMulOp,
        CastOp,
        ClipOp,
        LutOp,
        PwlOp,
    ],
    [FixedType],
)
