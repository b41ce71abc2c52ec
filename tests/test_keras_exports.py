"""Models exported by Keras 3 on the torch backend (`model.export(format="onnx")`,
no TensorFlow), the shape of the seed paper's IMDb model: Embedding → recurrent
layer → Dense(sigmoid).

Keras on the torch backend exports no ONNX LSTM/GRU node: the time loop is
unrolled into per-step MatMul/Slice/Sigmoid/Tanh ops, the embedding wraps negative
ids with `Where(Less(ids, 0), ids + V, ids)`, GRU `reset_after=False` and
SimpleRNN use `Split`, and `mask_zero=True` adds `Equal`, `Not`, `Tile` and `If`
nodes on conditions known from the static shapes. The frontend raises the
unrolled steps into `rnn.recurrence`s (passes/raise_unrolled.py; go_backwards and
the backward half of Bidirectional become reverse loops). rnnc must match
onnxruntime on all of them in float, quantize them, and the RTL of the IMDb shape
must equal the interpreter.
"""

from __future__ import annotations

import collections
import os
import warnings

import numpy as np
import onnx
import pytest
from conftest import WIDE_POLICY, needs
from test_cell_loops import HW_BATCH, recurrences, rtl_matches
from test_onnx_features import run_ort

from rnnc import driver
from rnnc.frontend.onnx_import import import_model
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

pytestmark = needs("keras")

VOCAB, STEPS, BATCH = 40, 9, 4


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on the {keras.backend.backend()} backend here")
    return keras


def _layer(keras, name: str):
    layers = keras.layers
    return {
        "lstm": lambda: layers.LSTM(6),
        "lstm_sequences": lambda: layers.LSTM(5, return_sequences=True),
        "lstm_backwards": lambda: layers.LSTM(5, go_backwards=True),
        "gru": lambda: layers.GRU(6),
        "gru_reset_before": lambda: layers.GRU(6, reset_after=False),
        "simple_rnn": lambda: layers.SimpleRNN(6),
        "bidirectional_lstm": lambda: layers.Bidirectional(layers.LSTM(4)),
    }[name]()


def export(tmp_path, name: str, mask_zero: bool = False, steps: int = STEPS):
    keras = _keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((steps,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8, mask_zero=mask_zero),
            _layer(keras, name),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model(np.zeros((2, steps), "int32"))  # built before export
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(path), format="onnx", verbose=False)
    return path


def token_feeds(
    path, seed: int = 0, padded: bool = False, batch: int = BATCH, low: int = -VOCAB
) -> dict[str, np.ndarray]:
    """Random ids (some negative, which Keras wraps, unless `low` = 0), optionally
    zero-padded at the end of every sequence (what mask_zero masks)."""
    (info,) = onnx.load(path).graph.input
    (_, steps) = (d.dim_value for d in info.type.tensor_type.shape.dim)
    rng = np.random.default_rng(seed)
    ids = rng.integers(low, VOCAB, (batch, steps)).astype(np.int32)
    if padded:
        for row, length in enumerate(rng.integers(1, steps + 1, batch)):
            ids[row, length:] = 0
    return {info.name: ids}


def op_counts(path) -> collections.Counter:
    return collections.Counter(n.op_type for n in onnx.load(path).graph.node)


@pytest.mark.parametrize(
    "name",
    [
        "lstm",
        "lstm_sequences",
        "lstm_backwards",
        "gru",
        "gru_reset_before",
        "simple_rnn",
        "bidirectional_lstm",
    ],
)
def test_float_matches_onnxruntime(tmp_path, name):
    path = export(tmp_path, name)
    feeds = token_feeds(path)
    want = run_ort(onnx.load(path), feeds)
    got = driver.run(path, feeds)
    assert sorted(got) == sorted(want)
    for key, expected in want.items():
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-5)
    assert op_counts(path)["Less"] >= 1  # the id wrap is there and was imported
    module = import_model(load_model(path), {k: v.shape for k, v in feeds.items()})
    assert recurrences(module) == (2 if name.startswith("bidirectional") else 1)


def test_masked_lstm_matches_onnxruntime(tmp_path):
    """mask_zero=True: Equal/Not masks and `If` nodes on static-shape conditions."""
    path = export(tmp_path, "lstm", mask_zero=True)
    counts = op_counts(path)
    assert counts["If"] and counts["Not"] and counts["Equal"]
    feeds = token_feeds(path, padded=True)
    want = run_ort(onnx.load(path), feeds)
    got = driver.run(path, feeds)
    for key, expected in want.items():
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "gru_reset_before", "simple_rnn"])
def test_quantizes(tmp_path, name):
    """Embedding → recurrent layer → Dense(sigmoid) (the IMDb shape) in wide fixed
    point: the float outputs to the accuracy of the activation tables."""
    path = export(tmp_path, name)
    feeds = token_feeds(path)
    want = driver.run(path, feeds)
    module, _ = quantize_model(load_model(path), feeds, load_config(**WIDE_POLICY))
    got, counter = driver.execute(module, feeds)
    for key, expected in want.items():
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-4)
    assert counter.total_overflows == 0


@needs("iverilog")
@pytest.mark.parametrize(
    "name", ["lstm", "gru", "bidirectional_lstm", "gru_reset_before", "lstm_sequences"]
)
def test_rtl_matches_interpreter(tmp_path, name):
    """Embedding → recurrent layer → Dense(sigmoid), raised from Keras' unrolled
    steps: the RTL equals the interpreter on 100 random sequences."""
    path = export(tmp_path, name, steps=5)
    rtl_matches(tmp_path, path, token_feeds(path, batch=HW_BATCH, low=0))
