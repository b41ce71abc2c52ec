"""The interface of a module's @main: its named, typed inputs and outputs.

Function arguments and results carry their ONNX names (`rnn.NAME_ATTR`), which is
how arrays are matched to them before a run. Argument dimensions marked free
(`DIMS_ATTR`, e.g. the batch) are dynamic here: the module runs at any value of
them, the same value wherever one size appears.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    ModuleOp,
    StringAttr,
    TensorType,
)

from rnnc.dialects import shapes
from rnnc.dialects.arrays import numpy_dtype
from rnnc.dialects.errors import RnncError
from rnnc.dialects.rnn import NAME_ATTR
from rnnc.dialects.rnn_semantics import main_function
from rnnc.dialects.user_files import LIMITS, check_file

# Per argument dimension, the name of the model size it is when free, else "".
DIMS_ATTR = "rnnc.dims"


def _names(attrs) -> list[str]:
    out = []
    for i, entry in enumerate(attrs.data if attrs is not None else ()):
        name = entry.data.get(NAME_ATTR) if isinstance(entry, DictionaryAttr) else None
        out.append(name.data if isinstance(name, StringAttr) else f"arg{i}")
    return out


def free_dims(module: ModuleOp) -> list[list[str]]:
    """Per input, per dimension: the name of the free size it is, or ""."""
    fn: func.FuncOp = main_function(module)
    out = []
    for i, arg in enumerate(fn.args):
        rank = len(arg.type.get_shape())
        entry = fn.arg_attrs.data[i] if fn.arg_attrs is not None else None
        dims = entry.data.get(DIMS_ATTR) if isinstance(entry, DictionaryAttr) else None
        if isinstance(dims, ArrayAttr) and len(dims.data) == rank:
            out.append([d.data for d in dims.data])
        else:
            out.append([""] * rank)
    return out


def _generic(typ: TensorType, dims: list[str]) -> TensorType:
    if not any(dims):
        return typ
    pairs = zip(typ.get_shape(), dims, strict=True)
    shape = [shapes.DYN if free else d for d, free in pairs]
    return TensorType(typ.element_type, shape)


def signature(module: ModuleOp) -> tuple[list[tuple[str, TensorType]], list[str]]:
    """(name, type) of each input (free dims dynamic) and the name of each output
    of @main."""
    fn: func.FuncOp = main_function(module)
    in_names = _names(fn.arg_attrs)
    if len(in_names) < len(fn.args):
        in_names += [f"arg{i}" for i in range(len(in_names), len(fn.args))]
    out_names = _names(fn.res_attrs) or [
        f"out{i}" for i in range(len(fn.function_type.outputs))
    ]
    types = [
        _generic(a.type, d) for a, d in zip(fn.args, free_dims(module), strict=True)
    ]
    return list(zip(in_names, types, strict=True)), out_names


def check_free_sizes(
    module: ModuleOp, arrays: Mapping[str, np.ndarray]
) -> dict[str, int]:
    """The value of each free size in `arrays`, which must agree wherever the size
    appears (e.g. the batch of the tokens and of the initial state)."""
    names = [n for n, _ in signature(module)[0]]
    seen: dict[str, tuple[int, str]] = {}
    for name, dims in zip(names, free_dims(module), strict=True):
        shape = np.shape(arrays[name])
        for axis, size in enumerate(dims):
            if not size or axis >= len(shape):
                continue
            value = int(shape[axis])
            first = seen.setdefault(size, (value, name))
            if first[0] != value:
                raise RnncError(
                    f"input '{name}' has {size} {value} (dim {axis}), input "
                    f"'{first[1]}' has {size} {first[0]}"
                )
    return {k: v for k, (v, _) in seen.items()}


def check_inputs(
    expected: Sequence[tuple[str, TensorType]], arrays: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    """Arrays in argument order, with missing names, bad shapes or kinds rejected."""
    names = [n for n, _ in expected]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise RnncError(
            f"input array(s) {missing} missing; the model expects {names}, "
            f"got {sorted(arrays)}"
        )
    extra = sorted(set(arrays) - set(names))
    if extra:
        raise RnncError(f"unknown input array(s) {extra}; the model expects {names}")
    ordered = []
    for name, typ in expected:
        array = np.asarray(arrays[name])
        want = tuple(typ.get_shape())
        if not shapes.compatible(want, array.shape):
            raise RnncError(
                f"input '{name}' has shape {list(array.shape)}, the model expects "
                f"{shapes.fmt(want)}"
            )
        dtype = numpy_dtype(typ.element_type)
        if array.dtype.kind != dtype.kind and not (
            array.dtype.kind in "iu" and dtype.kind in "iu"
        ):
            raise RnncError(
                f"input '{name}' has element type {array.dtype}, the model expects "
                f"{dtype}"
            )
        array = array.astype(dtype, copy=False)
        check_finite(name, array)
        ordered.append(array)
    return ordered


def check_finite(name: str, array: np.ndarray) -> None:
    """The NaN/Inf policy (docs/errors.md): a non-finite input is refused, in float
    and in fixed point alike (fixed point has no NaN; float would carry it silently)."""
    if array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    if not finite.all():
        first = [int(i) for i in np.argwhere(~finite)[0]]
        raise RnncError(
            f"input '{name}' has {int((~finite).sum())} NaN/Inf value(s), the first "
            f"at {first}; rnnc refuses non-finite inputs"
        )


# Element kinds an input array may have: bool, signed and unsigned ints, floats.
ARRAY_KINDS = "biuf"


def _not_npz(path: Path, what: str) -> RnncError:
    with open(path, "rb") as f:
        head = f.read(6)
    if not head:
        return RnncError(f"cannot read {what} '{path}': the file is empty")
    if head == b"\x93NUMPY":
        return RnncError(
            f"{what} '{path}' is an .npy array, not an .npz archive of named arrays "
            "(write it with np.savez(path, NAME=array))"
        )
    return RnncError(f"cannot read {what} '{path}': not an .npz archive")


def read_arrays(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file (never pickles), of numeric kinds; `what`
    names them in the one-line error a missing, damaged, foreign or oversized file
    gives (its unpacked size is bounded like a file's)."""
    p = check_file(path, what, "arrays")
    try:
        with zipfile.ZipFile(p) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, EOFError, OSError):
        raise _not_npz(p, what) from None
    if unpacked > LIMITS["arrays"]:
        raise RnncError(
            f"{what} '{p}' unpacks to {unpacked >> 20} MiB, over the "
            f"{LIMITS['arrays'] >> 20} MiB limit"
        )
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (
        OSError,
        ValueError,
        EOFError,
        KeyError,
        zipfile.BadZipFile,
        zlib.error,
    ) as err:
        first = (
            str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        )
        raise RnncError(f"cannot read {what} '{p}': {first}") from None
    if not arrays:
        raise RnncError(f"{what} '{p}' holds no arrays")
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):
            raise RnncError(f"{what} '{p}': entry '{name}' is not a .npy array")
        if array.dtype.kind not in ARRAY_KINDS or array.dtype.names:
            raise RnncError(
                f"{what} '{p}': array '{name}' has element type {array.dtype}; "
                "expected bool, integers or floats"
            )
    return arrays


def non_finite_outputs(outputs: Mapping[str, np.ndarray]) -> list[str]:
    """The NaN/Inf policy for results (docs/errors.md): inputs and weights are
    finite, so a non-finite float result is an overflow of float arithmetic, told
    like a fixed-point overflow (a line per output), not an error."""
    lines = []
    for name, value in outputs.items():
        value = np.asarray(value)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            count = int((~np.isfinite(value)).sum())
            lines.append(f"output '{name}': {count} NaN/Inf value(s) (float overflow)")
    return lines
