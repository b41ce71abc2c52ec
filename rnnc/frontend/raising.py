"""Raising: recurrences however the exporter wrote them become `rnn.recurrence`.

ONNX `Loop`/`Scan` over time are imported as recurrences directly
(onnx_loops.py). After import, unrolled time steps are raised
(`raise-unrolled`), then every recurrence body is put in the form the rest of the
compiler reads (`raise-step-form`). A model without such loops is unchanged.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp

from rnnc.dialects import rnn
from rnnc.passes.raise_step_form import step_form
from rnnc.passes.raise_unrolled import raise_unrolled


def raise_recurrences(module: ModuleOp) -> int:
    """Raise every recurrence found; returns how many."""
    raised = raise_unrolled(module)
    if any(isinstance(op, rnn.RecurrenceOp) for op in module.walk()):
        step_form(module)
    return raised
