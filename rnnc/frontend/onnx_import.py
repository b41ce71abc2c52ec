"""ONNX graph → `rnn` dialect module (one `func.func @main`).

Graph inputs become function arguments and outputs the returned values, both tagged
with their ONNX names (`{onnx.name = "..."}`) so `rnnc run` can key arrays by name.
Initializers become `rnn.constant`s where they are used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper
from xdsl.builder import Builder
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import VerifyException

from rnnc.backends.interpreter.signature import DIMS_ATTR
from rnnc.dialects import rnn, shapes
from rnnc.dialects.arrays import array_of, dense_of, element_type
from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_loader import graph_inputs, opset_of, prepare
from rnnc.frontend.raising import raise_recurrences
from rnnc.passes.raise_step_form import reverse_slice

NAME_ATTR = rnn.NAME_ATTR


def _tensor_type(info: onnx.TypeProto, what: str) -> TensorType:
    t = info.tensor_type
    try:
        elem = element_type(helper.tensor_dtype_to_np_dtype(t.elem_type))
    except (ValueError, KeyError):
        raise RnncError(
            f"{what} has unsupported element type "
            f"{onnx.TensorProto.DataType.Name(t.elem_type)}"
        ) from None
    if not t.HasField("shape"):
        raise RnncError(f"{what} has no known rank; export with static shapes")
    dims = [d.dim_value if d.HasField("dim_value") else shapes.DYN for d in t.shape.dim]
    return TensorType(elem, dims)


def _ssa_name(onnx_name: str) -> str | None:
    name = re.sub(r"[^A-Za-z0-9_$.]", "_", onnx_name)
    if not name:
        return None
    return name if re.match(r"[A-Za-z_]", name) else f"v{name}"


class GraphImporter:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.opset = opset_of(model)
        graph = model.graph
        self.initializers = {i.name: i for i in graph.initializer}
        self.types: dict[str, onnx.TypeProto] = {
            v.name: v.type for v in [*graph.value_info, *graph.input, *graph.output]
        }
        self.values: dict[str, SSAValue] = {}
        self.builder: Builder | None = None
        self.node: onnx.NodeProto | None = None

    # ------------------------------------------------------------------ driving

    def run(self) -> ModuleOp:
        graph = self.model.graph
        inputs = graph_inputs(self.model)
        arg_types = [_tensor_type(i.type, f"input '{i.name}'") for i in inputs]
        block = Block(arg_types=arg_types)
        for arg, info in zip(block.args, inputs, strict=True):
            arg.name_hint = _ssa_name(info.name)
            self.values[info.name] = arg
        self.builder = Builder(InsertPoint.at_end(block))
        for node in graph.node:
            self.node = node
            self.convert(node)
        self.node = None
        results = [self.value(o.name) for o in graph.output]
        self.builder.insert(func.ReturnOp(*results))
        names = lambda infos: ArrayAttr(  # noqa: E731
            [DictionaryAttr({NAME_ATTR: StringAttr(i.name)}) for i in infos]
        )
        fn = func.FuncOp(
            "main",
            (arg_types, [r.type for r in results]),
            Region(block),
            arg_attrs=names(inputs),
            res_attrs=names(graph.output),
        )
        module = ModuleOp([fn])
        try:
            module.verify()
        except VerifyException as err:
            raise RnncError(f"imported IR does not verify: {err}") from None
        return module

    def convert(self, node: onnx.NodeProto) -> None:
        converter = CONVERTERS.get(node.op_type)
        if converter is None or node.domain not in ("", "ai.onnx"):
            raise RnncError(
                f"unsupported ONNX op '{node.op_type}' (node '{node.name or '?'}')"
            )
        outputs = converter(self, node)
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                value.name_hint = _ssa_name(name)
                self.values[name] = value

    # ------------------------------------------------------------------ helpers

    def fail(self, message: str) -> RnncError:
        node = self.node
        where = f" (node '{node.name or '?'}', op {node.op_type})" if node else ""
        return RnncError(message + where)

    def insert(self, op: Operation) -> Operation:
        assert self.builder is not None
        return self.builder.insert(op)

    def value(self, name: str) -> SSAValue:
        if name not in self.values:
            if name in self.initializers:
                array = numpy_helper.to_array(self.initializers[name])
                const = self.insert(rnn.ConstantOp(dense_of(array)))
                const.result.name_hint = _ssa_name(name)
                self.values[name] = const.result
            else:
                raise self.fail(f"value '{name}' is used before it is defined")
        return self.values[name]

    def operand(self, node: onnx.NodeProto, index: int) -> SSAValue | None:
        if index < len(node.input) and node.input[index]:
            return self.value(node.input[index])
        return None

    def const_input(self, node: onnx.NodeProto, index: int) -> np.ndarray | None:
        """A constant input (shape, axes, bounds); folding made them initializers."""
        if index >= len(node.input) or not node.input[index]:
            return None
        name = node.input[index]
        if name not in self.initializers:
            raise self.fail(
                f"input '{name}' must be a constant; shapes computed at run time are "
                "not supported (export with static shapes or pass input shapes)"
            )
        return numpy_helper.to_array(self.initializers[name])

    def result_type(self, name: str) -> TensorType:
        if name not in self.types:
            raise self.fail(f"shape of '{name}' is unknown after shape inference")
        return _tensor_type(self.types[name], f"value '{name}'")

    def build(
        self,
        op_type: type[Operation],
        node: onnx.NodeProto,
        operands: Sequence[SSAValue | None],
        properties: Mapping[str, Attribute] | None = None,
    ) -> list[SSAValue]:
        """Create `op_type` with the ONNX-inferred result types of `node`."""
        result_types = [self.result_type(o) for o in node.output if o]
        op = op_type.build(
            operands=list(operands),
            result_types=result_types,
            properties=dict(properties or {}),
        )
        self.insert(op)
        return list(op.results)


def attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


# --------------------------------------------------------------- converters

Converter = Callable[[GraphImporter, onnx.NodeProto], Sequence[SSAValue]]
CONVERTERS: dict[str, Converter] = {}


def converts(*op_types: str):
    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            CONVERTERS[op_type] = fn
        return fn

    return register


@converts("Identity", "Dropout")
def _identity(imp: GraphImporter, node):
    value = imp.value(node.input[0])
    if node.op_type == "Dropout" and len([o for o in node.output if o]) > 1:
        raise imp.fail("Dropout with a mask output is not supported")
    return [value]


_BINARY = {"Add": rnn.AddOp, "Sub": rnn.SubOp, "Mul": rnn.MulOp, "Div": rnn.DivOp}


@converts(*_BINARY)
def _binary(imp: GraphImporter, node):
    return imp.build(_BINARY[node.op_type], node, [imp.value(n) for n in node.input])


_PREDICATES = {
    "Less": rnn.LessOp,
    "Greater": rnn.GreaterOp,
    "Equal": rnn.EqualOp,
    "And": rnn.AndOp,
    "Or": rnn.OrOp,
}


@converts(*_PREDICATES)
def _predicate(imp: GraphImporter, node):
    return imp.build(
        _PREDICATES[node.op_type], node, [imp.value(n) for n in node.input]
    )


@converts("Not")
def _not(imp: GraphImporter, node):
    return imp.build(rnn.NotOp, node, [imp.value(node.input[0])])


@converts("Where")
def _where(imp: GraphImporter, node):
    """A condition known to be all true or all false picks its branch (Keras' GRU
    and SimpleRNN steps select between the new and old state on a constant)."""
    cond = node.input[0]
    if cond in imp.initializers:
        known = numpy_helper.to_array(imp.initializers[cond])
        if known.size and (known.all() or not known.any()):
            picked = imp.value(node.input[1 if known.all() else 2])
            if picked.type == imp.result_type(node.output[0]):
                return [picked]
    return imp.build(rnn.SelectOp, node, [imp.value(n) for n in node.input])


_UNARY = {"Sigmoid": rnn.SigmoidOp, "Tanh": rnn.TanhOp, "Relu": rnn.ReluOp}


@converts(*_UNARY)
def _unary(imp: GraphImporter, node):
    return imp.build(_UNARY[node.op_type], node, [imp.value(node.input[0])])


@converts(*rnn.ACTIVATION_DEFAULTS)
def _activation(imp: GraphImporter, node):
    if node.op_type == "Affine":
        raise imp.fail("Affine is not an ONNX op")
    alpha, beta = rnn.ACTIVATION_DEFAULTS[node.op_type]
    given = attrs(node)
    props: dict[str, Attribute] = {"kind": StringAttr(node.op_type)}
    if alpha is not None:
        props["alpha"] = rnn.float_attr(given.get("alpha", alpha))
    if beta is not None:
        props["beta"] = rnn.float_attr(given.get("beta", beta))
    return imp.build(rnn.ActivationOp, node, [imp.value(node.input[0])], props)


@converts("Clip")
def _clip(imp: GraphImporter, node):
    given = attrs(node)
    lo, hi = given.get("min"), given.get("max")
    if imp.opset >= 11:
        lo_in, hi_in = imp.const_input(node, 1), imp.const_input(node, 2)
        lo = None if lo_in is None else float(lo_in)
        hi = None if hi_in is None else float(hi_in)
    props = {}
    if lo is not None:
        props["min"] = rnn.float_attr(lo)
    if hi is not None:
        props["max"] = rnn.float_attr(hi)
    return imp.build(rnn.ClipOp, node, [imp.value(node.input[0])], props)


@converts("Cast")
def _cast(imp: GraphImporter, node):
    return imp.build(rnn.CastOp, node, [imp.value(node.input[0])])


@converts("MatMul")
def _matmul(imp: GraphImporter, node):
    return imp.build(rnn.MatMulOp, node, [imp.value(n) for n in node.input])


@converts("Gemm")
def _gemm(imp: GraphImporter, node):
    given = attrs(node)
    props = {
        "trans_a": IntegerAttr(given.get("transA", 0), 64),
        "trans_b": IntegerAttr(given.get("transB", 0), 64),
        "alpha": FloatAttr(float(given.get("alpha", 1.0)), f32),
        "beta": FloatAttr(float(given.get("beta", 1.0)), f32),
    }
    operands = [imp.value(node.input[0]), imp.value(node.input[1])]
    operands.append(imp.operand(node, 2))
    return imp.build(rnn.GemmOp, node, operands, props)


@converts("Softmax", "LogSoftmax")
def _softmax(imp: GraphImporter, node):
    x = imp.value(node.input[0])
    rank = len(rnn.shape_of(x))
    default = -1 if imp.opset >= 13 else 1
    axis = attrs(node).get("axis", default) % max(rank, 1)
    if imp.opset < 13 and axis != rank - 1:
        raise imp.fail("Softmax before opset 13 over several axes is not supported")
    op = rnn.SoftmaxOp if node.op_type == "Softmax" else rnn.LogSoftmaxOp
    return imp.build(op, node, [x], {"axis": IntegerAttr(axis, 64)})


@converts("Gather")
def _gather(imp: GraphImporter, node):
    axis = attrs(node).get("axis", 0)
    operands = [imp.value(node.input[0]), imp.value(node.input[1])]
    return imp.build(rnn.GatherOp, node, operands, {"axis": IntegerAttr(axis, 64)})


@converts("Reshape")
def _reshape(imp: GraphImporter, node):
    if attrs(node).get("allowzero", 0):
        raise imp.fail("Reshape with allowzero=1 is not supported")
    target = imp.const_input(node, 1)
    return imp.build(
        rnn.ReshapeOp,
        node,
        [imp.value(node.input[0])],
        {"shape": rnn.int_array(target.tolist())},
    )


@converts("Flatten")
def _flatten(imp: GraphImporter, node):
    x = imp.value(node.input[0])
    shape = rnn.shape_of(x)
    axis = attrs(node).get("axis", 1) % (len(shape) + 1)
    target = [-1, int(np.prod(shape[axis:]))] if axis else [1, -1]
    if shapes.DYN in shape[axis:]:
        raise imp.fail("Flatten of dynamic trailing dimensions is not supported")
    return imp.build(rnn.ReshapeOp, node, [x], {"shape": rnn.int_array(target)})


@converts("Transpose")
def _transpose(imp: GraphImporter, node):
    x = imp.value(node.input[0])
    rank = len(rnn.shape_of(x))
    perm = attrs(node).get("perm", list(range(rank))[::-1])
    return imp.build(rnn.TransposeOp, node, [x], {"perm": rnn.int_array(perm)})


def _axes(imp: GraphImporter, node) -> list[int] | None:
    if imp.opset >= 13:
        axes = imp.const_input(node, 1)
        return None if axes is None else axes.tolist()
    return attrs(node).get("axes")


@converts("Squeeze")
def _squeeze(imp: GraphImporter, node):
    x = imp.value(node.input[0])
    axes = _axes(imp, node)
    if axes is None:
        axes = [i for i, d in enumerate(rnn.shape_of(x)) if d == 1]
    return imp.build(rnn.SqueezeOp, node, [x], {"axes": rnn.int_array(axes)})


@converts("Unsqueeze")
def _unsqueeze(imp: GraphImporter, node):
    axes = _axes(imp, node)
    return imp.build(
        rnn.UnsqueezeOp, node, [imp.value(node.input[0])], {"axes": rnn.int_array(axes)}
    )


@converts("Concat")
def _concat(imp: GraphImporter, node):
    inputs = [imp.value(n) for n in node.input if n]
    axis = attrs(node)["axis"]
    op = rnn.ConcatOp.build(
        operands=[inputs],
        result_types=[imp.result_type(node.output[0])],
        properties={"axis": IntegerAttr(axis, 64)},
    )
    imp.insert(op)
    return [op.result]


@converts("Slice")
def _slice(imp: GraphImporter, node):
    x = imp.value(node.input[0])
    rank = len(rnn.shape_of(x))
    if imp.opset >= 10:
        starts = imp.const_input(node, 1).tolist()
        ends = imp.const_input(node, 2).tolist()
        axes = imp.const_input(node, 3)
        steps = imp.const_input(node, 4)
    else:
        given = attrs(node)
        starts, ends = given["starts"], given["ends"]
        axes, steps = given.get("axes"), None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else list(steps)
    props = {
        "starts": rnn.int_array(starts),
        "ends": rnn.int_array(ends),
        "axes": rnn.int_array([a % rank for a in axes]),
        "steps": rnn.int_array(steps),
    }
    return imp.build(rnn.SliceOp, node, [x], props)


@converts("Split")
def _split(imp: GraphImporter, node):
    """One `rnn.slice` per output: the pieces are ordinary slices downstream."""
    x = imp.value(node.input[0])
    shape = rnn.shape_of(x)
    given = attrs(node)
    axis = given.get("axis", 0) % len(shape)
    outputs = list(node.output)
    sizes = imp.const_input(node, 1) if imp.opset >= 13 else given.get("split")
    if sizes is not None:
        sizes = [int(n) for n in np.asarray(sizes).reshape(-1)]
    elif shape[axis] == shapes.DYN:
        raise imp.fail("Split of a dynamic dimension is not supported")
    else:
        # Equal parts; with num_outputs (opset 18) the last part may be smaller.
        count = int(given.get("num_outputs", len(outputs)))
        part = -(-shape[axis] // count)
        sizes = [min(part, shape[axis] - i * part) for i in range(count)]
    if len(sizes) != len(outputs) or (
        shape[axis] != shapes.DYN and sum(sizes) != shape[axis]
    ):
        raise imp.fail(
            f"Split sizes {sizes} do not cut axis {axis} of size {shape[axis]} into "
            f"{len(outputs)} parts"
        )
    results, start = [], 0
    for size, name in zip(sizes, outputs, strict=True):
        op = rnn.SliceOp(x, [start], [start + size], [axis])
        if name:
            _check_inferred(imp, op.result, name)
        imp.insert(op)
        results.append(op.result)
        start += size
    return results


def _check_inferred(imp: GraphImporter, value: SSAValue, name: str) -> None:
    """A value built by a rewrite has the type ONNX shape inference gave it."""
    if name in imp.types and value.type != imp.result_type(name):
        raise imp.fail(
            f"'{name}' has type {imp.result_type(name)} in the model, "
            f"{value.type} when computed"
        )


@converts("Tile")
def _tile(imp: GraphImporter, node):
    """Copies concatenated along each repeated axis."""
    x = imp.value(node.input[0])
    repeats = [int(r) for r in imp.const_input(node, 1).reshape(-1)]
    if len(repeats) != len(rnn.shape_of(x)):
        raise imp.fail(f"Tile repeats {repeats} do not match the input's rank")
    for axis, count in enumerate(repeats):
        if count < 1:
            raise imp.fail("Tile with a repeat count below 1 is not supported")
        if count > 1:
            x = imp.insert(rnn.ConcatOp([x] * count, axis)).results[0]
    _check_inferred(imp, x, node.output[0])
    return [x]


@converts("Expand")
def _expand(imp: GraphImporter, node):
    target = imp.const_input(node, 1)
    return imp.build(
        rnn.ExpandOp,
        node,
        [imp.value(node.input[0])],
        {"shape": rnn.int_array(target.tolist())},
    )


@converts("Shape", "Size", "ConstantOfShape")
def _dynamic_shape(imp: GraphImporter, node):
    hint = shape_hint(imp.model)
    raise imp.fail(
        f"{node.op_type} of a dynamic shape cannot be folded; fix the dynamic input "
        f"dimensions" + (f" (e.g. {hint})" if hint else "")
    )


@converts("ReverseSequence")
def _reverse_sequence(imp: GraphImporter, node):
    """Lengths known to be the full length reverse the whole time axis (a
    slice, which raising turns into a reverse recurrence)."""
    given = attrs(node)
    batch_axis, time_axis = given.get("batch_axis", 1), given.get("time_axis", 0)
    x = imp.value(node.input[0])
    steps = rnn.shape_of(x)[time_axis]
    if node.input[1] in imp.initializers:
        lens = numpy_helper.to_array(imp.initializers[node.input[1]])
        if lens.size and (lens == steps).all():
            return [imp.insert(reverse_slice(x, time_axis)).results[0]]
    props = {
        "batch_axis": IntegerAttr(batch_axis, 64),
        "time_axis": IntegerAttr(time_axis, 64),
    }
    return imp.build(rnn.ReverseSequenceOp, node, [x, imp.value(node.input[1])], props)


@converts("TopK", "ScatterElements", "ScatterND")
def _reordering(imp: GraphImporter, node):
    """torch's pack_padded_sequence(enforce_sorted=False) sorts the batch by
    length (TopK) and puts it back in order (a scatter): not supported."""
    raise imp.fail(
        f"ONNX {node.op_type} is not supported (e.g. reordering a batch by "
        "sequence length, as torch pack_padded_sequence(enforce_sorted=False) "
        "exports); pass the lengths as the sequence_lens input of the LSTM/GRU/RNN "
        "instead"
    )


@converts("Loop", "Scan")
def _loop(imp: GraphImporter, node):
    """A loop over time is a recurrence (rnnc/frontend/onnx_loops.py)."""
    from rnnc.frontend.onnx_loops import convert_loop, convert_scan

    convert = convert_loop if node.op_type == "Loop" else convert_scan
    return convert(imp, node)


@converts("If")
def _control_flow(imp: GraphImporter, node):
    raise imp.fail(
        "ONNX If is not supported yet: a branch on a value computed at run time"
    )


_CELLS = {"LSTM": rnn.LSTMOp, "GRU": rnn.GRUOp, "RNN": rnn.RNNOp}
_CELL_INPUTS = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]


@converts(*_CELLS)
def _cell(imp: GraphImporter, node):
    op_type = _CELLS[node.op_type]
    given = attrs(node)
    allowed = {
        "hidden_size",
        "direction",
        "layout",
        "clip",
        "activations",
        "activation_alpha",
        "activation_beta",
        *(("input_forget",) if node.op_type == "LSTM" else ()),
        *(("linear_before_reset",) if node.op_type == "GRU" else ()),
    }
    unknown = set(given) - allowed
    if unknown:
        raise imp.fail(f"unknown {node.op_type} attribute(s) {sorted(unknown)}")
    if "hidden_size" not in given:
        raise imp.fail(f"{node.op_type} without hidden_size")
    props: dict[str, Attribute] = {}
    for name, value in given.items():
        if name == "direction":
            try:
                props[name] = rnn.direction_attr(value.decode())
            except VerifyException as err:
                raise imp.fail(f"{op_type.name}: {err}") from None
        elif name == "activations":
            props[name] = ArrayAttr([StringAttr(v.decode()) for v in value])
        elif name in ("activation_alpha", "activation_beta"):
            props[name] = ArrayAttr([rnn.float_attr(v) for v in value])
        elif name == "clip":
            props[name] = rnn.float_attr(value)
        else:
            props[name] = IntegerAttr(int(value), 64)
    names = _CELL_INPUTS[: 8 if node.op_type == "LSTM" else 6]
    present = {n: imp.operand(node, i) for i, n in enumerate(names)}
    if any(present[n] is None for n in ("X", "W", "R")):
        raise imp.fail(f"{node.op_type} needs inputs X, W and R")
    operands: list = [present["X"], present["W"], present["R"]]
    operands += [[] if present[n] is None else [present[n]] for n in names[3:]]
    x = rnn.shape_of(present["X"])
    layout = given.get("layout", 0)
    steps, batch = (x[1], x[0]) if layout else (x[0], x[1])
    nd = rnn.DIRECTIONS[
        props.get("direction", rnn.DirectionAttr(rnn.Direction.FORWARD)).data
    ]
    hid = int(given["hidden_size"])
    state = (batch, nd, hid) if layout else (nd, batch, hid)
    y = (batch, steps, nd, hid) if layout else (steps, nd, batch, hid)
    elem = rnn.element_type_of(present["X"])
    n_results = 3 if node.op_type == "LSTM" else 2
    result_types = [rnn.tensor(y, elem)] + [rnn.tensor(state, elem)] * (n_results - 1)
    op = op_type.build(operands=operands, result_types=result_types, properties=props)
    try:
        op.verify()
    except VerifyException as err:
        raise imp.fail(str(err)) from None
    imp.insert(op)
    return list(op.results)


def declared_inputs(model: onnx.ModelProto) -> list[tuple[str, TensorType]]:
    """The graph inputs as the model declares them (dynamic dims as `?`)."""
    return [
        (i.name, _tensor_type(i.type, f"input '{i.name}'")) for i in graph_inputs(model)
    ]


def import_model(
    model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]] | None = None
) -> ModuleOp:
    module = GraphImporter(prepare(model, input_shapes)).run()
    raise_recurrences(module)
    return module


# ------------------------------------------------------------ free dimensions

# Free sizes are marked on @main's arguments (`DIMS_ATTR`: per dimension, the name
# of the model size, e.g. "batch", or ""). The module's types are those of the
# import shapes; the interpreter accepts other values of a free size (its kernels
# take their shapes from the data).


def dynamic_dims(model: onnx.ModelProto) -> dict[str, list[tuple[str, int]]]:
    """The model's dynamic sizes: a named dim (`dim_param`) is one size wherever it
    appears; an unnamed dynamic dim is a size of its own."""
    sizes: dict[str, list[tuple[str, int]]] = {}
    for info in graph_inputs(model):
        t = info.type.tensor_type
        for axis, dim in enumerate(t.shape.dim if t.HasField("shape") else ()):
            if dim.HasField("dim_value"):
                continue
            name = dim.dim_param or f"{info.name}[{axis}]"
            sizes.setdefault(name, []).append((info.name, axis))
    return sizes


def shape_hint(model: onnx.ModelProto) -> str:
    """`--input-shape` flags fixing every dynamic input dim (to 1), from the
    model's declared inputs."""
    flags = []
    for name, typ in declared_inputs(model):
        dims = typ.get_shape()
        if shapes.DYN in dims:
            text = "x".join("1" if d == shapes.DYN else str(d) for d in dims)
            flags.append(f"--input-shape {name}={text}")
    return " ".join(flags)


