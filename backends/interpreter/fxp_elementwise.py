"""A run of elementwise fxp ops (add, sub, mul, cast, table lookup) compiled into
one numba loop: the whole elementwise part of a recurrence step is one call.

Op-by-op kernels pay a Python call, an output array and a pass over memory per op;
an LSTM step has about twenty of them. Here consecutive elementwise ops of a body
become one loop over the elements that keeps the intermediates in registers and
writes only the values used outside the run (the next state, products' operands).

Inside the loop every raw value is an int64 (an int32 when all of the run's
values fit 32 bits: `Word`) and the rules of `rnnc.dialects.fixed` are integer
operations: aligning shifts for add and sub, the product for mul,
`fixed.round_shift` by shift and dropped bits (floor, half-up, half-even), then
saturation (a clamp) or wrap (modulo 2^W); a table lookup indexes the saturated
table of `fxp_kernels.table_lut` with `fixed.lut_index`. They are exact because
every format of the run is at most `MAX_WIDTH` bits wide (checked when the run is
built; ops outside the bounds end a run). Values pushed out of range are counted
per cast, as by `fixed.fit`. Outputs have the representation of
`fixed.raw_array`, so the run is bit-identical to its ops one by one
(tests/test_fxp_elementwise.py).

The generated source is written to a per-user cache directory and imported from
there, so numba's own cache skips the compilation in later processes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from xdsl.ir import Operation, SSAValue

from rnnc.backends.interpreter import fxp_kernels as kernels
from rnnc.backends.interpreter import parallel
from rnnc.dialects import fixed, fxp, rnn
from rnnc.dialects.arrays import array_of
from rnnc.dialects.fixed import Format

MAX_WIDTH = 62  # every value, aligned operand and re-scaled cast input: no int64 wrap
OPS = (fxp.AddOp, fxp.SubOp, fxp.MulOp, fxp.CastOp, fxp.LutOp)
MIN_RUN = 2  # a single op keeps its own kernel
CACHE_ENV = "RNNC_KERNEL_CACHE"
# Element-ops a run does op by op before its loop is compiled (when numba has
# no copy on disk): about the compile time's worth, so that a small job (a search
# evaluating many policies, each its own source) is not slowed down.
COMPILE_WORK = 1 << 27
# Runs built lately, by their ops: every run of a module builds its plan anew.
BUILT_CACHE = 64
_BUILT: dict[tuple, tuple] = {}
# element-ops done op by op, per loop (source, function) not yet compiled
_WORK: dict[tuple, int] = {}
_FALL_BACK = object()  # a Run's call plan for inputs its loop cannot take
GATHER = "gather"  # a variant's input read as rows of a table (step_loop)


# ------------------------------------------------------------------ op -> code


class Word:
    """The loop's integer type: int64, or int32 when every value the loop assigns
    fits 32 bits (NARROW): twice the lanes per vector (an LSTM step's loop 1.3x
    faster). Numba computes an int32 expression in int64; each assignment
    truncates it (`I(...)`), and LLVM narrows what modular arithmetic allows (add,
    sub, mul, left shift: a deferred product's digit terms and column sums may
    wrap, their sum fits)."""

    def __init__(self, bits: int):
        self.bits = bits
        self.dtype = f"np.int{bits}"

    def __call__(self, expr: str) -> str:
        return expr if self.bits == 64 else f"I({expr})"

    def const(self, value: int) -> str:
        """value modulo 2^bits, as a signed literal of the word."""
        value %= 1 << self.bits
        if value >= 1 << (self.bits - 1):
            value -= 1 << self.bits
        return self(str(value))


WIDE = Word(64)
NARROW = Word(32)


def _fits(op: Operation, bits: int) -> bool:
    """Whether every value the loop's code for op assigns fits `bits` (numba
    evaluates each expression in int64; the assignment truncates): operands,
    result, a cast's re-scaled value, and a cast's shift small enough that its
    dropped-bits mask and half are positive constants of the word."""
    formats = [fxp.format_of(x) for x in (*op.operands, op.results[0])]
    if any(f.width > bits for f in formats):
        return False
    if isinstance(op, fxp.CastOp):
        src, dst = formats
        shift = fixed.cast_shift(src, dst)
        return fixed.rescaled_width(src, dst) <= bits and shift <= bits - 2
    if isinstance(op, fxp.LutOp):  # the index and the table's values fit
        return True
    if isinstance(op, fxp.MulOp):
        return fixed.mul_format(*formats[:2]).width <= bits
    return fixed.add_format(*formats[:2]).width <= bits


def word_of(ops: list[Operation]) -> Word:
    """NARROW when every op of the run fits 32 bits, else WIDE."""
    return NARROW if all(_fits(op, NARROW.bits) for op in ops) else WIDE


def _cast_code(
    r: str,
    v: str,
    src: Format,
    dst: Format,
    rounding: str,
    overflow: str,
    k: int,
    w: Word = WIDE,
) -> list[str] | None:
    """Lines setting v to cast(r) and adding its overflow to counter c{k}. In
    int32 the roundings never add to r (no overflow at the word's top; numba's
    int64 sum would keep LLVM from narrowing the shift)."""
    shift = fixed.cast_shift(src, dst)
    if fixed.rescaled_width(src, dst) > MAX_WIDTH or dst.width > MAX_WIDTH:
        return None
    if shift > MAX_WIDTH or overflow not in fixed.OVERFLOW_MODES:
        return None
    q = f"q{k}"
    if shift <= 0:
        lines = [f"{q} = {w(f'{r} << {-shift}')}" if shift else f"{q} = {r}"]
    elif rounding == fixed.Rounding.FLOOR:
        lines = [f"{q} = {w(f'{r} >> {shift}')}"]
    elif w.bits == 64:  # r + 2^(s-1) < 2^62 (MAX_WIDTH): the shorter forms
        half = 1 << (shift - 1)
        if rounding == fixed.Rounding.HALF_UP:  # floor(r / 2^s + 1/2)
            lines = [f"{q} = ({r} + {half}) >> {shift}"]
        elif rounding == fixed.Rounding.HALF_EVEN:  # at half, up if floor is odd
            lines = [f"{q} = ({r} + {half - 1} + (({r} >> {shift}) & 1)) >> {shift}"]
        else:
            return None
    elif rounding == fixed.Rounding.HALF_UP:  # floor + the top dropped bit
        lines = [f"{q} = {w(f'({r} >> {shift}) + (({r} >> {shift - 1}) & 1)')}"]
    elif rounding == fixed.Rounding.HALF_EVEN:  # up above half, at half if odd
        half, mask = 1 << (shift - 1), (1 << shift) - 1
        up = f"(({r} & {w.const(mask)}) + ({q} & 1) > {w.const(half)})"
        lines = [f"{q} = {w(f'{r} >> {shift}')}", f"{q} = {w(f'{q} + {up}')}"]
    else:
        return None
    lo, hi = w.const(dst.min_raw), w.const(dst.max_raw)
    if overflow == fixed.Overflow.SATURATE:
        lines += [
            f"{v} = min(max({q}, {lo}), {hi})",
            f"c{k} = {w(f'c{k} + ({v} != {q})')}",
        ]
    else:  # wrap: modulo 2^W into [lo, hi]
        mask = w.const((1 << dst.width) - 1)
        lines += [
            f"c{k} = {w(f'c{k} + (({q} < {lo}) | ({q} > {hi}))')}",
            f"{v} = {w(f'(({q} - {lo}) & {mask}) + {lo}')}",
        ]
    return lines


def _lut_code(r: str, v: str, op: fxp.LutOp, w: Word = WIDE):
    """Lines setting v to the table index of r (the gather is a loop of its own:
    in the same loop it keeps the arithmetic from being vectorised), and the
    table."""
    src, out = fxp.format_of(op.input), fxp.format_of(op.result)
    shift, symmetry = op.shift.value.data, op.symmetry.data
    # a negative shift (table steps finer than the input's lsb) is a left shift,
    # exact below MAX_WIDTH bits (numba computes the index in int64)
    if src.width + max(-shift, 0) > MAX_WIDTH:
        return None
    table = array_of(op.table)
    small = kernels._saturated_table(table, max(shift, 0), symmetry, src, out)
    if small is None:
        return None
    saturated, symmetric, offset = small
    # exact: at most 53 (64) bits, or the narrow word's output format
    table = saturated.astype(w.dtype.replace("np.", ""))
    steps = f">> {shift}" if shift >= 0 else f"<< {-shift}"
    if symmetric:  # fixed.lut_index on |r|, the reflected half for r < 0
        n = table.size // 2
        sign = w.bits - 1
        index = f"min((({r} ^ s_{v}) - s_{v}) {steps}, {n - 1}) + ({n} & s_{v})"
        lines = [f"s_{v} = {w(f'{r} >> {sign}')}", f"{v} = {w(index)}"]
    else:
        n = table.size
        lines = [f"{v} = {w(f'min(max(({r} {steps}) + {offset}, 0), {n - 1})')}"]
    return lines, table


def _binary_code(
    op: Operation, a: str, b: str, v: str, w: Word = WIDE
) -> list[str] | None:
    fa, fb = fxp.format_of(op.lhs), fxp.format_of(op.rhs)
    if isinstance(op, fxp.MulOp):
        if fixed.mul_format(fa, fb).width > MAX_WIDTH:
            return None
        return [f"{v} = {w(f'{a} * {b}')}"]
    out = fixed.add_format(fa, fb)
    if out.width > MAX_WIDTH:
        return None
    ka, kb = out.frac - fa.frac, out.frac - fb.frac
    x = f"({a} << {ka})" if ka else a
    y = f"({b} << {kb})" if kb else b
    sign = "-" if isinstance(op, fxp.SubOp) else "+"
    return [f"{v} = {w(f'{x} {sign} {y}')}"]


# ------------------------------------------------------------------------ runs


def op_code(op: Operation, operands: list[str], v: str, cast: int, w: Word = WIDE):
    """(lines setting v from the operands' names, the table it reads or None) for
    one op (for a lookup, v is the index); None outside the bounds. A cast adds
    its overflows to c{cast}."""
    if isinstance(op, fxp.CastOp):
        src, dst = fxp.format_of(op.input), fxp.format_of(op.result)
        rounding, overflow = op.rounding.data, op.overflow.data
        lines = _cast_code(operands[0], v, src, dst, rounding, overflow, cast, w)
        return None if lines is None else (lines, None)
    if isinstance(op, fxp.LutOp):
        return _lut_code(operands[0], v, op, w)
    if isinstance(op, OPS):
        lines = _binary_code(op, *operands, v, w)
        return None if lines is None else (lines, None)
    return None


class Run:
    """Consecutive elementwise ops of one result shape as one compiled loop.

    `run(env)` reads the run's inputs from env and sets the values used after it;
    operands it cannot take as rows (`fxp_kernels.rows_of`) run the ops one by one
    through `fallback`. An input may be a product left as its int8 digit products
    (`fxp_kernels.DigitProducts`): the loop adds them up where it reads the
    input, in a variant of its source for each such input (`takes_deferred`)."""

    takes_deferred = True

    def __init__(self, ops: list[Operation], fallback: Callable, count: Callable):
        self.ops = ops
        self.fallback = fallback
        self.count = count
        # the ops with their types and properties: a changed op is built anew
        self._key = tuple(
            (
                op,
                *(v.type for v in (*op.operands, *op.results)),
                *op.properties.values(),
            )
            for op in ops
        )
        built = self._built(())
        (self.casts, self.inputs, self.outputs, self.tables) = built[:4]
        self.source, self._dtypes, word = built[4:]
        self._narrow = word is NARROW  # the generated loop's word
        self.results = self.outputs  # the values it sets, as for an op
        self._kernels: dict[tuple, object] = {}  # per (source, function)
        self._work: dict[tuple, int] = {}
        # per kind of inputs: how to call the loop, and the variant it needs
        self._calls: dict[tuple, object] = {}
        self._variants: dict[tuple, tuple] = {}
        # per thread: (values out of range per cast, values processed) not yet
        # reported (`flush`)
        self._pending: dict[int, list] = {}

    def _built(self, variant: tuple) -> tuple:
        """(casts, inputs, outputs, tables, source, output dtypes, word) of a variant:
        per input, None, (na, nb, colterm) of a deferred product or GATHER."""
        key = (self._key, variant)
        built = _BUILT.pop(key, None)  # re-inserted: most recent last
        if built is None:
            built = _Generator(self.ops, dict(enumerate(variant))).built()
        _BUILT[key] = built
        while len(_BUILT) > BUILT_CACHE:
            del _BUILT[next(iter(_BUILT))]
        return built

    def kernel(self, key: tuple, work: int, function: str = "run"):
        """The compiled loop (`run` or `run_parallel`), or None while compiling it
        would cost more than the op-by-op kernels it replaces (`compiled`)."""
        variant = self._variants[key]
        source = self._built(variant)[4] if variant else self.source
        return self.compiled(source, function, work)

    def compiled(self, source: str, function: str, work: int):
        """The function of the source, or None while compiling it (a second or
        more per new source) would cost more than the op-by-op kernels it
        replaces: until it has done COMPILE_WORK element-ops, unless numba has
        it on disk. `work`: the element-ops of this call."""
        kernel = self._kernels.get((source, function))
        if kernel is None:
            name = _module_name(source)
            if (source, function) not in self._work:  # looked for once per run
                done = _cached(source, function)
                self._work[source, function] = COMPILE_WORK if done else 0
            # the work done op by op counts over every run of this loop
            _WORK[name, function] = _WORK.get((name, function), 0) + work
            if max(self._work[source, function], _WORK[name, function]) < COMPILE_WORK:
                return None
            module = _load(source)
            kernel = self._kernels[source, function] = getattr(module, function)
        return kernel

    def run(self, env: dict) -> None:
        values = [env[v] for v in self.inputs]
        key = tuple([(type(x), x.shape) for x in values])
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = self._call(key, values)
        if call is _FALL_BACK:
            self._fall_back(env)
            return
        kernel, shape, layout, parts = call
        if kernel is None:  # not compiled yet: op by op, counting the work
            function = "run_parallel" if parts > 1 else "run"
            kernel = self.kernel(key, math.prod(shape) * len(self.ops), function)
            if kernel is None:
                self._fall_back(env)
                return
            self._calls[key] = call = (kernel, shape, layout, parts)
        operands = []
        extra = []
        for x, deferred in zip(values, layout, strict=True):
            if deferred:  # the layout's constants, then this product's rows
                k = x.layout
                operands.append(x.p)
                colterm = k.colterm32 if self._narrow else k.colterm
                extra += (k.base, k.cols, colterm, x.rows)
                if k.nb > 1:
                    extra += (x.rowterm, k.const)
            elif x.flags.c_contiguous and x.shape == shape and len(shape) == 2:
                operands.append(x)
            else:
                rows = kernels.rows_of(x, shape)
                if rows is None:
                    self._fall_back(env)
                    return
                operands.append(rows)
        dtypes = self._dtypes
        outs = [np.empty(shape, dtype) for dtype in dtypes]
        cols = shape[-1]
        rows = math.prod(shape) // cols
        flat = outs if len(shape) == 2 else [o.reshape(-1, cols) for o in outs]
        pending = self.pending()
        if parts > 1:
            kernel(parts, rows, cols, *operands, *flat, *extra, *self.tables,
                   pending[0])  # fmt: skip
        else:
            kernel(rows, cols, *operands, *flat, *extra, *self.tables, pending[0])
        pending[1] += rows * cols
        for value, out in zip(self.outputs, outs, strict=True):
            env[value] = out

    def pending(self) -> list:
        """This thread's [values out of range per cast, values processed], not
        yet reported (`flush`)."""
        pending = self._pending.get(threading.get_ident())
        if pending is None:
            pending = self._pending[threading.get_ident()] = [self._zero_counts(), 0]
        return pending

    def _zero_counts(self) -> np.ndarray:
        return np.zeros(max(len(self.casts), 1), np.int64)

    def _call(self, key: tuple, values: list) -> tuple | object:
        """How to run the loop on inputs like these: (kernel or None while not
        compiled, the shape, which inputs are deferred products), or _FALL_BACK."""
        deferred = [isinstance(x, kernels.DigitProducts) for x in values]
        shapes = [x.shape for x in values]
        shape = max(shapes, key=len)
        if any(s != shape for s in shapes):
            try:
                shape = np.broadcast_shapes(*shapes)
            except ValueError:
                return _FALL_BACK
        if (
            not shape
            or 0 in shape
            or any(
                d and x.shape != shape for x, d in zip(values, deferred, strict=True)
            )
            or any(
                kernels.rows_of(np.asarray(x), shape) is None
                for x, d in zip(values, deferred, strict=True)
                if not d
            )
        ):
            return _FALL_BACK
        variant = tuple(
            (x.layout.na, x.layout.nb, x.layout.na > 1) if d else None
            for x, d in zip(values, deferred, strict=True)
        )
        self._variants[key] = variant if any(deferred) else ()
        return None, shape, deferred, parallel.parallel_loops(math.prod(shape))

    def flush(self) -> None:
        """Reports the values out of range that this thread's calls counted."""
        pending = self._pending.pop(threading.get_ident(), None)
        if pending is None or not pending[1]:
            return
        for op, n in zip(self.casts, pending[0].tolist(), strict=False):
            self.count(op, n, pending[1])

    def _fall_back(self, env: dict) -> None:
        """The ops one by one, on deferred products added up."""
        for v in self.inputs:
            if isinstance(env[v], kernels.DigitProducts):
                env[v] = env[v].array(fxp.format_of(v).width)
        self.fallback(self.ops, env)


class _Generator:
    """The loop's source. Ops run in stages, one loop over a row each: a lookup's
    index is computed in its input's stage, gathered in a loop of its own, and its
    value read from the next stage on; values crossing stages go through row
    buffers. `products` maps an input's index to the digit counts (na, nb) of a
    deferred product read in its place, and whether its column term (C_a · colsum)
    is added; or to GATHER: the input's row i is row rx[i] of a table."""

    def __init__(self, ops: list[Operation], products: dict[int, tuple | str | None]):
        self.ops = ops
        self.word = word_of(ops)
        self.gathered = {i for i, d in products.items() if d == GATHER}
        self.products = {i: d for i, d in products.items() if isinstance(d, tuple)}
        self.casts: list[Operation] = []
        self.inputs: list[SSAValue] = []
        self.outputs: list[SSAValue] = []
        self.tables: list[np.ndarray] = []

    def built(self) -> tuple:
        source = self._generate()
        dtypes = [kernels.representation(fxp.format_of(v).width) for v in self.outputs]
        built = (self.casts, self.inputs, self.outputs, self.tables, source, dtypes)
        return (*built, self.word)

    def _read(self, i: int) -> list[str]:
        """Lines setting a{i}, the raw value of input i at column j (the word's
        type)."""
        w = self.word
        if i not in self.products:
            return [f"a{i} = {w.dtype}(x{i}[j])"]
        na, nb, colterm = self.products[i]
        terms = []
        for a in range(na):
            for b in range(nb):
                term = f"{w.dtype}(x{i}d{a}b{b}[j])"
                scale = 256 ** (a + b)
                terms.append(term if scale == 1 else f"{w.const(scale)} * {term}")
        if colterm:  # C_a · colsum(b) (int_matmul; zero for one signed digit)
            terms.append(f"ct{i}[j]")
        if nb > 1:  # C_b · rowsum(a) - K · C_a · C_b
            terms.append(f"e{i}")
        return [f"a{i} = {w(' + '.join(terms))}"]

    def _row(self, i: int) -> list[str]:
        """Lines run once per row for input i."""
        if i in self.gathered:
            return [f"x{i} = x{i}_[rx{i}[i]]"]
        if i not in self.products:
            return [f"x{i} = x{i}_[i if x{i}_.shape[0] > 1 else 0]"]
        na, nb, _ = self.products[i]
        lines = [  # digit block (a, b) of this op's columns in row i
            f"x{i}d{a}b{b} = x{i}_[{a} * r{i} + i, "
            f"{b} * n{i} + o{i} : {b} * n{i} + o{i} + cols]"
            for a in range(na)
            for b in range(nb)
        ]
        if nb > 1:
            lines.append(f"e{i} = {self.word(f'rt{i}[i] + k{i}')}")
        return lines

    def _params(self, i: int) -> list[str]:
        """Parameters after the outputs' for input i (a deferred product's layout:
        first column, columns per digit block, column sums, rows per digit, row
        sums; a gathered input's row indices)."""
        if i in self.gathered:
            return [f"rx{i}"]
        if i not in self.products:
            return []
        names = [f"o{i}", f"n{i}", f"ct{i}", f"r{i}"]
        return names + ([f"rt{i}", f"k{i}"] if self.products[i][1] > 1 else [])

    def _generate(self) -> str:
        inside = set(self.ops)
        stage: dict[SSAValue, int] = {}  # inside values: the stage they exist in
        at: dict[Operation, int] = {}  # the stage each op runs in
        for op in self.ops:
            s = max((stage.get(x, 0) for x in op.operands), default=0)
            at[op] = s
            stage[op.results[0]] = s + isinstance(op, fxp.LutOp)
        buffered: dict[SSAValue, str] = {}  # values read in a later stage
        for op in self.ops:
            for x in op.operands:
                if x in stage and stage[x] < at[op]:
                    buffered.setdefault(x, f"b{len(buffered)}")
        stages: list[list[str]] = [[] for _ in range(max(stage.values()) + 1)]
        gathers: list[list[str]] = [[] for _ in stages]
        names: list[dict[SSAValue, str]] = [{} for _ in stages]  # per loop
        ids = {x: i for i, x in enumerate(stage)}

        def name(x: SSAValue, s: int) -> str:
            if x in names[s]:
                return names[s][x]
            if x not in stage:  # an input of the run
                if x not in self.inputs:
                    self.inputs.append(x)
                i = self.inputs.index(x)
                names[s][x] = f"a{i}"
                stages[s] += self._read(i)
            else:  # from an earlier stage, or a lookup's value
                names[s][x] = f"l{ids[x]}"
                stages[s].append(f"l{ids[x]} = {buffered[x]}[j]")
            return names[s][x]

        for k, op in enumerate(self.ops):
            s, v, result = at[op], f"v{k}", op.results[0]
            operands = [name(x, s) for x in op.operands]
            code = op_code(op, operands, v, len(self.casts), self.word)
            assert code is not None, "fuse_runs takes supported ops only"
            lines, table = code
            stages[s] += lines
            external = any(use.operation not in inside for use in result.uses)
            if isinstance(op, fxp.CastOp):
                self.casts.append(op)
            if table is not None:  # the index to a buffer, the gather after
                t = len(self.tables)
                self.tables.append(table)
                stages[s].append(f"ix{t}[j] = {v}")
                buffered[result] = f"g{t}"
                gathers[s].append(f"g{t}[j] = t{t}[np.uint64(ix{t}[j])]")
                if external:
                    gathers[s].append(f"y{len(self.outputs)}[j] = g{t}[j]")
                    self.outputs.append(result)
                continue
            names[s][result] = v
            if result in buffered:
                stages[s].append(f"{buffered[result]}[j] = {v}")
            if external:
                stages[s].append(f"y{len(self.outputs)}[j] = {v}")
                self.outputs.append(result)
        loops = []
        for body, gather in zip(stages, gathers, strict=True):
            loops += [body, gather]
        buffers = [b for b in buffered.values() if b[0] == "b"]
        buffers += [f"ix{t}" for t in range(len(self.tables))]
        buffers += [f"g{t}" for t in range(len(self.tables))]
        n = len(self.inputs)
        return _source(
            [self._row(i) for i in range(n)],
            [p for i in range(n) for p in self._params(i)],
            len(self.outputs),
            self.tables,
            buffers,
            loops,
            self.word,
        )


def _source(
    rows: list[list[str]],
    extra: list[str],
    outputs: int,
    tables: list,
    buffers: list[str],
    loops: list[list],
    w: Word = WIDE,
) -> str:
    """A numba function run(rows, cols, x0_.., y0_.., <extra>, t0.., bad) adding
    each cast's values out of range to bad: x are
    the inputs as rows (all of them or one broadcast) or deferred products, `rows`
    the lines that take row i of each, y the outputs, t the tables; each non-empty
    entry of `loops` is one loop over the columns of a row. A cast counts in c{k}
    (the word's type) per row, added to the int64 total cc{k} after the row."""
    params = [
        *(f"x{i}_" for i in range(len(rows))),
        *(f"y{i}_" for i in range(outputs)),
        *extra,
        *(f"t{i}" for i in range(len(tables))),
    ]
    body = [line for loop in loops for line in loop]
    counters = sorted(
        {int(word[1:]) for line in body for word in _words(line) if _is_counter(word)}
    )
    row_lines = [
        *(line for lines in rows for line in lines),
        *(f"y{i} = y{i}_[i]" for i in range(outputs)),
        *(f"c{k} = {w.const(0)}" for k in counters),
    ]
    for loop in loops:
        if loop:
            row_lines += ["for j in range(cols):", *(f"    {x}" for x in loop)]
    row_lines += [f"cc{k} += c{k}" for k in counters]
    text = [
        "import numpy as np",
        "from numba import njit, prange",
        "",
        "I = np.int32",
        "",
        "",
        "@njit(cache=True, nogil=True)",
        f"def run(rows, cols, {', '.join(params)}, bad):",
        *(f"    {b} = np.empty(cols, {w.dtype})" for b in buffers),
        *(f"    cc{k} = 0" for k in counters),
        "    for i in range(rows):",
        *(f"        {line}" for line in row_lines),
        *(f"    bad[{k}] += cc{k}" for k in counters),
        "",
        "",
        "@njit(cache=True, nogil=True, parallel=True)",
        f"def run_parallel(parts, rows, cols, {', '.join(params)}, bad):",
        f"    counts = np.zeros((parts, {max(len(counters), 1)}), np.int64)",
        "    for part in prange(parts):",
        *(f"        {b} = np.empty(cols, {w.dtype})" for b in buffers),
        *(f"        cc{k} = 0" for k in counters),
        "        for i in range(rows * part // parts, rows * (part + 1) // parts):",
        *(f"            {line}" for line in row_lines),
        *(f"        counts[part, {n}] = cc{k}" for n, k in enumerate(counters)),
        *(f"    bad[{k}] += counts[:, {n}].sum()" for n, k in enumerate(counters)),
        "",
    ]
    return "\n".join(text)


def _words(line: str) -> list[str]:
    return "".join(c if c.isalnum() or c == "_" else " " for c in line).split()


def _is_counter(word: str) -> bool:
    return word[0] == "c" and word[1:].isdigit()


def _cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base)
    return Path(tempfile.gettempdir()) / f"rnnc-kernels-{os.getuid()}"


