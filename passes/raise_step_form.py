"""raise-step-form: recurrence bodies in the form `expand-cells` writes them.

A raised body computes what the exporter wrote: Keras projects the whole input
sequence before the loop (`x @ W + b` over [T, B, I]) and reads one row of the
projection per step; torch cells multiply by all gates at once (`Gemm` to 4H) and
`Split` the result. The rest of the compiler wants what `expand-cells` builds:
the step reads the input itself, every mat-vec is one gate wide, and weights are
constants outside the step. This pass rewrites, without changing any value:

- *sink*: a sequence computed step by step from another one (a mat-vec by a
  matrix, a bias add, a cast) is computed inside the step instead;
- `rnn.gemm` in a step becomes `rnn.matmul` (+ `rnn.add` of the bias);
- a slice of the last axis moves through elementwise ops and into the columns of
  a `rnn.matmul`'s matrix (gates split before the product, not after);
- identity casts go; constants are folded (weight slices become constants).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, UnitAttr
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.transforms.common_subexpression_elimination import cse

from rnnc.dialects import rnn
from rnnc.passes.fold_constants import fold_constants
from rnnc.passes.raise_unrolled import erase_dead


def _recurrence_of(op: Operation) -> rnn.RecurrenceOp | None:
    parent = op.parent_op()
    return parent if isinstance(parent, rnn.RecurrenceOp) else None


def _defined_outside(value: SSAValue, loop: rnn.RecurrenceOp) -> bool:
    owner = value.owner
    block = owner if isinstance(owner, Block) else owner.parent_block()
    while block is not None:
        if block is loop.body.block:
            return False
        parent = block.parent_op()
        block = parent.parent_block() if parent is not None else None
    return True


def _emit(rewriter: PatternRewriter, loop: rnn.RecurrenceOp, op: Operation) -> SSAValue:
    """Insert `op` before the loop when it reads only values from outside (weight
    transposes and slices), else before the op being rewritten."""
    if all(_defined_outside(v, loop) for v in op.operands):
        rewriter.insert_op(op, InsertPoint.before(loop))
    else:
        rewriter.insert_op(op)
    return op.results[0]


class DropIdentityCast(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.CastOp, rewriter: PatternRewriter) -> None:
        if op.input.type == op.result.type:
            rewriter.replace_op(op, [], [op.input])


class GemmToMatmul(RewritePattern):
    """In a step: gemm(a, b, c) = a @ b' + c (b' = bᵀ when trans_b)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.GemmOp, rewriter: PatternRewriter) -> None:
        loop = _recurrence_of(op)
        if loop is None or op.trans_a.value.data:
            return
        if op.alpha.value.data != 1 or op.beta.value.data != 1:
            return
        b = op.b
        if op.trans_b.value.data:
            b = _emit(rewriter, loop, rnn.TransposeOp(b, [1, 0]))
        product = rnn.MatMulOp(op.a, b)
        rewriter.insert_op(product)
        value = product.result
        if op.c is not None:
            add = rnn.AddOp(value, op.c)
            rewriter.insert_op(add)
            value = add.result
        if value.type != op.result.type:
            return
        rewriter.replace_op(op, [], [value])


class SqueezeOfUnsqueeze(RewritePattern):
    """squeeze(unsqueeze(x, axes), axes) = x (a slice read of a step, squeezed)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.SqueezeOp, rewriter: PatternRewriter) -> None:
        src = op.input.owner
        if (
            isinstance(src, rnn.UnsqueezeOp)
            and src.axes == op.axes
            and src.input.type == op.result.type
        ):
            rewriter.replace_op(op, [], [src.input])


def _column_slice(value: SSAValue, like: rnn.SliceOp) -> rnn.SliceOp:
    axis = len(rnn.shape_of(value)) - 1
    return rnn.SliceOp(value, like.starts.get_values(), like.ends.get_values(), [axis])


class SliceThroughOps(RewritePattern):
    """In a step: a slice of the last axis of an elementwise result is the op on
    slices of its operands (an operand broadcast along that axis stays whole),
    and a slice of `a @ W` is `a @ W[:, cols]`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.SliceOp, rewriter: PatternRewriter) -> None:
        loop = _recurrence_of(op)
        if loop is None:
            return
        shape = rnn.shape_of(op.input)
        axes = op.axes.get_values()
        if len(axes) != 1 or axes[0] % len(shape) != len(shape) - 1:
            return
        if tuple(op.steps.get_values()) != (1,):
            return
        src = op.input.owner
        if isinstance(src, rnn.MatMulOp):
            if len(rnn.shape_of(src.rhs)) != 2:
                return
            cols = _emit(rewriter, loop, _column_slice(src.rhs, op))
            rewriter.replace_op(op, rnn.MatMulOp(src.lhs, cols))
            return
        if isinstance(src, rnn.AddOp | rnn.SubOp | rnn.MulOp):
            parts = []
            for operand in (src.lhs, src.rhs):
                dims = rnn.shape_of(operand)
                if dims and dims[-1] == shape[-1] and shape[-1] != 1:
                    parts.append(_emit(rewriter, loop, _column_slice(operand, op)))
                else:
                    parts.append(operand)
            new = type(src)(*parts)
            if new.result.type != op.result.type:
                return
            rewriter.replace_op(op, new)


