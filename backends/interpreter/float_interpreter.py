"""Float interpreter for the `rnn` dialect, vectorised over the batch with numpy.

It runs a module before `expand-cells` (cell ops evaluated by a direct numpy model
of the ONNX equations) and after it (the recurrence body run once per time step),
so the two forms check each other. Arithmetic is float32, as in onnxruntime.
"""

from __future__ import annotations

import contextvars
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from threadpoolctl import ThreadpoolController
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, SSAValue

from rnnc.backends.interpreter import batch_blocks, int_matmul, parallel
from rnnc.backends.interpreter.fusion import (
    STEP_LOOPS,
    FusedProducts,
    Kernel,
    defer_products,
    fuse_blocks,
    fuse_chains,
    fuse_products,
    fuse_runs,
)
from rnnc.dialects import rnn, rnn_semantics
from rnnc.dialects.arrays import numpy_dtype
from rnnc.dialects.rnn_semantics import (
    Impl,
    InterpretationError,
    main_function,
    registrar,
)

# The interpreter's op table: the rnn dialect's reference semantics, to which the
# fixed-point interpreter adds the fxp ops.
IMPLS: dict[type[Operation], Impl] = dict(rnn_semantics.IMPLS)

# Op types that compile into kernels (formats, tables and shifts worked out once);
# the others run through IMPLS.
COMPILERS: dict[type[Operation], Callable[[Operation], Kernel]] = {}


impl = registrar(IMPLS)


compiler = registrar(COMPILERS)


# ------------------------------------------------------------------ recurrence


Observer = Callable[[Operation, list[np.ndarray]], None]

# Elements per hoisted chunk: per-step ops run on this many elements of their
# largest result at a time, so the data stay in the caches (a whole sequence of
# gate pre-activations is tens of MB).
CHUNK_ELEMENTS = 1 << 17
# Hoisted per-step ops run ahead of the loop on a second thread when the sequences
# have at least this many elements ($RNNC_PIPELINE=0 turns it off).
PIPELINE = os.environ.get("RNNC_PIPELINE", "1") != "0"
PIPELINE_ELEMENTS = 1 << 18
PIPELINE_AHEAD = 8  # chunks computed ahead at most
PIPELINE_PROBE = 8  # chunks after which the pipeline checks that it has a core
PIPELINE_MIN_CPU = 0.65  # CPU seconds per second of its computing it needs to go on


