"""Raising: recurrences however the exporter wrote them become `rnn.recurrence`.

Run on every import, after the ONNX graph is in the `rnn` dialect: unrolled time
steps (`raise-unrolled`), then the raised bodies in the form the rest of the
compiler reads (`raise-step-form`). A model without such loops is unchanged.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp

from rnnc.passes.raise_step_form import step_form
from rnnc.passes.raise_unrolled import raise_unrolled


def raise_recurrences(module: ModuleOp) -> int:
    """Raise every recurrence found; returns how many."""
    raised = raise_unrolled(module)
    if raised:
        step_form(module)
    return raised
