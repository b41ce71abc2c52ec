"""int8 digit products on AVX-512 VNNI register tiles, callable from numba code.

`vpdpbusd` adds four u8 x s8 products into each int32 lane: 64 multiply-adds an
instruction. `tile` computes one 8 x 32 block of `a @ w` with its 16 zmm
accumulators in registers over the whole sum (8 x 32 measured as fast as
`torch._int_mm`; 4 x 64, 8 x 64 and wider tiles were slower, bench/vnni_tile.py).
Unlike `_int_mm` it is called from inside a compiled loop, so a recurrence step's
product and its cell update run per block of rows without leaving numba
(step_loop).

The products are exact: a sum of K products of u8 and s8 is below 2^31 for
K ≤ 2^31 / (255 · 128). Operands:

- `a4`: the lhs rows as int32 quads of u8 (a (rows, Kp) uint8 array viewed as
  int32), Kp a multiple of 4, rows a multiple of ROWS from `i0`;
- `wp`: the s8 rhs (Kp, N) laid out as [k / 4][column][4] (`pack`), N a multiple
  of TILE_COLS;
- `out`: int32 (rows, N); the tile writes rows i0.., columns n0.. .
"""

from __future__ import annotations

import functools
import platform

import numpy as np

ROWS = 8  # rows of a tile
VECTORS = 2  # zmm vectors (16 int32 columns each) per tile row
TILE_COLS = 16 * VECTORS
MAX_TERMS = (2**31 - 1) // (255 * 128)
_INTRINSIC = "llvm.x86.avx512.vpdpbusd.512"


@functools.cache
def available() -> bool:
    """Whether this CPU has AVX-512 VNNI and numba is installed."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        import llvmlite.binding as llvm
        import numba  # noqa: F401
    except ImportError:
        return False
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx512vnni")) and bool(features.get("avx512bw"))


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def pack(w: np.ndarray, cols: int) -> np.ndarray:
    """The int8 matrix w (K, N) as `tile`'s rhs: zero rows up to a multiple of 4,
    zero columns up to `cols`, laid out as [k / 4][column][4], flat."""
    terms, n = w.shape
    full = np.zeros((padded(terms, 4), cols), np.int8)
    full[:terms, :n] = w
    quads = full.reshape(-1, 4, cols).transpose(0, 2, 1)
    return np.ascontiguousarray(quads).reshape(-1)


def _define():
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def tile(typingctx, a4, i0, wp, n0, quads, out):
        """out[i0 + r, n0 + j] = sum_k a[i0 + r, k] · w[k, n0 + j], r < ROWS,
        j < TILE_COLS, over quads · 4 terms."""
        sig = types.void(a4, i0, wp, n0, quads, out)

        def codegen(context, builder, signature, args):
            a_arr, i0v, w_arr, n0v, quadsv, o_arr = args
            a_t, _, w_t, _, _, o_t = signature.args
            a = context.make_array(a_t)(context, builder, a_arr)
            w = context.make_array(w_t)(context, builder, w_arr)
            o = context.make_array(o_t)(context, builder, o_arr)
            i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
            v16 = ir.VectorType(i32, 16)
            try:
                fn = builder.module.get_global(_INTRINSIC)
            except KeyError:
                fn = ir.Function(
                    builder.module, ir.FunctionType(v16, [v16] * 3), _INTRINSIC
                )
            cols = builder.extract_value(o.shape, 1)
            a_row = builder.extract_value(a.strides, 0)
            o_row = builder.extract_value(o.strides, 0)
            a_base = builder.bitcast(a.data, i8.as_pointer())
            w_base = builder.bitcast(w.data, i8.as_pointer())
            o_base = builder.bitcast(o.data, i8.as_pointer())

            def const(value):
                return ir.Constant(i64, value)

            def vector_at(base, offset):
                return builder.bitcast(builder.gep(base, [offset]), v16.as_pointer())

            zero = ir.Constant(v16, [0] * 16)
            accs = [
                cgutils.alloca_once_value(builder, zero) for _ in range(ROWS * VECTORS)
            ]
            with cgutils.for_range(builder, quadsv) as loop:
                k = loop.index
                w_row = builder.add(
                    builder.mul(k, builder.mul(cols, const(4))),
                    builder.mul(n0v, const(4)),
                )
                ws = [
                    builder.load(
                        vector_at(w_base, builder.add(w_row, const(64 * c))), align=1
                    )
                    for c in range(VECTORS)
                ]
                for r in range(ROWS):
                    row = builder.mul(builder.add(i0v, const(r)), a_row)
                    at = builder.gep(
                        a_base, [builder.add(row, builder.mul(k, const(4)))]
                    )
                    quad = builder.load(builder.bitcast(at, i32.as_pointer()), align=1)
                    splat = builder.insert_element(
                        ir.Constant(v16, ir.Undefined), quad, ir.Constant(i32, 0)
                    )
                    splat = builder.shuffle_vector(
                        splat,
                        ir.Constant(v16, ir.Undefined),
                        ir.Constant(v16, [0] * 16),
                    )
                    for c in range(VECTORS):
                        acc = accs[r * VECTORS + c]
                        builder.store(
                            builder.call(fn, [builder.load(acc), splat, ws[c]]), acc
                        )
            for r in range(ROWS):
                row = builder.mul(builder.add(i0v, const(r)), o_row)
                for c in range(VECTORS):
                    col = builder.mul(builder.add(n0v, const(16 * c)), const(4))
                    target = vector_at(o_base, builder.add(row, col))
                    builder.store(builder.load(accs[r * VECTORS + c]), target, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return tile


tile = _define() if available() else None
