"""The compiled time loop (step_loop) and the product-and-run loops over row blocks
(block_run) on VNNI tiles: whole models against the interpreter with reference
semantics alone (`fxp.reference`, op by op), values and overflow counts.

Covered: one or two 8-bit digits on either side of the products (the int32 and
the int64 word of the run), reverse loops, GRUs of both kinds
(the reset gate before or after the product), saturation and wrap with values
out of range, row counts that are not a multiple of the 8-row block, sizes that
are not a multiple of the tiles' 4 terms and 32 columns, and the rows split over
two threads.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from xdsl.dialects import func
from xdsl.ir import Block

from rnnc import driver
from rnnc.backends.interpreter import (
    batch_blocks,
    block_run,
    float_interpreter,
    fusion,
    fxp_elementwise,
    int_matmul,
    parallel,
    step_loop,
    vnni,
)
from rnnc.dialects import fxp
from rnnc.dialects.fixed import Format
from rnnc.frontend.onnx_loader import load_model
from rnnc.pipeline import quantize_model
from tests.test_fxp_elementwise import need_openmp, reference
from tests.test_fxp_kernels import (
    _case,
    _config,
    _matches_the_reference,
    same,
)
from tests.test_fxp_semantics import raw, tensor
from tests.torch_models import export_onnx

pytestmark = pytest.mark.skipif(
    not vnni.available(), reason="no AVX-512 VNNI here: the tiles are never used"
)


@pytest.fixture(autouse=True)
def _always(monkeypatch):
    """Compiled at once, products of any size on int8 digits."""
    monkeypatch.setattr(fxp_elementwise, "COMPILE_WORK", 0)
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    monkeypatch.setattr(int_matmul, "MIN_TERMS_4", 0)


def _spy(monkeypatch) -> dict[str, int]:
    """Counts of time loops and row-block loops that ran compiled."""
    seen = {"steps": 0, "blocks": 0}
    start, run = step_loop.StepLoop.start, block_run.BlockRun._run

    def spy_start(self, *args):
        loop = start(self, *args)
        seen["steps"] += loop is not None
        return loop

    def spy_run(self, env):
        done = run(self, env)
        seen["blocks"] += done
        return done

    monkeypatch.setattr(step_loop.StepLoop, "start", spy_start)
    monkeypatch.setattr(block_run.BlockRun, "_run", spy_run)
    return seen


@pytest.mark.parametrize(
    ("case", "policy", "path"),
    [
        ("test_lstm_with_peepholes", "w8a16", "blocks"),  # selects in the loop
        ("test_simple_rnn_batchwise", "w8a16", "steps"),
        ("test_lstm_reverse", "w12a12-half-up-pct", "steps"),
        ("test_simple_rnn_reverse", "w4a8-floor-wrap", "steps"),
        ("test_gru_seq_length", "w8a16", "blocks"),
    ],
)
def test_onnx_cases_on_tiles(case, policy, path, monkeypatch):
    module, feeds = _case(case, policy)
    seen = _spy(monkeypatch)
    _matches_the_reference(module, feeds, monkeypatch)
    assert seen[path]


class _TwoLayers(nn.Module):
    """Two layers of odd sizes: an LSTM into a GRU (reset gate after the
    product, as torch exports it)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(13, 37, batch_first=True)
        self.gru = nn.GRU(37, 19, batch_first=True)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.gru(y)[0]


@pytest.mark.parametrize(
    ("weight_bits", "act_bits", "overflow"),
    [(16, 8, "wrap")],
)
def test_odd_sizes_on_two_threads(
    weight_bits, act_bits, overflow, tmp_path, monkeypatch
):
    """21 rows on two threads (10 and 11: blocks short of 16), 13 and 37 terms, 37 and
    19 columns, an 8-bit state by 16-bit weights; the calibration on a tenth of
    the range makes values go out of range (wrapped)."""
    need_openmp()
    torch.manual_seed(3)
    model = _TwoLayers().eval()
    x = torch.randn(21, 6, 13)
    path = tmp_path / "m.onnx"
    export_onnx(model, (x,), path, ["x"], ["y"], {"x": {0: "batch"}})
    feeds = {"x": x.numpy()}
    calibration = {"x": feeds["x"] / 10}
    config = _config(
        dict(weight_bits=weight_bits, act_bits=act_bits, overflow=overflow)
    )
    module, _ = quantize_model(load_model(path), calibration, config)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setenv("RNNC_THREADS", "2")
    seen = _spy(monkeypatch)
    parts = []
    loops = parallel.parallel_loops

    def spy_loops(elements):
        parts.append(loops(elements))
        return parts[-1]

    monkeypatch.setattr(parallel, "parallel_loops", spy_loops)
    _matches_the_reference(module, feeds, monkeypatch)
    assert seen["steps"] >= 2 and seen["blocks"] and max(parts) == 2


