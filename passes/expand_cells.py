"""expand-cells: ONNX LSTM/GRU/RNN ops → `rnn.recurrence` over one explicit time step.

Each direction becomes its own recurrence whose body holds every gate as primitive
ops: per-gate mat-vecs `x_t @ W_g^T` and `h @ R_g^T`, bias adds, peepholes, clip, the
activation functions of the `activations` list, and `rnn.select` on a sequence mask
for `sequence_lens` (finished sequences keep their state and emit 0). Per-gate weight
matrices are sliced from W/R/B and folded into constants when those are constant.
Layout 1 and direction stacking are expressed with transpose/unsqueeze/concat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from rnnc.dialects import rnn
from rnnc.dialects.arrays import dense_of, numpy_dtype
from rnnc.dialects.errors import RnncError
from rnnc.dialects.shapes import DYN
from rnnc.passes.fold_constants import fold_constants


class _Emitter:
    """Small IR-building vocabulary over a `Builder`."""

    def __init__(self, builder: Builder, dtype: np.dtype):
        self.b = builder
        self.dtype = dtype

    def op(self, op: Operation, name: str | None = None) -> SSAValue:
        self.b.insert(op)
        if name:
            op.results[0].name_hint = name
        return op.results[0]

    def const(self, array, name: str | None = None) -> SSAValue:
        return self.op(rnn.ConstantOp(dense_of(np.asarray(array, self.dtype))), name)

    def add(self, a, b, name=None):
        return self.op(rnn.AddOp(a, b), name)

    def sub(self, a, b, name=None):
        return self.op(rnn.SubOp(a, b), name)

    def mul(self, a, b, name=None):
        return self.op(rnn.MulOp(a, b), name)

    def matmul(self, a, b, name=None):
        return self.op(rnn.MatMulOp(a, b), name)

    def rows(self, value, axis: int, start: int, stop: int, name=None):
        """value[start:stop] along axis."""
        return self.op(rnn.SliceOp(value, [start], [stop], [axis]), name)

    def take(self, value, axis: int, index: int, name=None):
        """value[index] along axis (the axis is dropped)."""
        sliced = self.rows(value, axis, index, index + 1)
        return self.op(rnn.SqueezeOp(sliced, [axis]), name)

    def activation(self, spec, x, name=None):
        kind, alpha, beta = spec
        simple = {"Sigmoid": rnn.SigmoidOp, "Tanh": rnn.TanhOp, "Relu": rnn.ReluOp}
        if kind in simple:
            return self.op(simple[kind](x), name)
        return self.op(rnn.ActivationOp(x, kind, alpha, beta), name)

    def clip(self, limit: float | None, x, name=None):
        if limit is None:
            return x
        return self.op(rnn.ClipOp(x, -limit, limit), name)


@dataclass
class _Direction:
    """Everything one direction's step needs, sliced out of the ONNX operands."""

    w: list[SSAValue]  # per gate, [I, H] (already transposed)
    r: list[SSAValue]  # per gate, [H, H]
    wb: list[SSAValue]  # per gate, [H]
    rb: list[SSAValue]
    bias: list[SSAValue]  # per gate, wb + rb
    peep: list[SSAValue]  # LSTM i, o, f
    inits: list[SSAValue]  # [B, H] each


class ExpandCell(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: rnn.RecurrentCellOp, rewriter: PatternRewriter
    ) -> None:
        expand_cell(op, rewriter)


