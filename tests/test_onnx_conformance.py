"""The ONNX backend conformance cases for LSTM/GRU/RNN through `rnnc run`."""

from __future__ import annotations

import warnings

import onnx
import pytest
from conftest import assert_close

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from onnx.backend.test.case.node import collect_testcases

    CASES = [
        c
        for c in collect_testcases(None)
        if any(k in c.name for k in ("lstm", "gru", "rnn"))
    ]


def test_all_eighteen_cases_are_collected():
    assert len(CASES) == 18


@pytest.mark.parametrize("expand", [False, True], ids=["cells", "expanded"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(case, expand, tmp_path, run_cli):
    path = tmp_path / "model.onnx"
    onnx.save(case.model, path)
    (inputs, expected), *_ = case.data_sets
    graph = case.model.graph
    feeds = {i.name: a for i, a in zip(graph.input, inputs, strict=True)}
    want = {o.name: e for o, e in zip(graph.output, expected, strict=True)}
    got = run_cli(path, feeds, *(["--expand"] if expand else []))
    assert_close(got, want)
