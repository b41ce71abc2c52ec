"""How many cores the interpreter uses, and how.

A recurrence is a chain of small steps (a product and one elementwise loop per
time step), so the cores are used inside each step: torch's int8 products and the
compiled elementwise loops (fxp_elementwise, `parallel=True`, numba's OpenMP
layer) split the rows of a step over OpenMP threads. Without OpenMP the loops
run on one core.

Python threads over blocks of rows (batch_blocks) were the other way: each thread
pays the per-step Python work holding the GIL, and two threads waited for each
other (two blocks of 128 rows ran slower than one of 256 in bench/interp.py).
They remain for the float interpreter, whose numpy operations are large.

`$RNNC_THREADS` sets the count; the default is the processors this process may
use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

THREADS_ENV = "RNNC_THREADS"
LAYER_ENV = "NUMBA_THREADING_LAYER"
# Elements of a loop below which one core is faster (the threads' start and join
# cost about as much as the loop on 128 x 64 elements).
MIN_PARALLEL_ELEMENTS = 1 << 13

_kernel_threads: ContextVar[int] = ContextVar("kernel_threads", default=1)
_layer: list[bool] = []  # [whether numba's OpenMP layer loaded], on first use


def cores() -> int:
    """$RNNC_THREADS, else the processors this process may use."""
    wanted = os.environ.get(THREADS_ENV)
    if wanted:
        return max(1, int(wanted))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def kernel_threads() -> int:
    """Threads the compiled loops of the current run may use (1: serial)."""
    return _kernel_threads.get()


def parallel_loops(elements: int) -> int:
    """The row parts a loop over this many elements runs in (1: serially); loads
    the OpenMP layer the first time it is wanted."""
    threads = _kernel_threads.get()
    if threads <= 1 or elements < MIN_PARALLEL_ELEMENTS or not openmp():
        return 1
    import numba

    threads = min(threads, numba.config.NUMBA_NUM_THREADS)
    if numba.get_num_threads() != threads:
        numba.set_num_threads(threads)  # per Python thread
    return threads


def openmp() -> bool:
    """Whether numba's OpenMP threading layer works here."""
    if not _layer:
        _layer.append(_load_layer())
    return _layer[0]


def _load_layer() -> bool:
    from rnnc.backends.interpreter import fxp_kernels

    jit = fxp_kernels.jit()
    if jit is None:
        return False
    import numba

    if not os.environ.get(LAYER_ENV):
        numba.config.THREADING_LAYER = "omp"
    try:
        jit.parallel_probe(4)
    except Exception:  # no OpenMP library: numba says so when first used
        return False
    return numba.threading_layer() == "omp"


@contextlib.contextmanager
def threads(count: int | None = None) -> Iterator[int]:
    """Runs inside use `count` cores (default `cores()`) for products and, with
    OpenMP, loops; yields the count."""
    from rnnc.backends.interpreter import int_matmul

    count = cores() if count is None else max(1, count)
    token = _kernel_threads.set(count)
    try:
        with int_matmul.threads(count):
            yield count
    finally:
        _kernel_threads.reset(token)