def expand_cell(op: rnn.RecurrentCellOp, rewriter: PatternRewriter) -> None:
    x_type = rnn.element_type_of(op.X)
    em = _Emitter(Builder(InsertPoint.before(op)), numpy_dtype(x_type))
    hid, nd = op.hidden, op.num_directions
    opt = op.optional_operands()

    x = op.X
    if op.batch_first:
        x = em.op(rnn.TransposeOp(x, [1, 0, 2]), "x_time_major")
    steps, batch, _ = rnn.shape_of(x)
    seqs = [x]
    if "sequence_lens" in opt:
        seqs.append(em.op(rnn.SequenceMaskOp(opt["sequence_lens"], x), "mask"))
    state_names = ["h", "c"] if isinstance(op, rnn.LSTMOp) else ["h"]
    if any(n not in opt for n in ("initial_h", "initial_c")[: len(state_names)]):
        if batch == DYN:
            raise RnncError(
                f"expand-cells: {op.name} without initial states needs a static "
                "batch size (give input shapes)"
            )

    directions = []
    for d in range(nd):
        directions.append(_slice_direction(em, op, opt, d, batch))

    acts = op.activation_list()
    per_dir = len(op.DEFAULT_ACTIVATIONS)
    final_states: list[list[SSAValue]] = [[] for _ in state_names]
    ys = []
    for d, dirn in enumerate(directions):
        reverse = op.direction.data == "reverse" or d == 1
        body = _build_step(
            op, dirn, acts[d * per_dir : (d + 1) * per_dir], seqs, em.dtype
        )
        y_type = rnn.tensor((steps, batch, hid), x_type)
        rec = rnn.RecurrenceOp(seqs, dirn.inits, [y_type], body, reverse=reverse)
        em.b.insert(rec)
        suffix = f"_{'fwd' if not reverse else 'rev'}"
        for i, name in enumerate(state_names):
            rec.final_states[i].name_hint = f"{name}_last{suffix}"
            final_states[i].append(rec.final_states[i])
        rec.step_outputs[0].name_hint = f"y{suffix}"
        ys.append(rec.step_outputs[0])

    def stack(values: Sequence[SSAValue], axis: int) -> SSAValue:
        parts = [em.op(rnn.UnsqueezeOp(v, [axis])) for v in values]
        return parts[0] if len(parts) == 1 else em.op(rnn.ConcatOp(parts, axis))

    y = stack(ys, 1)  # [T, nd, B, H]
    finals = [stack(f, 0) for f in final_states]  # [nd, B, H]
    if op.batch_first:
        y = em.op(rnn.TransposeOp(y, [2, 0, 1, 3]))
        finals = [em.op(rnn.TransposeOp(f, [1, 0, 2])) for f in finals]
    new_results = [y, *finals]
    for new, old in zip(new_results, op.results, strict=True):
        if new.type != old.type:
            new = em.op(rnn.CastOp.build(operands=[new], result_types=[old.type]))
        rewriter.replace_all_uses_with(old, new)
    rewriter.erase(op)


def _slice_direction(em: _Emitter, op, opt, d: int, batch: int) -> _Direction:
    hid, gates = op.hidden, op.GATES
    names = {rnn.LSTMOp: "iofc", rnn.GRUOp: "zrh", rnn.RNNOp: "i"}[type(op)]
    w_d = em.take(op.W, 0, d)
    r_d = em.take(op.R, 0, d)
    tag = "" if op.num_directions == 1 else ("_fwd", "_rev")[d]
    w, r, wb, rb = [], [], [], []
    for g in range(gates):
        rows = (g * hid, (g + 1) * hid)
        w.append(
            em.op(
                rnn.TransposeOp(em.rows(w_d, 0, *rows), [1, 0]), f"W{names[g]}_T{tag}"
            )
        )
        r.append(
            em.op(
                rnn.TransposeOp(em.rows(r_d, 0, *rows), [1, 0]), f"R{names[g]}_T{tag}"
            )
        )
    if "B" in opt:
        b_d = em.take(opt["B"], 0, d)
        for g in range(gates):
            wb.append(em.rows(b_d, 0, g * hid, (g + 1) * hid, f"Wb{names[g]}{tag}"))
            rb.append(
                em.rows(
                    b_d,
                    0,
                    (gates + g) * hid,
                    (gates + g + 1) * hid,
                    f"Rb{names[g]}{tag}",
                )
            )
    peep = []
    if "P" in opt:
        p_d = em.take(opt["P"], 0, d)
        peep = [
            em.rows(p_d, 0, k * hid, (k + 1) * hid, f"P{'iof'[k]}{tag}")
            for k in range(3)
        ]
    inits = []
    state_axis = 1 if op.batch_first else 0
    for name in ("initial_h", "initial_c")[: 2 if isinstance(op, rnn.LSTMOp) else 1]:
        if name in opt:
            inits.append(em.take(opt[name], state_axis, d, f"{name[-1]}0{tag}"))
        else:
            inits.append(em.const(np.zeros((batch, hid)), f"{name[-1]}0{tag}"))
    bias = [
        em.add(a, b, f"B{names[g]}{tag}")
        for g, (a, b) in enumerate(zip(wb, rb, strict=True))
    ]
    return _Direction(w, r, wb, rb, bias, peep, inits)


