"""A run of elementwise fxp ops (add, sub, mul, cast, table lookup) compiled into
one numba loop: the whole elementwise part of a recurrence step is one call.

Op-by-op kernels pay a Python call, an output array and a pass over memory per op;
an LSTM step has about twenty of them. Here consecutive elementwise ops of a body
become one loop over the elements that keeps the intermediates in registers and
writes only the values used outside the run (the next state, products' operands).

Inside the loop every raw value is an int64 and the rules of `rnnc.dialects.fixed`
are integer operations: aligning shifts for add and sub, the product for mul,
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
from collections.abc import Callable
from pathlib import Path

import numpy as np
from xdsl.ir import Operation, SSAValue

from rnnc.backends.interpreter import fxp_kernels as kernels
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


# ------------------------------------------------------------------ op -> code


def _cast_code(
    r: str, v: str, src: Format, dst: Format, rounding: str, overflow: str, k: int
) -> list[str] | None:
    """Lines setting v to cast(r) and adding its overflow to counter c{k}."""
    shift = fixed.cast_shift(src, dst)
    if fixed.rescaled_width(src, dst) > MAX_WIDTH or dst.width > MAX_WIDTH:
        return None
    if shift > MAX_WIDTH or overflow not in fixed.OVERFLOW_MODES:
        return None
    q = f"q{k}"
    if shift <= 0:
        lines = [f"{q} = {r} << {-shift}" if shift else f"{q} = {r}"]
    elif rounding == fixed.Rounding.FLOOR:
        lines = [f"{q} = {r} >> {shift}"]
    elif rounding == fixed.Rounding.HALF_UP:  # floor(r / 2^s + 1/2)
        lines = [f"{q} = ({r} + {1 << (shift - 1)}) >> {shift}"]
    elif rounding == fixed.Rounding.HALF_EVEN:  # up above half, at half if odd
        half = 1 << (shift - 1)
        lines = [
            f"{q} = {r} >> {shift}",
            f"d{k} = {r} & {(1 << shift) - 1}",
            f"{q} += (d{k} > {half}) | ((d{k} == {half}) & ({q} & 1))",
        ]
    else:
        return None
    lo, hi = dst.min_raw, dst.max_raw
    if overflow == fixed.Overflow.SATURATE:
        lines += [f"{v} = min(max({q}, {lo}), {hi})", f"c{k} += {v} != {q}"]
    else:  # wrap: modulo 2^W into [lo, hi]
        lines += [
            f"c{k} += ({q} < {lo}) | ({q} > {hi})",
            f"{v} = (({q} - {lo}) & {(1 << dst.width) - 1}) + {lo}",
        ]
    return lines


def _lut_code(r: str, v: str, op: fxp.LutOp):
    """Lines setting v to the table index of r (the gather is a loop of its own:
    in the same loop it keeps the arithmetic from being vectorised), and the
    table."""
    src, out = fxp.format_of(op.input), fxp.format_of(op.result)
    shift, symmetry = op.shift.value.data, op.symmetry.data
    if src.width > MAX_WIDTH:
        return None
    small = kernels._saturated_table(array_of(op.table), shift, symmetry, src, out)
    if small is None:
        return None
    saturated, symmetric, offset = small
    table = saturated.astype(np.int64)  # exact: at most 53 (64) bits
    if symmetric:  # fixed.lut_index on |r|, the reflected half for r < 0
        n = table.size // 2
        lines = [
            f"s_{v} = {r} >> 63",
            f"{v} = min((({r} ^ s_{v}) - s_{v}) >> {shift}, {n - 1}) + ({n} & s_{v})",
        ]
    else:
        n = table.size
        lines = [f"{v} = min(max(({r} >> {shift}) + {offset}, 0), {n - 1})"]
    return lines, table


def _binary_code(op: Operation, a: str, b: str, v: str) -> list[str] | None:
    fa, fb = fxp.format_of(op.lhs), fxp.format_of(op.rhs)
    if isinstance(op, fxp.MulOp):
        if fixed.mul_format(fa, fb).width > MAX_WIDTH:
            return None
        return [f"{v} = {a} * {b}"]
    out = fixed.add_format(fa, fb)
    if out.width > MAX_WIDTH:
        return None
    ka, kb = out.frac - fa.frac, out.frac - fb.frac
    x = f"({a} << {ka})" if ka else a
    y = f"({b} << {kb})" if kb else b
    return [f"{v} = {x} {'-' if isinstance(op, fxp.SubOp) else '+'} {y}"]


# ------------------------------------------------------------------------ runs


def op_code(op: Operation, operands: list[str], v: str, cast: int):
    """(lines setting v from the operands' names, the table it reads or None) for
    one op (for a lookup, v is the index); None outside the bounds. A cast adds
    its overflows to c{cast}."""
    if isinstance(op, fxp.CastOp):
        src, dst = fxp.format_of(op.input), fxp.format_of(op.result)
        rounding, overflow = op.rounding.data, op.overflow.data
        lines = _cast_code(operands[0], v, src, dst, rounding, overflow, cast)
        return None if lines is None else (lines, None)
    if isinstance(op, fxp.LutOp):
        return _lut_code(operands[0], v, op)
    if isinstance(op, OPS):
        lines = _binary_code(op, *operands, v)
        return None if lines is None else (lines, None)
    return None


class Run:
    """Consecutive elementwise ops of one result shape as one compiled loop.

    `run(env)` reads the run's inputs from env and sets the values used after it;
    operands it cannot take as rows (`fxp_kernels.rows_of`) run the ops one by one
    through `fallback`."""

    def __init__(self, ops: list[Operation], fallback: Callable, count: Callable):
        self.ops = ops
        self.fallback = fallback
        self.count = count
        # the ops with their types and properties: a changed op is built anew
        key = tuple(
            (
                op,
                *(v.type for v in (*op.operands, *op.results)),
                *op.properties.values(),
            )
            for op in ops
        )
        built = _BUILT.pop(key, None)  # re-inserted: most recent last
        if built is None:
            self.casts: list[Operation] = []
            self.inputs: list[SSAValue] = []
            self.outputs: list[SSAValue] = []
            self.tables: list[np.ndarray] = []
            self.source = self._generate()
            self._dtypes = [
                kernels.representation(fxp.format_of(v).width) for v in self.outputs
            ]
            built = (self.casts, self.inputs, self.outputs, self.tables)
            built += (self.source, self._dtypes)
        (self.casts, self.inputs, self.outputs, self.tables) = built[:4]
        self.source, self._dtypes = built[4:]
        _BUILT[key] = built
        while len(_BUILT) > BUILT_CACHE:
            del _BUILT[next(iter(_BUILT))]
        self.results = self.outputs  # the values it sets, as for an op
        self._kernel = None
        self._work = 0

    def _generate(self) -> str:
        """The loop's source. Ops run in stages, one loop over a row each: a
        lookup's index is computed in its input's stage, gathered in a loop of
        its own, and its value read from the next stage on; values crossing
        stages go through row buffers."""
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
                stages[s].append(f"a{i} = np.int64(x{i}[j])")
            else:  # from an earlier stage, or a lookup's value
                names[s][x] = f"l{ids[x]}"
                stages[s].append(f"l{ids[x]} = {buffered[x]}[j]")
            return names[s][x]

        for k, op in enumerate(self.ops):
            s, v, result = at[op], f"v{k}", op.results[0]
            operands = [name(x, s) for x in op.operands]
            code = op_code(op, operands, v, len(self.casts))
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
        return _source(len(self.inputs), len(self.outputs), self.tables, buffers, loops)

    def kernel(self, work: int):
        """The compiled loop, or None while compiling it (about a second per new
        source) would cost more than the op-by-op kernels it replaces: until the
        run has done COMPILE_WORK element-ops, unless numba has it on disk."""
        if self._kernel is None:
            self._work += work
            if self._work < COMPILE_WORK and not _cached(self.source):
                return None
            self._kernel = _load(self.source)
        return self._kernel

    def run(self, env: dict) -> None:
        args = [np.asarray(env[v]) for v in self.inputs]
        shape = max((a.shape for a in args), key=len)
        if any(a.shape != shape for a in args):
            shape = np.broadcast_shapes(*(a.shape for a in args))
        rows = [kernels.rows_of(a, shape) for a in args] if shape else []
        if not shape or 0 in shape or any(r is None for r in rows):
            self.fallback(self.ops, env)
            return
        cols = shape[-1]
        size = math.prod(shape)
        kernel = self.kernel(size * len(self.ops))
        if kernel is None:
            self.fallback(self.ops, env)
            return
        outs = [np.empty(shape, dtype) for dtype in self._dtypes]
        bad = np.zeros(max(len(self.casts), 1), np.int64)
        flat = [o if o.ndim == 2 else o.reshape(-1, cols) for o in outs]
        kernel(size // cols, cols, *rows, *flat, *self.tables, bad)
        for op, n in zip(self.casts, bad.tolist(), strict=False):
            self.count(op, n, size)
        for value, out in zip(self.outputs, outs, strict=True):
            env[value] = out


def _source(
    inputs: int, outputs: int, tables: list, buffers: list[str], loops: list[list]
) -> str:
    """A numba function run(rows, cols, x0_.., y0_.., t0.., bad): x are the inputs
    as rows (all of them or one broadcast), y the outputs, t the tables; each
    non-empty entry of `loops` is one loop over the columns of a row."""
    params = [
        *(f"x{i}_" for i in range(inputs)),
        *(f"y{i}_" for i in range(outputs)),
        *(f"t{i}" for i in range(len(tables))),
    ]
    body = [line for loop in loops for line in loop]
    counters = sorted(
        {int(w[1:]) for line in body for w in _words(line) if _is_counter(w)}
    )
    text = [
        "import numpy as np",
        "from numba import njit",
        "",
        "",
        "@njit(cache=True, nogil=True)",
        f"def run(rows, cols, {', '.join(params)}, bad):",
        *(f"    {b} = np.empty(cols, np.int64)" for b in buffers),
        *(f"    c{k} = 0" for k in counters),
        "    for i in range(rows):",
        *(
            f"        x{i} = x{i}_[i if x{i}_.shape[0] > 1 else 0]"
            for i in range(inputs)
        ),
        *(f"        y{i} = y{i}_[i]" for i in range(outputs)),
    ]
    for loop in loops:
        if loop:
            text += [
                "        for j in range(cols):",
                *(f"            {x}" for x in loop),
            ]
    text += [*(f"    bad[{k}] = c{k}" for k in counters), ""]
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


def _cached(source: str) -> bool:
    """Whether the loop is loaded, or compiled in numba's cache on disk."""
    name = _module_name(source)
    if name in sys.modules:
        return True
    return any((_cache_dir() / "__pycache__").glob(f"{name}.run-*.nbi"))


def _load(source: str):
    """The `run` function of the source, imported from the cache directory."""
    name = _module_name(source)
    if name in sys.modules:
        return sys.modules[name].run
    folder = _cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if not path.exists():
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module.run


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
