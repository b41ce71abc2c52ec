"""Replace pure `rnn` ops whose operands are all constants by their value.

`expand-cells` slices per-gate, per-direction weights out of W/R/B with shape ops;
folding turns those into one constant per gate matrix, which is what range analysis
and format assignment need to see. The values come from the ops' own folders
(`HasFolder` in the rnn dialect, computed by its reference semantics), applied by
xDSL's greedy driver; dead ops left behind are erased.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import GreedyRewritePatternApplier, PatternRewriteWalker

from rnnc.dialects import rnn


def fold_constants(module: ModuleOp) -> None:
    ctx = Context()
    ctx.load_dialect(rnn.RNN)
    PatternRewriteWalker(
        GreedyRewritePatternApplier([], ctx=ctx, folding_enabled=True),
        apply_recursively=True,
    ).rewrite_module(module)


@dataclass(frozen=True)
class FoldConstantsPass(ModulePass):
    """Fold every op whose operands are all `rnn.constant`s."""

    name = "fold-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fold_constants(op)