def _build_step(op, dirn: _Direction, acts, seqs, dtype) -> Region:
    """The body: block args (x_t, [mask_t], states...) → yield (states..., y_t)."""
    arg_types = [rnn.tensor(rnn.shape_of(s)[1:], rnn.element_type_of(s)) for s in seqs]
    arg_types += [s.type for s in dirn.inits]
    block = Block(arg_types=arg_types)
    em = _Emitter(Builder(InsertPoint.at_end(block)), dtype)
    xt = block.args[0]
    xt.name_hint = "x_t"
    mask = block.args[1] if len(seqs) > 1 else None
    if mask is not None:
        mask.name_hint = "valid"
    states = list(block.args[len(seqs) :])
    for s, n in zip(states, ("h", "c"), strict=False):
        s.name_hint = f"{n}_prev"
    limit = None if op.clip is None else op.clip.value.data

    def input_part(g: int, bias: SSAValue | None, name: str) -> SSAValue:
        """x_t @ W_g^T (+ bias): independent of the state, so an interpreter or
        a pipeline can compute it ahead of the recurrent part."""
        xw = em.matmul(xt, dirn.w[g])
        return xw if bias is None else em.add(xw, bias, name)

    def preact(g: int, h_in: SSAValue, name: str):
        bias = dirn.bias[g] if dirn.bias else None
        xw = input_part(g, bias, f"x{name}")
        return em.add(xw, em.matmul(h_in, dirn.r[g]), name)

    if isinstance(op, rnn.LSTMOp):
        new_states = _lstm_step(op, em, dirn, acts, states, preact, limit)
    elif isinstance(op, rnn.GRUOp):
        new_states = _gru_step(op, em, dirn, acts, states, preact, input_part, limit)
    else:
        z = preact(0, states[0], "z_i")
        new_states = [em.activation(acts[0], em.clip(limit, z), "h_next")]

    y = new_states[0]
    if mask is not None:
        zero = em.const(np.zeros((1,)), "zero")
        y = em.op(rnn.SelectOp(mask, new_states[0], zero), "y_t")
        new_states = [
            em.op(rnn.SelectOp(mask, n, s), f"{s.name_hint[0]}_kept")
            for n, s in zip(new_states, states, strict=True)
        ]
    em.b.insert(rnn.YieldOp([*new_states, y]))
    return Region(block)


def _lstm_step(op, em: _Emitter, dirn, acts, states, preact, limit):
    f, g, h = acts
    h_prev, c_prev = states
    z_i, z_o, z_f, z_c = (preact(k, h_prev, f"z_{n}") for k, n in enumerate("iofc"))
    if dirn.peep:
        z_i = em.add(z_i, em.mul(dirn.peep[0], c_prev), "z_i_peep")
        z_f = em.add(z_f, em.mul(dirn.peep[2], c_prev), "z_f_peep")
    i = em.activation(f, em.clip(limit, z_i), "i")
    if op.input_forget.value.data:
        forget = em.sub(em.const(np.ones((1,))), i, "f")
    else:
        forget = em.activation(f, em.clip(limit, z_f), "f")
    cand = em.activation(g, em.clip(limit, z_c), "g")
    c = em.add(em.mul(forget, c_prev), em.mul(i, cand), "c_next")
    if dirn.peep:
        z_o = em.add(z_o, em.mul(dirn.peep[1], c), "z_o_peep")
    o = em.activation(f, em.clip(limit, z_o), "o")
    h_new = em.mul(o, em.activation(h, c, "c_act"), "h_next")
    return [h_new, c]


def _gru_step(op, em: _Emitter, dirn, acts, states, preact, input_part, limit):
    f, g = acts
    (h_prev,) = states
    z = em.activation(f, em.clip(limit, preact(0, h_prev, "z_z")), "update")
    r = em.activation(f, em.clip(limit, preact(1, h_prev, "z_r")), "reset")
    if op.linear_before_reset.value.data:
        rh = em.matmul(h_prev, dirn.r[2])
        if dirn.rb:
            rh = em.add(rh, dirn.rb[2], "rh")
        xw = input_part(2, dirn.wb[2] if dirn.wb else None, "xz_h")
        zh = em.add(xw, em.mul(r, rh), "z_h")
    else:
        zh = preact(2, em.mul(r, h_prev, "reset_h"), "z_h")
    cand = em.activation(g, em.clip(limit, zh), "h_cand")
    one = em.const(np.ones((1,)), "one")
    h_new = em.add(em.mul(em.sub(one, z), cand), em.mul(z, h_prev), "h_next")
    return [h_new]


@dataclass(frozen=True)
class ExpandCellsPass(ModulePass):
    """Rewrite ONNX cell ops into explicit per-step recurrences."""

    name = "expand-cells"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([ExpandCell()]), apply_recursively=False
        ).rewrite_module(op)
        fold_constants(op)