def _module_name(source: str) -> str:
    return f"rnnc_run_{hashlib.sha256(source.encode()).hexdigest()[:20]}"


def _cached(source: str, function: str = "run") -> bool:
    """Whether the loop's function is compiled, here or in numba's cache on
    disk."""
    name = _module_name(source)
    if name in sys.modules and getattr(sys.modules[name], function).signatures:
        return True
    return any((_cache_dir() / "__pycache__").glob(f"{name}.{function}-*.nbi"))


_LOADING = threading.Lock()  # blocks of rows on threads may build the same loop


def _load(source: str):
    """The module of the source (`run`, `run_parallel`), imported from the cache
    directory (written under a name of this process and thread, then renamed:
    other processes may write the same file at once)."""
    name = _module_name(source)
    with _LOADING:
        if name in sys.modules:
            return sys.modules[name]
        folder = _cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        if not path.exists():
            tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_text(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        return module


# ---------------------------------------------------------------- run building


def _shape(op: Operation):
    return tuple(rnn.shape_of(op.results[0]))


def _supported(op: Operation) -> bool:
    names = ["a"] * len(op.operands)
    return isinstance(op, OPS) and op_code(op, names, "v", 0) is not None


def fuse_runs(ops: list, fallback: Callable, count: Callable) -> list:
    """`ops` with each maximal run of consecutive elementwise ops (OPS) of one
    result shape, of at least MIN_RUN ops, replaced by one Run at its place."""
    if kernels.jit() is None:
        return ops
    out: list = []
    run: list[Operation] = []

    def flush() -> None:
        if len(run) >= MIN_RUN:
            out.append(Run(list(run), fallback, count))
        else:
            out.extend(run)
        run.clear()

    for op in ops:
        fits = isinstance(op, Operation) and _supported(op)
        if fits and (not run or _shape(op) == _shape(run[0])):
            run.append(op)
            continue
        flush()
        if fits:
            run.append(op)
        else:
            out.append(op)
    flush()
    return out
