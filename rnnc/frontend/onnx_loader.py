"""Load an ONNX file, specialise input shapes, infer shapes and fold constants.

Exported models compute things the compiler should see as constants: dynamo exports
slice and concatenate re-ordered RNN weights, TorchScript exports build zero initial
states from `Shape`/`Expand`. Every node whose inputs are all known is evaluated here
with `onnx.reference` (an implementation independent of ours) and replaced by an
initializer, repeating shape inference until nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper, shape_inference
from onnx.external_data_helper import load_external_data_for_model
from onnx.reference import ReferenceEvaluator

from rnnc.dialects.errors import RnncError
from rnnc.dialects.user_files import read_bytes
from rnnc.frontend.onnx_checks import check_external_data, check_model

# Never folded, even with constant inputs: the compiler wants to see these.
_KEEP = {"LSTM", "GRU", "RNN"}


def load_model(path: str | Path) -> onnx.ModelProto:
    path = Path(path)
    data = read_bytes(path, "model", "model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise RnncError(f"'{path}' is not a valid ONNX model ({err})") from None
    if not model.graph.node and not model.graph.output:
        raise RnncError(f"'{path}' is not a valid ONNX model (no graph)")
    check_external_data(model, path.parent)
    try:
        load_external_data_for_model(model, str(path.parent))
    except (OSError, ValueError) as err:
        raise RnncError(
            f"cannot read the external weights of '{path}': {err}"
        ) from None
    # No onnx.checker here: it rejects valid models that onnxruntime runs (outputs
    # without a shape); onnx_checks, strict shape inference and the importer catch
    # real damage.
    check_model(model)
    return model


def opset_of(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return 1


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Real inputs: older exporters also list initializers as inputs."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def specialise_inputs(
    model: onnx.ModelProto, shapes: Mapping[str, Sequence[int]]
) -> None:
    """Fix the dims of the named inputs (e.g. to the shapes of the given data);
    a name the model lacks, a wrong rank or a contradicted static dim is refused."""
    by_name = {i.name: i for i in graph_inputs(model)}
    for name, shape in shapes.items():
        if name not in by_name:
            raise RnncError(
                f"input shape for '{name}', which is not an input of the model "
                f"(its inputs: {sorted(by_name)})"
            )
        dims = by_name[name].type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise RnncError(
                f"input '{name}' has rank {len(dims)}, the shape given "
                f"{'x'.join(map(str, shape))} has rank {len(shape)}"
            )
        for axis, (dim, size) in enumerate(zip(dims, shape, strict=True)):
            if dim.HasField("dim_value") and dim.dim_value != size:
                raise RnncError(
                    f"input '{name}' has size {dim.dim_value} on axis {axis} in the "
                    f"model, the shape given has {size}"
                )
            dim.ClearField("dim_param")
            dim.dim_value = int(size)


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0]
        raise RnncError(f"ONNX shape inference failed: {first}") from None


def _infer_afresh(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shapes of intermediates and outputs inferred from the inputs alone.

    Exporters record the shapes they traced with: a dynamo export traced at 20
    steps declares `[B, 20, H]` intermediates and outputs even with a dynamic
    step count, and run at 50 steps those contradict the inputs (onnxruntime
    ignores them). The recorded shapes are dropped before inference; a value whose
    shape inference leaves unknown keeps its recorded type."""
    graph = model.graph
    recorded = {v.name: v for v in [*graph.value_info, *graph.output]}
    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    del stripped.graph.value_info[:]
    for out in stripped.graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")
    inferred = _infer(stripped)
    known = {
        v.name
        for v in [*inferred.graph.value_info, *inferred.graph.output]
        if v.type.tensor_type.HasField("shape")
    }
    for out in inferred.graph.output:
        if out.name not in known:
            out.type.CopyFrom(recorded[out.name].type)
    inferred.graph.value_info.extend(
        v
        for name, v in recorded.items()
        if name not in known and name not in {o.name for o in graph.output}
    )
    return inferred