def complete_shapes(
    model: onnx.ModelProto,
    given: Mapping[str, Sequence[int]] | None = None,
    size: int = 1,
) -> dict[str, list[int]]:
    """Every input's shape: as `given`, else as declared with dynamic dims `size`."""
    out = {}
    for name, typ in declared_inputs(model):
        if given and name in given:
            out[name] = list(given[name])
        else:
            out[name] = [size if d == shapes.DYN else d for d in typ.get_shape()]
    return out


def _perturbed(
    at: Mapping[str, Sequence[int]], where: Sequence[tuple[str, int]]
) -> dict[str, list[int]]:
    out = {k: list(v) for k, v in at.items()}
    for name, axis in where:
        out[name][axis] += 1
    return out


def _initial_state_only(value: SSAValue) -> bool:
    """Used only as a cell's initial_h / initial_c (a uniform one is batch-free:
    the interpreter broadcasts it to the batch it runs)."""
    return all(
        (
            isinstance(use.operation, rnn.RecurrentCellOp)
            and value
            in (
                getattr(use.operation, "initial_h", None),
                getattr(use.operation, "initial_c", None),
            )
        )
        or (
            isinstance(use.operation, rnn.RecurrenceOp) and value in use.operation.inits
        )
        for use in value.uses
    )


def _depends(base: ModuleOp, other: ModuleOp) -> set[int] | None:
    """Where `other` (an import at another value of one size) differs from `base`:
    the indices of the reshapes whose target changes, or None when anything else
    changes (structure, attributes, non-uniform constants)."""
    a_ops, b_ops = list(base.walk()), list(other.walk())
    if [o.name for o in a_ops] != [o.name for o in b_ops]:
        return None
    reshapes = set()
    for index, (a, b) in enumerate(zip(a_ops, b_ops, strict=True)):
        if isinstance(a, func.FuncOp | func.ReturnOp | ModuleOp):
            continue
        if [r.type for r in a.results] != [r.type for r in b.results] and isinstance(
            a, rnn.ReshapeOp
        ):
            reshapes.add(index)
            continue
        if isinstance(a, rnn.ConstantOp) and a.value != b.value:
            if not (
                _initial_state_only(a.result)
                and _splat(a.value) is not None
                and _splat(a.value) == _splat(b.value)
            ):
                return None
            continue
        if a.properties != b.properties or a.attributes != b.attributes:
            return None
    return reshapes


