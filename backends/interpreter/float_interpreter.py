"""Float interpreter for the `rnn` dialect, vectorised over the batch with numpy.

It runs a module before `expand-cells` (cell ops evaluated by a direct numpy model
of the ONNX equations) and after it (the recurrence body run once per time step),
so the two forms check each other. Arithmetic is float32, as in onnxruntime.
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue

from rnnc.backends.interpreter import int_matmul
from rnnc.dialects import approx, rnn
from rnnc.dialects.arrays import array_of, numpy_dtype
from rnnc.dialects.shapes import slice_bounds

Impl = Callable[[Operation, list[np.ndarray]], list[np.ndarray]]
IMPLS: dict[type[Operation], Impl] = {}

# A function of an op's operand arrays alone, compiled once per op.
Kernel = Callable[[list[np.ndarray]], list[np.ndarray]]
# Op types that compile into kernels (formats, tables and shifts worked out once);
# the others run through IMPLS.
COMPILERS: dict[type[Operation], Callable[[Operation], Kernel]] = {}


class InterpretationError(Exception):
    """The IR cannot be run on the given inputs."""


def impl(*op_types: type[Operation]):
    def register(fn: Impl) -> Impl:
        for t in op_types:
            IMPLS[t] = fn
        return fn

    return register


def compiler(*op_types: type[Operation]):
    def register(fn: Callable[[Operation], Kernel]) -> Callable[[Operation], Kernel]:
        for t in op_types:
            COMPILERS[t] = fn
        return fn

    return register


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


# ------------------------------------------------------------------ recurrence


Observer = Callable[[Operation, list[np.ndarray]], None]

# Elements per hoisted chunk: per-step ops run on this many elements of their
# largest result at a time, so the data stay in the caches (a whole sequence of
# gate pre-activations is tens of MB).
CHUNK_ELEMENTS = 1 << 15
# Hoisted per-step ops run ahead of the loop on a second thread when the sequences
# have at least this many elements ($RNNC_PIPELINE=0 turns it off).
PIPELINE = os.environ.get("RNNC_PIPELINE", "1") != "0"
PIPELINE_ELEMENTS = 1 << 18
PIPELINE_AHEAD = 8  # chunks computed ahead at most
PIPELINE_PROBE = 8  # chunks after which the pipeline checks that it has a core
PIPELINE_MIN_CPU = 0.65  # CPU seconds per second of its computing it needs to go on


class Interpreter:
    """Runs `func.func` bodies; values live in a dict keyed by SSA value.

    An optional observer sees every op's results (range calibration uses it).
    Without one, recurrence bodies are also optimised: per-step ops are hoisted in
    cache-sized chunks of time steps, and exact products and short chains of ops are
    fused (FusedProducts, FusedChain): same values, fewer passes."""

    def __init__(self, observer: Observer | None = None):
        self.observer = observer
        self._plans: dict[Operation, tuple[list, list, list]] = {}
        self._kernels: dict[Operation, Kernel] = {}

    def run_function(
        self, fn: func.FuncOp, inputs: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        env: dict[SSAValue, np.ndarray] = dict(
            zip(fn.body.block.args, inputs, strict=True)
        )
        # The per-step products are small: one BLAS thread is faster, and far
        # faster when another process competes for the cores.
        with threadpool_limits(limits=1, user_api="blas"), int_matmul.threads():
            return self.run_block(fn.body.block, env)

    def run_block(
        self, block: Block, env: dict[SSAValue, np.ndarray]
    ) -> list[np.ndarray]:
        terminator = block.last_op
        if not isinstance(terminator, func.ReturnOp | rnn.YieldOp):
            raise InterpretationError("block has no terminator")
        self.run_ops(list(block.ops)[:-1], env)
        return [env[v] for v in terminator.operands]

    def run_recurrence(
        self,
        op: rnn.RecurrenceOp,
        args: list[np.ndarray],
        env: dict[SSAValue, np.ndarray],
    ) -> list[np.ndarray]:
        """Time loop. Body ops that do not depend on the state run once, outside
        the loop: loop-invariant ones as they are, per-step ones on whole
        sequences or chunks of time steps (e.g. the input projections x_t @ W as
        one big product)."""
        n_seq = len(op.seqs)
        seqs, states = args[:n_seq], args[n_seq:]
        steps = seqs[0].shape[0]
        block = op.body.block
        invariant, per_step, in_loop = self.plan(op)
        for fused in (*per_step, *in_loop):
            if isinstance(fused, FusedProducts):
                fused.reset()  # the matrices may differ from the last run
        self.run_ops(invariant, env)
        hoisted = [v for o in per_step for v in o.results]
        chunk = self._chunk_steps(per_step, steps)
        terminator = block.last_op
        assert terminator is not None
        # Step outputs nobody reads are not collected (without an observer).
        kept = [self.observer is not None or bool(r.first_use) for r in op.step_outputs]
        outputs: list[list[np.ndarray]] = [[] for _ in op.step_outputs]
        order = range(steps - 1, -1, -1) if op.is_reverse else range(steps)
        start, stop, arrays = 0, 0, []
        chunks = self._hoist(per_step, block, seqs, env, chunk, op.is_reverse)
        try:
            for t in order:
                if per_step and not start <= t < stop:
                    start, stop, arrays = next(chunks)
                env.update(zip(block.args, [s[t] for s in seqs] + states, strict=True))
                for value, array in zip(hoisted, arrays, strict=True):
                    env[value] = array[t - start]
                self.run_ops(in_loop, env)
                yielded = [env[v] for v in terminator.operands]
                states = yielded[: len(states)]
                for out, value, keep in zip(
                    outputs, yielded[len(states) :], kept, strict=True
                ):
                    if keep:
                        out.append(value)
        finally:
            chunks.close()
        if op.is_reverse:
            for out in outputs:
                out.reverse()
        stacked = []
        for i, (out, result) in enumerate(zip(outputs, op.step_outputs, strict=True)):
            if out:
                stacked.append(np.stack(out))
            elif steps and not kept[i]:  # unused: a stand-in taking no memory
                last = np.asarray(yielded[len(states) + i])
                shape = (steps, *last.shape)
                stacked.append(np.broadcast_to(np.zeros((), last.dtype), shape))
            else:
                shape = (0, *rnn.shape_of(result)[1:])
                stacked.append(
                    np.zeros(shape, numpy_dtype(rnn.element_type_of(result)))
                )
        return states + stacked

    def _hoist(
        self,
        per_step: list,
        block: Block,
        seqs: list[np.ndarray],
        env: dict[SSAValue, np.ndarray],
        chunk: int,
        reverse: bool,
    ) -> Iterator[tuple[int, int, list[np.ndarray]]]:
        """(start, stop, the hoisted values) for each chunk of time steps, in the
        loop's order. Large ones are computed ahead on a second thread, which the
        loop waits for only when it is behind: the kernels release the GIL, so a
        free core takes the input projections, and a busy one costs nothing (no
        spinning worker pool)."""
        steps = seqs[0].shape[0]
        starts = list(range(0, steps, chunk))
        if reverse:
            starts.reverse()
        hoisted = [v for o in per_step for v in o.results]

        def compute(start: int, values: dict) -> tuple[int, int, list[np.ndarray]]:
            stop = min(start + chunk, steps)
            values.update(zip(block.args, [s[start:stop] for s in seqs], strict=False))
            self.run_ops(per_step, values)
            return start, stop, [values[v] for v in hoisted]

        size = sum(int(np.prod(np.shape(s), dtype=np.int64)) for s in seqs)
        if (
            not PIPELINE
            or self.observer is not None
            or len(starts) < 2
            or size < PIPELINE_ELEMENTS
        ):
            for start in starts:
                yield compute(start, env)
            return
        ready: queue.Queue = queue.Queue(maxsize=PIPELINE_AHEAD)
        done = threading.Event()
        private = dict(env)  # the worker's values: outer ones, then its own

        def put(item) -> None:
            # Never dropped (a computed chunk has been counted): the loop takes
            # every item, until the worker has stopped.
            ready.put(item)

        timing: list[tuple[float, float]] = []  # the worker's (CPU, wall) per chunk

        def work() -> None:
            try:
                for start in starts:
                    if done.is_set():
                        return
                    wall, cpu = time.perf_counter(), time.thread_time()
                    item = compute(start, private)
                    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                    timing.append((cpu, wall))
                    put(item)
            except BaseException as err:  # handed to the loop, raised there
                put(err)

        # The context carries the overflow counter to the worker.
        worker = threading.Thread(
            target=contextvars.copy_context().run, args=(work,), daemon=True
        )
        worker.start()
        served = 0  # chunks handed to the loop
        try:
            while served < len(starts):
                item = ready.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                served += 1
                if served == PIPELINE_PROBE and len(timing) > 1:
                    # On a core of its own the worker runs most of the time it
                    # computes; on a shared one (other processes, or the loop) far
                    # less, and a second thread only adds switches: the rest is
                    # then computed in the loop.
                    cpu, wall = (sum(t) for t in zip(*timing[1:], strict=True))
                    if cpu < PIPELINE_MIN_CPU * wall:
                        break
        finally:
            done.set()
            pending = []  # taken out so that a worker waiting to put one stops
            while worker.is_alive() or not ready.empty():
                try:
                    pending.append(ready.get(timeout=0.001))
                except queue.Empty:
                    pass
            worker.join()
        # Gone serial: the chunks computed ahead (in order), then the rest here.
        for item in pending:
            if isinstance(item, BaseException):
                raise item
            yield item
            served += 1
        for start in starts[served:]:
            yield compute(start, env)

    def _chunk_steps(self, per_step: list, steps: int) -> int:
        """Time steps per hoisted chunk (all of them with an observer)."""
        if self.observer is not None or not per_step:
            return max(steps, 1)
        widest = 1
        for o in per_step:
            for r in o.results:
                shape = rnn.shape_of(r)  # of one time step
                if all(d >= 0 for d in shape):
                    widest = max(widest, int(np.prod(shape, dtype=np.int64)))
        return max(1, CHUNK_ELEMENTS // widest)

    def kernel(self, op: Operation) -> Kernel:
        kernel = self._kernels.get(op)
        if kernel is None:
            compile_op = COMPILERS.get(type(op))
            if compile_op is not None:
                kernel = compile_op(op)
            else:
                fn = IMPLS.get(type(op))
                if fn is None:
                    raise InterpretationError(f"no implementation of {op.name}")
                kernel = partial(fn, op)
            self._kernels[op] = kernel
        return kernel

    def run_ops(self, ops: Sequence, env: dict[SSAValue, np.ndarray]):
        observer = self.observer
        for op in ops:
            if isinstance(op, FusedProducts | FusedChain):
                op.run(env)
                continue
            args = [env[v] for v in op.operands]
            if isinstance(op, rnn.RecurrenceOp):
                results = self.run_recurrence(op, args, env)
            else:
                results = self.kernel(op)(args)
            if observer is not None:
                observer(op, results)
            for value, result in zip(op.results, results, strict=True):
                env[value] = np.asarray(result)

    def plan(self, op: rnn.RecurrenceOp):
        """(loop-invariant ops, per-step ops hoistable over time, loop ops)."""
        if op in self._plans:
            return self._plans[op]
        block = op.body.block
        n_seq = len(op.seqs)
        kind: dict[SSAValue, str] = {a: "seq" for a in block.args[:n_seq]}
        kind.update({a: "loop" for a in block.args[n_seq:]})
        plan: tuple[list, list, list] = ([], [], [])
        for body_op in block.ops:
            if body_op is block.last_op:
                break
            kinds = {kind.get(v, "invariant") for v in body_op.operands}
            if "loop" in kinds or isinstance(body_op, rnn.RecurrenceOp):
                k = "loop"
            elif "seq" in kinds:
                k = "seq" if type(body_op) in TIME_BROADCASTING else "loop"
            else:
                k = "invariant"
            for r in body_op.results:
                kind[r] = k
            plan[("invariant", "seq", "loop").index(k)].append(body_op)
        invariant, per_step, in_loop = plan
        in_loop = fuse_products(in_loop, kind)
        if self.observer is None:
            per_step = fuse_chains(fuse_products(per_step, kind))
            in_loop = fuse_chains(in_loop)
        plan = (invariant, per_step, in_loop)
        self._plans[op] = plan
        return plan


class FusedProducts:
    """Several exact products of one operand with loop-invariant matrices, run as
    one product with the matrices side by side (e.g. the four gates' h @ R_g).

    `prepare` (registered per op type in PRODUCT_FUSION) takes the matrices once per
    run of the loop and returns the product of the operand with all of them, one
    block per op: the blocks are bit-identical to the separate products."""

    def __init__(self, ops: list[Operation], prepare: PrepareProducts):
        self.ops = ops
        self.prepare = prepare
        self.operands = [ops[0].operands[0]] + [op.operands[1] for op in ops]
        self.results = [op.results[0] for op in ops]
        self._run: Callable[[np.ndarray], list[np.ndarray]] | None = None

    def reset(self) -> None:
        self._run = None

    def run(self, env: dict[SSAValue, np.ndarray]) -> None:
        if self._run is None:
            self._run = self.prepare([env[op.operands[1]] for op in self.ops])
        for value, block in zip(
            self.results, self._run(env[self.operands[0]]), strict=True
        ):
            env[value] = block


class FusedChain:
    """A chain of ops, each the only user of the previous one's result, run as one
    kernel (e.g. an exact add, the cast of its sum and a table lookup of that):
    the intermediates are never built."""

    def __init__(self, ops: list[Operation], kernel: Kernel):
        self.ops = ops
        self.kernel = kernel
        self.operands = list(ops[0].operands)
        self.results = list(ops[-1].results)

    def run(self, env: dict[SSAValue, np.ndarray]) -> None:
        results = self.kernel([env[v] for v in self.operands])
        if len(results) == 1:
            env[self.results[0]] = results[0]
            return
        for value, result in zip(self.results, results, strict=True):
            env[value] = result


# Fusable products, registered by the fixed-point backend: for a group of product
# ops of one type sharing their lhs, a function of their matrices that returns the
# fused product (lhs -> one exact block per op), or None if they cannot be fused.
PrepareProducts = Callable[[list[np.ndarray]], Callable[[np.ndarray], list]]
PRODUCT_FUSION: dict[
    type[Operation], Callable[[list[Operation]], PrepareProducts | None]
] = {}

# Fusable chains: op types (producer, its only user, that one's only user, ...) ->
# compiler of the ops into one kernel of the first op's operands, or None where it
# does not apply.
CHAINS: dict[tuple[type[Operation], ...], Callable[..., Kernel | None]] = {}


def fuse_products(ops: list, kind: dict[SSAValue, str]) -> list:
    groups: dict[SSAValue, list[Operation]] = {}
    for op in ops:
        if type(op) not in PRODUCT_FUSION:
            continue
        rhs = op.operands[1]
        if kind.get(rhs, "invariant") == "invariant" and len(rnn.shape_of(rhs)) == 2:
            groups.setdefault(op.operands[0], []).append(op)
    fused: dict[Operation, FusedProducts] = {}
    for group in groups.values():
        if len(group) > 1:
            prepare = PRODUCT_FUSION[type(group[0])](group)
            if prepare is not None:
                fused[group[0]] = FusedProducts(group, prepare)
    dropped = {op for f in fused.values() for op in f.ops[1:]}
    return [fused.get(op, op) for op in ops if op not in dropped]


def fuse_chains(ops: list) -> list:
    """Chains in `ops` in which each op is the only use of the previous op's single
    result and has no other operand (the longest one that CHAINS compiles); a chain
    runs at its last op's place."""
    position = {op: i for i, op in enumerate(ops)}
    longest = max((len(k) for k in CHAINS), default=0)
    replace: dict[int, FusedChain] = {}
    taken: set[int] = set()
    for i, op in enumerate(ops):
        if i in taken or not isinstance(op, Operation):
            continue
        chain = [op]
        while len(chain) < longest and len(chain[-1].results) == 1:
            user = chain[-1].results[0].get_user_of_unique_use()
            if user is None or user not in position or len(user.operands) != 1:
                break
            chain.append(user)
        for end in range(len(chain), 1, -1):
            compile_chain = CHAINS.get(tuple(type(o) for o in chain[:end]))
            if compile_chain is None:
                continue
            kernel = compile_chain(*chain[:end])
            if kernel is not None:
                places = [position[o] for o in chain[:end]]
                replace[places[-1]] = FusedChain(chain[:end], kernel)
                taken.update(places)
                break
    return [
        replace.get(i, op) for i, op in enumerate(ops) if i in replace or i not in taken
    ]


# Ops whose result for a stack of time steps is the stack of per-step results
# (numpy broadcasting over a new leading axis). Extended by the fxp interpreter.
TIME_BROADCASTING: set[type[Operation]] = {*rnn.ELEMENTWISE_OPS, rnn.MatMulOp}


def main_function(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp):
            return op
    raise InterpretationError("module has no func.func to run")


def run_module(module: ModuleOp, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return Interpreter().run_function(main_function(module), inputs)