def _static_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    known = {}
    infos = [*model.graph.input, *model.graph.value_info, *model.graph.output]
    for info in infos:
        t = info.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            known[info.name] = tuple(d.dim_value for d in t.shape.dim)
    return known


def _evaluate(node: onnx.NodeProto, inputs: list[np.ndarray], opset: int):
    names = [n for n in node.input if n]
    graph = helper.make_graph(
        [node],
        "fold",
        [],
        [
            helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
            for o in node.output
            if o
        ],
        initializer=[
            numpy_helper.from_array(a, n) for n, a in zip(names, inputs, strict=True)
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        return ReferenceEvaluator(model).run(None, {})
    except Exception as err:  # noqa: BLE001 - the evaluator raises anything
        text = " ".join(str(err).split())[:160] or type(err).__name__
        raise RnncError(
            f"cannot evaluate constant node '{node.name or '?'}' ({node.op_type}): "
            f"{text}"
        ) from None


def _has_subgraph(node: onnx.NodeProto) -> bool:
    """Loop, Scan, If: their bodies read values of the enclosing graph by name,
    which a one-node model cannot provide."""
    return any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for a in node.attribute
    )


def _names_read(node: onnx.NodeProto) -> set[str]:
    """The values a node reads, its subgraphs' reads of enclosing values included."""
    names = set(node.input)
    for a in node.attribute:
        for g in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
            for inner in g.node:
                names |= _names_read(inner)
    return names


def _inline_branch(
    node: onnx.NodeProto, condition: bool
) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]] | None:
    """An `If` with a known condition is the branch it takes: that branch's nodes
    (their values renamed apart under the If's name) and initializers, with its
    outputs bound to the If's. None for a branch holding subgraphs of its own."""
    name = "then_branch" if condition else "else_branch"
    branch = next(a.g for a in node.attribute if a.name == name)
    if any(_has_subgraph(inner) for inner in branch.node):
        return None
    prefix = f"{node.name or node.output[0]}/{name}/"
    local = {o for inner in branch.node for o in inner.output if o}
    local |= {i.name for i in branch.initializer}
    renamed = lambda value: prefix + value if value in local else value  # noqa: E731
    nodes = []
    for inner in branch.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = prefix + (inner.name or inner.op_type)
        copy.input[:] = [renamed(v) if v else v for v in inner.input]
        copy.output[:] = [renamed(v) if v else v for v in inner.output]
        nodes.append(copy)
    for out, value in zip(node.output, branch.output, strict=True):
        if out:
            nodes.append(helper.make_node("Identity", [renamed(value.name)], [out]))
    inits = {renamed(i.name): numpy_helper.to_array(i) for i in branch.initializer}
    return nodes, inits


