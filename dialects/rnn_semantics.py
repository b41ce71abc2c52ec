"""Reference semantics of the rnn dialect's ops, in numpy (float32 as onnxruntime).

One table, `IMPLS`, maps each op type to a function of its operand arrays; the
float interpreter runs it, and passes use it to fold constants or to tabulate
activations. Cell ops (`rnn.lstm`, `rnn.gru`, `rnn.rnn`) are evaluated by a
direct model of the ONNX equations, so the expanded form and the cell form check
each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from rnnc.dialects import approx, rnn
from rnnc.dialects.arrays import array_of, numpy_dtype
from rnnc.dialects.errors import RnncError
from rnnc.dialects.shapes import slice_bounds

Impl = Callable[[Operation, list[np.ndarray]], list[np.ndarray]]
IMPLS: dict[type[Operation], Impl] = {}


class InterpretationError(RnncError):
    """The IR cannot be run on the given inputs (a user error: e.g. a token id
    outside the vocabulary, wherever the module runs, calibration included)."""


def registrar(table: dict[type[Operation], Callable]) -> Callable:
    """A decorator factory: `@reg(OpA, OpB)` puts the function in `table` for
    those op types (the interpreters build their own tables the same way)."""

    def register_for(*op_types: type[Operation]):
        def register(fn):
            for t in op_types:
                table[t] = fn
            return fn

        return register

    return register_for


impl = registrar(IMPLS)


# ------------------------------------------------------------------- activations


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so exp never overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


ACTIVATIONS: dict[str, Callable[[np.ndarray, float | None, float | None], np.ndarray]]
ACTIVATIONS = {
    "Sigmoid": lambda x, a, b: _sigmoid(x),
    "Tanh": lambda x, a, b: np.tanh(x),
    "Relu": lambda x, a, b: np.maximum(x, 0),
    "Affine": lambda x, a, b: a * x + b,
    "LeakyRelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "ThresholdedRelu": lambda x, a, b: np.where(x > a, x, 0),
    "ScaledTanh": lambda x, a, b: a * np.tanh(b * x),
    "HardSigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "Elu": lambda x, a, b: np.where(x >= 0, x, a * np.expm1(x)),
    "Softsign": lambda x, a, b: x / (1 + np.abs(x)),
    "Softplus": lambda x, a, b: np.logaddexp(0, x),
}


def activate(name: str, x: np.ndarray, alpha=None, beta=None) -> np.ndarray:
    f32 = np.float32
    a = None if alpha is None else f32(alpha)
    b = None if beta is None else f32(beta)
    return np.asarray(ACTIVATIONS[name](x, a, b), dtype=x.dtype)


def _float(attr) -> float | None:
    return None if attr is None else attr.value.data


# --------------------------------------------------------------- primitive ops


@impl(rnn.ConstantOp)
def _constant(op: rnn.ConstantOp, args):
    return [array_of(op.value)]


_BINARY = {
    rnn.AddOp: np.add,
    rnn.SubOp: np.subtract,
    rnn.MulOp: np.multiply,
    rnn.DivOp: np.divide,
}


@impl(*_BINARY)
def _binary(op, args):
    return [_BINARY[type(op)](args[0], args[1])]


@impl(rnn.SigmoidOp)
def _sigmoid_op(op, args):
    return [_sigmoid(args[0])]


@impl(rnn.TanhOp)
def _tanh(op, args):
    return [np.tanh(args[0])]


@impl(rnn.ReluOp)
def _relu(op, args):
    return [np.maximum(args[0], 0).astype(args[0].dtype)]


@impl(rnn.ActivationOp)
def _activation(op: rnn.ActivationOp, args):
    return [activate(op.kind.data, args[0], _float(op.alpha), _float(op.beta))]


@impl(rnn.LutOp)
def _lut(op: rnn.LutOp, args):
    x = args[0]
    kind, r, k = op.kind.data, op.log2_range.value.data, op.log2_entries.value.data
    sym = approx.symmetry_of(kind)
    table = activate(kind, approx.centers(r, k, sym), _float(op.alpha), _float(op.beta))
    y = table[approx.float_index(x, r, k, sym)]
    return [approx.rebuild_sign(x, y, sym).astype(x.dtype)]


@impl(rnn.PwlOp)
def _pwl(op: rnn.PwlOp, args):
    x = args[0]
    seg = np.searchsorted(np.array(op.breakpoints.get_values()), x, side="right")
    slopes = np.array(op.slopes.get_values())[seg]
    intercepts = np.array(op.intercepts.get_values())[seg]
    return [(slopes * x + intercepts).astype(x.dtype)]


@impl(rnn.ClipOp)
def _clip(op: rnn.ClipOp, args):
    x = args[0]
    lo, hi = _float(op.min), _float(op.max)
    if lo is not None:
        x = np.maximum(x, x.dtype.type(lo))
    if hi is not None:
        x = np.minimum(x, x.dtype.type(hi))
    return [x]


@impl(rnn.SelectOp)
def _select(op, args):
    return [np.where(args[0], args[1], args[2])]


_PREDICATES = {
    rnn.LessOp: np.less,
    rnn.GreaterOp: np.greater,
    rnn.EqualOp: np.equal,
    rnn.AndOp: np.logical_and,
    rnn.OrOp: np.logical_or,
}


@impl(*_PREDICATES)
def _predicate(op, args):
    return [np.asarray(_PREDICATES[type(op)](args[0], args[1]))]


@impl(rnn.NotOp)
def _not(op, args):
    return [np.logical_not(args[0])]


@impl(rnn.CastOp)
def _cast(op: rnn.CastOp, args):
    return [args[0].astype(numpy_dtype(rnn.element_type_of(op.result)))]


@impl(rnn.MatMulOp)
def _matmul(op, args):
    return [np.matmul(args[0], args[1])]


@impl(rnn.GemmOp)
def _gemm(op: rnn.GemmOp, args):
    a, b = args[0], args[1]
    if op.trans_a.value.data:
        a = a.T
    if op.trans_b.value.data:
        b = b.T
    out = a @ b
    alpha, beta = np.float32(op.alpha.value.data), np.float32(op.beta.value.data)
    if alpha != 1:
        out = alpha * out
    if len(args) == 3:
        out = out + (args[2] if beta == 1 else beta * args[2])
    return [out.astype(args[0].dtype)]


@impl(rnn.SoftmaxOp, rnn.LogSoftmaxOp)
def _softmax(op, args):
    x = args[0]
    axis = op.axis.value.data
    shifted = x - x.max(axis=axis, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    out = shifted - log_sum
    return [out if isinstance(op, rnn.LogSoftmaxOp) else np.exp(out)]


@impl(rnn.GatherOp)
def _gather(op: rnn.GatherOp, args):
    data, idx = args
    axis = op.axis.value.data % data.ndim
    size = data.shape[axis]
    if idx.size and (idx.min() < -size or idx.max() >= size):
        raise InterpretationError(
            f"rnn.gather: index out of range [{-size}, {size - 1}] "
            f"(got {idx.min()}..{idx.max()})"
        )
    return [np.take(data, idx, axis=axis)]


@impl(rnn.ReshapeOp)
def _reshape(op: rnn.ReshapeOp, args):
    x = args[0]
    target = [x.shape[i] if d == 0 else d for i, d in enumerate(op.shape.get_values())]
    return [x.reshape(target)]


@impl(rnn.TransposeOp)
def _transpose(op: rnn.TransposeOp, args):
    return [np.transpose(args[0], op.perm.get_values())]


@impl(rnn.SqueezeOp)
def _squeeze(op: rnn.SqueezeOp, args):
    return [np.squeeze(args[0], axis=tuple(op.axes.get_values()))]


@impl(rnn.UnsqueezeOp)
def _unsqueeze(op: rnn.UnsqueezeOp, args):
    return [np.expand_dims(args[0], axis=tuple(op.axes.get_values()))]


@impl(rnn.ConcatOp)
def _concat(op: rnn.ConcatOp, args):
    return [np.concatenate(args, axis=op.axis.value.data)]


@impl(rnn.SliceOp)
def _slice(op: rnn.SliceOp, args):
    x = args[0]
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(
        op.starts.get_values(),
        op.ends.get_values(),
        op.axes.get_values(),
        op.steps.get_values(),
        strict=True,
    ):
        axis %= x.ndim
        kept = slice_bounds(x.shape[axis], start, end, step)
        index[axis] = slice(kept.start, kept.stop if kept.stop >= 0 else None, step)
    return [x[tuple(index)]]


@impl(rnn.ExpandOp)
def _expand(op: rnn.ExpandOp, args):
    x = args[0]
    shape = np.broadcast_shapes(x.shape, tuple(op.shape.get_values()))
    return [np.broadcast_to(x, shape).copy()]


@impl(rnn.SequenceMaskOp)
def _sequence_mask(op, args):
    lens, like = args
    steps = np.arange(like.shape[0])[:, None, None]
    return [steps < lens.astype(np.int64)[None, :, None]]


@impl(rnn.ReverseSequenceOp)
def _reverse_sequence(op: rnn.ReverseSequenceOp, args):
    x, lens = args
    batch_axis, time_axis = op.batch_axis.value.data, op.time_axis.value.data
    steps = x.shape[time_axis]
    if lens.size and (lens.min() < 0 or lens.max() > steps):
        raise InterpretationError(
            f"rnn.reverse_sequence: lengths must be in [0, {steps}] "
            f"(got {lens.min()}..{lens.max()})"
        )
    out = np.array(x, copy=True)
    for b, length in enumerate(lens.astype(np.int64)):
        index = [slice(None)] * x.ndim
        index[batch_axis] = b
        source = list(index)
        index[time_axis] = slice(0, length)
        source[time_axis] = slice(length - 1, None, -1) if length else slice(0, 0)
        out[tuple(index)] = x[tuple(source)]
    return [out]


# ------------------------------------------------------------- ONNX cell model
#
# A direct transcription of the equations in the ONNX operator spec, written
# independently of `expand-cells` so that the two forms check each other.


@dataclass
class _DirectionParams:
    """One direction's weights, in ONNX gate order, plus its activations."""

    w: np.ndarray  # [G*H, I]
    r: np.ndarray  # [G*H, H]
    wb: np.ndarray  # [G*H]
    rb: np.ndarray  # [G*H]
    peep: np.ndarray  # [3*H] (LSTM only)
    acts: list[Callable[[np.ndarray], np.ndarray]]
    clip: Callable[[np.ndarray], np.ndarray]
    hidden: int


