"""Names of the project's dialects and passes, registered lazily (as xDSL does)."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.context import Context
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.ir import Dialect
from xdsl.passes import ModulePass


def _rnn() -> Dialect:
    from rnnc.dialects.rnn import RNN

    return RNN


def _sv() -> Dialect:
    from rnnc.dialects.sv import SV

    return SV


def _hw() -> Dialect:
    from rnnc.dialects.hw import HW

    return HW


def _seq() -> Dialect:
    from rnnc.dialects.seq import Seq

    return Seq


def _comb() -> Dialect:
    from xdsl.dialects.comb import Comb

    return Comb


def _hwplan() -> Dialect:
    from rnnc.dialects.hwplan import HWPlan

    return HWPlan


def _expand_cells() -> type[ModulePass]:
    from rnnc.passes.expand_cells import ExpandCellsPass

    return ExpandCellsPass


def _raise_unrolled() -> type[ModulePass]:
    from rnnc.passes.raise_unrolled import RaiseUnrolledPass

    return RaiseUnrolledPass


def _raise_step_form() -> type[ModulePass]:
    from rnnc.passes.raise_step_form import RaiseStepFormPass

    return RaiseStepFormPass


def _fold_constants() -> type[ModulePass]:
    from rnnc.passes.fold_constants import FoldConstantsPass

    return FoldConstantsPass


def _fxp() -> Dialect:
    from rnnc.dialects.fxp import Fxp

    return Fxp


def _approximate_activations() -> type[ModulePass]:
    from rnnc.passes.approximate_activations import ApproximateActivationsPass

    return ApproximateActivationsPass


def _range_analysis() -> type[ModulePass]:
    from rnnc.backends.interpreter.calibration import CalibratedRangeAnalysisPass

    return CalibratedRangeAnalysisPass


def _assign_formats() -> type[ModulePass]:
    from rnnc.passes.assign_formats import AssignFormatsPass

    return AssignFormatsPass


def _lower_to_fxp() -> type[ModulePass]:
    from rnnc.passes.lower_to_fxp import LowerToFxpPass

    return LowerToFxpPass


def _head_argmax() -> type[ModulePass]:
    from rnnc.passes.head_argmax import HeadArgmaxPass

    return HeadArgmaxPass


def _plan_hardware() -> type[ModulePass]:
    from rnnc.passes.fxp_to_hw.plan import PlanHardwarePass

    return PlanHardwarePass


def _build_datapath() -> type[ModulePass]:
    from rnnc.passes.fxp_to_hw.lower_fxp_to_hw import BuildDatapathPass

    return BuildDatapathPass


def _lower_fxp_to_hw() -> type[ModulePass]:
    from rnnc.passes.fxp_to_hw.lower_fxp_to_hw import LowerFxpToHwPass

    return LowerFxpToHwPass


DIALECTS: dict[str, Callable[[], Dialect]] = {
    "rnn": _rnn,
    "fxp": _fxp,
    "sv": _sv,
    "hwplan": _hwplan,
}
EXTENDED: dict[str, Callable[[], Dialect]] = {"hw": _hw, "seq": _seq}
"""xDSL dialects with CIRCT's additions rnnc needs, registered under xDSL's names
(so kept out of the xDSL universe, which refuses a name defined twice)."""
PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "raise-unrolled": _raise_unrolled,
    "raise-step-form": _raise_step_form,
    "expand-cells": _expand_cells,
    "fold-constants": _fold_constants,
    "approximate-activations": _approximate_activations,
    "range-analysis": _range_analysis,
    "assign-formats": _assign_formats,
    "lower-to-fxp": _lower_to_fxp,
    "head-argmax": _head_argmax,
    "plan-hardware": _plan_hardware,
    "build-datapath": _build_datapath,
    "lower-fxp-to-hw": _lower_fxp_to_hw,
}


def make_context() -> Context:
    """A context that parses everything rnnc prints."""
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    for name, factory in {**DIALECTS, **EXTENDED, "comb": _comb}.items():
        ctx.register_dialect(name, factory)
    return ctx
