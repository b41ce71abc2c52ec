"""Runs of elementwise fxp ops compiled into one loop (backends/interpreter/
fxp_elementwise.py) equal the ops' reference semantics one by one (`fxp.reference`,
the rules of `dialects/fixed.py`): random chains of add, sub, mul, cast and table
lookups on random formats, every rounding and overflow mode, ties and range
extremes, row-broadcast operands; same values, representation and overflow counts
per cast. Then the step of an LSTM is one run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr
from xdsl.ir import Block

from rnnc.backends.interpreter import (
    float_interpreter,
    fxp_elementwise,
    fxp_kernels,
    parallel,
)
from rnnc.dialects import fixed, fxp
from rnnc.dialects.fixed import Format
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model
from tests.test_fxp_semantics import fmt, lut, modes, raw, tensor

pytestmark = pytest.mark.skipif(fxp_kernels.jit() is None, reason="needs numba")


@pytest.fixture(autouse=True)
def _compile_at_once(monkeypatch):
    """Runs use their compiled loop from the first call (not op by op first)."""
    monkeypatch.setattr(fxp_elementwise, "COMPILE_WORK", 0)


def random_chain(rng, rows: int, cols: int, widths=(1, 30)):
    """A block of random elementwise ops on random formats (returning a random
    subset of the values and the last one) and raw inputs of its arguments."""
    shapes = [(rows, cols), (cols,), (1, cols), ()]
    arg_formats = [fmt(rng, *widths) for _ in range(int(rng.integers(1, 4)))]
    arg_shapes = [(rows, cols)] + [
        shapes[int(rng.integers(0, 4))] for _ in arg_formats[1:]
    ]
    block = Block(
        arg_types=[tensor(s, f) for s, f in zip(arg_shapes, arg_formats, strict=True)]
    )
    inputs = [raw(rng, f, s) for f, s in zip(arg_formats, arg_shapes, strict=True)]
    values = list(block.args)
    full = [block.args[0]]  # values of the full shape
    for _ in range(int(rng.integers(2, 12))):
        kind = int(rng.integers(0, 5))
        x = full[int(rng.integers(0, len(full)))]
        if kind < 3:
            y = values[int(rng.integers(0, len(values)))]
            op = (fxp.AddOp, fxp.SubOp, fxp.MulOp)[kind](x, y)
        elif kind == 3:
            width = int(rng.integers(1, 64)) if rng.integers(0, 8) == 0 else None
            dst = Format(width, int(rng.integers(-4, width + 4))) if width else None
            op = fxp.CastOp(x, dst or fmt(rng, *widths), *modes(rng))
        else:
            op = lut(x, rng, fmt(rng, *widths))
        block.add_op(op)
        values.append(op.results[0])
        full.append(op.results[0])
    returned = [v for v in values[len(block.args) :] if rng.integers(0, 3) == 0]
    block.add_op(func.ReturnOp(*returned, values[-1]))
    return block, inputs


def reference(block: Block, inputs):
    env = dict(zip(block.args, inputs, strict=True))
    counts = {}
    for op in list(block.ops)[:-1]:
        (result,), bad = fxp.reference(op, [env[v] for v in op.operands])
        env[op.results[0]] = result
        if isinstance(op, fxp.CastOp):
            counts[op] = (bad, result.size)
    return env, counts


def fused(block: Block, inputs):
    env = dict(zip(block.args, inputs, strict=True))
    counts = {}

    def count(op, bad, total):
        old = counts.get(op, (0, 0))
        counts[op] = (old[0] + bad, old[1] + total)

    interpreter = float_interpreter.Interpreter()
    items = fxp_elementwise.fuse_runs(list(block.ops)[:-1], interpreter.run_ops, count)
    for item in items:
        if isinstance(item, fxp_elementwise.Run):
            item.run(env)
            item.flush()
        else:  # a single op, or one outside the bounds: its own kernel
            interpreter.run_ops([item], env)
            if isinstance(item, fxp.CastOp):
                (result,), bad = fxp.reference(item, [env[v] for v in item.operands])
                count(item, bad, result.size)
    return env, counts, items


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_runs_equal_the_ops_one_by_one(seed):
    rng = np.random.default_rng(seed)
    block, inputs = random_chain(rng, int(rng.integers(1, 6)), int(rng.integers(1, 9)))
    want, want_counts = reference(block, inputs)
    got, got_counts, _ = fused(block, inputs)
    for value in block.last_op.operands:
        assert got[value].dtype == want[value].dtype
        assert got[value].shape == want[value].shape
        assert np.array_equal(got[value], want[value])
    assert got_counts == want_counts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_runs_near_32_bits_equal_the_ops_one_by_one(seed):
    """Formats of 12 to 17 bits: sums and products of 17 to 34 bits, so that runs
    land on both sides of the int32 loops' bound (`fxp_elementwise.word_of`)."""
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 6)), int(rng.integers(1, 9))
    block, inputs = random_chain(rng, rows, cols, widths=(12, 18))
    want, want_counts = reference(block, inputs)
    got, got_counts, _ = fused(block, inputs)
    for value in block.last_op.operands:
        assert got[value].dtype == want[value].dtype
        assert np.array_equal(got[value], want[value])
    assert got_counts == want_counts


