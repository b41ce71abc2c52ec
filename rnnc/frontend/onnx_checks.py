"""Validation of a loaded ONNX model, before anything is computed from it.

What the importer and ONNX shape inference would otherwise miss or report with a
traceback: tensors that cannot be decoded or have an element type rnnc does not
support, non-finite weights (the NaN/Inf policy, docs/errors.md), external data
outside the model's folder, and recurrent-node attributes that onnxruntime reads
differently or ignores (`clip` <= 0, activation parameters whose default runtimes
disagree on, a wrong number of activations, mixed element types).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rnnc.dialects.errors import RnncError

# Element types rnnc imports (dialects.arrays): float32/64, int32/64, int8, bool.
SUPPORTED = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.INT64,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT8,
    onnx.TensorProto.BOOL,
}
CELLS = {"RNN": 1, "GRU": 2, "LSTM": 3}  # activation functions per direction
CELL_INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
# Activation parameters ONNX leaves to the runtime (no ONNX operator of that name,
# or onnxruntime's default differs from the operator's): they must be given.
UNDEFAULTED = {
    "Affine": ("alpha",),
    "ScaledTanh": ("alpha", "beta"),
    "ThresholdedRelu": ("alpha",),
}
TAKES = {
    "Affine": ("alpha", "beta"),
    "LeakyRelu": ("alpha",),
    "ThresholdedRelu": ("alpha",),
    "ScaledTanh": ("alpha", "beta"),
    "HardSigmoid": ("alpha", "beta"),
    "Elu": ("alpha",),
}


_ATTR = onnx.AttributeProto


def _type_name(elem: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem)
    except ValueError:
        return f"#{elem}"


def _check_external(tensor: onnx.TensorProto, folder: Path) -> None:
    """External data must be a regular file inside the model's folder."""
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    where = f"tensor '{tensor.name}'"
    if not location:
        raise RnncError(f"{where} has external data without a location")
    if os.path.isabs(location):
        raise RnncError(f"{where}: external data path '{location}' is absolute")
    target = (folder / location).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise RnncError(
            f"{where}: external data '{location}' is outside the model's folder"
        )
    if not target.is_file():
        raise RnncError(f"{where}: external data file '{location}' not found")
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise RnncError(f"{where}: bad external data offset or length") from None
    size = target.stat().st_size
    if offset < 0 or offset > size or (length is not None and offset + length > size):
        raise RnncError(
            f"{where}: external data range [{offset}, +{length}) is beyond the end "
            f"of '{location}' ({size} bytes)"
        )


def check_external_data(model: onnx.ModelProto, folder: Path) -> None:
    for tensor in _all_tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _check_external(tensor, folder)


def _all_tensors(graph: onnx.GraphProto):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                yield from _all_tensors(sub)


