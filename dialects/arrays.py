"""Conversion between numpy arrays and builtin dense attributes / tensor types.

Dense attributes store raw little-endian bytes, so conversion is a buffer view, not a
per-element loop; large embedding tables stay cheap.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    TensorType,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute

_TO_NUMPY: dict[Attribute, np.dtype] = {
    f32: np.dtype("<f4"),
    f64: np.dtype("<f8"),
    i64: np.dtype("<i8"),
    i32: np.dtype("<i4"),
    i16: np.dtype("<i2"),
    i8: np.dtype("i1"),
    i1: np.dtype("bool"),
}


def numpy_dtype(element_type: Attribute) -> np.dtype:
    try:
        return _TO_NUMPY[element_type]
    except KeyError:
        raise ValueError(f"no numpy dtype for element type {element_type}") from None


def element_type(dtype: np.dtype) -> Attribute:
    for attr, dt in _TO_NUMPY.items():
        if dt == np.dtype(dtype):
            return attr
    raise ValueError(f"unsupported array element type {np.dtype(dtype)}")


def tensor_type(array: np.ndarray) -> TensorType:
    return TensorType(element_type(array.dtype), list(array.shape))


def dense_of(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    array = np.asarray(array)
    dtype = numpy_dtype(element_type(array.dtype))
    raw = np.ascontiguousarray(array, dtype=dtype)
    if raw.dtype == np.bool_:
        raw = raw.astype(np.int8)
    return DenseIntOrFPElementsAttr(tensor_type(array), BytesAttr(raw.tobytes()))


def array_of(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    typ = attr.get_type()
    assert isinstance(typ, TensorType)
    dtype = numpy_dtype(typ.element_type)
    stored = np.dtype("i1") if dtype == np.bool_ else dtype
    flat = np.frombuffer(attr.data.data, dtype=stored)
    shape = tuple(typ.get_shape())
    if flat.size == 1 and np.prod(shape, dtype=np.int64) != 1:
        flat = np.broadcast_to(flat, (int(np.prod(shape)),))  # splat
    return flat.astype(dtype).reshape(shape)