def _lstm_step(p: _DirectionParams, input_forget: bool, xt, h_prev, c_prev):
    f, g, h = p.acts
    zi, zo, zf, zc = np.split(xt @ p.w.T + h_prev @ p.r.T + p.wb + p.rb, 4, axis=-1)
    p_i, p_o, p_f = np.split(p.peep, 3)
    i = f(p.clip(zi + p_i * c_prev))
    forget = 1 - i if input_forget else f(p.clip(zf + p_f * c_prev))
    c = forget * c_prev + i * g(p.clip(zc))
    o = f(p.clip(zo + p_o * c))
    return o * h(c), c


def _gru_step(p: _DirectionParams, linear_before_reset: bool, xt, h_prev):
    f, g = p.acts
    hid = p.hidden
    xw = xt @ p.w.T + p.wb
    hr = h_prev @ p.r[: 2 * hid].T + p.rb[: 2 * hid]
    z = f(p.clip(xw[:, :hid] + hr[:, :hid]))
    r = f(p.clip(xw[:, hid : 2 * hid] + hr[:, hid:]))
    r_h, rb_h = p.r[2 * hid :], p.rb[2 * hid :]
    if linear_before_reset:
        hh = g(p.clip(xw[:, 2 * hid :] + r * (h_prev @ r_h.T + rb_h)))
    else:
        hh = g(p.clip(xw[:, 2 * hid :] + (r * h_prev) @ r_h.T + rb_h))
    return ((1 - z) * hh + z * h_prev,)


