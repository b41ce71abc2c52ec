"""Static shape rules of the ONNX ops, shared by verifiers, builders and the frontend.

A dimension equal to `DYN` is unknown at compile time; rules propagate it and
`compatible` accepts it against any size.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DYNAMIC_INDEX
from xdsl.utils.exceptions import VerifyException

DYN = DYNAMIC_INDEX

Shape = tuple[int, ...]


def fmt(shape: Sequence[int]) -> str:
    return "[" + ", ".join("?" if d == DYN else str(d) for d in shape) + "]"


def compatible(expected: Sequence[int], actual: Sequence[int]) -> bool:
    return len(expected) == len(actual) and all(
        e == a or DYN in (e, a) for e, a in zip(expected, actual, strict=True)
    )


def normalize_axis(axis: int, rank: int, op: object = None) -> int:
    if not -rank <= axis < max(rank, 1):
        name = getattr(op, "name", "op")
        raise VerifyException(f"{name}: axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def broadcast(a: Sequence[int], b: Sequence[int]) -> Shape:
    """numpy / ONNX multidirectional broadcasting."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b, strict=True):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif DYN in (x, y):
            out.append(x if y == DYN else y)
        else:
            raise ValueError(f"shapes {fmt(a)} and {fmt(b)} do not broadcast")
    return tuple(out)


def matmul(a: Sequence[int], b: Sequence[int]) -> Shape:
    """numpy.matmul including 1-D promotion."""
    if not a or not b:
        raise ValueError("matmul operands must have rank >= 1")
    a2 = (1, *a) if len(a) == 1 else tuple(a)
    b2 = (*b, 1) if len(b) == 1 else tuple(b)
    if DYN not in (a2[-1], b2[-2]) and a2[-1] != b2[-2]:
        raise ValueError(
            f"contraction sizes differ: {fmt(a)} @ {fmt(b)} ({a2[-1]} vs {b2[-2]})"
        )
    out = broadcast(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def reshape(shape: Sequence[int], target: Sequence[int]) -> Shape:
    """ONNX Reshape (allowzero = 0): 0 copies the input dim, one -1 is inferred."""
    out = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise ValueError("at most one -1 in a reshape target")
    if DYN in shape:
        return tuple(DYN if d == -1 else d for d in out)
    total = 1
    for d in shape:
        total *= d
    known = 1
    for d in out:
        if d != -1:
            known *= d
    if -1 in out:
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {fmt(shape)} to {list(target)}")
        out[out.index(-1)] = total // known
    elif known != total:
        raise ValueError(f"cannot reshape {fmt(shape)} to {list(target)}")
    return tuple(out)


def squeeze(shape: Sequence[int], axes: Sequence[int]) -> Shape:
    rank = len(shape)
    picked = {a % rank for a in axes if -rank <= a < rank}
    if len(picked) != len(axes):
        raise ValueError(f"squeeze axes {list(axes)} out of range for rank {rank}")
    for a in picked:
        if shape[a] not in (1, DYN):
            raise ValueError(f"cannot squeeze axis {a} of size {shape[a]}")
    return tuple(d for i, d in enumerate(shape) if i not in picked)


def unsqueeze(shape: Sequence[int], axes: Sequence[int]) -> Shape:
    rank = len(shape) + len(axes)
    picked = {a % rank for a in axes if -rank <= a < rank}
    if len(picked) != len(axes):
        raise ValueError(f"unsqueeze axes {list(axes)} invalid for rank {rank}")
    rest = iter(shape)
    return tuple(1 if i in picked else next(rest) for i in range(rank))


def concat(shapes: Sequence[Sequence[int]], axis: int) -> Shape:
    if not shapes:
        raise ValueError("concat needs at least one operand")
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ValueError("concat operands differ in rank")
    axis = normalize_axis(axis, rank)
    out = list(shapes[0])
    for s in shapes[1:]:
        for i, (x, y) in enumerate(zip(out, s, strict=True)):
            if i == axis:
                out[i] = DYN if DYN in (x, y) else x + y
            elif not compatible([x], [y]):
                raise ValueError(f"concat operands differ in dimension {i}")
            elif x == DYN:
                out[i] = y
    return tuple(out)


def slice_bounds(size: int, start: int, end: int, step: int) -> range:
    """The indices ONNX Slice keeps along one axis (clamping as the spec says)."""
    if step == 0:
        raise ValueError("slice step must not be 0")
    return range(size)[slice(start, end, step)]


def slice_(
    shape: Sequence[int],
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int],
    steps: Sequence[int],
) -> Shape:
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError("starts, ends, axes and steps differ in length")
    out = list(shape)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = normalize_axis(axis, len(shape))
        if shape[axis] != DYN:
            out[axis] = len(slice_bounds(shape[axis], start, end, step))
    return tuple(out)
