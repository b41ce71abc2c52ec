"""Probe for a compiled time loop: an int8 digit product as a numba kernel on
AVX-512 VNNI, against torch._int_mm in the same process.

docs/performance.md says what a W16/A16 step would need: the products of a block
of rows kept in registers and fused with the cell update, the whole time loop
compiled. This measures the first half: `vpdpbusd` (u8 x s8 -> int32, 64 MACs an
instruction) reached from numba through an LLVM intrinsic, on register tiles of
ROWS x 16*COLS outputs, for bench/interp.py's step product (h as two digits:
512 x 128 @ 128 x 512). Checks exactness, prints both times and their ratio.
Tiles measured (ratio to torch._int_mm, one thread): 8 x 32 1.01-1.03, 4 x 64
0.82, 8 x 64 0.59, 2 x 128 0.47, 4 x 128 0.36.
Needs a CPU with avx512_vnni (it says so and stops otherwise).
    python bench/vnni_tile.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ROWS, COLS = 8, 2  # a tile: 8 rows x 32 columns, 16 zmm accumulators
VPDPBUSD = "llvm.x86.avx512.vpdpbusd.512"


@intrinsic
def _tile(typingctx, a4, i0, wp, n0, quads, out):
    """out[i0 + r, n0 + j] = sum over k of a[i0 + r, k] * w[k, n0 + j] for one
    tile: a4 holds a's rows as int32 quads of u8, wp the s8 weights as
    [k/4][column][4]; the accumulators stay in registers over all of K."""
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
            fn = builder.module.get_global(VPDPBUSD)
        except KeyError:
            fn = ir.Function(builder.module, ir.FunctionType(v16, [v16] * 3), VPDPBUSD)
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
        accs = [cgutils.alloca_once_value(builder, zero) for _ in range(ROWS * COLS)]
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
                for c in range(COLS)
            ]
            for r in range(ROWS):
                row = builder.mul(builder.add(i0v, const(r)), a_row)
                at = builder.gep(a_base, [builder.add(row, builder.mul(k, const(4)))])
                quad = builder.load(builder.bitcast(at, i32.as_pointer()), align=1)
                splat = builder.insert_element(
                    ir.Constant(v16, ir.Undefined), quad, ir.Constant(i32, 0)
                )
                splat = builder.shuffle_vector(
                    splat, ir.Constant(v16, ir.Undefined), ir.Constant(v16, [0] * 16)
                )
                for c in range(COLS):
                    acc = accs[r * COLS + c]
                    builder.store(
                        builder.call(fn, [builder.load(acc), splat, ws[c]]), acc
                    )
        for r in range(ROWS):
            row = builder.mul(builder.add(i0v, const(r)), o_row)
            for c in range(COLS):
                col = builder.mul(builder.add(n0v, const(16 * c)), const(4))
                target = vector_at(o_base, builder.add(row, col))
                builder.store(builder.load(accs[r * COLS + c]), target, align=4)
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(nogil=True, parallel=True)
def products(a4, wp, out, parts):
    rows, quads = a4.shape
    cols = out.shape[1]
    for p in numba.prange(parts):
        for i in range(p * rows // parts, (p + 1) * rows // parts, ROWS):
            for n in range(0, cols, 16 * COLS):
                _tile(a4, i, wp, n, quads, out)


def median_us(fn, repeat: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(100):
            fn()
        times.append((time.perf_counter() - start) / 100)
    return float(np.median(times)) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists() or "avx512_vnni" not in cpuinfo.read_text():
        print("this CPU has no avx512_vnni: nothing measured")
        return
    rows, terms, cols = 512, 128, 512  # bench/interp.py's step: 2 digits of h @ R
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (rows, terms)).astype(np.uint8)
    w = rng.integers(-128, 128, (terms, cols)).astype(np.int8)
    a4 = a.view(np.int32).reshape(rows, terms // 4)
    wp = np.ascontiguousarray(w.reshape(terms // 4, 4, cols).transpose(0, 2, 1))
    out = np.empty((rows, cols), np.int32)
    want = a.astype(np.int64) @ w.astype(np.int64)
    ta, tw = torch.from_numpy(a.view(np.int8) ^ np.int8(-128)), torch.from_numpy(w)
    print(f"digit product {rows} x {terms} @ {terms} x {cols}, median of {args.repeat}")
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        torch.set_num_threads(threads)
        out[:] = 0
        products(a4, wp.reshape(-1), out, threads)
        assert np.array_equal(out, want), "the VNNI tiles are not exact"
        mine = median_us(
            lambda t=threads: products(a4, wp.reshape(-1), out, t), args.repeat
        )
        theirs = median_us(lambda: torch._int_mm(ta, tw), args.repeat)
        print(
            f"{threads} thread(s): numba VNNI tiles {mine:6.1f} us, torch._int_mm "
            f"{theirs:6.1f} us, ratio {theirs / mine:.2f}"
        )


if __name__ == "__main__":
    main()
