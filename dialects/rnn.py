"""The `rnn` dialect: float tensors with ONNX semantics.

Two levels live here. The *cell* ops (`rnn.lstm`, `rnn.gru`, `rnn.rnn`) carry every
ONNX attribute unchanged, so import is lossless. `expand-cells` rewrites them into an
`rnn.recurrence` whose body is one time step of primitive ops, which is what range
analysis, format assignment and lowering inspect. The primitive and shape ops are the
ones exported models put around the cells.

Tensors are builtin `tensor<...>` types; a dynamic dimension (`?`) is allowed wherever
the value does not decide a shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar

from xdsl.dialect_interfaces.constant_materialization import (
    ConstantMaterializationInterface,
)
from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    f64,
    i1,
    i64,
)
from xdsl.dialects.utils.enum_attribute import EnumAttribute
from xdsl.ir import Attribute, Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, HasFolder, HasParent, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from rnnc.dialects import shapes
from rnnc.dialects.arrays import array_of, dense_of, numpy_dtype

DYN = shapes.DYN

# Argument/result attribute of @main: the ONNX name of the tensor it carries.
NAME_ATTR = "onnx.name"


def tensor(shape: Sequence[int], element_type: Attribute = f32) -> TensorType:
    return TensorType(element_type, [int(d) for d in shape])


def shape_of(value: SSAValue) -> tuple[int, ...]:
    typ = value.type
    assert isinstance(typ, TensorType)
    return tuple(typ.get_shape())


def element_type_of(value: SSAValue) -> Attribute:
    typ = value.type
    assert isinstance(typ, TensorType)
    return typ.element_type


def int_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def float_attr(value: float) -> FloatAttr:
    return FloatAttr(float(value), f32)


def _check_shape(op: Operation, expected: Sequence[int], actual: Sequence[int]):
    if not shapes.compatible(expected, actual):
        raise VerifyException(
            f"{op.name}: result shape {shapes.fmt(actual)} does not match the shape "
            f"{shapes.fmt(expected)} implied by the operands"
        )


def _result_type(op: Operation) -> TensorType:
    typ = op.results[0].type
    assert isinstance(typ, TensorType)
    return typ


# ---------------------------------------------------------------------------- folding


class ConstantValue(HasFolder):
    """`rnn.constant` folds to its value, which is how `ConstantLike` operands are
    read by the other ops' folders."""

    @classmethod
    def fold(cls, op: Operation) -> Sequence[Attribute]:
        assert isinstance(op, ConstantOp)
        return (op.value,)


class FoldByEvaluation(HasFolder):
    """An op whose operands are all constants folds to its results under the
    reference semantics of the dialect (`rnn_semantics`)."""

    @classmethod
    def fold(cls, op: Operation) -> Sequence[Attribute] | None:
        values = [ConstantLike.get_constant_value(v) for v in op.operands]
        if not values or not all(
            isinstance(v, DenseIntOrFPElementsAttr) for v in values
        ):
            return None
        # The semantics module is built on this one's op classes.
        from rnnc.dialects.rnn_semantics import evaluate

        results = evaluate(op, [array_of(v) for v in values])  # pyright: ignore
        return [
            dense_of(r.astype(numpy_dtype(element_type_of(res))))
            for r, res in zip(results, op.results, strict=True)
        ]


class RnnConstantMaterialization(ConstantMaterializationInterface):
    """Folded values become `rnn.constant`s of the value's own type."""

    def materialize_constant(self, value: Attribute, type: Attribute) -> Operation:
        assert isinstance(value, DenseIntOrFPElementsAttr)
        return ConstantOp(value)


# --------------------------------------------------------------------------- constant


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A dense tensor constant (weights, biases, shapes, token tables)."""

    name = "rnn.constant"
    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure(), ConstantLike(), ConstantValue())

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.get_type()])

    def verify_(self) -> None:
        if self.value.get_type() != self.result.type:
            raise VerifyException("rnn.constant: result type must equal value type")

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        value = parser.parse_attribute()
        if not isinstance(value, DenseIntOrFPElementsAttr):
            parser.raise_error("rnn.constant expects a dense elements attribute")
        attrs = parser.parse_optional_attr_dict()
        op = cls(value)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.value)
        printer.print_op_attributes(self.attributes)


# --------------------------------------------------------------------- elementwise


class BinaryElementwiseOp(IRDLOperation):
    """numpy/ONNX multidirectional broadcasting between lhs and rhs."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = shapes.broadcast(shape_of(lhs), shape_of(rhs))
        super().__init__(
            operands=[lhs, rhs], result_types=[tensor(shape, element_type_of(lhs))]
        )

    def verify_(self) -> None:
        if element_type_of(self.lhs) != element_type_of(self.rhs):
            raise VerifyException(f"{self.name}: operand element types differ")
        _check_broadcast(self, self.lhs, self.rhs)


