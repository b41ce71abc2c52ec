"""The interpreter's compiled kernels (backends/fxp_kernels.py, fxp_jit.py) equal
the rules of `dialects/fixed.py` bit for bit, in the same representation and with
the same overflow counts: random formats (negative F, F > W, widths past the float
bounds), every rounding and overflow mode, ties, saturation extremes, broadcast,
strided and empty operands; then whole models, interpreter against the rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rnnc import driver
from rnnc.backends.interpreter import (
    batch_blocks,
    float_interpreter,
    fusion,
    fxp_elementwise,
    fxp_interpreter,
    int_matmul,
    parallel,
)
from rnnc.backends.interpreter import fxp_kernels as kernels
from rnnc.dialects import fixed, fxp
from rnnc.dialects.fixed import Format
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model
from tests.test_fxp_elementwise import need_openmp

MODES = [(r, o) for r in fixed.ROUNDING_MODES for o in fixed.OVERFLOW_MODES]


@pytest.fixture(autouse=True)
def _compile_at_once(monkeypatch):
    """Compiled runs of elementwise ops from the first call (not op by op first)."""
    monkeypatch.setattr(fxp_elementwise, "COMPILE_WORK", 0)


class Counts:
    def __init__(self):
        self.bad = self.total = 0

    def __call__(self, bad: int, total: int) -> None:
        self.bad += bad
        self.total += total


def fmt(rng, widths=(1, 40)) -> Format:
    width = int(rng.integers(*widths))
    return Format(width, int(rng.integers(-6, width + 8)))


def draw(rng, f: Format, shape) -> np.ndarray:
    """Raw values in f's representation, with extremes and rounding ties."""
    n = int(np.prod(shape, dtype=np.int64))
    lo, hi = f.min_raw, f.max_raw
    span = max(1, min(hi, 2**62))
    pool = [lo, hi, 0, -1, 1, lo + 1, hi - 1]
    values = []
    for _ in range(n):
        kind = rng.integers(0, 4)
        if kind == 0:
            values.append(pool[int(rng.integers(0, len(pool)))])
        elif kind == 1:  # a multiple of a power of two: ties after a shift
            step = 1 << int(rng.integers(0, max(f.width - 1, 1)))
            values.append(
                max(lo, min(hi, int(rng.integers(-span, span)) // step * step))
            )
        else:
            values.append(max(lo, min(hi, int(rng.integers(-span, span + 1)))))
    values = [max(lo, min(hi, v)) for v in values]
    return fixed.raw_array(np.array(values, dtype=object).reshape(shape), f.width)


def same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    assert np.array_equal(got, want)


SHAPES = [(7,), (5, 9), (3, 4, 6), (1, 1)]


def shapes_of(rng):
    """Operand shapes: equal, or a row broadcast over the other's rows."""
    shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
    kind = rng.integers(0, 3)
    if kind == 0 or len(shape) == 1:
        return shape, shape
    if kind == 1:
        return shape, shape[-1:]
    return shape[-1:], shape


@pytest.mark.parametrize(("rounding", "overflow"), MODES)
def test_cast(loops, rounding, overflow):
    rng = np.random.default_rng(hash((rounding, overflow)) % 2**32)
    for _ in range(120):
        src, dst = fmt(rng, (1, 60)), fmt(rng, (1, 60))
        x = draw(rng, src, SHAPES[int(rng.integers(0, len(SHAPES)))])
        counts = Counts()
        got = kernels.cast(src, dst, rounding, overflow, counts)(x)
        want, bad = fixed.cast(x, src, dst, rounding, overflow)
        same(got, want)
        assert (counts.bad, counts.total) == (bad, want.size)


@pytest.mark.parametrize(("rounding", "overflow"), MODES)
def test_quantize(loops, rounding, overflow):
    """Floats on the grid, halfway between grid points (ties), just off them,
    huge, tiny and signed zeros, into random formats (negative F, F > W)."""
    rng = np.random.default_rng(hash((rounding, overflow, "q")) % 2**32)
    for _ in range(120):
        dst = fmt(rng, (1, 54))
        grid = draw(rng, Format(min(dst.width + 2, 60), dst.frac), (40,))
        ties = (grid.astype(np.float64) + 0.5) * 2.0**-dst.frac
        x = np.concatenate(
            [
                grid.astype(np.float64) * 2.0**-dst.frac,
                ties,
                np.nextafter(ties, np.inf),
                np.nextafter(ties, -np.inf),
                rng.normal(size=20) * 2.0 ** float(rng.integers(-30, 40)),
                [0.0, -0.0, 1e-30, -1e-30, 3e38, -3e38],
            ]
        ).astype(np.float32)
        counts = Counts()
        got = kernels.quantize(dst, rounding, overflow, counts)(x)
        want, bad = fixed.quantize(x, dst, rounding, overflow)
        same(got, want)
        assert (counts.bad, counts.total) == (bad, want.size)
    with pytest.raises(ValueError):
        kernels.quantize(Format(8, 4), rounding, overflow)(np.float32([1, np.nan]))


@pytest.mark.parametrize(("rounding", "overflow"), MODES)
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_binary_then_cast(loops, op, rounding, overflow):
    rng = np.random.default_rng(hash((op, rounding, overflow)) % 2**32)
    for _ in range(120):
        fa, fb, dst = fmt(rng, (1, 34)), fmt(rng, (1, 34)), fmt(rng, (1, 40))
        sa, sb = shapes_of(rng)
        a, b = draw(rng, fa, sa), draw(rng, fb, sb)
        if op == "mul":
            exact, efmt = fixed.mul(a, fa, b, fb)
            plain = kernels.mul(fa, fb)
        else:
            exact, efmt = fixed.add(a, fa, b, fb, subtract=op == "sub")
            plain = kernels.add(fa, fb, subtract=op == "sub")
        same(plain(a, b), exact)
        counts = Counts()
        if op == "mul":
            fused = kernels.mul_cast(fa, fb, dst, rounding, overflow, counts)
        else:
            fused = kernels.add_cast(
                fa, fb, op == "sub", dst, rounding, overflow, counts
            )
        want, bad = fixed.cast(exact, efmt, dst, rounding, overflow)
        if fused is None:  # only beyond float64's 53 bits
            assert efmt.width - min(efmt.frac - dst.frac, 0) > 53 or dst.width > 53
            continue
        same(fused(a, b), want)
        assert (counts.bad, counts.total) == (bad, want.size)


def table_for(rng, out: Format, entries: int) -> np.ndarray:
    return np.array(
        [int(rng.integers(out.min_raw, out.max_raw + 1)) for _ in range(entries)],
        dtype=np.int64,
    )


@pytest.mark.parametrize("symmetry", ["odd", "sigmoid", "none"])
def test_tables(loops, symmetry):
    rng = np.random.default_rng(len(symmetry))
    for _ in range(150):
        src = fmt(rng, (2, 21))
        out = Format(int(rng.integers(2, 24)), int(rng.integers(-2, 20)))
        table = table_for(rng, out, 1 << int(rng.integers(0, 9)))
        shift = int(rng.integers(0, 20))
        x = draw(rng, src, SHAPES[int(rng.integers(0, len(SHAPES)))])
        want = fixed.lut(x, table, shift, symmetry, out)
        small = kernels.table_lut(table, shift, symmetry, src, out)
        if small is not None:
            same(small(x), want)
        else:
            assert loops == "numpy"
        full = fxp_interpreter._full_table(table.tobytes(), shift, symmetry, src, out)
        same(kernels.full_table_lut(full, src)(x), want)


@pytest.mark.parametrize(("rounding", "overflow"), MODES)
def test_add_cast_then_table(loops, rounding, overflow):
    rng = np.random.default_rng(hash(("lut", rounding, overflow)) % 2**32)
    for _ in range(100):
        fa, fb, dst = fmt(rng, (1, 30)), fmt(rng, (1, 30)), fmt(rng, (2, 20))
        out = Format(int(rng.integers(2, 20)), int(rng.integers(0, 18)))
        symmetry = ["odd", "sigmoid", "none"][int(rng.integers(0, 3))]
        table = table_for(rng, out, 1 << int(rng.integers(1, 9)))
        shift = int(rng.integers(0, 12))
        sa, sb = shapes_of(rng)
        a, b = draw(rng, fa, sa), draw(rng, fb, sb)
        counts = Counts()
        fused = kernels.add_cast_lut(
            fa, fb, False, dst, rounding, overflow, counts, table, shift, symmetry, out
        )
        exact, efmt = fixed.add(a, fa, b, fb)
        if fused is None:  # without numba, or beyond float64's 53 bits
            need = efmt.width - min(efmt.frac - dst.frac, 0)
            assert loops == "numpy" or need > 53
            continue
        z, bad = fixed.cast(exact, efmt, dst, rounding, overflow)
        same(fused(a, b), fixed.lut(z, table, shift, symmetry, out))
        assert (counts.bad, counts.total) == (bad, z.size)


def test_odd_operands(loops):
    """Strided, transposed, 0-d and empty operands."""
    rng = np.random.default_rng(7)
    fa, fb, dst = Format(16, 13), Format(31, 25), Format(16, 13)
    a, b = draw(rng, fa, (6, 10)), draw(rng, fb, (10, 12))
    for x, y in [(a[:, ::2], b[::2, ::2].T), (a.T[:5], b[:5, :6]), (a[:0], b[:0, :10])]:
        exact, efmt = fixed.add(x, fa, y, fb)
        want, bad = fixed.cast(exact, efmt, dst, "half-even", "saturate")
        same(kernels.add_cast(fa, fb, False, dst, "half-even", "saturate")(x, y), want)
    x = draw(rng, fa, ())
    same(
        kernels.cast(fa, dst, "floor", "wrap")(x),
        fixed.cast(x, fa, dst, "floor", "wrap")[0],
    )
    same(
        kernels.cast(fb, dst, "floor", "wrap")(b[::3, 1::2]),
        fixed.cast(b[::3, 1::2], fb, dst, "floor", "wrap")[0],
    )


# ------------------------------------------------------------------ whole models


def _reference_impls(monkeypatch):
    """The interpreter with every fxp op run by its reference semantics
    (`fxp.reference`, the rules of `fixed`) alone: no compiled kernels, no fused
    products or chains."""
    count = fxp_interpreter.count
    monkeypatch.setattr(
        float_interpreter,
        "COMPILERS",
        {t: c for t, c in float_interpreter.COMPILERS.items() if t not in FXP_OPS},
    )
    monkeypatch.setattr(fusion, "CHAINS", {})
    monkeypatch.setattr(fusion, "PRODUCT_FUSION", {})
    monkeypatch.setattr(fusion, "RUNS", [])
    impls = dict(float_interpreter.IMPLS)

    def reference(op, args):
        results, bad = fxp.reference(op, args)
        if isinstance(op, fxp.CastOp | fxp.QuantizeOp):
            count(op, bad, results[0].size)
        return results

    impls.update(dict.fromkeys(FXP_OPS, reference))
    monkeypatch.setattr(float_interpreter, "IMPLS", impls)


FXP_OPS = {
    fxp.ConstantOp,
    fxp.QuantizeOp,
    fxp.AddOp,
    fxp.SubOp,
    fxp.MulOp,
    fxp.MatMulOp,
    fxp.CastOp,
    fxp.LutOp,
}

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from onnx.backend.test.case.node import collect_testcases

    CASES = {
        c.name: c
        for c in collect_testcases(None)
        if any(k in c.name for k in ("lstm", "gru", "rnn"))
    }

POLICIES = {
    "w8a16": dict(weight_bits=8, act_bits=16),
    "w4a8-floor-wrap": dict(
        weight_bits=4, act_bits=8, rounding="floor", overflow="wrap"
    ),
    "w12a12-half-up-pct": dict(
        weight_bits=12, act_bits=12, rounding="half-up", range="percentile"
    ),
    "w6a10-pwl": dict(weight_bits=6, act_bits=10, activation_method="pwl"),
    "w16a24": dict(weight_bits=16, act_bits=24),
}


def _config(policy):
    policy = dict(policy)
    bits = policy.pop("act_bits")
    for cls in ("input", "preactivation", "activation", "state", "output"):
        policy[f"{cls}_bits"] = bits
    return load_config(**policy)


def _run(module, feeds):
    outputs, counter = driver.execute(module, feeds)
    events = {op: tuple(v) for op, v in counter.events.items()}
    return outputs, events


def _matches_the_reference(module, feeds, monkeypatch, run=None) -> None:
    """The interpreter as configured (or `run(feeds)`, giving outputs and
    events) equals it with reference semantics alone."""
    got, got_events = run(feeds) if run else _run(module, feeds)
    with monkeypatch.context() as m:
        _reference_impls(m)
        want, want_events = _run(module, feeds)
    for name in want:
        same(got[name], want[name])
    assert got_events == want_events


def _case(case: str, policy: str):
    """(quantized module, feeds) of an onnx backend test case."""
    if case not in CASES:
        pytest.skip(f"onnx has no case {case}")
    test = CASES[case]
    (inputs, _), *_ = test.data_sets
    feeds = {i.name: a for i, a in zip(test.model.graph.input, inputs, strict=True)}
    module, _ = quantize_model(test.model, feeds, _config(POLICIES[policy]))
    return module, feeds


# every policy on the LSTM, two on the GRU and the RNN (a suite under ten
# minutes: each case and policy compiles loops of its own)
MODEL_CASES = [
    *(("test_lstm_with_peepholes", p) for p in POLICIES),
    *(
        (case, p)
        for case in ("test_gru_seq_length", "test_simple_rnn_batchwise")
        for p in ("w8a16", "w4a8-floor-wrap")
    ),
]


def _without_tiles(monkeypatch) -> None:
    """The interpreter without the VNNI tiles (tests/test_step_loop.py), which
    take over the products and time loops of the paths tested here."""
    monkeypatch.setattr(float_interpreter, "STEP_LOOPS", [])
    monkeypatch.setattr(fusion, "BLOCKS", [])


@pytest.mark.parametrize(("case", "policy"), MODEL_CASES)
def test_models_match_the_rules(case, policy, monkeypatch):
    """Whole recurrences, with every optimisation forced on (int8 products of any
    size; the LSTM on VNNI tiles where the CPU has them; the others with one-step
    chunks computed ahead on a second thread), against the rules."""
    module, feeds = _case(case, policy)
    if case != "test_lstm_with_peepholes":
        _without_tiles(monkeypatch)
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    monkeypatch.setattr(float_interpreter, "CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(float_interpreter, "PIPELINE_ELEMENTS", 0)
    _matches_the_reference(module, feeds, monkeypatch)


@pytest.mark.parametrize(
    ("case", "policy"),
    [
        ("test_lstm_with_peepholes", "w8a16"),
        ("test_gru_seq_length", "w4a8-floor-wrap"),
        ("test_lstm_with_peepholes", "w12a12-half-up-pct"),
    ],
)
def test_threaded_steps_match_the_rules(case, policy, monkeypatch):
    """Steps with their products left as int8 digit products (one or two digits
    on either side), added up in the step's loop, the loop's rows on two threads
    and torch's products on two, against the rules (without the VNNI tiles of
    tests/test_step_loop.py, which would take these products over)."""
    need_openmp()
    module, feeds = _case(case, policy)
    _without_tiles(monkeypatch)
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    monkeypatch.setattr(int_matmul, "MIN_TERMS_4", 0)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setenv("RNNC_THREADS", "2")
    seen = {"parts": 0, "deferred": 0}
    loops, defer = parallel.parallel_loops, fusion.defer_products

    def spy_loops(elements):
        parts = loops(elements)
        seen["parts"] = max(seen["parts"], parts)
        return parts

    def spy_defer(*args):
        ops = defer(*args)
        seen["deferred"] += sum(getattr(o, "deferred", False) for o in ops)
        return ops

    monkeypatch.setattr(parallel, "parallel_loops", spy_loops)
    monkeypatch.setattr(float_interpreter, "defer_products", spy_defer)
    _matches_the_reference(module, feeds, monkeypatch)
    assert seen["parts"] == 2 and seen["deferred"]


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_blocks_match_the_rules(threads, monkeypatch):
    """The bundled LSTM classifier run on blocks of one batch row, one after
    another (on VNNI tiles where the CPU has them) or side by side on two threads
    (one overflow counter), against the rules on the whole batch."""
    from pathlib import Path

    from rnnc.frontend.onnx_loader import load_model

    root = Path(__file__).resolve().parent.parent / "examples"
    feeds = dict(np.load(root / "lstm_classifier_input.npz"))
    config = _config(dict(weight_bits=8, act_bits=10, overflow="wrap"))
    module, _ = quantize_model(load_model(root / "lstm_classifier.onnx"), feeds, config)
    monkeypatch.setattr(batch_blocks, "MIN_BLOCK_ROWS", 1)
    monkeypatch.setattr(batch_blocks, "BLOCK_ELEMENTS", 1)
    monkeypatch.setenv("RNNC_THREADS", str(threads))
    if threads > 1:
        _without_tiles(monkeypatch)
    spans = batch_blocks.spans(feeds["tokens"].shape[0], [])
    assert len(spans) == feeds["tokens"].shape[0]
    (loop,) = [op for op in module.walk() if op.name == "rnn.recurrence"]
    assert batch_blocks.rows_independent(loop, float_interpreter.TIME_BROADCASTING)
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    _matches_the_reference(module, feeds, monkeypatch)


@pytest.mark.parametrize("hoisting", ["ahead", "ahead-then-serial", "serial"])
def test_bundled_example_matches_the_rules(hoisting, monkeypatch):
    """The bundled LSTM classifier at 8-bit weights and 12-bit activations, its
    input projections computed one step at a time ahead on a second thread (which
    may give up after two chunks, as when the cores are shared) or in the loop."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "examples"
    feeds = dict(np.load(root / "lstm_classifier_input.npz"))
    from rnnc.frontend.onnx_loader import load_model

    config = _config(dict(weight_bits=8, act_bits=12))
    module, _ = quantize_model(load_model(root / "lstm_classifier.onnx"), feeds, config)
    _without_tiles(monkeypatch)  # they compute no chunks ahead
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    monkeypatch.setattr(float_interpreter, "CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(float_interpreter, "PIPELINE_ELEMENTS", 0)
    monkeypatch.setattr(float_interpreter, "PIPELINE", hoisting != "serial")
    if hoisting == "ahead":
        monkeypatch.setattr(float_interpreter, "PIPELINE_MIN_CPU", 0.0)
    else:
        monkeypatch.setattr(float_interpreter, "PIPELINE_PROBE", 2)
        monkeypatch.setattr(float_interpreter, "PIPELINE_MIN_CPU", 1e9)
    _matches_the_reference(module, feeds, monkeypatch)