def _splat(value: Attribute) -> float | None:
    array = array_of(value)
    if array.size == 0 or not (array == array.flat[0]).all():
        return None
    return float(array.flat[0])


def _dims_of(value: SSAValue) -> tuple[int, ...]:
    return tuple(rnn.shape_of(value))


def import_free(
    model: onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    fixed: Collection[str] = (),
) -> ModuleOp:
    """Import at `input_shapes` (dynamic dims not given: 1) and mark on @main's
    arguments (`DIMS_ATTR`) the model's dynamic sizes the module does not depend
    on, so that it runs at any value of them. Sizes of the inputs in `fixed` stay
    as given (specialised on purpose).

    A size is free when importing at another value of it changes only the types:
    reshape targets that change are rewritten with `-1` for the one dimension that
    depends on free sizes (a reshape with two such dimensions, e.g. batch x steps
    split back, keeps the later size fixed), and uniform constants may change only
    as initial states of cells."""
    at = complete_shapes(model, input_shapes)
    base = import_model(model, at)
    base_ops = list(base.walk())
    variants: dict[str, list[Operation]] = {}
    deps: dict[str, set[int]] = {}
    for size, where in dynamic_dims(model).items():
        if any(name in fixed for name, _ in where):
            continue
        try:
            other = import_model(model, _perturbed(at, where))
        except RnncError:
            continue
        found = _depends(base, other)
        if found is not None:
            variants[size], deps[size] = list(other.walk()), found
    free = list(variants)

    def entries(index: int, sizes: list[str]) -> set[int]:
        mine = _dims_of(base_ops[index].results[0])
        out = set()
        for size in sizes:
            theirs = _dims_of(variants[size][index].results[0])
            pairs = enumerate(zip(mine, theirs, strict=True))
            out |= {i for i, (a, b) in pairs if a != b}
        return out

    while True:
        crowded = [
            touching
            for index in sorted(set().union(*(deps[s] for s in free)))
            if len(entries(index, touching := [s for s in free if index in deps[s]]))
            > 1
        ]
        if not crowded:
            break
        free.remove(crowded[0][-1])
    for index in sorted(set().union(*(deps[s] for s in free))):
        op = base_ops[index]
        target = list(_dims_of(op.results[0]))
        (entry,) = entries(index, [s for s in free if index in deps[s]])
        target[entry] = -1
        op.properties["shape"] = rnn.int_array(target)
    _mark_free(base, model, free)
    base.verify()
    return base


def _mark_free(module: ModuleOp, model: onnx.ModelProto, free: list[str]) -> None:
    where = {at: size for size in free for at in dynamic_dims(model)[size]}
    if not where:
        return
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    entries = []
    for (name, typ), attrs in zip(
        declared_inputs(model), fn.arg_attrs.data, strict=True
    ):
        dims = [where.get((name, axis), "") for axis in range(len(typ.get_shape()))]
        data = dict(attrs.data)
        if any(dims):
            data[DIMS_ATTR] = ArrayAttr([StringAttr(d) for d in dims])
        entries.append(DictionaryAttr(data))
    fn.arg_attrs = ArrayAttr(entries)
