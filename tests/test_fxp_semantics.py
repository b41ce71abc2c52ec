"""Every fxp op has one definition, and every consumer implements it.

An op of the `fxp` dialect must have (a) reference semantics (`FxpSemantics.
reference`, written with the rules of `dialects/fixed.py`), (b) an interpreter
implementation, and (c) a hardware implementation in the fxp → hw conversion, or be
listed here as host-side or compile-time by design, with the reason. Then the
interpreter's kernels (and its fused chains) are run against the reference
semantics on random formats, modes and raw values: same values, same
representation, same overflow counts.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.builder import ImplicitBuilder
from xdsl.dialects.builtin import (
    DenseArrayBase,
    IntegerAttr,
    IntegerType,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Block

from rnnc.backends.interpreter import float_interpreter, fusion, fxp_interpreter
from rnnc.dialects import fixed, fxp
from rnnc.dialects.arrays import dense_of
from rnnc.dialects.fixed import Format
from rnnc.passes.fxp_to_hw import datapath, plan

OPS = list(fxp.Fxp.operations)

# Ops the hardware does not compute element by element, and why.
NOT_ELEMENTWISE = {
    fxp.ConstantOp: "compile time: weights in ROMs, other constants folded by plan",
    fxp.QuantizeOp: "host: the inputs stream in already quantized",
    fxp.DequantizeOp: "host: outputs are read back as raw words",
    fxp.MatMulOp: "the mat-vec lanes (plan.MatVec), not the elementwise unit",
    **{
        op: "registers over the unit index, in sweeps of the elementwise unit "
        "(fxp_to_hw/reduction.py; tests/test_hw_heads.py)"
        for op in fxp.REDUCTIONS
    },
}


def test_the_fxp_dialect_has_ops():
    assert len(OPS) >= 11


@pytest.mark.parametrize("op_type", OPS, ids=lambda t: t.name)
def test_every_op_has_reference_semantics(op_type):
    assert issubclass(op_type, fxp.FxpSemantics)
    assert not inspect.isabstract(op_type), f"{op_type.name}: no reference()"


@pytest.mark.parametrize("op_type", OPS, ids=lambda t: t.name)
def test_every_op_runs_in_the_interpreter(op_type):
    assert fxp_interpreter  # registers the fxp implementations
    assert (
        op_type in float_interpreter.COMPILERS or op_type in float_interpreter.IMPLS
    ), f"{op_type.name} has no interpreter implementation"


@pytest.mark.parametrize("op_type", OPS, ids=lambda t: t.name)
def test_every_op_has_hardware_or_a_reason(op_type):
    if op_type in NOT_ELEMENTWISE:
        assert op_type not in plan.ELEMENTWISE
        return
    assert op_type in plan.ELEMENTWISE, f"{op_type.name}: no hardware and no reason"
    op, _ = build(op_type, np.random.default_rng(0))
    block = Block(arg_types=[IntegerType(fxp.format_of(v).width) for v in op.operands])
    with ImplicitBuilder(block):
        out = datapath._elementwise(op, list(block.args))
    assert out.type == IntegerType(fxp.format_of(op.results[0]).width)


# ------------------------------------------------------------- random ops


def fmt(rng, lo=1, hi=40) -> Format:
    width = int(rng.integers(lo, hi))
    return Format(width, int(rng.integers(-6, width + 8)))


def raw(rng, f: Format, shape) -> np.ndarray:
    """Raw values of f with its extremes, zero and ties after a shift."""
    lo, hi = f.min_raw, f.max_raw
    values = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)
    flat = values.reshape(-1)
    picks = [lo, hi, 0, -1 if lo < 0 else 0]
    for i in range(min(flat.size, len(picks))):
        flat[i] = picks[i]
    if flat.size > 4:
        step = 1 << int(rng.integers(0, f.width))
        flat[4:] = np.clip(flat[4:] // step * step, lo, hi)
    return fixed.raw_array(values, f.width)


def tensor(shape, f: Format) -> TensorType:
    return fxp.fixed_tensor(shape, f)


def modes(rng) -> tuple[str, str]:
    return (
        str(rng.choice(fixed.ROUNDING_MODES)),
        str(rng.choice(fixed.OVERFLOW_MODES)),
    )


def build(op_type, rng):
    """One op of op_type on block arguments of random formats, and its inputs."""
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 6)))
    fa, fb = fmt(rng), fmt(rng)
    if op_type in (fxp.AddOp, fxp.SubOp, fxp.MulOp):
        b_shape = shape if rng.integers(0, 2) else shape[1:]
        block = Block(arg_types=[tensor(shape, fa), tensor(b_shape, fb)])
        return op_type(*block.args), [raw(rng, fa, shape), raw(rng, fb, b_shape)]
    if op_type is fxp.MatMulOp:
        fa, fb = fmt(rng, 1, 20), fmt(rng, 1, 20)
        k = int(rng.integers(1, 8))
        block = Block(arg_types=[tensor((shape[0], k), fa), tensor((k, shape[1]), fb)])
        inputs = [raw(rng, fa, (shape[0], k)), raw(rng, fb, (k, shape[1]))]
        return fxp.MatMulOp(*block.args), inputs
    x = Block(arg_types=[tensor(shape, fa)]).args[0]
    if op_type is fxp.CastOp:
        return fxp.CastOp(x, fb, *modes(rng)), [raw(rng, fa, shape)]
    if op_type is fxp.ClipOp:
        lo, hi = sorted(int(v) for v in raw(rng, fa, (2,)))
        return fxp.ClipOp(x, lo, hi), [raw(rng, fa, shape)]
    if op_type is fxp.ConstantOp:
        value = raw(rng, fb, shape).astype(np.int64)
        return fxp.ConstantOp(dense_of(value), fb), []
    if op_type is fxp.QuantizeOp:
        floats = Block(arg_types=[TensorType(f32, shape)]).args[0]
        op = fxp.QuantizeOp.build(
            operands=[floats],
            result_types=[tensor(shape, fb)],
            properties=fxp.QuantizeOp.modes(*modes(rng)),
        )
        scale = 2.0 ** float(rng.integers(-8, 12))
        return op, [(rng.normal(size=shape) * scale).astype(np.float32)]
    if op_type is fxp.DequantizeOp:
        op = fxp.DequantizeOp.build(operands=[x], result_types=[TensorType(f32, shape)])
        return op, [raw(rng, fa, shape)]
    if op_type is fxp.LutOp:
        return lut(x, rng, fb), [raw(rng, fa, shape)]
    if op_type is fxp.PwlOp:
        return pwl(x, rng, fb), [raw(rng, fa, shape)]
    if op_type in fxp.REDUCTIONS:
        return op_type.of(x), [raw(rng, fa, shape)]
    raise AssertionError(f"no random {op_type.name}: add one here")


def lut(x, rng, out: Format) -> fxp.LutOp:
    entries = 1 << int(rng.integers(0, 6))
    table = raw(rng, out, (entries,)).astype(np.int64)
    return fxp.LutOp.build(
        operands=[x],
        result_types=[tensor(x.type.get_shape(), out)],
        properties={
            "table": dense_of(table),
            "shift": IntegerAttr(int(rng.integers(-3, 12)), 64),
            "symmetry": fxp.SymmetryAttr(fixed.Symmetry(rng.choice(fixed.SYMMETRIES))),
        },
    )


def pwl(x, rng, out: Format) -> fxp.PwlOp:
    src = fxp.format_of(x)
    n = int(rng.integers(1, 5))
    bps = sorted(int(v) for v in raw(rng, src, (n - 1,)))
    slopes = [int(v) for v in rng.integers(-(2**12), 2**12, n)]
    intercepts = [int(v) for v in raw(rng, out, (n,))]
    return fxp.PwlOp.build(
        operands=[x],
        result_types=[tensor(x.type.get_shape(), out)],
        properties={
            "breakpoints": DenseArrayBase.from_list(i64, bps),
            "slopes": DenseArrayBase.from_list(i64, slopes),
            "intercepts": DenseArrayBase.from_list(i64, intercepts),
            "slope_frac": IntegerAttr(int(rng.integers(0, 14)), 64),
            **fxp.PwlOp.modes(*modes(rng)),
        },
    )


def interpret(op, args) -> tuple[list[np.ndarray], int]:
    """The interpreter's implementation of op (compiled kernel or impl), with the
    overflow events it counts."""
    counter = fxp_interpreter.OverflowCounter()
    token = fxp_interpreter._COUNTER.set(counter)
    try:
        compile_kernel = float_interpreter.COMPILERS.get(type(op))
        if compile_kernel is not None:
            results = compile_kernel(op)(args)
        else:
            results = float_interpreter.IMPLS[type(op)](op, args)
    finally:
        fxp_interpreter._COUNTER.reset(token)
    return results, counter.total_overflows


def same(got: np.ndarray, want: np.ndarray) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("op_type", OPS, ids=lambda t: t.name)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_interpreter_equals_reference(op_type, seed):
    op, args = build(op_type, np.random.default_rng(seed))
    want, want_bad = fxp.reference(op, args)
    got, got_bad = interpret(op, args)
    for g, w in zip(got, want, strict=True):
        same(g, w)
    assert got_bad == want_bad


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fused_chains_equal_reference(seed):
    """add/sub/mul + cast (+ lut): the fused kernels against the ops' references."""
    rng = np.random.default_rng(seed)
    first = rng.choice([fxp.AddOp, fxp.SubOp, fxp.MulOp])
    binary, args = build(first, rng)
    cast = fxp.CastOp(binary.result, fmt(rng, 1, 30), *modes(rng))
    chain = [binary, cast]
    if first is not fxp.MulOp and rng.integers(0, 2):
        chain.append(lut(cast.result, rng, fmt(rng, 1, 30)))
    make = fusion.CHAINS[tuple(type(op) for op in chain)]
    counter = fxp_interpreter.OverflowCounter()
    token = fxp_interpreter._COUNTER.set(counter)
    try:
        fused = make(*chain)
        got = None if fused is None else fused(args)[0]
    finally:
        fxp_interpreter._COUNTER.reset(token)
    value, bad = args, 0
    for op in chain:
        value, events = fxp.reference(op, value)
        bad += events
    if got is not None:
        same(got, value[0])
        assert counter.total_overflows == bad


def test_evaluate_gives_int64_and_floats():
    """`fxp.evaluate`: raw int64 in and out, floats for dequantize."""
    f = Format(10, 3)
    x = Block(arg_types=[tensor((4,), f)]).args[0]
    cast = fxp.CastOp(x, Format(6, 1), "half-even", "saturate")
    raw_in = np.array([-512, -3, 6, 511], np.int64)
    (out,) = fxp.evaluate(cast, [raw_in])
    assert out.dtype == np.int64
    # raw / 4 rounded half-even, then saturated to [-32, 31]
    assert out.tolist() == [-32, -1, 2, 31]
    deq = fxp.DequantizeOp.build(operands=[x], result_types=[TensorType(f32, [4])])
    (values,) = fxp.evaluate(deq, [raw_in])
    assert values.dtype == np.float32
    assert values.tolist() == [-64.0, -0.375, 0.75, 63.875]
