"""The interpreter's int8 digit product on AVX-512 VNNI tiles (`vnni.tile`, used
by the compiled time loop and the row-block loops) against torch._int_mm in the
same process, on bench/interp.py's step product (h as two digits: 512 x 128 @
128 x 512): `vpdpbusd` (u8 x s8 -> int32, 64 MACs an instruction) on register
tiles of ROWS x COLS outputs. Checks exactness, prints both times and their
ratio.
Tiles measured (ratio to torch._int_mm, one thread): 8 x 32 1.01-1.03, 4 x 64
0.82, 8 x 64 0.59, 2 x 128 0.47, 4 x 128 0.36.
Needs a CPU with avx512_vnni (it says so and stops otherwise).
    python bench/vnni_tile.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import torch

from rnnc.backends.interpreter import vnni

tile = vnni.tile

ROWS, COLS = vnni.ROWS, vnni.TILE_COLS


@numba.njit(nogil=True, parallel=True)
def products(a4, wp, out, parts):
    rows, quads = a4.shape
    cols = out.shape[1]
    for p in numba.prange(parts):
        for i in range(p * rows // parts, (p + 1) * rows // parts, ROWS):
            for n in range(0, cols, COLS):
                tile(a4, i, wp, n, quads, out)


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
    if not vnni.available():
        print("this CPU has no AVX-512 VNNI: nothing measured")
        return
    rows, terms, cols = 512, 128, 512  # bench/interp.py's step: 2 digits of h @ R
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (rows, terms)).astype(np.uint8)
    w = rng.integers(-128, 128, (terms, cols)).astype(np.int8)
    a4 = a.view(np.int32).reshape(rows, terms // 4)
    wp = vnni.pack(w, cols)
    out = np.empty((rows, cols), np.int32)
    want = a.astype(np.int64) @ w.astype(np.int64)
    ta, tw = torch.from_numpy(a.view(np.int8) ^ np.int8(-128)), torch.from_numpy(w)
    print(f"digit product {rows} x {terms} @ {terms} x {cols}, median of {args.repeat}")
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        torch.set_num_threads(threads)
        out[:] = 0
        products(a4, wp, out, threads)
        assert np.array_equal(out, want), "the VNNI tiles are not exact"
        mine = median_us(lambda t=threads: products(a4, wp, out, t), args.repeat)
        theirs = median_us(lambda: torch._int_mm(ta, tw), args.repeat)
        print(
            f"{threads} thread(s): numba VNNI tiles {mine:6.1f} us, torch._int_mm "
            f"{theirs:6.1f} us, ratio {theirs / mine:.2f}"
        )


if __name__ == "__main__":
    main()