def _check_broadcast(op: Operation, lhs: SSAValue, rhs: SSAValue) -> None:
    """The result has the broadcast shape of the two operands."""
    try:
        expected = shapes.broadcast(shape_of(lhs), shape_of(rhs))
    except ValueError as err:
        raise VerifyException(f"{op.name}: {err}") from err
    _check_shape(op, expected, shape_of(op.results[0]))


@irdl_op_definition
class AddOp(BinaryElementwiseOp):
    name = "rnn.add"


@irdl_op_definition
class SubOp(BinaryElementwiseOp):
    name = "rnn.sub"


@irdl_op_definition
class MulOp(BinaryElementwiseOp):
    name = "rnn.mul"


@irdl_op_definition
class DivOp(BinaryElementwiseOp):
    name = "rnn.div"


class UnaryElementwiseOp(IRDLOperation):
    """Result has the operand's type."""

    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, input: SSAValue, properties: dict[str, Attribute] | None = None):
        super().__init__(
            operands=[input], result_types=[input.type], properties=properties
        )


@irdl_op_definition
class SigmoidOp(UnaryElementwiseOp):
    """1 / (1 + exp(-x))."""

    name = "rnn.sigmoid"


@irdl_op_definition
class TanhOp(UnaryElementwiseOp):
    name = "rnn.tanh"


@irdl_op_definition
class ReluOp(UnaryElementwiseOp):
    name = "rnn.relu"


# Activation functions allowed in the ONNX RNN `activations` list, other than the
# three with ops of their own, and their (alpha, beta) defaults. None = unused.
ACTIVATION_DEFAULTS: dict[str, tuple[float | None, float | None]] = {
    "Affine": (1.0, 0.0),
    "LeakyRelu": (0.01, None),
    "ThresholdedRelu": (1.0, None),
    "ScaledTanh": (1.0, 1.0),
    "HardSigmoid": (0.2, 0.5),
    "Elu": (1.0, None),
    "Softsign": (None, None),
    "Softplus": (None, None),
}


@irdl_op_definition
class ActivationOp(UnaryElementwiseOp):
    """A parametrised ONNX activation (`kind` names the ONNX function)."""

    name = "rnn.activation"
    irdl_options = (ParsePropInAttrDict(),)
    kind = prop_def(StringAttr)
    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)
    assembly_format = "$kind $input attr-dict `:` type($input)"

    def __init__(
        self,
        input: SSAValue,
        kind: str,
        alpha: float | None = None,
        beta: float | None = None,
    ):
        props: dict[str, Attribute] = {"kind": StringAttr(kind)}
        if alpha is not None:
            props["alpha"] = float_attr(alpha)
        if beta is not None:
            props["beta"] = float_attr(beta)
        super().__init__(input, props)

    def verify_(self) -> None:
        if self.kind.data not in ACTIVATION_DEFAULTS:
            raise VerifyException(
                f"rnn.activation: unknown kind '{self.kind.data}', expected one of "
                + ", ".join(ACTIVATION_DEFAULTS)
            )


@irdl_op_definition
class LutOp(UnaryElementwiseOp):
    """An activation `kind` tabulated at 2^log2_entries bin centres (dialects/approx).

    Inputs beyond the table's range R = 2^log2_range take the last entry."""

    name = "rnn.lut"
    kind = prop_def(StringAttr)
    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)
    log2_range = prop_def(IntegerAttr[I64])
    log2_entries = prop_def(IntegerAttr[I64])
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$kind $input attr-dict `:` type($input)"

    def __init__(self, input, kind, alpha, beta, log2_range: int, log2_entries: int):
        props: dict[str, Attribute] = {
            "kind": StringAttr(kind),
            "log2_range": IntegerAttr(log2_range, 64),
            "log2_entries": IntegerAttr(log2_entries, 64),
        }
        if alpha is not None:
            props["alpha"] = float_attr(alpha)
        if beta is not None:
            props["beta"] = float_attr(beta)
        super().__init__(input, props)

    def verify_(self) -> None:
        if not 1 <= self.log2_entries.value.data <= 20:
            raise VerifyException("rnn.lut: log2_entries must be in [1, 20]")


@irdl_op_definition
class PwlOp(UnaryElementwiseOp):
    """Piecewise linear: segment i covers [breakpoints[i-1], breakpoints[i])."""

    name = "rnn.pwl"
    breakpoints = prop_def(DenseArrayBase)
    slopes = prop_def(DenseArrayBase)
    intercepts = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input, breakpoints, slopes, intercepts):
        super().__init__(
            input,
            {
                "breakpoints": DenseArrayBase.from_list(f64, list(breakpoints)),
                "slopes": DenseArrayBase.from_list(f64, list(slopes)),
                "intercepts": DenseArrayBase.from_list(f64, list(intercepts)),
            },
        )

    def verify_(self) -> None:
        n = len(self.slopes.get_values())
        bps = list(self.breakpoints.get_values())
        if len(self.intercepts.get_values()) != n or len(bps) != n - 1:
            raise VerifyException(
                "rnn.pwl: needs n slopes, n intercepts and n-1 breakpoints"
            )
        if bps != sorted(bps):
            raise VerifyException("rnn.pwl: breakpoints must be increasing")