def fold_constants(model: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
    """One folding sweep; returns the new model and whether anything changed."""
    opset = opset_of(model)
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    static = _static_shapes(model)
    kept, changed = [], False
    for node in graph.node:
        inputs = [n for n in node.input if n]
        result = None
        if node.op_type == "Constant":
            result = _evaluate(node, [], opset)
        elif (
            node.op_type in ("Shape", "Size")
            and inputs[0] in static
            and inputs[0] not in consts
        ):
            result = _evaluate(node, [np.zeros(static[inputs[0]], np.float32)], opset)
        elif node.op_type == "If" and inputs[0] in consts:
            inlined = _inline_branch(node, bool(consts[inputs[0]].reshape(-1)[0]))
            if inlined is not None:
                nodes, inits = inlined
                kept.extend(nodes)
                consts.update(inits)
                changed = True
                continue
        elif (
            node.op_type not in _KEEP
            and not _has_subgraph(node)
            and all(n in consts for n in inputs)
            and node.domain in ("", "ai.onnx")
        ):
            result = _evaluate(node, [consts[n] for n in inputs], opset)
        if result is None:
            kept.append(node)
            continue
        changed = True
        for name, value in zip([o for o in node.output if o], result, strict=True):
            consts[name] = np.asarray(value)
    if not changed:
        return model, False
    used = {n for node in kept for n in _names_read(node)}
    used |= {o.name for o in graph.output}
    new_inits = [numpy_helper.from_array(a, n) for n, a in consts.items() if n in used]
    inputs = [i for i in graph.input if i.name not in consts]
    new_graph = helper.make_graph(
        kept, graph.name, inputs, list(graph.output), initializer=new_inits
    )
    new_model = helper.make_model(
        new_graph, opset_imports=list(model.opset_import), ir_version=model.ir_version
    )
    return new_model, True


def _static_type(t: onnx.TypeProto) -> bool:
    shape = t.tensor_type.shape
    return t.tensor_type.HasField("shape") and all(
        d.HasField("dim_value") for d in shape.dim
    )


def _type_loop_bodies(model: onnx.ModelProto) -> bool:
    """Give the inputs of `Loop`/`Scan` bodies the static types of the values the
    loop passes them (exporters declare them with unknown sizes, which leaves
    every shape in the body and after the loop unknown). Returns whether any
    type changed; the body's own recorded shapes are then dropped."""
    graph = model.graph
    types = {v.name: v.type for v in [*graph.input, *graph.value_info]}
    for init in graph.initializer:
        types[init.name] = helper.make_tensor_type_proto(
            init.data_type, list(init.dims)
        )
    changed = False
    carried: list[onnx.ValueInfoProto] = []  # a Loop's final states: as passed in
    for node in graph.node:
        if node.op_type not in ("Loop", "Scan"):
            continue
        states = node.input[2:] if node.op_type == "Loop" else ()
        for out, start in zip(node.output, states, strict=False):
            if out and start in types and _static_type(types[start]):
                carried.append(helper.make_value_info(out, types[start]))
        body = next(a.g for a in node.attribute if a.name == "body")
        if node.op_type == "Loop":
            pairs = list(zip(body.input[2:], node.input[2:], strict=False))
            drop_axes = {}
        else:
            n_scan = next(
                helper.get_attribute_value(a)
                for a in node.attribute
                if a.name == "num_scan_inputs"
            )
            n_states = len(node.input) - n_scan
            axes = next(
                (
                    list(helper.get_attribute_value(a))
                    for a in node.attribute
                    if a.name == "scan_input_axes"
                ),
                [0] * n_scan,
            )
            pairs = list(zip(body.input, node.input, strict=False))
            drop_axes = {n_states + k: axes[k] for k in range(n_scan)}
        for index, (inner, outer) in enumerate(pairs):
            outer_type = types.get(outer)
            if outer_type is None or not _static_type(outer_type):
                continue
            new_type = onnx.TypeProto()
            new_type.CopyFrom(outer_type)
            if index in drop_axes:
                dims = new_type.tensor_type.shape.dim
                del dims[drop_axes[index] % len(dims)]
            if inner.type != new_type:
                inner.type.CopyFrom(new_type)
                changed = True
        if changed:
            del body.value_info[:]
            for out in body.output:
                if out.type.HasField("tensor_type"):
                    out.type.tensor_type.ClearField("shape")
    known = {v.name: v for v in graph.value_info}
    for info in carried:
        if known.get(info.name) is None or not _static_type(known[info.name].type):
            changed = True
    if changed:  # shapes after the loops are inferred again
        del graph.value_info[:]
        graph.value_info.extend(carried)
    return changed


def prepare(
    model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]] | None = None
) -> onnx.ModelProto:
    """Specialise, infer and fold to a fixpoint; the result is what gets imported."""
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    if input_shapes:
        specialise_inputs(model_copy, input_shapes)
    model_copy = _infer_afresh(model_copy)
    for _ in range(100):
        model_copy, changed = fold_constants(model_copy)
        changed = _type_loop_bodies(model_copy) or changed
        if not changed:
            break
        model_copy = _infer(model_copy)
    return model_copy