@pytest.mark.parametrize("rounding", fixed.ROUNDING_MODES)
def test_int32_loops_at_their_bound(rounding):
    """A run whose widest values have exactly 32 bits runs in int32: sums and
    differences of 31-bit extremes (up to ±2^31), every rounding of them by small
    and large shifts with both overflow modes, and their table lookups."""
    rng = np.random.default_rng(7)
    f = Format(31, 20)
    block = Block(arg_types=[tensor((4, 6), f), tensor((6,), f)])
    x, y = block.args
    ops, outs = [fxp.AddOp(x, y), fxp.SubOp(x, y)], []
    for total in list(ops):
        for overflow in fixed.OVERFLOW_MODES:
            for shift in (1, 5, 19, 30):
                c = fxp.CastOp(
                    total.results[0], Format(12, 20 - shift), rounding, overflow
                )
                t = lut(c.results[0], rng, Format(16, 14))
                t.properties["shift"] = IntegerAttr(int(rng.integers(0, 4)), 64)
                ops += [c, t]
                outs += [c.results[0], t.results[0]]
    for op in ops:
        block.add_op(op)
    block.add_op(func.ReturnOp(*outs))
    big, small = f.max_raw, f.min_raw
    a = np.array([[small, small, big, big, 1, -1]] * 4, np.float64)
    a[2:] = raw(rng, f, (2, 6))
    b = np.array([small, big, small, big, -(1 << 19), 3 << 18], np.float64)
    want, want_counts = reference(block, [a, b])
    got, got_counts, items = fused(block, [a, b])
    (run,) = items
    assert run._narrow
    for value in outs:
        assert np.array_equal(got[value], want[value])
    assert got_counts == want_counts
    assert any(bad for bad, _ in want_counts.values())


def need_openmp() -> None:
    """numba's OpenMP layer: required in CI (a missing library is a failure)."""
    if not parallel.openmp():
        assert not os.environ.get("CI"), "numba's OpenMP threading layer did not load"
        pytest.skip("numba's OpenMP threading layer is not available")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_runs_on_threads_equal_the_ops_one_by_one(seed):
    """The loop's rows split over two threads (`run_parallel`): the same values
    and the same overflow counts."""
    need_openmp()
    rng = np.random.default_rng(seed)
    block, inputs = random_chain(rng, int(rng.integers(2, 9)), int(rng.integers(1, 9)))
    want, want_counts = reference(block, inputs)
    saved = parallel.MIN_PARALLEL_ELEMENTS
    parallel.MIN_PARALLEL_ELEMENTS = 0
    try:
        with parallel.threads(2):
            assert parallel.parallel_loops(1) == 2
            got, got_counts, _ = fused(block, inputs)
    finally:
        parallel.MIN_PARALLEL_ELEMENTS = saved
    for value in block.last_op.operands:
        assert np.array_equal(got[value], want[value])
        assert got[value].dtype == want[value].dtype
    assert got_counts == want_counts


def test_a_long_chain_is_one_run_with_every_mode():
    """Every rounding and overflow mode, saturating and wrapping extremes, in one
    run of lookups between casts."""
    rng = np.random.default_rng(1)
    f = Format(16, 10)
    block = Block(arg_types=[tensor((6, 5), f), tensor((5,), Format(12, 3))])
    x, bias = block.args
    for rounding in fixed.ROUNDING_MODES:
        for overflow in fixed.OVERFLOW_MODES:
            s = fxp.AddOp(x, bias)
            c = fxp.CastOp(s.results[0], Format(9, 4), rounding, overflow)
            t = lut(c.results[0], rng, Format(16, 10))
            t.properties["shift"] = IntegerAttr(int(rng.integers(0, 4)), 64)
            m = fxp.MulOp(t.results[0], x)
            x_op = fxp.CastOp(m.results[0], f, rounding, overflow)
            for op in (s, c, t, m, x_op):
                block.add_op(op)
            x = x_op.results[0]
    block.add_op(func.ReturnOp(x))
    inputs = [raw(rng, f, (6, 5)), raw(rng, Format(12, 3), (5,))]
    want, want_counts = reference(block, inputs)
    got, got_counts, items = fused(block, inputs)
    assert [type(i) for i in items] == [fxp_elementwise.Run]
    assert np.array_equal(got[x], want[x]) and got[x].dtype == want[x].dtype
    assert got_counts == want_counts
    assert any(bad for bad, _ in want_counts.values())  # overflows were counted


def test_an_lstm_step_is_products_and_one_run():
    """The elementwise part of a quantized LSTM step (casts, gates' tables, cell
    and hidden updates) is compiled into one run."""
    root = Path(__file__).resolve().parent.parent / "examples"
    feeds = dict(np.load(root / "lstm_classifier_input.npz"))
    config = load_config(weight_bits=8, activation_bits=12, state_bits=12)
    module, _ = quantize_model(load_model(root / "lstm_classifier.onnx"), feeds, config)
    interpreter = float_interpreter.Interpreter()
    (recurrence,) = [op for op in module.walk() if op.name == "rnn.recurrence"]
    _, _, in_loop = interpreter.plan(recurrence)
    runs = [o for o in in_loop if isinstance(o, fxp_elementwise.Run)]
    assert len(runs) == 1
    assert not [o for o in in_loop if isinstance(o, fxp.CastOp | fxp.LutOp)]


def test_threads_load_a_new_loop_at_once(tmp_path, monkeypatch):
    """Blocks of rows on threads may build the same new loop together: each gets
    the one module (a file of the source written once, renamed into place)."""
    import threading

    monkeypatch.setenv(fxp_elementwise.CACHE_ENV, str(tmp_path))
    source = f"SEED = {os.getpid()}{threading.get_ident()}\n"  # new to this cache
    modules, errors = [], []

    def load():
        try:
            modules.append(fxp_elementwise._load(source))
        except Exception as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(modules) == 4
    assert all(m is modules[0] for m in modules)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