@irdl_op_definition
class ClipOp(UnaryElementwiseOp):
    """min(max(x, min), max); a missing bound is unbounded."""

    name = "rnn.clip"
    irdl_options = (ParsePropInAttrDict(),)
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)

    def __init__(self, input: SSAValue, lo: float | None, hi: float | None):
        props: dict[str, Attribute] = {}
        if lo is not None:
            props["min"] = float_attr(lo)
        if hi is not None:
            props["max"] = float_attr(hi)
        super().__init__(input, props)


@irdl_op_definition
class SelectOp(IRDLOperation):
    """where(cond, on_true, on_false) with broadcasting; masks finished sequences."""

    name = "rnn.select"
    cond = operand_def(TensorType)
    on_true = operand_def(TensorType)
    on_false = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = (
        "$cond `,` $on_true `,` $on_false attr-dict `:` "
        "functional-type(operands, results)"
    )

    def __init__(self, cond: SSAValue, on_true: SSAValue, on_false: SSAValue):
        shape = shapes.broadcast(
            shapes.broadcast(shape_of(cond), shape_of(on_true)), shape_of(on_false)
        )
        super().__init__(
            operands=[cond, on_true, on_false],
            result_types=[tensor(shape, element_type_of(on_true))],
        )

    def verify_(self) -> None:
        if element_type_of(self.cond) != i1:
            raise VerifyException("rnn.select: condition must be a tensor of i1")
        try:
            expected = shapes.broadcast(
                shapes.broadcast(shape_of(self.cond), shape_of(self.on_true)),
                shape_of(self.on_false),
            )
        except ValueError as err:
            raise VerifyException(f"rnn.select: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


class CompareOp(IRDLOperation):
    """An ONNX comparison: broadcasting like the arithmetic ops, a tensor of i1.
    Exporters compare token ids (Keras wraps negative ids before an embedding)."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = shapes.broadcast(shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[tensor(shape, i1)])

    def operand_check(self) -> None:
        if element_type_of(self.lhs) != element_type_of(self.rhs):
            raise VerifyException(f"{self.name}: operand element types differ")

    def verify_(self) -> None:
        self.operand_check()
        if element_type_of(self.result) != i1:
            raise VerifyException(f"{self.name}: result must be a tensor of i1")
        _check_broadcast(self, self.lhs, self.rhs)


@irdl_op_definition
class LessOp(CompareOp):
    name = "rnn.less"


@irdl_op_definition
class GreaterOp(CompareOp):
    name = "rnn.greater"


@irdl_op_definition
class EqualOp(CompareOp):
    name = "rnn.equal"


class LogicalOp(CompareOp):
    """ONNX And / Or: both operands tensors of i1."""

    def operand_check(self) -> None:
        if element_type_of(self.lhs) != i1 or element_type_of(self.rhs) != i1:
            raise VerifyException(f"{self.name}: operands must be tensors of i1")


@irdl_op_definition
class AndOp(LogicalOp):
    name = "rnn.and"


@irdl_op_definition
class OrOp(LogicalOp):
    name = "rnn.or"


@irdl_op_definition
class NotOp(UnaryElementwiseOp):
    """ONNX Not, on a tensor of i1."""

    name = "rnn.not"

    def verify_(self) -> None:
        if element_type_of(self.input) != i1:
            raise VerifyException("rnn.not: operand must be a tensor of i1")


@irdl_op_definition
class CastOp(IRDLOperation):
    """Element type conversion (ONNX Cast)."""

    name = "rnn.cast"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        _check_shape(self, shape_of(self.input), shape_of(self.result))


# ------------------------------------------------------------------ linear algebra


@irdl_op_definition
class MatMulOp(IRDLOperation):
    """numpy.matmul semantics (batched, broadcasting leading dims)."""

    name = "rnn.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = shapes.matmul(shape_of(lhs), shape_of(rhs))
        super().__init__(
            operands=[lhs, rhs], result_types=[tensor(shape, element_type_of(lhs))]
        )

    def verify_(self) -> None:
        try:
            expected = shapes.matmul(shape_of(self.lhs), shape_of(self.rhs))
        except ValueError as err:
            raise VerifyException(f"rnn.matmul: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


@irdl_op_definition
class GemmOp(IRDLOperation):
    """ONNX Gemm: alpha * op(A) @ op(B) + beta * C, op = optional transpose."""

    name = "rnn.gemm"
    a = operand_def(TensorType)
    b = operand_def(TensorType)
    c = opt_operand_def(TensorType)
    result = result_def(TensorType)
    trans_a = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))
    trans_b = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))
    alpha = prop_def(FloatAttr, default_value=FloatAttr(1.0, f32))
    beta = prop_def(FloatAttr, default_value=FloatAttr(1.0, f32))
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        a, b = shape_of(self.a), shape_of(self.b)
        if len(a) != 2 or len(b) != 2:
            raise VerifyException("rnn.gemm: A and B must be 2-D")
        if self.trans_a.value.data:
            a = a[::-1]
        if self.trans_b.value.data:
            b = b[::-1]
        try:
            expected = shapes.matmul(a, b)
            if self.c is not None:
                shapes.broadcast(expected, shape_of(self.c))
        except ValueError as err:
            raise VerifyException(f"rnn.gemm: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


class SoftmaxBaseOp(IRDLOperation):
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(-1, 64))
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input)"

    def verify_(self) -> None:
        shapes.normalize_axis(self.axis.value.data, len(shape_of(self.input)), self)


@irdl_op_definition
class SoftmaxOp(SoftmaxBaseOp):
    name = "rnn.softmax"


@irdl_op_definition
class LogSoftmaxOp(SoftmaxBaseOp):
    name = "rnn.log_softmax"


# ----------------------------------------------------------------------- shape ops


@irdl_op_definition
class GatherOp(IRDLOperation):
    """ONNX Gather: embedding lookup (axis 0) or picking a time step."""

    name = "rnn.gather"
    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = (
        "$data `,` $indices attr-dict `:` functional-type(operands, results)"
    )

    def verify_(self) -> None:
        if not isinstance(element_type_of(self.indices), IntegerType):
            raise VerifyException("rnn.gather: indices must be integers")
        data = shape_of(self.data)
        axis = shapes.normalize_axis(self.axis.value.data, len(data), self)
        expected = data[:axis] + shape_of(self.indices) + data[axis + 1 :]
        _check_shape(self, expected, shape_of(self.result))


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """ONNX Reshape with a constant target (`0` copies a dim, `-1` is inferred)."""

    name = "rnn.reshape"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    shape = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        try:
            expected = shapes.reshape(shape_of(self.input), self.shape.get_values())
        except ValueError as err:
            raise VerifyException(f"rnn.reshape: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


@irdl_op_definition
class TransposeOp(IRDLOperation):
    name = "rnn.transpose"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    perm = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        shape = shape_of(input)
        super().__init__(
            operands=[input],
            result_types=[tensor([shape[p] for p in perm], element_type_of(input))],
            properties={"perm": int_array(perm)},
        )

    def verify_(self) -> None:
        shape = shape_of(self.input)
        perm = self.perm.get_values()
        if sorted(perm) != list(range(len(shape))):
            raise VerifyException(
                f"rnn.transpose: perm {list(perm)} is not a permutation of "
                f"{len(shape)} axes"
            )
        _check_shape(self, [shape[p] for p in perm], shape_of(self.result))


class _AxesOp(IRDLOperation):
    """Squeeze / unsqueeze: a constant list of axes and a shape rule."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    axes = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    RULE: ClassVar = None

    def __init__(self, input: SSAValue, axes: Sequence[int]):
        shape = type(self).RULE(shape_of(input), axes)
        super().__init__(
            operands=[input],
            result_types=[tensor(shape, element_type_of(input))],
            properties={"axes": int_array(axes)},
        )

    def verify_(self) -> None:
        try:
            expected = type(self).RULE(shape_of(self.input), self.axes.get_values())
        except ValueError as err:
            raise VerifyException(f"{self.name}: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


@irdl_op_definition
class SqueezeOp(_AxesOp):
    name = "rnn.squeeze"
    RULE: ClassVar = staticmethod(shapes.squeeze)


@irdl_op_definition
class UnsqueezeOp(_AxesOp):
    name = "rnn.unsqueeze"
    RULE: ClassVar = staticmethod(shapes.unsqueeze)


@irdl_op_definition
class ConcatOp(IRDLOperation):
    name = "rnn.concat"
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$inputs attr-dict `:` functional-type($inputs, results)"

    def __init__(self, inputs: Sequence[SSAValue], axis: int):
        shape = shapes.concat([shape_of(v) for v in inputs], axis)
        super().__init__(
            operands=[inputs],
            result_types=[tensor(shape, element_type_of(inputs[0]))],
            properties={"axis": IntegerAttr(axis, 64)},
        )

    def verify_(self) -> None:
        if len({element_type_of(v) for v in self.inputs}) > 1:
            raise VerifyException("rnn.concat: operand element types differ")
        try:
            expected = shapes.concat(
                [shape_of(v) for v in self.inputs], self.axis.value.data
            )
        except ValueError as err:
            raise VerifyException(f"rnn.concat: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


@irdl_op_definition
class SliceOp(IRDLOperation):
    """ONNX Slice with constant starts/ends/axes/steps."""

    name = "rnn.slice"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    starts = prop_def(DenseArrayBase)
    ends = prop_def(DenseArrayBase)
    axes = prop_def(DenseArrayBase)
    steps = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(
        self,
        input: SSAValue,
        starts: Sequence[int],
        ends: Sequence[int],
        axes: Sequence[int],
        steps: Sequence[int] | None = None,
    ):
        steps = [1] * len(axes) if steps is None else steps
        shape = shapes.slice_(shape_of(input), starts, ends, axes, steps)
        super().__init__(
            operands=[input],
            result_types=[tensor(shape, element_type_of(input))],
            properties={
                "starts": int_array(starts),
                "ends": int_array(ends),
                "axes": int_array(axes),
                "steps": int_array(steps),
            },
        )

    def verify_(self) -> None:
        try:
            expected = shapes.slice_(
                shape_of(self.input),
                self.starts.get_values(),
                self.ends.get_values(),
                self.axes.get_values(),
                self.steps.get_values(),
            )
        except ValueError as err:
            raise VerifyException(f"rnn.slice: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


@irdl_op_definition
class ExpandOp(IRDLOperation):
    """ONNX Expand (broadcast to a constant shape)."""

    name = "rnn.expand"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    shape = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def verify_(self) -> None:
        try:
            expected = shapes.broadcast(shape_of(self.input), self.shape.get_values())
        except ValueError as err:
            raise VerifyException(f"rnn.expand: {err}") from err
        _check_shape(self, expected, shape_of(self.result))


@irdl_op_definition
class SequenceMaskOp(IRDLOperation):
    """mask[t, b, 0] = t < seq_lens[b] for the time-major sequence `like`."""

    name = "rnn.sequence_mask"
    seq_lens = operand_def(TensorType)
    like = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = (
        "$seq_lens `,` $like attr-dict `:` functional-type(operands, results)"
    )

    def __init__(self, seq_lens: SSAValue, like: SSAValue):
        steps, batch = shape_of(like)[:2]
        super().__init__(
            operands=[seq_lens, like], result_types=[tensor([steps, batch, 1], i1)]
        )

    def verify_(self) -> None:
        like = shape_of(self.like)
        if len(shape_of(self.seq_lens)) != 1 or len(like) < 2:
            raise VerifyException(
                "rnn.sequence_mask: expects 1-D lengths and a [T, B, ...] sequence"
            )
        _check_shape(self, [like[0], like[1], 1], shape_of(self.result))


@irdl_op_definition
class ReverseSequenceOp(IRDLOperation):
    """ONNX ReverseSequence: per batch entry b, the first seq_lens[b] steps along
    `time_axis` in reverse order, the rest unchanged (`batch_axis` indexes b)."""

    name = "rnn.reverse_sequence"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    seq_lens = operand_def(TensorType)
    result = result_def(T)
    batch_axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(1, 64))
    time_axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure(), FoldByEvaluation())
    assembly_format = (
        "$input `,` $seq_lens attr-dict `:` type($input) `,` type($seq_lens)"
    )

    def verify_(self) -> None:
        axes = {self.batch_axis.value.data, self.time_axis.value.data}
        if axes != {0, 1}:
            raise VerifyException(
                "rnn.reverse_sequence: batch_axis and time_axis must be 0 and 1"
            )
        if not isinstance(element_type_of(self.seq_lens), IntegerType):
            raise VerifyException("rnn.reverse_sequence: seq_lens must be integers")
        batch = shape_of(self.input)[self.batch_axis.value.data]
        if not shapes.compatible([batch], shape_of(self.seq_lens)):
            raise VerifyException(
                "rnn.reverse_sequence: seq_lens must have one length per batch entry"
            )


# ------------------------------------------------------------------- ONNX cells


CELL_OPTIONAL_OPERANDS = ("B", "sequence_lens", "initial_h", "initial_c", "P")
_KEYWORDS = {
    "B": "bias",
    "sequence_lens": "seq_lens",
    "initial_h": "initial_h",
    "initial_c": "initial_c",
    "P": "peepholes",
}


class Direction(StrEnum):
    """ONNX `direction` of a recurrent cell."""

    FORWARD = "forward"
    REVERSE = "reverse"
    BIDIRECTIONAL = "bidirectional"


@irdl_attr_definition
class DirectionAttr(EnumAttribute[Direction]):
    """`#rnn.direction<forward>`; cells print it as `direction = "forward"`, the
    ONNX spelling, in their attribute dictionary."""

    name = "rnn.direction"

    def print_parameter(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(self.data.value)

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> Direction:
        with parser.in_angle_brackets():
            return parser.parse_str_enum(Direction)


DIRECTIONS = {Direction.FORWARD: 1, Direction.REVERSE: 1, Direction.BIDIRECTIONAL: 2}


def direction_attr(name: str) -> DirectionAttr:
    """The attribute of an ONNX direction name; a VerifyException names the bad one."""
    if name not in DIRECTIONS:
        raise VerifyException(
            f"direction must be forward, reverse or bidirectional, got '{name}'"
        )
    return DirectionAttr(Direction(name))


class RecurrentCellOp(IRDLOperation):
    """Common part of ONNX LSTM / GRU / RNN, with the ONNX names and defaults.

    Syntax: `rnn.lstm %X, %W, %R bias %B initial_h %h {hidden_size = 4 : i64}
    : (types of the present operands) -> (Y, Y_h[, Y_c])`.
    """

    # Gates per direction in W/R (ONNX order): overridden per cell.
    GATES: ClassVar[int]
    DEFAULT_ACTIVATIONS: ClassVar[tuple[str, ...]]

    # Operands and results are declared by each cell, in ONNX order (IRDL would put
    # inherited fields after the subclass's own): X, W, R, B?, sequence_lens?,
    # initial_h? and results Y, Y_h.

    hidden_size = prop_def(IntegerAttr[I64])
    direction = prop_def(DirectionAttr, default_value=DirectionAttr(Direction.FORWARD))
    layout = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))
    clip = opt_prop_def(FloatAttr)
    activations = opt_prop_def(ArrayAttr[StringAttr])
    activation_alpha = opt_prop_def(ArrayAttr[FloatAttr])
    activation_beta = opt_prop_def(ArrayAttr[FloatAttr])

    irdl_options = (AttrSizedOperandSegments(as_property=True),)
    traits = traits_def(Pure())

    # ---- accessors with ONNX semantics

    @property
    def num_directions(self) -> int:
        return DIRECTIONS[self.direction.data]

    @property
    def hidden(self) -> int:
        return self.hidden_size.value.data

    @property
    def batch_first(self) -> bool:
        return self.layout.value.data == 1

    def activation_list(self) -> list[tuple[str, float | None, float | None]]:
        """(name, alpha, beta) per activation slot and direction, defaults applied.

        ONNX consumes activation_alpha/beta in order, only by the functions that
        take them (onnxruntime does the same)."""
        names = (
            [a.data for a in self.activations.data]
            if self.activations is not None
            else list(self.DEFAULT_ACTIVATIONS) * self.num_directions
        )
        alphas = [
            a.value.data
            for a in (self.activation_alpha.data if self.activation_alpha else ())
        ]
        betas = [
            b.value.data
            for b in (self.activation_beta.data if self.activation_beta else ())
        ]
        result = []
        for name in names:
            alpha, beta = ACTIVATION_DEFAULTS.get(name, (None, None))
            if alpha is not None and alphas:
                alpha = alphas.pop(0)
            if beta is not None and betas:
                beta = betas.pop(0)
            result.append((name, alpha, beta))
        return result

    def optional_operands(self) -> dict[str, SSAValue]:
        present = {}
        for name in self.optional_operand_names():
            value = getattr(self, name)
            if value is not None:
                present[name] = value
        return present

    @classmethod
    def optional_operand_names(cls) -> list[str]:
        declared = {name for name, _ in cls.get_irdl_definition().operands}
        return [n for n in CELL_OPTIONAL_OPERANDS if n in declared]

    # ---- verification

    def verify_(self) -> None:
        if self.layout.value.data not in (0, 1):
            raise VerifyException(f"{self.name}: layout must be 0 or 1")
        nd, hid, gates = self.num_directions, self.hidden, self.GATES
        x = shape_of(self.X)
        if len(x) != 3:
            raise VerifyException(f"{self.name}: X must be 3-D")
        steps, batch, inp = (x[1], x[0], x[2]) if self.batch_first else x
        expect = {
            "W": (nd, gates * hid, inp),
            "R": (nd, gates * hid, hid),
            "B": (nd, 2 * gates * hid),
            "sequence_lens": (batch,),
            "initial_h": (batch, nd, hid) if self.batch_first else (nd, batch, hid),
            "initial_c": (batch, nd, hid) if self.batch_first else (nd, batch, hid),
            "P": (nd, 3 * hid),
        }
        for name, value in {
            "W": self.W,
            "R": self.R,
            **self.optional_operands(),
        }.items():
            if not shapes.compatible(expect[name], shape_of(value)):
                raise VerifyException(
                    f"{self.name}: {name} has shape {shapes.fmt(shape_of(value))}, "
                    f"expected {shapes.fmt(expect[name])}"
                )
        y = (batch, steps, nd, hid) if self.batch_first else (steps, nd, batch, hid)
        for result in self.results[1:]:
            _check_shape(self, expect["initial_h"], shape_of(result))
        _check_shape(self, y, shape_of(self.Y))
        acts = self.activation_list()
        if len(acts) != len(self.DEFAULT_ACTIVATIONS) * nd:
            raise VerifyException(
                f"{self.name}: expected {len(self.DEFAULT_ACTIVATIONS) * nd} "
                f"activations, got {len(acts)}"
            )
        known = {"Sigmoid", "Tanh", "Relu", *ACTIVATION_DEFAULTS}
        for name, _, _ in acts:
            if name not in known:
                raise VerifyException(f"{self.name}: unknown activation '{name}'")

    # ---- custom syntax

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list([self.X, self.W, self.R], printer.print_operand)
        for name, value in self.optional_operands().items():
            printer.print_string(f" {_KEYWORDS[name]} ")
            printer.print_operand(value)
        props = {
            k: v
            for k, v in self.properties.items()
            if k != "operandSegmentSizes"
            and not (
                (d := self.get_irdl_definition().properties.get(k))
                and d.default_value == v
            )
        }
        if isinstance(direction := props.get("direction"), DirectionAttr):
            props["direction"] = StringAttr(direction.data.value)
        printer.print_op_attributes({**props, **self.attributes})
        printer.print_string(" : ")
        printer.print_function_type(
            [o.type for o in self.operands], [r.type for r in self.results]
        )

    @classmethod
    def parse(cls, parser: Parser) -> RecurrentCellOp:
        required = parser.parse_comma_separated_list(
            parser.Delimiter.NONE, parser.parse_unresolved_operand
        )
        if len(required) != 3:
            parser.raise_error(f"{cls.name} expects X, W, R before optional operands")
        allowed = cls.optional_operand_names()
        by_keyword = {_KEYWORDS[n]: n for n in allowed}
        optional: dict[str, object] = {}
        while (kw := parser.parse_optional_keyword_in(list(by_keyword))) is not None:
            optional[by_keyword[kw]] = parser.parse_unresolved_operand()
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        fn = parser.parse_function_type()
        unresolved = required + [optional[n] for n in allowed if n in optional]
        if len(fn.inputs.data) != len(unresolved):
            parser.raise_error(
                f"{cls.name}: {len(unresolved)} operands but "
                f"{len(fn.inputs.data)} operand types"
            )
        values = [
            parser.resolve_operand(u, t)
            for u, t in zip(unresolved, fn.inputs.data, strict=True)
        ]
        operands: list[SSAValue | list[SSAValue]] = values[:3]
        rest = dict(zip([n for n in allowed if n in optional], values[3:], strict=True))
        operands += [[rest[n]] if n in rest else [] for n in allowed]
        prop_names = cls.get_irdl_definition().properties
        props = {k: v for k, v in attrs.items() if k in prop_names}
        others = {k: v for k, v in attrs.items() if k not in prop_names}
        if isinstance(direction := props.get("direction"), StringAttr):
            try:
                props["direction"] = direction_attr(direction.data)
            except VerifyException as err:
                parser.raise_error(f"{cls.name}: {err}")
        return cls.build(
            operands=operands,
            result_types=list(fn.outputs.data),
            properties=props,
            attributes=others,
        )


@irdl_op_definition
class LSTMOp(RecurrentCellOp):
    """ONNX LSTM; gate order i, o, f, c; peepholes P = [Pi, Po, Pf]."""

    name = "rnn.lstm"
    GATES: ClassVar[int] = 4
    DEFAULT_ACTIVATIONS: ClassVar[tuple[str, ...]] = ("Sigmoid", "Tanh", "Tanh")
    X = operand_def(TensorType)
    W = operand_def(TensorType)
    R = operand_def(TensorType)
    B = opt_operand_def(TensorType)
    sequence_lens = opt_operand_def(TensorType)
    initial_h = opt_operand_def(TensorType)
    initial_c = opt_operand_def(TensorType)
    P = opt_operand_def(TensorType)
    Y = result_def(TensorType)
    Y_h = result_def(TensorType)
    Y_c = result_def(TensorType)
    input_forget = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))


