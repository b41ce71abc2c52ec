"""torch.onnx exports (TorchScript and dynamo) through rnnc vs onnxruntime."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import assert_close
from torch_models import examples

from rnnc import driver

MODELS = examples()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache: dict[tuple[str, bool], str] = {}

    def get(name: str, dynamo: bool) -> str:
        if (name, dynamo) not in cache:
            model, args = MODELS[name]
            path = tmp_path_factory.mktemp("exports") / f"{name}.onnx"
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(model.eval(), args, str(path), dynamo=dynamo)
            cache[name, dynamo] = str(path)
        return cache[name, dynamo]

    return get


def _feeds(path: str, name: str) -> dict[str, np.ndarray]:
    _, args = MODELS[name]
    inputs = [i.name for i in onnx.load(path).graph.input]
    return {n: a.numpy() for n, a in zip(inputs, args, strict=True)}


@pytest.mark.parametrize("expand", [False, True], ids=["cells", "expanded"])
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_export_matches_onnxruntime(name, dynamo, expand, exported):
    path = exported(name, dynamo)
    feeds = _feeds(path, name)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    want = dict(zip(names, session.run(None, feeds), strict=True))
    got = driver.run(path, feeds, driver.EXPANDED if expand else ())
    assert_close(got, want)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_export_matches_torch_itself(dynamo, exported):
    """The classifier's logits equal torch's own forward pass."""
    model, args = MODELS["bilstm_classifier"]
    path = exported("bilstm_classifier", dynamo)
    with torch.no_grad():
        want = model.eval()(*args).numpy()
    (got,) = driver.run(path, _feeds(path, "bilstm_classifier")).values()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_rnn_cells_survive_import(exported):
    """TorchScript keeps ONNX cell ops; the imported IR has the rnn cell ops."""
    path = exported("gru_2layer", False)
    text = str(driver.load_module(path))
    assert text.count("rnn.gru ") == 2
    assert "rnn.expand" not in text  # zero initial states were folded to constants
