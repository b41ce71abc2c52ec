"""Fixed-point arithmetic as comb circuits: docs/fixed-point.md in hardware.

Each builder takes raw two's-complement signals (`iW`, value = raw · 2^-F) and emits
xDSL `comb`/`hw` ops that compute exactly what `rnnc.dialects.fixed` computes, so a
datapath built from them is bit-exact with the fixed-point interpreter. They insert
ops at the current `ImplicitBuilder` (the caller sets it up).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from xdsl.dialects import comb, hw
from xdsl.dialects.builtin import IntegerAttr, IntegerType
from xdsl.ir import SSAValue

from rnnc.dialects import fixed, sv
from rnnc.dialects.fixed import Format


def width_of(value: SSAValue) -> int:
    typ = value.type
    assert isinstance(typ, IntegerType)
    return typ.width.data


def constant(raw: int, width: int) -> SSAValue:
    return hw.ConstantOp(raw, IntegerType(width)).result


def bits(value: SSAValue, low: int, count: int) -> SSAValue:
    """value[low + count - 1 : low]."""
    if low == 0 and count == width_of(value):
        return value
    return comb.ExtractOp(value, IntegerAttr(low, 32), IntegerType(count)).result


def sign_bit(value: SSAValue) -> SSAValue:
    return bits(value, width_of(value) - 1, 1)


def sext(value: SSAValue, width: int) -> SSAValue:
    """Sign-extend (or keep) to `width` bits."""
    src = width_of(value)
    if width == src:
        return value
    assert width > src
    fill = comb.ReplicateOp(sign_bit(value), IntegerType(width - src)).result
    return comb.ConcatOp([fill, value], IntegerType(width)).result


def shift_left(value: SSAValue, amount: int) -> SSAValue:
    """value · 2^amount, exact: `amount` zero bits appended."""
    if amount == 0:
        return value
    zeros = constant(0, amount)
    return comb.ConcatOp([value, zeros], IntegerType(width_of(value) + amount)).result


def align(value: SSAValue, src: Format, frac: int, width: int) -> SSAValue:
    """Exact re-scaling to `frac` fractional bits in `width` bits (fixed.align)."""
    return sext(shift_left(value, frac - src.frac), width)


def add(a: SSAValue, fa: Format, b: SSAValue, fb: Format, subtract=False):
    out = fixed.add_format(fa, fb)
    x, y = align(a, fa, out.frac, out.width), align(b, fb, out.frac, out.width)
    if subtract:
        return comb.SubOp(x, y).result, out
    return comb.AddOp([x, y]).result, out


def signed_product(
    a: SSAValue, b: SSAValue, width: int | None = None, name: str = "prod"
) -> SSAValue:
    """a · b of two's-complement values, as `width` bits (default the exact
    width wa + wb; fewer keeps the low bits, more sign-extends).

    Every product of the datapath goes through here. It is written
    `$signed(a) * $signed(b)` in a named wire of the result's width (the wire's
    context sign-extends both operands, so the product is exact), because
    `comb.mul` has no signedness and exports as an unsigned multiply of
    sign-extended operands, which synthesis maps to 2-3 DSP blocks instead of one.
    """
    width = width_of(a) + width_of(b) if width is None else width
    typ = IntegerType(width)
    expr = sv.VerbatimExprOp("$signed({{0}}) * $signed({{1}})", [a, b], typ)
    wire = sv.WireOp(typ, name)
    sv.AssignOp(wire.result, expr.result)
    return sv.ReadInOutOp(wire.result).result


Multiplier = Callable[[SSAValue, SSAValue, int], SSAValue]
"""Builds a · b of signed values as `width` bits (`signed_product`, or a shared
multiplier)."""

Stage = Callable[[SSAValue, str], SSAValue]
"""A pipeline register: the value one cycle later (a multi-stage op calls it
on every signal that crosses a stage boundary, with the signal's role as a
name)."""


def _same(value: SSAValue, role: str) -> SSAValue:
    return value


def mul(
    a: SSAValue, fa: Format, b: SSAValue, fb: Format, multiply: Multiplier | None = None
):
    """fxp.mul: the exact signed product in the product format."""
    out = fixed.mul_format(fa, fb)
    return (multiply or signed_product)(a, b, out.width), out


def _any(value: SSAValue) -> SSAValue:
    """1 when any bit is set."""
    return comb.ICmpOp(value, constant(0, width_of(value)), "ne").result


def _bit(value) -> SSAValue:
    """A 1-bit value, or the value a thunk builds: the rounding rule's bits are
    built only when the mode needs them, operands before their users."""
    return value() if callable(value) else value


def _and(a, b):
    if a is b:
        return a
    return functools.cache(lambda: comb.AndOp([_bit(a), _bit(b)]).result)


def _or(a, b):
    if a is b:
        return a
    return functools.cache(lambda: comb.OrOp([_bit(a), _bit(b)]).result)


def round_shift(x: SSAValue, shift: int, rounding: str) -> SSAValue:
    """x · 2^-shift rounded (shift > 0) by `fixed.rounds_up` on the dropped bits;
    the result has one spare top bit for the rounding carry: width
    max(W - shift, 1) + 1."""
    w = width_of(x)
    if shift >= w:
        floor = sign_bit(x)  # -1 or 0 in one bit
        kept = 1
    else:
        floor = bits(x, shift, w - shift)
        kept = w - shift
    floor = sext(floor, kept + 1)
    if shift > w:
        # |x · 2^-shift| < 1/2: every dropped bit at and below the top one, and
        # the floor's lowest bit, is a copy of the sign.
        sign = functools.cache(lambda: sign_bit(x))
        up = fixed.rounds_up(rounding, sign, sign, sign, _and, _or)
    else:
        up = fixed.rounds_up(
            rounding,
            lambda: bits(x, shift - 1, 1),  # the most significant dropped bit
            lambda: _any(bits(x, 0, shift - 1)) if shift > 1 else constant(0, 1),
            lambda: bits(floor, 0, 1),
            _and,
            _or,
        )
    if up is None:
        return floor
    return comb.AddOp([floor, sext_unsigned(_bit(up), kept + 1)]).result


def sext_unsigned(bit: SSAValue, width: int) -> SSAValue:
    """Zero-extend a 1-bit value to `width` bits."""
    if width == 1:
        return bit
    return comb.ConcatOp([constant(0, width - 1), bit], IntegerType(width)).result


def fit(y: SSAValue, dst: Format, overflow: str) -> SSAValue:
    """Bring y into dst's width: sign-extend, wrap (low bits) or saturate."""
    w = width_of(y)
    if w <= dst.width:
        return sext(y, dst.width)
    low = bits(y, 0, dst.width)
    if overflow == fixed.Overflow.WRAP:
        return low
    if overflow != fixed.Overflow.SATURATE:
        raise ValueError(f"unknown overflow mode '{overflow}'")
    # In range iff the top w - dst.width + 1 bits are all equal (all copies of the
    # sign): compare them with the replicated sign bit.
    top = bits(y, dst.width - 1, w - dst.width + 1)
    sign = sign_bit(y)
    copies = comb.ReplicateOp(sign, IntegerType(w - dst.width + 1)).result
    inside = comb.ICmpOp(top, copies, "eq").result
    bound = comb.MuxOp(
        sign, constant(dst.min_raw, dst.width), constant(dst.max_raw, dst.width)
    ).result
    return comb.MuxOp(inside, low, bound).result