@irdl_op_definition
class GRUOp(RecurrentCellOp):
    """ONNX GRU; gate order z, r, h."""

    name = "rnn.gru"
    GATES: ClassVar[int] = 3
    DEFAULT_ACTIVATIONS: ClassVar[tuple[str, ...]] = ("Sigmoid", "Tanh")
    X = operand_def(TensorType)
    W = operand_def(TensorType)
    R = operand_def(TensorType)
    B = opt_operand_def(TensorType)
    sequence_lens = opt_operand_def(TensorType)
    initial_h = opt_operand_def(TensorType)
    Y = result_def(TensorType)
    Y_h = result_def(TensorType)
    linear_before_reset = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))


@irdl_op_definition
class RNNOp(RecurrentCellOp):
    """ONNX RNN (Elman): H = f(X W^T + H R^T + Wb + Rb)."""

    name = "rnn.rnn"
    GATES: ClassVar[int] = 1
    DEFAULT_ACTIVATIONS: ClassVar[tuple[str, ...]] = ("Tanh",)
    X = operand_def(TensorType)
    W = operand_def(TensorType)
    R = operand_def(TensorType)
    B = opt_operand_def(TensorType)
    sequence_lens = opt_operand_def(TensorType)
    initial_h = opt_operand_def(TensorType)
    Y = result_def(TensorType)
    Y_h = result_def(TensorType)


