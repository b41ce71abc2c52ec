"""driver.Program: a module prepared once and run many times (as an onnxruntime
session) gives each run the outputs and overflow counts of a fresh
`driver.execute`, while building its recurrences' plans once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnc import driver
from rnnc.backends.interpreter import float_interpreter
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def example():
    feeds = dict(np.load(EXAMPLES / "lstm_classifier_input.npz"))
    return load_model(EXAMPLES / "lstm_classifier.onnx"), feeds


def _events(counter) -> dict:
    return {op: tuple(v) for op, v in counter.events.items()}


def _batches(feeds: dict) -> list[dict]:
    """The whole batch, its last rows, then the whole batch again."""
    first = {k: v[1:] for k, v in feeds.items()}
    return [feeds, first, feeds]


def test_runs_equal_fresh_executions_and_plan_once(example, monkeypatch):
    model, feeds = example
    config = load_config(weight_bits=4, activation_bits=6, state_bits=6)
    calibration = {k: v[:1] for k, v in feeds.items()}  # other rows overflow
    module, _ = quantize_model(model, calibration, config)
    plans = []
    plan = float_interpreter.Interpreter.plan

    def counted(self, op):
        if op not in self._plans:
            plans.append(op)
        return plan(self, op)

    program = driver.Program(module)
    monkeypatch.setattr(float_interpreter.Interpreter, "plan", counted)
    got = [program.run(batch) for batch in _batches(feeds)]
    built = len(plans)
    want = [driver.execute(module, batch) for batch in _batches(feeds)]
    assert built and len(plans) == 4 * built  # fresh: one interpreter per run
    for (outputs, counter), (want_outputs, want_counter) in zip(got, want, strict=True):
        assert outputs.keys() == want_outputs.keys()
        for name, value in want_outputs.items():
            assert np.array_equal(outputs[name], value)
        assert _events(counter) == _events(want_counter)
    assert want[0][1].total_overflows  # the narrow policy overflows: counts compared


def test_float_modules_run_as_programs(example):
    model, feeds = example
    module = driver.import_model(model, {k: v.shape for k, v in feeds.items()})
    program = driver.Program(module)
    for batch in (feeds, feeds):
        outputs, counter = program.run(batch)
        want, _ = driver.execute(module, batch)
        assert counter is None
        for name, value in want.items():
            np.testing.assert_array_equal(outputs[name], value)