def _step_distributed(op: Operation, seq: SSAValue) -> SSAValue | None:
    """The sequence `op` maps step by step (its result at step t depends only on
    that sequence's step t), or None."""
    rank = len(rnn.shape_of(op.results[0]))
    if isinstance(op, rnn.MatMulOp):
        if op.lhs is not seq and len(rnn.shape_of(op.rhs)) == 2 and rank == 3:
            return op.lhs
        return None
    if isinstance(op, rnn.AddOp | rnn.SubOp | rnn.MulOp):
        for data, other in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
            if rnn.shape_of(data) == rnn.shape_of(op.result) and len(
                rnn.shape_of(other)
            ) < len(rnn.shape_of(data)):
                return data
        return None
    if isinstance(op, rnn.CastOp):
        return op.input
    return None


def sink_into_steps(loop: rnn.RecurrenceOp) -> bool:
    """Compute step-distributed producers of the loop's sequences in its body."""
    changed = False
    block = loop.body.block
    for index, seq in enumerate(list(loop.seqs)):
        producer = seq.owner
        if not isinstance(producer, Operation) or seq.uses.get_length() != 1:
            continue
        source = _step_distributed(producer, seq)
        if source is None or rnn.shape_of(source)[0] != rnn.shape_of(seq)[0]:
            continue
        old_arg = block.args[index]
        step_type = rnn.tensor(rnn.shape_of(source)[1:], rnn.element_type_of(source))
        new_arg = block.insert_arg(step_type, index)
        new_arg.name_hint = old_arg.name_hint
        step_op = type(producer).build(
            operands=[new_arg if v is source else v for v in producer.operands],
            result_types=[old_arg.type],
            properties=dict(producer.properties),
        )
        block.insert_op_before(step_op, block.first_op)
        old_arg.replace_all_uses_with(step_op.results[0])
        block.erase_arg(old_arg)
        loop.operands[index] = source
        producer.detach()
        producer.erase()
        changed = True
    return changed


def hoist_constants(loop: rnn.RecurrenceOp) -> None:
    """Constants of a step are the loop's: defined before it."""
    for op in list(loop.body.block.ops):
        if isinstance(op, rnn.ConstantOp):
            op.detach()
            loop.parent_block().insert_op_before(op, loop)


def stack_layout_outputs(loop: rnn.RecurrenceOp) -> rnn.RecurrenceOp:
    """A per-step output that is a reshape of a step value (Keras unsqueezes each
    step's output before concatenating them) is that value, reshaped after the
    loop: the step then writes the value itself."""
    block = loop.body.block
    term = block.last_op
    assert isinstance(term, rnn.YieldOp)
    n_states = len(loop.inits)
    yielded = list(term.values)
    layouts: dict[int, Operation] = {}
    for k in range(n_states, len(yielded)):
        owner = yielded[k].owner
        if (
            isinstance(owner, rnn.UnsqueezeOp | rnn.SqueezeOp | rnn.ReshapeOp)
            and owner.parent is block
        ):
            layouts[k] = owner
            yielded[k] = owner.operands[0]
    if not layouts:
        return loop
    steps = rnn.shape_of(loop.seqs[0])[0]
    term.operands = yielded
    body = loop.detach_region(loop.body)
    new = rnn.RecurrenceOp(
        list(loop.seqs),
        list(loop.inits),
        [
            rnn.tensor((steps, *rnn.shape_of(v)), rnn.element_type_of(v))
            for v in yielded[n_states:]
        ],
        body,
        reverse=loop.is_reverse,
    )
    parent = loop.parent_block()
    parent.insert_op_before(new, loop)
    after: Operation = new
    for k, (old, res) in enumerate(zip(loop.outs, new.outs, strict=True)):
        res.name_hint = old.name_hint
        value: SSAValue = res
        if k in layouts:
            layout = layouts[k]
            if isinstance(layout, rnn.ReshapeOp):
                shape = [steps, *layout.shape.get_values()]
                op = rnn.ReshapeOp.build(
                    operands=[res],
                    result_types=[old.type],
                    properties={"shape": rnn.int_array(shape)},
                )
            else:
                axes = [a + 1 for a in layout.axes.get_values()]
                op = type(layout)(res, axes)
            parent.insert_op_after(op, after)
            after = op
            value = op.results[0]
        old.replace_all_uses_with(value)
    loop.detach()
    loop.erase()
    return new