# ------------------------------------------------------------------ recurrence


@irdl_op_definition
class RecurrenceOp(IRDLOperation):
    """A loop over the leading (time) axis of `seqs`, one body run per step.

    Body block arguments: one step slice of each sequence, then the current states.
    The body yields the next states, then one per-step output each. Results: the
    final states, then each per-step output stacked along a new leading time axis.
    `reverse` walks time from the last step to the first (outputs stay in time
    order). Weights are used from the enclosing scope.
    """

    name = "rnn.recurrence"
    seqs = var_operand_def(TensorType)
    inits = var_operand_def(TensorType)
    outs = var_result_def(TensorType)
    reverse = opt_prop_def(UnitAttr)
    body = region_def("single_block")
    irdl_options = (AttrSizedOperandSegments(as_property=True),)
    assembly_format = (
        "(`reverse` $reverse^)? `seqs` `(` $seqs `:` type($seqs) `)` "
        "`inits` `(` $inits `:` type($inits) `)` attr-dict `->` type($outs) $body"
    )

    def __init__(
        self,
        seqs: Sequence[SSAValue],
        inits: Sequence[SSAValue],
        output_types: Sequence[Attribute],
        body: Region,
        reverse: bool = False,
    ):
        super().__init__(
            operands=[seqs, inits],
            result_types=[[v.type for v in inits] + list(output_types)],
            regions=[body],
            properties={"reverse": UnitAttr()} if reverse else {},
        )

    @property
    def is_reverse(self) -> bool:
        return self.reverse is not None

    @property
    def final_states(self) -> Sequence[SSAValue]:
        return self.outs[: len(self.inits)]

    @property
    def step_outputs(self) -> Sequence[SSAValue]:
        return self.outs[len(self.inits) :]

    def verify_(self) -> None:
        block = self.body.block
        n_seq, n_state = len(self.seqs), len(self.inits)
        if not n_seq:
            raise VerifyException("rnn.recurrence: needs at least one sequence")
        steps = {shape_of(s)[0] for s in self.seqs} - {DYN}
        if len(steps) > 1:
            raise VerifyException("rnn.recurrence: sequences differ in length")
        want = [tensor(shape_of(s)[1:], element_type_of(s)) for s in self.seqs]
        want += [s.type for s in self.inits]
        got = [a.type for a in block.args]
        if got != want:
            raise VerifyException(
                "rnn.recurrence: body arguments must be one step of each sequence "
                "followed by the states"
            )
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise VerifyException("rnn.recurrence: body must end with rnn.yield")
        yielded = [v.type for v in term.values]
        if yielded[:n_state] != [s.type for s in self.inits]:
            raise VerifyException(
                "rnn.recurrence: yielded states must have the types of the inits"
            )
        if [r.type for r in self.final_states] != [s.type for s in self.inits]:
            raise VerifyException("rnn.recurrence: final state types must match inits")
        step_count = shape_of(self.seqs[0])[0]
        for out, typ in zip(self.step_outputs, yielded[n_state:], strict=False):
            stacked = tensor((step_count, *typ.get_shape()), typ.element_type)
            if not shapes.compatible(stacked.get_shape(), shape_of(out)) or (
                element_type_of(out) != typ.element_type
            ):
                raise VerifyException(
                    "rnn.recurrence: each output must stack one yielded step value"
                )
        if len(self.step_outputs) != len(yielded) - n_state:
            raise VerifyException(
                "rnn.recurrence: result count must be states plus yielded outputs"
            )