def _batched_states(
    op: rnn.RecurrenceOp, seqs: list[np.ndarray], states: list[np.ndarray]
) -> list[np.ndarray]:
    """Initial states for the batch the sequences have at run time. A module runs
    at any value of a free batch (`signature.DIMS_ATTR`); a constant initial state
    of the import's batch (zeros built from the input's shape) is uniform over
    the batch, and stands for the same state at the batch of this run."""
    if not seqs or np.ndim(seqs[0]) < 2:
        return states
    static = rnn.shape_of(op.seqs[0])[1]
    batch = seqs[0].shape[1]
    if batch == static:
        return states
    out = []
    for state, init in zip(states, op.inits, strict=True):
        state = np.asarray(state)
        if (
            state.ndim
            and state.shape[0] == static != batch
            and rnn.shape_of(init)[0] == static
        ):
            if state.shape[0] and (state != state[:1]).any():
                raise InterpretationError(
                    f"the initial state of a recurrence is fixed to batch {static} "
                    f"and differs between rows; cannot run batch {batch}"
                )
            state = np.repeat(state[:1], batch, axis=0)
        out.append(state)
    return out


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
        self._independent: dict[Operation, bool] = {}  # batch_blocks.rows_independent
        self._step_loops: dict[Operation, object] = {}  # compiled time loops

    def run_function(
        self, fn: func.FuncOp, inputs: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        env: dict[SSAValue, np.ndarray] = dict(
            zip(fn.body.block.args, inputs, strict=True)
        )
        # The per-step products are small: one BLAS thread is faster, and far
        # faster when another process competes for the cores.
        with (
            _one_blas_thread(),
            int_matmul.threads(parallel.kernel_threads()),
        ):
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
        seqs, states = args[:n_seq], _batched_states(op, args[:n_seq], args[n_seq:])
        invariant, per_step, in_loop = self.plan(op)
        for fused in (*per_step, *in_loop):
            reset = getattr(fused, "reset", None)
            if reset is not None:
                reset()  # the matrices may differ from the last run
        self.run_ops(invariant, env)
        spans = self._batch_spans(op, seqs, states)
        compiled = self._step_loops.get(op)
        if compiled is not None:
            results = self._compiled_blocks(op, compiled, seqs, states, env, spans)
            if results is not None:
                return results
        if self._threads_inside(in_loop, seqs, spans):
            return self._loop_blocks(op, seqs, states, env, spans, True)
        with parallel.threads(1):  # each kernel on one core
            return self._loop_blocks(op, seqs, states, env, spans, False)

    def _compiled_blocks(self, op, compiled, seqs, states, env, spans) -> list | None:
        """The compiled time loop on each block of rows, one after another (each
        on the cores: a block's hoisted chunks stay in the caches); None when it
        does not take the first block."""
        shared: dict = {}  # what the blocks of this run share (StepLoop.start)
        parts = []
        for k, span in enumerate(spans):
            if len(spans) > 1:
                block_seqs = [s[:, span] for s in seqs]
                block_states = [s[span] for s in states]
            else:
                block_seqs, block_states = seqs, states
            part = self._compiled_loop(
                op, compiled, block_seqs, block_states, env, span, shared
            )
            if part is None:
                if not k:
                    return None
                part = self._time_loop(op, block_seqs, block_states, dict(env), False)
            parts.append(part)
        return parts[0] if len(parts) == 1 else batch_blocks.join(parts, len(states))

    def _compiled_loop(
        self, op, compiled, seqs, states, env, span, shared
    ) -> list | None:
        """The time loop as one compiled function per chunk of steps (STEP_LOOPS),
        or None when it does not take these arrays (rows `span` of the run's)."""
        steps = seqs[0].shape[0] if seqs and np.ndim(seqs[0]) else 0
        _, per_step, in_loop = self.plan(op)
        keep = tuple(bool(r.first_use) for r in op.step_outputs)
        block = op.body.block
        hoisted = _read_in_loop(per_step)

        def hoist_on(arrays: list[np.ndarray]) -> list[np.ndarray]:
            values = dict(env)
            values.update(zip(block.args, arrays, strict=False))
            self.run_ops(per_step, values)
            _flush(per_step)
            return [values[v] for v in hoisted]

        loop = compiled.start(
            seqs, states, env, keep, steps, hoist_on if per_step else None, span,
            shared,
        )  # fmt: skip
        if loop is None:
            return None

        def order(start: int, stop: int) -> np.ndarray:
            ts = np.arange(start, stop, dtype=np.int64)
            return ts[::-1].copy() if op.is_reverse else ts

        if loop.gathered is not None:  # the hoisted values from tables
            try:
                loop.steps(order(0, steps), 0, None)
            finally:
                _flush(in_loop)
            return loop.results()
        chunk = self._chunk_steps(per_step, steps)
        chunks = self._hoist(per_step, block, seqs, env, chunk, op.is_reverse, False)
        try:
            for start, stop, arrays in chunks:
                loop.steps(order(start, stop), start, arrays)
        finally:
            chunks.close()
            _flush((*per_step, *in_loop))
        return loop.results()

    def _loop_blocks(self, op, seqs, states, env, spans, inside: bool) -> list:
        """The time loop on each block of rows; with `inside` the kernels use the
        cores, else blocks run on threads or the hoisted ops run ahead."""
        if len(spans) == 1:
            return self._time_loop(op, seqs, states, env, PIPELINE and not inside)
        threads = 1 if inside else min(parallel.cores(), len(spans))

        def block(span: slice) -> list[np.ndarray]:
            return self._time_loop(
                op,
                [s[:, span] for s in seqs],
                [s[span] for s in states],
                dict(env),
                PIPELINE and threads == 1 and not inside,
            )

        if threads == 1:
            parts = [block(span) for span in spans]
        else:  # kernels release the GIL: blocks run on the cores at once
            with ThreadPoolExecutor(threads) as pool:
                contexts = [contextvars.copy_context() for _ in spans]
                futures = [
                    pool.submit(c.run, block, span)
                    for c, span in zip(contexts, spans, strict=True)
                ]
                parts = [f.result() for f in futures]
        return batch_blocks.join(parts, len(states))

    @staticmethod
    def _threads_inside(in_loop: list, seqs: list, spans: list[slice]) -> bool:
        """Whether the cores are used inside the steps' kernels: when every
        product of the loop runs on threads (a product on one core would leave
        the other idle every step); else a second thread computes the hoisted
        ops ahead (or runs blocks of rows)."""
        if parallel.kernel_threads() <= 1 or not seqs or np.ndim(seqs[0]) < 2:
            return False
        rows = len(range(seqs[0].shape[1])[spans[0]])
        products = [item for item in in_loop if isinstance(item, FusedProducts)]
        single = any(type(o) in batch_blocks.PRODUCTS for o in in_loop)
        return not single and all(p.threaded(rows) for p in products)

    def _batch_spans(self, op, seqs, states) -> list[slice]:
        """Row blocks of the batch run one after the other (cache-sized) or side by
        side; one span when the body mixes rows or an observer looks."""
        if self.observer is not None:
            return [slice(None)]
        if not self._rows_independent(op):
            return [slice(None)]
        if not seqs or any(np.ndim(s) < 2 for s in seqs):
            return [slice(None)]
        rows = seqs[0].shape[1]
        if any(s.shape[1] != rows for s in seqs) or any(
            np.ndim(s) < 1 or np.shape(s)[0] != rows for s in states
        ):
            return [slice(None)]
        return batch_blocks.spans(rows, self.plan(op)[2])

    def _rows_independent(self, op: rnn.RecurrenceOp) -> bool:
        if op not in self._independent:
            self._independent[op] = batch_blocks.rows_independent(op, TIME_BROADCASTING)
        return self._independent[op]

    def _time_loop(self, op, seqs, states, env, pipeline: bool) -> list[np.ndarray]:
        steps = seqs[0].shape[0]
        block = op.body.block
        _, per_step, in_loop = self.plan(op)
        hoisted = _read_in_loop(per_step)
        chunk = self._chunk_steps(per_step, steps)
        terminator = block.last_op
        assert terminator is not None
        # Step outputs nobody reads are not collected (without an observer).
        kept = [self.observer is not None or bool(r.first_use) for r in op.step_outputs]
        outputs: list[list[np.ndarray]] = [[] for _ in op.step_outputs]
        order = range(steps - 1, -1, -1) if op.is_reverse else range(steps)
        start, stop, arrays = 0, 0, []
        chunks = self._hoist(per_step, block, seqs, env, chunk, op.is_reverse, pipeline)
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
            _flush((*per_step, *in_loop))
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
        pipeline: bool = True,
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
        hoisted = _read_in_loop(per_step)

        def compute(start: int, values: dict) -> tuple[int, int, list[np.ndarray]]:
            stop = min(start + chunk, steps)
            values.update(zip(block.args, [s[start:stop] for s in seqs], strict=False))
            self.run_ops(per_step, values)
            return start, stop, [values[v] for v in hoisted]

        size = sum(int(np.prod(np.shape(s), dtype=np.int64)) for s in seqs)
        if (
            not pipeline
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
            finally:
                _flush(per_step)

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
            if not isinstance(op, Operation):  # fused products, chains, runs
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
            per_step = fuse_products(per_step, kind)
            per_step = defer_products(fuse_chains(fuse_runs(per_step, self.run_ops)))
            in_loop = defer_products(fuse_chains(fuse_runs(in_loop, self.run_ops)))
            per_step = fuse_blocks(per_step)
            if self._rows_independent(op):
                hoisted = _read_in_loop(per_step)
                for recognise in STEP_LOOPS:
                    compiled = recognise(op, hoisted, in_loop)
                    if compiled is not None:
                        self._step_loops[op] = compiled
                        break
            if op not in self._step_loops:
                in_loop = fuse_blocks(in_loop)
        plan = (invariant, per_step, in_loop)
        self._plans[op] = plan
        return plan


def _flush(items) -> None:
    """Fused items that count values out of range per thread report this
    thread's counts (at the end of a time loop, and of the pipeline worker)."""
    for item in items:
        flush = getattr(item, "flush", None)
        if flush is not None:
            flush()


def _read_in_loop(per_step: list) -> list[SSAValue]:
    """The results of hoisted ops that the loop reads (not the ones only other
    hoisted ops read, such as deferred products)."""
    hoisted = {op for item in per_step for op in getattr(item, "ops", [item])}
    return [
        v
        for item in per_step
        for v in item.results
        if any(use.operation not in hoisted for use in v.uses)
    ]


# Ops whose result for a stack of time steps is the stack of per-step results
# (numpy broadcasting over a new leading axis). Extended by the fxp interpreter.
TIME_BROADCASTING: set[type[Operation]] = {*rnn.ELEMENTWISE_OPS, rnn.MatMulOp}


def run_module(
    module: ModuleOp,
    inputs: Sequence[np.ndarray],
    interpreter: Interpreter | None = None,
) -> list[np.ndarray]:
    """Runs @main; an interpreter kept by the caller keeps its plans and kernels
    (`driver.Program`)."""
    interpreter = interpreter or Interpreter()
    return interpreter.run_function(main_function(module), inputs)


# (modules imported, controller): finding the BLAS libraries takes milliseconds
_BLAS: list[tuple[int, ThreadpoolController]] = []


def _one_blas_thread():
    """threadpoolctl's limit of BLAS to one thread, on a controller found again
    only when a module was imported since (it may have loaded a library)."""
    modules = len(sys.modules)
    if not _BLAS or _BLAS[0][0] != modules:
        _BLAS[:] = [(modules, ThreadpoolController())]
    return _BLAS[0][1].limit(limits=1, user_api="blas")
