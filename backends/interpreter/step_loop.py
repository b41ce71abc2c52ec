"""A recurrence's whole time loop as one compiled function (numba), on AVX-512 VNNI.

A step of an LSTM, GRU or RNN in the interpreter is one product of the state with
loop-invariant matrices (`FusedProducts`, left as int8 digit products) and one
compiled elementwise run (`fxp_elementwise.Run`) that adds them up and updates
the states. Run step by step from Python, each step pays Python calls, a
`torch._int_mm` call that writes all rows' digit products to memory, and a second
pass reading them back. Here the rows are split over the cores once per chunk of
steps, and for each block of 16 rows and each step the compiled loop

1. splits the state's rows into digits and computes the block's digit products
   on VNNI register tiles into a buffer that stays in L1 (tile_product),
2. calls the run's own generated loop on them (the same source as the step by
   step path, reading the product with the tiles' digit layout), and
3. keeps the new states for the next step and writes the step outputs.

Same values and overflow counts, bit for bit: the run's code is the one of the
step by step path, and the products are exact (tile_product).

Applies when the body is exactly such a product (of a state, at most 16 bits on
either side) and one run whose outputs are all the yielded values, every row
depends on its own row alone (batch_blocks.rows_independent), and the CPU has
AVX-512 VNNI; otherwise the interpreter runs the steps itself.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import Operation, SSAValue

from rnnc.backends.interpreter import fxp_elementwise, parallel
from rnnc.backends.interpreter import fxp_kernels as kernels
from rnnc.backends.interpreter.tile_product import (
    ROWS,
    Input,
    TileProduct,
    fits,
    joined,
    rows_input,
)
from rnnc.dialects import fxp, rnn


class StepLoop:
    """The compiled time loop of one recurrence (see the module's docstring)."""

    def __init__(self, op, product, run, kinds, lhs: int, yields, cols: int):
        self.op = op
        self.tiles = TileProduct(product)
        self.run, self.kinds = run, kinds
        self.lhs, self.yields, self.cols = lhs, yields, cols
        self.state_of = [m for kind, m in yields if kind == "state"]
        self.step_of = [m for kind, m in yields if kind == "step"]
        built = self._built(False)
        self.casts, inputs, self.outputs, self.tables = built[:4]
        self.dtypes, self.word = built[5:]
        assert list(inputs) == list(run.inputs)
        self._sources: dict[tuple, str] = {}
        self._constant: bool | None = None  # _constant_tables
        self._kept = None  # the tables kept between runs when constant

    def _built(self, gathered: bool) -> tuple:
        """The run's variant: products on tiles, hoisted values as rows of
        tables when `gathered`."""
        variant = []
        for kind, _ in self.kinds:
            if kind == "product":
                variant.append(self.tiles.variant)
            elif kind == "hoisted" and gathered:
                variant.append(fxp_elementwise.GATHER)
            else:
                variant.append(None)
        return self.run._built(tuple(variant))

    def source_for(self, keep: tuple[bool, ...], gathered: bool = False) -> str:
        """The run's source and `steps`, writing the kept step outputs."""
        key = (keep, gathered)
        if key not in self._sources:
            source = self._built(gathered)[4]
            steps = self._steps_source(keep, gathered)
            self._sources[key] = source + "\n" + steps
        return self._sources[key]

    def _input(self, i: int, kind: str, index, gathered: bool) -> Input:
        """How `steps` passes run input i to the run."""
        if kind == "product":
            return self.tiles.product_input(i, index)
        if kind == "state":
            return Input(f"s{index}", [], [], [])
        if kind == "hoisted" and gathered:  # a table, rows gi
            return Input(f"x{i}", [f"x{i}"], ["gi"], [])
        if kind == "hoisted":
            return Input(f"x{i}[t - start, r0 : r0 + nv]", [f"x{i}"], [], [])
        if kind == "seq":
            return Input(f"x{i}[t, r0 : r0 + nv]", [f"x{i}"], [], [])
        return rows_input(i)  # outside the loop: all rows, or one broadcast

    def _steps_source(self, keep: tuple[bool, ...], gathered: bool) -> str:
        tiles = self.tiles
        args, params, extra, slices = joined(
            [
                self._input(i, kind, index, gathered)
                for i, (kind, index) in enumerate(self.kinds)
            ]
        )
        outs = [f"y{m}" for m in range(len(self.outputs))]
        tables = [f"t{k}" for k in range(len(self.tables))]
        n_states = len(self.state_of)
        states = [f"st{k}" for k in range(n_states)]
        kept = [f"so{q}" for q, k in enumerate(keep) if k]
        counters = max(len(self.casts), 1)
        call = ", ".join(["nv", "cols", *args, *outs, *extra, *tables, "badp"])
        rows = ["for i in range(nv):", "    gi[i] = idx[t, r0 + i]"]
        step = [
            *(rows if gathered else []),
            *tiles.split_lines(lambda i: f"s{self.lhs}[{i}]"),
            *tiles.tile_lines(),
            f"run({call})",
            *(f"s{k}[:nv] = y{m}[:nv]" for k, m in enumerate(self.state_of)),
            *(
                f"so{q}[t, r0 : r0 + nv] = y{m}[:nv]"
                for q, m in enumerate(self.step_of)
                if keep[q]
            ),
        ]
        part = [
            *tiles.buffers(),
            *(
                f"s{k} = np.empty(({ROWS}, st{k}.shape[1]), st{k}.dtype)"
                for k in range(n_states)
            ),
            *(
                f"y{m} = np.empty(({ROWS}, cols), np.{np.dtype(d).name})"
                for m, d in enumerate(self.dtypes)
            ),
            f"badp = np.zeros({counters}, np.int64)",
            f"gi = np.zeros({ROWS}, np.int64)",
            "first = rows * part // parts",
            "last = rows * (part + 1) // parts",
            f"for r0 in range(first, last, {ROWS}):",
            f"    nv = min({ROWS}, last - r0)",
            *(f"    s{k}[:nv] = st{k}[r0 : r0 + nv]" for k in range(n_states)),
            *(f"    {x}" for x in slices),
            "    for t in ts:",
            *(f"        {x}" for x in step),
            *(f"    st{k}[r0 : r0 + nv] = s{k}[:nv]" for k in range(n_states)),
            "counts[part] = badp",
        ]
        signature = ", ".join(
            ["parts", "rows", "cols", "ts", "start", "idx", *params, *states, *kept]
            + ["wp", *tables, "bad"]
        )
        return "\n".join(
            [
                *tiles.imports(),
                "",
                "",
                "@njit(cache=True, nogil=True, parallel=True)",
                f"def steps({signature}):",
                f"    counts = np.zeros((parts, {counters}), np.int64)",
                "    for part in prange(parts):",
                *(f"        {x}" for x in part),
                f"    for n in range({counters}):",
                "        bad[n] += counts[:, n].sum()",
                "",
            ]
        )

    def start(self, seqs, states, env, keep, steps: int, hoist_on, span, shared):
        """A loop over these sequences and initial states, or None when the
        arrays do not fit it or its function is not compiled yet (then the
        interpreter runs the steps itself). `hoist_on(arrays)`: the hoisted
        values computed on these arrays as the sequences (`_tables`; None: no
        hoisted values); `span`:
        these rows' place in the run's, whose blocks share `shared`."""
        if not seqs or np.ndim(seqs[0]) != 3:
            return None
        rows, cols = seqs[0].shape[1], self.cols
        if rows == 0 or steps == 0:
            return None
        state_arrays = []
        for state, m in zip(states, self.state_of, strict=True):
            state = np.asarray(state)
            if state.ndim != 2 or state.shape[0] != rows:
                return None
            state_arrays.append(np.array(state, dtype=self.dtypes[m]))  # a copy
        if state_arrays[self.lhs].shape[1] != self.tiles.terms:
            return None
        fixed_args: dict[int, np.ndarray] = {}
        for i, (kind, index) in enumerate(self.kinds):
            if kind == "seq":
                x = seqs[index]
                if x.shape[1:] != (rows, cols):
                    return None
                fixed_args[i] = np.ascontiguousarray(x)
            elif kind == "outer":
                x = kernels.rows_of(np.asarray(env[self.run.inputs[i]]), (rows, cols))
                if x is None:
                    return None
                fixed_args[i] = x
            elif kind == "state" and state_arrays[index].shape[1] != cols:
                return None
        work = rows * cols * len(self.run.ops) * steps
        made = (rows, state_arrays, fixed_args, env, keep, steps)
        lookup = None
        if hoist_on is not None:
            lookup = self._lookup(env, steps, rows, span)
        if lookup is not None:
            function = self.run.compiled(self.source_for(keep, True), "steps", work)
            tables = None
            if function is not None:
                tables = self._tables(lookup, hoist_on, shared)
            if tables is not None:
                return _Loop(self, function, *made, (tables, lookup[1]))
        function = self.run.compiled(self.source_for(keep), "steps", work)
        if function is None:
            return None
        return _Loop(self, function, *made, None)

    def _lookup(self, env, steps: int, rows: int, span: slice):
        """(table, indices (steps, rows)) when the one sequence is rows of a table
        (an embedding lookup, maybe made time-major) with fewer rows than half
        the run's tokens (else the hoisted values are computed per step)."""
        op = self.op
        if len(op.seqs) != 1 or not any(k == "hoisted" for k, _ in self.kinds):
            return None
        value = op.seqs[0]
        owner = value.owner
        transposed = isinstance(owner, rnn.TransposeOp)
        if transposed:
            if list(owner.perm.get_values()) != [1, 0, 2]:
                return None
            value = owner.input
            owner = value.owner
        if not isinstance(owner, rnn.GatherOp):
            return None
        if owner.data not in env or owner.indices not in env:
            return None
        table, idx = np.asarray(env[owner.data]), np.asarray(env[owner.indices])
        if table.ndim != 2 or idx.ndim != 2 or idx.dtype.kind not in "iu":
            return None
        if owner.axis.value.data % 2:
            return None
        size = table.shape[0]
        if 2 * size > idx.size:  # the run's tokens, all blocks of rows
            return None
        idx = (idx.T if transposed else idx)[:, span]
        if idx.shape != (steps, rows):
            return None
        if idx.min() < -size or idx.max() >= size:
            return None  # the gather itself says so
        idx = np.where(idx < 0, idx + size, idx).astype(np.int64)
        return table, np.ascontiguousarray(idx)

    def _tables(self, lookup, hoist_on, shared: dict) -> list[np.ndarray] | None:
        """The hoisted values of every row of the table, or None when one of
        them is out of range somewhere (the values per step then count it);
        computed once for the blocks of rows of a run (`shared`).

        The hoisted ops are row-wise (rows_independent), so a step's values are
        the table's rows picked by its indices, and an op processes as many
        values per row: each counts sequences' rows · (its count per table
        row), none out of range."""
        from rnnc.backends.interpreter import fxp_interpreter

        if self._kept is not None:  # from an earlier run of this program
            shared["tables"] = self._kept
        if "tables" not in shared:
            shared["tables"] = self._all_rows(lookup[0], hoist_on)
            if self._constant_tables():
                self._kept = shared["tables"]
        if shared["tables"] is None:
            return None
        tables, per_row = shared["tables"]
        for op, count in per_row:
            fxp_interpreter.count(op, 0, count * lookup[1].size)
        return tables

    def _constant_tables(self) -> bool:
        """Whether the tables are the same in every run: the embedding table and
        every value the body reads from outside are computed from constants
        alone (no input of the function), like the prepacked weights of an
        onnxruntime session."""
        if self._constant is None:
            body = self.op.body.block
            gather = self.op.seqs[0].owner
            if isinstance(gather, rnn.TransposeOp):
                gather = gather.input.owner
            outside = [gather.data.owner]  # (_lookup: a gather)
            for inner in body.walk():
                for x in inner.operands:
                    if not body.is_ancestor(x.owner):  # a function argument: None
                        owner = x.owner
                        outside.append(owner if isinstance(owner, Operation) else None)
            self._constant = all(_from_constants(o, {}) for o in outside)
        return self._constant

    def _all_rows(self, table, hoist_on):
        """(tables, each op's values counted per table row), or None."""
        from rnnc.backends.interpreter import fxp_interpreter

        size = table.shape[0]
        with fxp_interpreter.counted_apart() as counter:
            values = hoist_on([table[None]])
        if counter.total_overflows:
            return None
        events = list(counter.events.items())
        if any(total % size for _, (_, total) in events):
            return None
        shape = (1, size, self.cols)
        if any(np.shape(v) != shape for v in values):
            return None
        per_row = [(op, total // size) for op, (_, total) in events]
        # raw integers in the narrowest integer type of the format: half the
        # cache of float32 for 16 bits (the run reads any type)
        widths = {
            index: fxp.format_of(self.run.inputs[j]).width
            for j, (kind, index) in enumerate(self.kinds)
            if kind == "hoisted"
        }
        tables = []
        for i, v in enumerate(values):
            width = widths.get(i, 64)
            dtype = np.int16 if width <= 16 else np.int32 if width <= 32 else None
            table = np.asarray(v).reshape(size, -1)
            tables.append(np.ascontiguousarray(table, dtype=dtype))
        return tables, per_row


_NO_INDICES = np.zeros((1, 1), np.int64)


class _Loop:
    """One run of a StepLoop: its state arrays, step outputs and arguments."""

    def __init__(
        self, loop, function, rows, states, fixed_args, env, keep, steps, gathered
    ):
        self.loop, self.function, self.rows = loop, function, rows
        # (the hoisted values' tables, the rows' indices) or None
        self.gathered = gathered
        self.states, self.fixed_args, self.count = states, fixed_args, steps
        self.packed, self.colterms = loop.tiles.prepared(env, loop.word)
        self.outputs = [
            np.empty((steps, rows, loop.cols), loop.dtypes[m]) if k else None
            for m, k in zip(loop.step_of, keep, strict=True)
        ]
        blocks = -(-rows // ROWS)
        self.parts = min(parallel.parallel_loops(rows * loop.cols * 4), blocks)

    def steps(self, order: np.ndarray, start: int, hoisted: list | None) -> None:
        """Runs the steps `order` (indices into the sequences); `hoisted`: the
        hoisted values of steps start.., or None when gathered from tables."""
        loop = self.loop
        args = []
        if self.gathered is not None:
            hoisted, idx = self.gathered
        else:
            idx = _NO_INDICES
        for i, (kind, index) in enumerate(loop.kinds):
            if kind == "product":
                args.append(self.colterms[index])
            elif kind == "hoisted" and self.gathered is not None:
                args.append(hoisted[index])
            elif kind == "hoisted":
                x = hoisted[index]
                want = (x.shape[0], self.rows, loop.cols)
                if x.shape != want or not x.flags.c_contiguous:
                    x = np.ascontiguousarray(np.broadcast_to(x, want))
                args.append(x)
            elif kind in ("seq", "outer"):
                args.append(self.fixed_args[i])
        outs = [o for o in self.outputs if o is not None]
        pending = loop.run.pending()
        self.function(
            self.parts, self.rows, loop.cols, order, start, idx, *args, *self.states,
            *outs, self.packed, *loop.tables, pending[0],
        )  # fmt: skip
        pending[1] += self.rows * loop.cols * len(order)

    def results(self) -> list[np.ndarray]:
        """The final states, then the step outputs (an unused one as a stand-in
        taking no memory, as the interpreter's own loop gives)."""
        outputs = []
        for out, m in zip(self.outputs, self.loop.step_of, strict=True):
            if out is None:
                shape = (self.count, self.rows, self.loop.cols)
                out = np.broadcast_to(np.zeros((), self.loop.dtypes[m]), shape)
            outputs.append(out)
        return [*self.states, *outputs]


def _from_constants(op: Operation | None, seen: dict) -> bool:
    """Whether op's results are computed from constants alone: ops without
    regions whose operands are (recursively) such results; an op without
    operands is a constant."""
    if op is None or op.regions:
        return False
    if op not in seen:
        seen[op] = False  # a cycle is not constant
        seen[op] = all(
            isinstance(x.owner, Operation) and _from_constants(x.owner, seen)
            for x in op.operands
        )
    return seen[op]


def recognise(op: rnn.RecurrenceOp, hoisted: list[SSAValue], in_loop: list):
    """The StepLoop of a recurrence whose loop ops are `in_loop`, or None."""
    if len(in_loop) != 2:
        return None
    product, run = in_loop
    if not isinstance(run, fxp_elementwise.Run) or not fits(product):
        return None
    block = op.body.block
    n_seq = len(op.seqs)
    args = list(block.args)
    lhs = product.operands[0]
    if lhs not in args[n_seq:] or len(rnn.shape_of(lhs)) != 2:
        return None
    shape = rnn.shape_of(run.outputs[0])
    if len(shape) != 2 or shape[-1] < 1:
        return None
    cols = shape[-1]
    if any(rnn.shape_of(r)[-1] != cols for r in product.results):
        return None
    if any(r not in run.inputs for r in product.results):
        return None
    kinds = []
    for v in run.inputs:
        if len(rnn.shape_of(v)) > 2:
            return None
        if v in product.results:
            kinds.append(("product", product.results.index(v)))
        elif v in args[:n_seq]:
            kinds.append(("seq", args.index(v)))
        elif v in args[n_seq:]:
            kinds.append(("state", args.index(v) - n_seq))
        elif v in hoisted:
            kinds.append(("hoisted", hoisted.index(v)))
        else:
            kinds.append(("outer", None))
    n_states = len(op.inits)
    if any(len(rnn.shape_of(a)) != 2 for a in args[n_seq:]):
        return None
    yields = []
    for k, v in enumerate(block.last_op.operands):
        if v not in run.outputs:
            return None
        yields.append(("state" if k < n_states else "step", run.outputs.index(v)))
    return StepLoop(op, product, run, kinds, args.index(lhs) - n_seq, yields, cols)