@irdl_op_definition
class YieldOp(IRDLOperation):
    name = "rnn.yield"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(RecurrenceOp))
    assembly_format = "$values attr-dict `:` type($values)"

    def __init__(self, values: Sequence[SSAValue]):
        super().__init__(operands=[values])


# Op categories shared by passes and backends.
# Ops that re-arrange their one data operand (values and formats unchanged):
LAYOUT_OPS = (
    ReshapeOp,
    TransposeOp,
    SqueezeOp,
    UnsqueezeOp,
    SliceOp,
    ExpandOp,
    ReverseSequenceOp,
)
ACTIVATION_OPS = (SigmoidOp, TanhOp, ReluOp, ActivationOp, LutOp, PwlOp)
# Ops computing masks (tensors of i1) from indices or masks:
PREDICATE_OPS = (LessOp, GreaterOp, EqualOp, AndOp, OrOp, NotOp)
ELEMENTWISE_OPS = (AddOp, SubOp, MulOp, DivOp, ClipOp, SelectOp, *ACTIVATION_OPS)

RNN = Dialect(
    "rnn",
    [
        ConstantOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        SigmoidOp,
        TanhOp,
        ReluOp,
        ActivationOp,
        LutOp,
        PwlOp,
        ClipOp,
        SelectOp,
        LessOp,
        GreaterOp,
        EqualOp,
        AndOp,
        OrOp,
        NotOp,
        CastOp,
        MatMulOp,
        GemmOp,
        SoftmaxOp,
        LogSoftmaxOp,
        GatherOp,
        ReshapeOp,
        TransposeOp,
        SqueezeOp,
        UnsqueezeOp,
        ConcatOp,
        SliceOp,
        ExpandOp,
        SequenceMaskOp,
        ReverseSequenceOp,
        LSTMOp,
        GRUOp,
        RNNOp,
        RecurrenceOp,
        YieldOp,
    ],
    [DirectionAttr],
    [RnnConstantMaterialization()],
)