def cast_stages(src: Format, dst: Format, rounding: str, overflow: str) -> int:
    """Registers inside a pipelined `cast`: one between the rounding increment
    (a carry chain) and the saturation (a compare and a mux on its result)
    when the cast has both."""
    rounds = fixed.cast_shift(src, dst) > 0 and rounding != fixed.Rounding.FLOOR
    return int(rounds and overflow == fixed.Overflow.SATURATE)


def cast(
    x: SSAValue,
    src: Format,
    dst: Format,
    rounding: str,
    overflow: str,
    stage: Stage | None = None,
):
    """fixed.cast in hardware: re-scale with rounding, then fit. With `stage`,
    a register between them when `cast_stages` says so."""
    shift = fixed.cast_shift(src, dst)
    if shift <= 0:
        shifted = sext(shift_left(x, -shift), fixed.rescaled_width(src, dst))
    else:
        shifted = round_shift(x, shift, rounding)
    if stage is not None and cast_stages(src, dst, rounding, overflow):
        shifted = stage(shifted, "rounded")
    return fit(shifted, dst, overflow)


def _negate(value: SSAValue) -> SSAValue:
    return comb.SubOp(constant(0, width_of(value)), value).result


def _clamp_unsigned(value: SSAValue, limit: int) -> SSAValue:
    """min(value, limit) for a non-negative signed value."""
    # Wide enough that `limit` is a positive signed constant.
    value = sext(value, max(width_of(value), limit.bit_length() + 1))
    over = comb.ICmpOp(value, constant(limit, width_of(value)), "sgt").result
    return comb.MuxOp(over, constant(limit, width_of(value)), value).result


LUT_STAGES = 2
"""Registers inside a pipelined `lut` (index | table read): with the register
after the table read the op takes three cycles."""


def lut_entries(table: list[int], symmetry: str, out: Format) -> list[int]:
    """The words of a table ROM: the entry of each index as fixed.lut gives it,
    sign rebuilt (r - y for x < 0 at index N + i of a symmetric table) and
    saturated, so no logic follows the read."""
    y = fixed.raw_array(np.asarray(table), out.width + 1)
    r = fixed.reflection(symmetry, out)
    words = y if r is None else np.concatenate([y, r - y])
    return [int(v) for v in fixed.fit(words, out, fixed.Overflow.SATURATE)[0]]