def tensor_array(tensor: onnx.TensorProto) -> np.ndarray:
    """The tensor's values, or one error line naming it (damaged, unsupported,
    non-finite)."""
    where = f"tensor '{tensor.name}'"
    if tensor.data_type not in SUPPORTED:
        raise RnncError(
            f"{where} has element type {_type_name(tensor.data_type)}, which rnnc "
            "does not support (float32/64, int8/32/64, bool)"
        )
    if any(d < 0 for d in tensor.dims):
        raise RnncError(f"{where} has a negative dimension {list(tensor.dims)}")
    try:
        array = numpy_helper.to_array(tensor)
    except Exception as err:  # noqa: BLE001 - protobuf decoding raises anything
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise RnncError(
            f"{where} is damaged ({type(err).__name__}: {message[:120]})"
        ) from None
    if array.shape != tuple(tensor.dims):
        raise RnncError(
            f"{where} is damaged: {array.size} values for dims {list(tensor.dims)}"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RnncError(
            f"{where} holds {int((~np.isfinite(array)).sum())} NaN/Inf value(s); "
            "rnnc refuses non-finite weights"
        )
    return array


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    graph = model.graph
    known = {i.name: i.data_type for i in graph.initializer}
    for info in [*graph.input, *graph.value_info]:
        t = info.type.tensor_type
        if info.type.HasField("tensor_type") and t.elem_type:
            known.setdefault(info.name, t.elem_type)
    return known


def _check_cell(node: onnx.NodeProto, types: dict[str, int]) -> None:
    where = f"{node.op_type} node '{node.name or '?'}'"
    try:
        given = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    except Exception:  # noqa: BLE001 - a damaged attribute
        raise RnncError(f"{where} has a damaged attribute") from None
    hidden = given.get("hidden_size")
    if hidden is not None and (not isinstance(hidden, int) or hidden < 1):
        raise RnncError(
            f"{where}: hidden_size must be a positive integer, got {hidden}"
        )
    clip = given.get("clip")
    if clip is not None and not (
        isinstance(clip, float) and math.isfinite(clip) and clip > 0
    ):
        raise RnncError(
            f"{where}: clip must be a positive number, got {clip} (onnxruntime "
            "ignores such a clip)"
        )
    direction = given.get("direction", b"forward")
    directions = 2 if direction == b"bidirectional" else 1
    acts = given.get("activations")
    if acts is not None:
        names = [a.decode(errors="replace") for a in acts]
        want = CELLS[node.op_type] * directions
        if len(names) != want:
            raise RnncError(
                f"{where}: {len(names)} activations given, {node.op_type} "
                f"{direction.decode(errors='replace')} needs {want}"
            )
        left = {
            "alpha": len(given.get("activation_alpha", [])),
            "beta": len(given.get("activation_beta", [])),
        }
        for name in names:
            for param in TAKES.get(name, ()):
                if left[param]:
                    left[param] -= 1
                elif param in UNDEFAULTED.get(name, ()):
                    raise RnncError(
                        f"{where}: activation {name} needs activation_{param} (its "
                        "default differs between runtimes)"
                    )
    inputs = dict(zip(CELL_INPUTS, node.input, strict=False))
    float_inputs = {
        k: types[v]
        for k, v in inputs.items()
        if v and v in types and k not in ("sequence_lens",)
    }
    if len(set(float_inputs.values())) > 1:
        shown = ", ".join(f"{k} {_type_name(t)}" for k, t in float_inputs.items())
        raise RnncError(f"{where}: inputs of different element types ({shown})")


# onnxruntime guarantees opsets from 7; the newest is what the installed onnx knows.
MIN_OPSET = 7


def _check_opset(model: onnx.ModelProto) -> None:
    versions = [e.version for e in model.opset_import if e.domain in ("", "ai.onnx")]
    newest = onnx.defs.onnx_opset_version()
    if not versions:
        raise RnncError("the model imports no ONNX opset")
    if not MIN_OPSET <= versions[0] <= newest:
        raise RnncError(
            f"the model imports ONNX opset {versions[0]}; rnnc supports opsets "
            f"{MIN_OPSET} to {newest}"
        )


def _check_names(graph: onnx.GraphProto) -> None:
    """Names must be text: protobuf hands damaged (non-UTF-8) strings over as bytes."""
    infos = [*graph.input, *graph.output, *graph.value_info, *graph.initializer]
    names = [i.name for i in infos]
    for node in graph.node:
        names += [node.op_type, node.name, node.domain, *node.input, *node.output]
        names += [a.name for a in node.attribute]
    for name in names:
        if not isinstance(name, str):
            raise RnncError(f"the model is damaged: name {name[:40]!r} is not UTF-8")


def _check_attribute_types(node: onnx.NodeProto, opset: int) -> None:
    """Attributes of the type the operator's ONNX schema says (a damaged file can
    change a type, and the value then reads as None)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
        wanted = {name: a.type for name, a in schema.attributes.items()}
    except onnx.defs.SchemaError:  # an op rnnc reports as unsupported later
        wanted = {}
    names = _ATTR.AttributeType
    for attr in node.attribute:
        want = wanted.get(attr.name)
        known = attr.type in names.values() and attr.type != _ATTR.UNDEFINED
        if known and (want is None or attr.type == want):
            continue  # an unknown attribute's name is for the importer to refuse
        got = names.Name(attr.type) if attr.type in names.values() else attr.type
        raise RnncError(
            f"{node.op_type} node '{node.name or '?'}': attribute {attr.name} has "
            f"type {got}" + (f", expected {names.Name(int(want))}" if want else "")
        )


def check_model(model: onnx.ModelProto) -> None:
    """Every tensor decodable, supported and finite; recurrent nodes consistent."""
    _check_opset(model)
    _check_names(model.graph)
    for tensor in _all_tensors(model.graph):  # subgraphs' and attributes' too
        tensor_array(tensor)
    types = _elem_types(model)
    opset = next(e.version for e in model.opset_import if e.domain in ("", "ai.onnx"))
    for node in model.graph.node:
        _check_attribute_types(node, opset)
        if node.op_type in CELLS and node.domain in ("", "ai.onnx"):
            _check_cell(node, types)
