"""The `fxp` dialect: tensors of `!fxp.fixed<W, F>` with exact arithmetic.

Add, sub, mul and matmul results have the exact formats of docs/fixed-point.md
(checked by the verifiers); `fxp.cast` is the only op that loses information.
Activation functions are tables (`fxp.lut`) or piecewise-linear (`fxp.pwl`) with all
constants in fixed point. Shape ops, gather and select of the `rnn` dialect work on
these tensors unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Dialect,
    ParametrizedAttribute,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
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
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from rnnc.dialects import fixed, shapes
from rnnc.dialects.arrays import array_of, dense_of, numpy_dtype
from rnnc.dialects.fixed import Format, Overflow, Rounding, Symmetry


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


# --------------------------------------------------------------------- modes


@irdl_attr_definition
class RoundingAttr(EnumAttribute[Rounding], SpacedOpaqueSyntaxAttribute):
    """A cast's rounding mode (`fixed.Rounding`)."""

    name = "fxp.rounding"


@irdl_attr_definition
class OverflowAttr(EnumAttribute[Overflow], SpacedOpaqueSyntaxAttribute):
    """A cast's overflow mode (`fixed.Overflow`)."""

    name = "fxp.overflow"


@irdl_attr_definition
class SymmetryAttr(EnumAttribute[Symmetry], SpacedOpaqueSyntaxAttribute):
    """How a table covers its input (`fixed.Symmetry`)."""

    name = "fxp.symmetry"


MODE_ATTRS: dict[str, type[EnumAttribute]] = {
    "rounding": RoundingAttr,
    "overflow": OverflowAttr,
    "symmetry": SymmetryAttr,
}
"""Mode properties by name: in the custom syntax they read and print as strings."""

_MODE_WHAT = {"rounding": "rounding mode", "overflow": "overflow mode"}


def mode_attr(name: str, value: str) -> EnumAttribute:
    """The enum attribute of mode property `name` (ValueError if unknown)."""
    attr = MODE_ATTRS[name]
    return attr(attr.enum_type(value))


def _unknown_mode(op_name: str, name: str, value: str) -> str:
    attr = MODE_ATTRS[name]
    if name == "symmetry":
        return f"{op_name}: unknown symmetry '{value}'"
    return (
        f"{op_name}: unknown {_MODE_WHAT[name]} '{value}', expected one of "
        + ", ".join(m.value for m in attr.enum_type)
    )


# --------------------------------------------------------- reference semantics