def _reversal_axis(op: Operation) -> int | None:
    """The axis a slice walks backwards over in full (`x[::-1]`), or None."""
    if not isinstance(op, rnn.SliceOp) or len(op.axes.get_values()) != 1:
        return None
    shape = rnn.shape_of(op.input)
    axis = op.axes.get_values()[0] % len(shape)
    size = shape[axis]
    start, end = op.starts.get_values()[0], op.ends.get_values()[0]
    step = op.steps.get_values()[0]
    if step != -1 or not (start >= size - 1 or start == -1) or end > -size - 1:
        return None
    return axis


def reverse_slice(value: SSAValue, axis: int) -> rnn.SliceOp:
    """`value` reversed along `axis` (a slice of step -1 over the whole axis)."""
    size = rnn.shape_of(value)[axis]
    return rnn.SliceOp.build(
        operands=[value],
        result_types=[value.type],
        properties={
            "starts": rnn.int_array([size - 1]),
            "ends": rnn.int_array([-size - 1]),
            "axes": rnn.int_array([axis]),
            "steps": rnn.int_array([-1]),
        },
    )


def unreverse_inputs(loop: rnn.RecurrenceOp) -> bool:
    """A loop over a time-reversed sequence (Keras `go_backwards`, the backward
    half of `Bidirectional`) is the reverse loop over the sequence itself; its
    per-step outputs are reversed back after it."""
    if len(loop.seqs) != 1:
        return False
    seq = loop.seqs[0]
    owner = seq.owner
    perm = None
    if isinstance(owner, rnn.TransposeOp):
        perm = list(owner.perm.get_values())
        owner = owner.input.owner
    if not isinstance(owner, Operation):
        return False
    axis = _reversal_axis(owner)
    if axis is None or (perm[0] if perm is not None else 0) != axis:
        return False
    source = owner.operands[0]
    if perm is not None:
        tr = rnn.TransposeOp(source, perm)
        loop.parent_block().insert_op_before(tr, loop)
        source = tr.result
    loop.operands[0] = source
    if loop.is_reverse:
        del loop.properties["reverse"]
    else:
        loop.properties["reverse"] = UnitAttr()
    for out in loop.step_outputs:
        uses = list(out.uses)
        flip = reverse_slice(out, 0)
        loop.parent_block().insert_op_after(flip, loop)
        for use in uses:
            use.operation.operands[use.index] = flip.result
    return True


def step_form(module: ModuleOp) -> None:
    loops = [op for op in module.walk() if isinstance(op, rnn.RecurrenceOp)]
    for loop in loops:
        while sink_into_steps(loop):
            pass
        unreverse_inputs(loop)
    PatternRewriteWalker(
        GreedyRewritePatternApplier(
            [
                DropIdentityCast(),
                GemmToMatmul(),
                SliceThroughOps(),
                SqueezeOfUnsqueeze(),
            ]
        ),
        apply_recursively=True,
    ).rewrite_module(module)
    fold_constants(module)
    erase_dead(module)
    for loop in [op for op in module.walk() if isinstance(op, rnn.RecurrenceOp)]:
        hoist_constants(loop)
        stack_layout_outputs(loop)
    cse(module)


@dataclass(frozen=True)
class RaiseStepFormPass(ModulePass):
    """Rewrite raised recurrence bodies into the form expand-cells writes."""

    name = "raise-step-form"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        step_form(op)
