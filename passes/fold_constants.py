"""Replace pure `rnn` ops whose operands are all constants by their value.

`expand-cells` slices per-gate, per-direction weights out of W/R/B with shape ops;
folding turns those into one constant per gate matrix, which is what range analysis
and format assignment need to see. Values are computed by the float interpreter, so
there is one definition of each op's semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.traits import Pure

from rnnc.dialects import rnn
from rnnc.dialects.arrays import array_of, dense_of, numpy_dtype
from rnnc.dialects.rnn_semantics import IMPLS


class FoldConstantOperands(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, rnn.ConstantOp) or not op.has_trait(Pure):
            return
        if isinstance(op, rnn.RecurrentCellOp) or op.regions:
            return
        impl = IMPLS.get(type(op))
        if impl is None or not op.operands:
            return
        owners = [v.owner for v in op.operands]
        if not all(isinstance(o, rnn.ConstantOp) for o in owners):
            return
        values = impl(op, [array_of(o.value) for o in owners])  # type: ignore[union-attr]
        consts = [
            rnn.ConstantOp(dense_of(v.astype(numpy_dtype(rnn.element_type_of(r)))))
            for v, r in zip(values, op.results, strict=True)
        ]
        for new, old in zip(consts, op.results, strict=True):
            new.result.name_hint = old.name_hint
        rewriter.replace(op, consts, [c.result for c in consts])


def fold_constants(module: ModuleOp) -> None:
    PatternRewriteWalker(
        GreedyRewritePatternApplier([FoldConstantOperands()]),
        apply_recursively=True,
    ).rewrite_module(module)


@dataclass(frozen=True)
class FoldConstantsPass(ModulePass):
    """Evaluate every pure op whose operands are all `rnn.constant`s."""

    name = "fold-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fold_constants(op)