class FxpSemantics(ABC):
    """An fxp op's meaning on raw integer arrays, written with the rules of
    `rnnc.dialects.fixed`: the one definition the interpreter's kernels and the
    fxp → hw conversion are tested against (tests/test_fxp_semantics.py)."""

    @abstractmethod
    def reference(self, args: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """The results (raw values in `fixed.raw_array` form; floats for
        dequantize) and the number of values pushed out of range."""


def reference(op, args: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """`op.reference(args)`: results and overflow events of one fxp op."""
    if not isinstance(op, FxpSemantics):
        raise ValueError(f"{op.name} is not an fxp op")
    return op.reference(args)


def evaluate(op, args: list[np.ndarray]) -> list[np.ndarray]:
    """One fxp op on operand arrays by its reference semantics: raw integers in and
    out as int64 (Python-int object arrays above 64 bits); quantize takes floats,
    dequantize returns floats."""
    results, _ = reference(op, args)
    out = []
    for value, array in zip(op.results, results, strict=True):
        if is_fixed(value):
            width = format_of(value).width
            array = np.asarray(array)
            if width <= fixed.INT64_WIDTH:
                array = array.astype(np.int64)
            elif array.dtype != object:
                array = fixed.raw_array(array, width)
        out.append(array)
    return out


# ------------------------------------------------------------------- constants


STORAGE_WIDTHS = (8, 16, 32, 64)


def storage_type(width: int) -> IntegerType:
    """The narrowest of i8, i16, i32, i64 that holds raw values of `width` bits:
    how constants are stored (an 8-bit weight takes 2 hex digits, not 16)."""
    for bits in STORAGE_WIDTHS:
        if width <= bits:
            return IntegerType(bits)
    raise VerifyException(f"fxp.constant: {width}-bit raw values do not fit i64")


@irdl_op_definition
class ConstantOp(IRDLOperation, FxpSemantics):
    """Raw integers of a fixed-point tensor (weights, biases, states), stored in
    the narrowest integer type that holds the format (`storage_type`)."""

    name = "fxp.constant"
    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$value attr-dict `->` type($result)"

    def __init__(self, raw: DenseIntOrFPElementsAttr, fmt: Format):
        dtype = numpy_dtype(storage_type(fmt.width))
        super().__init__(
            properties={"value": dense_of(array_of(raw).astype(dtype))},
            result_types=[fixed_tensor(raw.get_type().get_shape(), fmt)],
        )

    def verify_(self) -> None:
        fmt = format_of(self.result)
        raw_type = self.value.get_type()
        element = raw_type.element_type
        if (
            not isinstance(element, IntegerType)
            or element.width.data not in STORAGE_WIDTHS
            or element.width.data < fmt.width
        ):
            raise VerifyException(
                f"fxp.constant: raw values of {fmt} must be stored as i8, i16, i32 or "
                f"i64 of at least {fmt.width} bits, got {element}"
            )
        if tuple(raw_type.get_shape()) != _shape(self.result):
            raise VerifyException("fxp.constant: value and result shapes differ")
        raw = array_of(self.value)
        if raw.size and (raw.min() < fmt.min_raw or raw.max() > fmt.max_raw):
            raise VerifyException(
                f"fxp.constant: raw values outside the range of {fmt}"
            )

    def reference(self, args):
        return [fixed.raw_array(array_of(self.value), format_of(self.result).width)], 0


# ------------------------------------------------------------- unary syntax


class _UnaryOp(IRDLOperation):
    """`op %x {props} : T -> U`. Properties sit in the attribute dictionary (as
    MLIR allows), modes as strings (`rounding = "floor"`), defaults left out."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())

    @classmethod
    def parse(cls, parser: Parser) -> Self:
        operand = parser.parse_unresolved_operand()
        start = parser.pos
        attrs = parser.parse_optional_attr_dict()
        end = parser.pos
        parser.parse_punctuation(":")
        src = parser.parse_type()
        parser.parse_punctuation("->")
        dst = parser.parse_type()
        props = {}
        for name in cls.get_irdl_definition().properties:
            if name not in attrs:
                continue
            value = attrs.pop(name)
            if name in MODE_ATTRS and isinstance(value, StringAttr):
                try:
                    value = mode_attr(name, value.data)
                except ValueError:
                    message = _unknown_mode(cls.name, name, value.data)
                    parser.raise_error(message, start, end)
            props[name] = value
        return cls.build(
            operands=[parser.resolve_operand(operand, src)],
            result_types=[dst],
            properties=props,
            attributes=attrs,
        )

    def print(self, printer: Printer) -> None:
        defs = self.get_irdl_definition().properties
        shown: dict[str, Attribute] = dict(self.attributes)
        for name, value in self.properties.items():
            if value == defs[name].default_value:
                continue
            if isinstance(value, EnumAttribute):
                value = StringAttr(str(value.data))
            shown[name] = value
        printer.print_string(" ")
        printer.print_operand(self.input)
        printer.print_op_attributes(shown)
        printer.print_string(" : ")
        printer.print_attribute(self.input.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)


class _ModesOp(_UnaryOp):
    rounding = prop_def(RoundingAttr, default_value=RoundingAttr(Rounding.HALF_EVEN))
    overflow = prop_def(OverflowAttr, default_value=OverflowAttr(Overflow.SATURATE))

    @staticmethod
    def modes(rounding: str, overflow: str) -> dict[str, Attribute]:
        return {
            "rounding": mode_attr("rounding", rounding),
            "overflow": mode_attr("overflow", overflow),
        }


# ------------------------------------------------------------- float boundary


@irdl_op_definition
class QuantizeOp(_ModesOp, FxpSemantics):
    """Float tensor → fixed point (model inputs)."""

    name = "fxp.quantize"

    def verify_(self) -> None:
        format_of(self.result)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException("fxp.quantize: shapes differ")

    def reference(self, args):
        raw, bad = fixed.quantize(
            args[0], format_of(self.result), self.rounding.data, self.overflow.data
        )
        return [raw], bad


@irdl_op_definition
class DequantizeOp(_UnaryOp, FxpSemantics):
    """Fixed point → float, exact (model outputs)."""

    name = "fxp.dequantize"

    def verify_(self) -> None:
        format_of(self.input)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException("fxp.dequantize: shapes differ")

    def reference(self, args):
        dtype = numpy_dtype(self.result.type.element_type)
        return [format_of(self.input).to_float(args[0]).astype(dtype)], 0


# ------------------------------------------------------------------ arithmetic


class _BinaryOp(IRDLOperation, FxpSemantics):
    """An exact op of two tensors: its result shape and format follow from the
    operands' (`result_type`), checked by the verifier."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    RULE: ClassVar = None  # (lhs format, rhs format) -> result format

    @classmethod
    def result_type(cls, lhs: SSAValue, rhs: SSAValue) -> tuple[tuple, Format]:
        """Raises ValueError when the shapes do not combine."""
        shape = shapes.broadcast(_shape(lhs), _shape(rhs))
        return shape, cls.RULE(format_of(lhs), format_of(rhs))

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape, fmt = self.result_type(lhs, rhs)
        super().__init__(operands=[lhs, rhs], result_types=[fixed_tensor(shape, fmt)])

    def verify_(self) -> None:
        try:
            shape, fmt = self.result_type(self.lhs, self.rhs)
        except ValueError as err:
            raise VerifyException(f"{self.name}: {err}") from err
        _check(self, shape, fmt)

    def formats(self) -> tuple[Format, Format]:
        return format_of(self.lhs), format_of(self.rhs)


@irdl_op_definition
class AddOp(_BinaryOp):
    name = "fxp.add"
    RULE: ClassVar = staticmethod(fixed.add_format)

    def reference(self, args):
        fa, fb = self.formats()
        return [fixed.add(args[0], fa, args[1], fb)[0]], 0


@irdl_op_definition
class SubOp(_BinaryOp):
    name = "fxp.sub"
    RULE: ClassVar = staticmethod(fixed.add_format)

    def reference(self, args):
        fa, fb = self.formats()
        return [fixed.add(args[0], fa, args[1], fb, subtract=True)[0]], 0


@irdl_op_definition
class MulOp(_BinaryOp):
    name = "fxp.mul"
    RULE: ClassVar = staticmethod(fixed.mul_format)

    def reference(self, args):
        fa, fb = self.formats()
        return [fixed.mul(args[0], fa, args[1], fb)[0]], 0


@irdl_op_definition
class MatMulOp(_BinaryOp):
    """Exact matrix product: width grows by ceil(log2(K)) over the product width."""

    name = "fxp.matmul"

    @classmethod
    def result_type(cls, lhs: SSAValue, rhs: SSAValue) -> tuple[tuple, Format]:
        shape = shapes.matmul(_shape(lhs), _shape(rhs))
        terms = _shape(lhs)[-1]
        return shape, fixed.matmul_format(format_of(lhs), format_of(rhs), terms)

    def reference(self, args):
        a, b = np.asarray(args[0]), np.asarray(args[1])
        fa, fb = self.formats()
        return [fixed.matmul(a, fa, b, fb)[0]], 0


@irdl_op_definition
class CastOp(_ModesOp, FxpSemantics):
    """The only lossy op: re-scale with `rounding`, fit with `overflow`."""

    name = "fxp.cast"

    def __init__(self, input: SSAValue, fmt: Format, rounding: str, overflow: str):
        super().__init__(
            operands=[input],
            result_types=[fixed_tensor(_shape(input), fmt)],
            properties=self.modes(rounding, overflow),
        )

    def verify_(self) -> None:
        format_of(self.input)
        format_of(self.result)
        if not shapes.compatible(_shape(self.input), _shape(self.result)):
            raise VerifyException("fxp.cast: shapes differ")

    def reference(self, args):
        raw, bad = fixed.cast(
            args[0],
            format_of(self.input),
            format_of(self.result),
            self.rounding.data,
            self.overflow.data,
        )
        return [raw], bad


@irdl_op_definition
class ClipOp(IRDLOperation, FxpSemantics):
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

    def reference(self, args):
        return [np.clip(args[0], self.min.value.data, self.max.value.data)], 0


# ------------------------------------------------------------------ activations


@irdl_op_definition
class LutOp(_UnaryOp, FxpSemantics):
    """Table lookup over |x| (see docs/fixed-point.md, activation LUT).

    index = min(|raw| · 2^-shift, N-1); y = table[index], sign-reconstructed by
    `symmetry`: odd → -y for x < 0; sigmoid → 2^F_out - y for x < 0; none → the
    table covers [-R, R) and index = clamp((raw · 2^-shift) + N/2, 0, N-1)."""

    name = "fxp.lut"
    table = prop_def(DenseIntOrFPElementsAttr)
    shift = prop_def(IntegerAttr)
    symmetry = prop_def(SymmetryAttr)

    def verify_(self) -> None:
        format_of(self.input)
        out = format_of(self.result)
        if _shape(self.input) != _shape(self.result):
            raise VerifyException("fxp.lut: shapes differ")
        if self.table.get_type().element_type != i64:
            raise VerifyException("fxp.lut: table must hold i64 raw values")
        table = array_of(self.table)
        if table.ndim != 1 or table.size == 0:
            raise VerifyException("fxp.lut: table must be a non-empty vector")
        if table.min() < out.min_raw or table.max() > out.max_raw:
            raise VerifyException(f"fxp.lut: table values outside the range of {out}")

    def reference(self, args):
        raw = fixed.lut(
            args[0],
            array_of(self.table),
            self.shift.value.data,
            self.symmetry.data,
            format_of(self.result),
        )
        return [raw], 0


@irdl_op_definition
class PwlOp(_ModesOp, FxpSemantics):
    """Piecewise linear: segment i covers [breakpoints[i-1], breakpoints[i]).

    y = cast(slope_i · x, out, rounding) + intercept_i, then `overflow`. Breakpoints
    are raw in the input format, slopes raw in `slope_frac` fractional bits,
    intercepts raw in the output format."""

    name = "fxp.pwl"
    breakpoints = prop_def(DenseArrayBase)
    slopes = prop_def(DenseArrayBase)
    intercepts = prop_def(DenseArrayBase)
    slope_frac = prop_def(IntegerAttr)

    def verify_(self) -> None:
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

    def reference(self, args):
        raw, bad = fixed.pwl(
            args[0],
            format_of(self.input),
            np.array(self.breakpoints.get_values(), np.int64),
            np.array(self.slopes.get_values(), np.int64),
            self.slope_frac.value.data,
            np.array(self.intercepts.get_values(), np.int64),
            format_of(self.result),
            self.rounding.data,
            self.overflow.data,
        )
        return [raw], bad


# ------------------------------------------------------------------ reductions


class _ReduceOp(_UnaryOp, FxpSemantics):
    """A reduction over the last axis, kept as an axis of 1 (softmax heads and
    the argmax output: docs/fixed-point.md, reductions). Exact: no rounding."""

    @classmethod
    def result_format(cls, fmt: Format, terms: int) -> Format:
        return fmt

    @classmethod
    def of(cls, input: SSAValue) -> Self:
        shape = _shape(input)
        fmt = cls.result_format(format_of(input), shape[-1])
        return cls.build(
            operands=[input], result_types=[fixed_tensor((*shape[:-1], 1), fmt)]
        )

    def verify_(self) -> None:
        shape = _shape(self.input)
        if not shape:
            raise VerifyException(f"{self.name}: needs an operand of rank >= 1")
        fmt = self.result_format(format_of(self.input), shape[-1])
        _check(self, (*shape[:-1], 1), fmt)


@irdl_op_definition
class ReduceMaxOp(_ReduceOp):
    """The largest element of the last axis (same format)."""

    name = "fxp.reduce_max"

    def reference(self, args):
        return [np.max(np.asarray(args[0]), axis=-1, keepdims=True)], 0


@irdl_op_definition
class ReduceSumOp(_ReduceOp):
    """The exact sum of the last axis: N terms grow by `fixed.growth_bits(N)`."""

    name = "fxp.reduce_sum"

    @classmethod
    def result_format(cls, fmt: Format, terms: int) -> Format:
        return Format(fmt.width + fixed.growth_bits(terms), fmt.frac)

    def reference(self, args):
        return [np.sum(np.asarray(args[0]), axis=-1, keepdims=True)], 0


@irdl_op_definition
class ArgMaxOp(_ReduceOp):
    """The index of the largest element of the last axis, the first on ties, as
    an integer `fixed<bits(N-1) + 1, 0>`."""

    name = "fxp.argmax"

    @classmethod
    def result_format(cls, fmt: Format, terms: int) -> Format:
        return index_format(terms)

    def reference(self, args):
        return [np.argmax(np.asarray(args[0]), axis=-1, keepdims=True)], 0


def index_format(terms: int) -> Format:
    """The integer format of an index in [0, terms)."""
    return Format(max(terms - 1, 0).bit_length() + 1, 0)


REDUCTIONS = (ReduceMaxOp, ReduceSumOp, ArgMaxOp)
"""Ops over the last axis (the unit index in hardware)."""


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
        ReduceMaxOp,
        ReduceSumOp,
        ArgMaxOp,
    ],
    [FixedType, RoundingAttr, OverflowAttr, SymmetryAttr],
)