class _Embedded(nn.Module):
    """Embedding → LSTM, the sequences and the final state out."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 13)
        self.lstm = nn.LSTM(13, 37, batch_first=True)

    def forward(self, tokens):
        y, (h, _) = self.lstm(self.emb(tokens))
        return y, h


def _spy_tables(monkeypatch) -> list:
    """What each computation of embedding tables gave (StepLoop._all_rows)."""
    computed = []
    compute = step_loop.StepLoop._all_rows

    def spy(self, table, hoist_on):
        computed.append(compute(self, table, hoist_on))
        return computed[-1]

    monkeypatch.setattr(step_loop.StepLoop, "_all_rows", spy)
    return computed


def _embedded_module(tmp_path, wide_row: bool):
    """(quantized _Embedded, its calibration tokens: 21 x 6 of words 0-18)."""
    torch.manual_seed(5)
    model = _Embedded().eval()
    if wide_row:
        with torch.no_grad():
            model.emb.weight[19] *= 50
    tokens = torch.randint(0, 19, (21, 6))
    path = tmp_path / "m.onnx"
    export_onnx(model, (tokens,), path, ["tokens"], ["y", "h"], {})
    feeds = {"tokens": tokens.numpy()}
    config = _config(dict(weight_bits=8, act_bits=16))
    module, _ = quantize_model(load_model(path), feeds, config)
    return module, feeds


@pytest.mark.parametrize(
    ("wide_row", "blocks"), [(False, False), (True, False), (False, True)]
)
def test_input_projections_from_embedding_tables(
    wide_row, blocks, tmp_path, monkeypatch
):
    """With 126 tokens of a 20-word vocabulary, the input projections are
    computed once per word and gathered (step_loop._tables), overflow counts
    scaled to the tokens; with the batch in blocks of 8 rows, once for the
    three blocks. A word no token uses, 50 times wider than the rest, goes out
    of range in its table row only: then they are computed per step, and only
    the tokens' values are counted."""
    module, feeds = _embedded_module(tmp_path, wide_row)
    if blocks:
        monkeypatch.setattr(batch_blocks, "MIN_BLOCK_ROWS", 8)
        monkeypatch.setattr(batch_blocks, "BLOCK_ELEMENTS", 1)
    seen = _spy(monkeypatch)
    tables = _spy_tables(monkeypatch)
    _matches_the_reference(module, feeds, monkeypatch)
    assert seen["steps"] == (3 if blocks else 1) and len(tables) == 1
    assert (tables[0] is None) == wide_row


def test_a_program_keeps_the_tables_of_constants(tmp_path, monkeypatch):
    """A program computes the tables once when the embedding and the weights are
    constants: later runs, on other tokens, equal the rules (values and overflow
    counts) with the tables of the first."""
    module, _ = _embedded_module(tmp_path, False)
    computed = _spy_tables(monkeypatch)
    program = driver.Program(module)

    def run(feeds):
        outputs, counter = program.run(feeds)
        return outputs, {op: tuple(v) for op, v in counter.events.items()}

    rng = np.random.default_rng(0)
    for _ in range(3):
        feeds = {"tokens": rng.integers(0, 20, (21, 6))}
        _matches_the_reference(module, feeds, monkeypatch, run)
    assert len(computed) == 1 and computed[0] is not None


@pytest.mark.parametrize(
    ("lhs", "rhs", "cast"),
    [(Format(16, 15), Format(16, 14), ("half-even", "saturate"))],
)
def test_a_product_on_tiles_at_the_extremes(lhs, rhs, cast, monkeypatch):
    """A product and the casts after it as one row-block loop (block_run),
    against the ops one by one: 37 rows on two threads (blocks of 16, 16, 5),
    67 terms (not a multiple of the tiles' 4), 45 columns (not of 32), whole
    rows and columns of the formats' extremes, casts that saturate or wrap."""
    need_openmp()
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 0)
    monkeypatch.setenv("RNNC_THREADS", "2")
    rng = np.random.default_rng(lhs.width)
    rows, terms, cols = 37, 67, 45
    block = Block(arg_types=[tensor((rows, terms), lhs), tensor((terms, cols), rhs)])
    a_arg, b_arg = block.args
    product = fxp.MatMulOp(a_arg, b_arg)
    narrow = Format(fxp.format_of(product.result).width - 9, lhs.frac + rhs.frac - 3)
    first = fxp.CastOp(product.result, narrow, *cast)
    second = fxp.CastOp(first.result, Format(8, 2), "floor", cast[1])
    for op in (product, first, second):
        block.add_op(op)
    block.add_op(func.ReturnOp(first.result, second.result))
    a, b = raw(rng, lhs, (rows, terms)), raw(rng, rhs, (terms, cols))
    a[3], a[:, 5], b[7], b[:, 2] = lhs.min_raw, lhs.max_raw, rhs.min_raw, rhs.max_raw
    a[4] = lhs.max_raw
    b[:, 9] = rhs.min_raw
    want, want_counts = reference(block, [a, b])

    counts: dict = {}

    def count(op, bad, total):
        old = counts.get(op, (0, 0))
        counts[op] = (old[0] + bad, old[1] + total)

    interpreter = float_interpreter.Interpreter()
    fused = fusion.fuse_products([product], {b_arg: "invariant"})
    items = fxp_elementwise.fuse_runs([first, second], interpreter.run_ops, count)
    items = block_run.fuse(fusion.defer_products([*fused, *items]))
    assert [type(x) for x in items] == [block_run.BlockRun]
    env = dict(zip(block.args, [a, b], strict=True))
    seen = _spy(monkeypatch)
    with parallel.threads():
        items[0].run(env)
    items[0].flush()
    assert seen["blocks"] == 1
    for value in (first.result, second.result):
        same(env[value], want[value])
    assert counts == want_counts and any(bad for bad, _ in counts.values())
