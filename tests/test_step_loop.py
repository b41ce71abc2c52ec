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

from rnnc import driver
from rnnc.backends.interpreter import (
    batch_blocks,
    block_run,
    fxp_elementwise,
    int_matmul,
    parallel,
    step_loop,
    vnni,
)
from rnnc.frontend.onnx_loader import load_model
from rnnc.pipeline import quantize_model
from tests.test_fxp_elementwise import need_openmp
from tests.test_fxp_kernels import (
    _case,
    _config,
    _matches_the_reference,
    _reference_impls,
    _run,
    same,
)
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
        ("test_lstm_batchwise", "w8a16", "steps"),
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
    if blocks:
        monkeypatch.setattr(batch_blocks, "MIN_BLOCK_ROWS", 8)
        monkeypatch.setattr(batch_blocks, "BLOCK_ELEMENTS", 1)
    seen = _spy(monkeypatch)
    tables = []
    compute = step_loop.StepLoop._all_rows

    def spy_tables(self, table, hoist_on):
        tables.append(compute(self, table, hoist_on))
        return tables[-1]

    monkeypatch.setattr(step_loop.StepLoop, "_all_rows", spy_tables)
    _matches_the_reference(module, feeds, monkeypatch)
    assert seen["steps"] == (3 if blocks else 1) and len(tables) == 1
    assert (tables[0] is None) == wide_row


def test_a_program_keeps_the_tables_of_constants(tmp_path, monkeypatch):
    """A program computes the tables once when the embedding and the weights are
    constants: later runs, on other tokens, equal the rules (values and overflow
    counts) with the tables of the first."""
    torch.manual_seed(6)
    model = _Embedded().eval()
    path = tmp_path / "m.onnx"
    tokens = torch.randint(0, 20, (21, 6))
    export_onnx(model, (tokens,), path, ["tokens"], ["y", "h"], {})
    config = _config(dict(weight_bits=8, act_bits=16))
    calibration = {"tokens": tokens.numpy()}
    module, _ = quantize_model(load_model(path), calibration, config)
    computed = []
    compute = step_loop.StepLoop._all_rows

    def spy_tables(self, table, hoist_on):
        computed.append(compute(self, table, hoist_on))
        return computed[-1]

    monkeypatch.setattr(step_loop.StepLoop, "_all_rows", spy_tables)
    program = driver.Program(module)
    rng = np.random.default_rng(0)
    for _ in range(3):
        feeds = {"tokens": rng.integers(0, 20, (21, 6))}
        got, counter = program.run(feeds)
        events = {op: tuple(v) for op, v in counter.events.items()}
        with monkeypatch.context() as m:
            _reference_impls(m)
            want, want_events = _run(module, feeds)
        for name in want:
            same(got[name], want[name])
        assert events == want_events
    assert len(computed) == 1 and computed[0] is not None