def lut(
    x: SSAValue,
    src: Format,
    table: list[int],
    shift: int,
    symmetry: str,
    out: Format,
    stage: Stage | None = None,
) -> SSAValue:
    """fixed.lut in hardware: index from the shifted (absolute) input and, for
    a symmetric table, the input's sign; a ROM of `lut_entries`.

    With `stage`, a register follows the index (fold, shift, clamp) and another
    the read: a ROM read at a registered address (a synchronous ROM: block or
    distributed RAM) whose word needs no fix-up."""
    stage = stage or _same
    n = len(table)
    assert n & (n - 1) == 0, "table sizes are powers of two"
    index_bits = max(n.bit_length() - 1, 1)
    w = src.width + 1
    wide = sext(x, w)
    sign = sign_bit(x)
    folded = (
        comb.MuxOp(sign, _negate(wide), wide).result if fixed.folds(symmetry) else wide
    )
    index = _shift_signed(folded, shift)
    if not fixed.folds(symmetry):  # a table over [-R, R): offset, clamp at 0
        # Wide enough for the offset N/2 (a coarse input has few index bits).
        index = sext(index, max(width_of(index), index_bits + 1) + 1)
        offset = constant(fixed.index_offset(n, symmetry), width_of(index))
        index = comb.AddOp([index, offset]).result
        negative = sign_bit(index)
        index = comb.MuxOp(negative, constant(0, width_of(index)), index).result
    index = _clamp_unsigned(index, n - 1)
    index = bits(sext(index, max(width_of(index), index_bits)), 0, index_bits)
    entries = lut_entries(table, symmetry, out)
    if fixed.reflection(symmetry, out) is not None:  # the reflected half
        index = comb.ConcatOp([sign, index], IntegerType(index_bits + 1)).result
    if len(set(entries)) == 1:
        return constant(entries[0], out.width)
    words = [constant(v, out.width) for v in entries]
    # hw.array_create puts its last operand at index 0.
    array = hw.ArrayCreateOp(*reversed(words)).result
    return stage(hw.ArrayGetOp(array, stage(index, "index")).result, "entry")


def _shift_signed(value: SSAValue, shift: int) -> SSAValue:
    """floor(value · 2^-shift) for a signed value, exact for shift ≤ 0."""
    if shift <= 0:
        return shift_left(value, -shift)
    return round_shift(value, shift, "floor")


def clip(x: SSAValue, low: int, high: int) -> SSAValue:
    """min(max(x, low), high) on raw values of x's width (fxp.clip)."""
    w = width_of(x)
    below = comb.ICmpOp(x, constant(low, w), "slt").result
    x = comb.MuxOp(below, constant(low, w), x).result
    above = comb.ICmpOp(x, constant(high, w), "sgt").result
    return comb.MuxOp(above, constant(high, w), x).result


def pwl(
    x: SSAValue,
    src: Format,
    breakpoints: list[int],
    slopes: list[int],
    slope_frac: int,
    intercepts: list[int],
    out: Format,
    rounding: str,
    overflow: str,
    multiply: Multiplier | None = None,
    stage: Stage | None = None,
) -> SSAValue:
    """fixed.pwl in hardware: comparators pick the segment (breakpoints ascend),
    one signed multiplier, the rounding shift, the intercept, then fit.

    With `stage`, `multiply` is pipelined (its product comes one cycle after
    its operands) and the intercept is registered alongside."""
    width, offset_width = fixed.pwl_widths(src, slopes, out)
    slope_bits = width - src.width
    wide = sext(x, width)
    slope = constant(slopes[0], slope_bits)
    offset = constant(intercepts[0], offset_width)
    for i, bp in enumerate(breakpoints):
        past = comb.ICmpOp(wide, constant(bp, width), "sge").result
        slope = comb.MuxOp(past, constant(slopes[i + 1], slope_bits), slope).result
        offset = comb.MuxOp(
            past, constant(intercepts[i + 1], offset_width), offset
        ).result
    if multiply is None:
        product = signed_product(x, slope, width, "pwl_prod")  # exact
    else:
        product = multiply(x, slope, width)
    if stage is not None:
        offset = stage(offset, "intercept")
    shift = fixed.pwl_shift(src, slope_frac, out)
    if shift > 0:
        scaled = round_shift(product, shift, rounding)
    else:
        scaled = shift_left(product, -shift)
    total = max(width_of(scaled), offset_width) + 1
    y = comb.AddOp([sext(scaled, total), sext(offset, total)]).result
    return fit(y, out, overflow)
