"""head-argmax: a classifier's outputs become class indices.

On a lowered `fxp` module, every output `dequantize(y)` with y of shape (B, N),
N > 1, becomes `dequantize(fxp.argmax(y))` of shape (B, 1): the index of the
largest score, the first on ties (docs/fixed-point.md, reductions). The
interpreter and the RTL (a reduction sweep of the head: fxp_to_hw/reduction.py)
then both compute the class, for hardware that needs only the decision. Applied
by `rnnc --emit=verilog --argmax` and `rnnc verify --argmax`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp, TensorType
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rnnc.dialects import fxp
from rnnc.dialects.errors import RnncError
from rnnc.dialects.rnn_semantics import main_function


def argmax_outputs(module: ModuleOp) -> None:
    """Replace each output's scores by their argmax (RnncError if an output is
    not a (batch, classes) tensor of fixed point)."""
    fn = main_function(module)
    ret = fn.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    outs = []
    for value in ret.arguments:
        owner = value.owner
        if not isinstance(owner, fxp.DequantizeOp):
            raise RnncError(
                f"--argmax: output %{value.name_hint or '?'} is not fixed point"
            )
        scores = owner.input
        shape = fxp._shape(scores)
        if len(shape) != 2 or shape[-1] < 2:
            raise RnncError(
                f"--argmax needs outputs of shape (batch, classes ≥ 2), got "
                f"%{value.name_hint or '?'} of shape {list(shape)}"
            )
        index = fxp.ArgMaxOp.of(scores)
        index.result.name_hint = f"{scores.name_hint or 'out'}_class"
        element = value.type.element_type
        dequantize = fxp.DequantizeOp.build(
            operands=[index.result], result_types=[TensorType(element, [shape[0], 1])]
        )
        dequantize.result.name_hint = f"{index.result.name_hint}_f"
        Rewriter.insert_op([index, dequantize], InsertPoint.before(ret))
        outs.append(dequantize.result)
    Rewriter.replace_op(ret, func.ReturnOp(*outs))
    for value in list(fn.body.block.ops):
        if isinstance(value, fxp.DequantizeOp) and not value.result.uses:
            Rewriter.erase_op(value)
    fn.function_type = FunctionType.from_lists(
        list(fn.function_type.inputs.data), [v.type for v in outs]
    )


@dataclass(frozen=True)
class HeadArgmaxPass(ModulePass):
    """Make a lowered classifier output class indices (argmax, first on ties)."""

    name = "head-argmax"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        argmax_outputs(op)