def _rnn_step(p: _DirectionParams, xt, h_prev):
    (f,) = p.acts
    return (f(p.clip(xt @ p.w.T + h_prev @ p.r.T + p.wb + p.rb)),)


def _run_direction(step, x, lens, reverse, init_states):
    """Time loop shared by all cells; finished sequences keep state, emit 0."""
    steps = x.shape[0]
    states = list(init_states)
    ys = np.zeros((steps, x.shape[1], states[0].shape[1]), x.dtype)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        new = step(x[t], *states)
        live = (t < lens)[:, None]
        states = [np.where(live, n, s) for n, s in zip(new, states, strict=True)]
        ys[t] = np.where(live, new[0], 0)
    return ys, states


@impl(rnn.LSTMOp, rnn.GRUOp, rnn.RNNOp)
def _cell(op: rnn.RecurrentCellOp, args):
    named = dict(zip(["X", "W", "R"], args[:3], strict=True))
    named.update(zip(op.optional_operands(), args[3:], strict=True))
    x = named["X"]
    if op.batch_first:
        x = x.transpose(1, 0, 2)
    steps, batch, _ = x.shape
    nd, hid, dt = op.num_directions, op.hidden, x.dtype
    gh = op.GATES * hid
    lens = named.get("sequence_lens")
    lens = np.full(batch, steps) if lens is None else lens.astype(np.int64)
    if lens.size and (lens.min() < 0 or lens.max() > steps):
        raise InterpretationError(
            f"{op.name}: sequence_lens must lie in [0, {steps}], got {lens.tolist()}"
        )
    state_names = (
        ["initial_h", "initial_c"] if isinstance(op, rnn.LSTMOp) else ["initial_h"]
    )
    inits = []
    for name in state_names:
        value = named.get(name, np.zeros((nd, batch, hid), dt))
        inits.append(
            value.transpose(1, 0, 2) if name in named and op.batch_first else value
        )
    bias = named.get("B", np.zeros((nd, 2 * gh), dt))
    peep = named.get("P", np.zeros((nd, 3 * hid), dt))
    limit = _float(op.clip)
    clip = (
        (lambda v: v)
        if limit is None
        else (lambda v: np.clip(v, -limit, limit).astype(dt))
    )
    acts = op.activation_list()
    per_dir = len(op.DEFAULT_ACTIVATIONS)

    ys, finals = [], [[] for _ in state_names]
    for d in range(nd):
        params = _DirectionParams(
            w=named["W"][d],
            r=named["R"][d],
            wb=bias[d][:gh],
            rb=bias[d][gh:],
            peep=peep[d],
            acts=[
                partial(activate, name, alpha=a, beta=b)
                for name, a, b in acts[d * per_dir : (d + 1) * per_dir]
            ],
            clip=clip,
            hidden=hid,
        )
        if isinstance(op, rnn.LSTMOp):
            step = partial(_lstm_step, params, bool(op.input_forget.value.data))
        elif isinstance(op, rnn.GRUOp):
            step = partial(_gru_step, params, bool(op.linear_before_reset.value.data))
        else:
            step = partial(_rnn_step, params)
        reverse = d == 1 or op.direction.data == "reverse"
        y, last = _run_direction(step, x, lens, reverse, [s[d] for s in inits])
        ys.append(y)
        for acc, value in zip(finals, last, strict=True):
            acc.append(value)
    # ONNX Y is [T, nd, B, H] and states [nd, B, H]; layout 1 puts batch first.
    outs = [np.stack(ys, axis=1)] + [np.stack(f, axis=0) for f in finals]
    if op.batch_first:
        outs = [outs[0].transpose(2, 0, 1, 3)] + [
            o.transpose(1, 0, 2) for o in outs[1:]
        ]
    return outs


def evaluate(op: Operation, args: list[np.ndarray]) -> list[np.ndarray]:
    """The results of one op on operand arrays, by its reference semantics."""
    fn = IMPLS.get(type(op))
    if fn is None:
        raise InterpretationError(f"no implementation of {op.name}")
    return fn(op, args)


def main_function(module: ModuleOp) -> func.FuncOp:
    """The function a module computes: its first `func.func`."""
    for op in module.ops:
        if isinstance(op, func.FuncOp):
            return op
    raise InterpretationError("module has no func.func to run")
