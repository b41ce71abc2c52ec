"""Fusion of a recurrence body's ops into fewer, larger kernels (an engine
optimisation; results are bit-identical to running the ops one by one).

Backends register what can be fused: PRODUCT_FUSION (several products of one
operand with loop-invariant matrices, run as one) and CHAINS (a chain of
single-use ops compiled into one kernel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from xdsl.ir import Operation, SSAValue

from rnnc.dialects import rnn

# A function of an op's operand arrays alone, compiled once per op.
Kernel = Callable[[list[np.ndarray]], list[np.ndarray]]


class FusedProducts:
    """Exact products of one operand with loop-invariant matrices, run as one
    product with the matrices side by side (e.g. the four gates' h @ R_g).

    `prepare` (of the FusableProduct registered per op type in PRODUCT_FUSION)
    takes the matrices once per run of the loop and returns the product of the
    operand with all of them, one block per op: the blocks are bit-identical to
    the separate products (one product alone is fused too). With
    `deferred` (set by `defer_products` when a single run reads them all) the
    blocks may be left in a form only that run reads (e.g. digit products not yet
    added up)."""

    def __init__(self, ops: list[Operation], product: FusableProduct):
        self.ops = ops
        self.product = product
        self.prepare = product.prepare
        self.threaded = product.threaded
        self.deferred = False
        self.operands = [ops[0].operands[0]] + [op.operands[1] for op in ops]
        self.results = [op.results[0] for op in ops]
        self._run: Callable[..., list] | None = None

    def reset(self) -> None:
        self._run = None

    def run(self, env: dict[SSAValue, np.ndarray]) -> None:
        if self._run is None:
            self._run = self.prepare([env[op.operands[1]] for op in self.ops])
        a = env[self.operands[0]]
        product = self._run(a, True) if self.deferred else self._run(a)
        for value, block in zip(self.results, product, strict=True):
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


class FusableProduct(Protocol):
    def prepare(self, matrices: list[np.ndarray]) -> Callable[..., list]:
        """The fused product of the matrices: lhs -> one exact block per op."""

    def threaded(self, rows: int) -> bool:
        """Whether the product of an lhs of this many rows uses the threads of
        `parallel.threads` (else it runs on one core)."""


# Fusable products, registered by the fixed-point backend: for a group of product
# ops of one type sharing their lhs, their FusableProduct, or None if they cannot
# be fused.
PRODUCT_FUSION: dict[
    type[Operation], Callable[[list[Operation]], FusableProduct | None]
] = {}

# Fusable chains: op types (producer, its only user, that one's only user, ...) ->
# compiler of the ops into one kernel of the first op's operands, or None where it
# does not apply.
CHAINS: dict[tuple[type[Operation], ...], Callable[..., Kernel | None]] = {}

# Fusers of runs of consecutive ops into one compiled loop, registered by a
# backend: (ops, fallback) -> ops with runs replaced by objects with `run(env)`;
# `fallback(ops, env)` runs ops one by one (for operands a loop cannot take).
RUNS: list[Callable[[list, Callable[[list, dict], None]], list]] = []


# Compiled time loops, registered by a backend: (recurrence, the hoisted values
# the loop reads, the loop's fused ops) -> an object whose `start(seqs, states,
# env, keep, steps, hoist_on, span, shared)` gives a loop over a block of a run's
# rows (or None: the interpreter runs the steps itself), or None when the body
# does not fit.
STEP_LOOPS: list[Callable] = []


# Fusers of a product with the run that reads it into one compiled loop over
# blocks of rows, registered by a backend: ops -> ops.
BLOCKS: list[Callable[[list], list]] = []


def fuse_blocks(ops: list) -> list:
    for fuse in BLOCKS:
        ops = fuse(ops)
    return ops


def fuse_runs(ops: list, fallback: Callable[[list, dict], None]) -> list:
    for fuse in RUNS:
        ops = fuse(ops, fallback)
    return ops


def fuse_products(ops: list, kind: dict[SSAValue, str]) -> list:
    groups: dict[SSAValue, list[Operation]] = {}
    for op in ops:
        if type(op) not in PRODUCT_FUSION:
            continue
        rhs = op.operands[1]
        if kind.get(rhs, "invariant") == "invariant" and len(rnn.shape_of(rhs)) == 2:
            groups.setdefault(op.operands[0], []).append(op)
    fused: dict[Operation, FusedProducts] = {}
    for group in groups.values():  # one product too: it may then be deferred
        product = PRODUCT_FUSION[type(group[0])](group)
        if product is not None:
            fused[group[0]] = FusedProducts(group, product)
    dropped = {op for f in fused.values() for op in f.ops[1:]}
    return [fused.get(op, op) for op in ops if op not in dropped]


def defer_products(ops: list) -> list:
    """Marks the fused products whose results are read by one run alone, when that
    run takes deferred products (`takes_deferred`)."""
    owner = {
        op: run
        for run in ops
        if getattr(run, "takes_deferred", False)
        for op in run.ops
    }
    for item in ops:
        if isinstance(item, FusedProducts):
            readers = [owner.get(u.operation) for v in item.results for u in v.uses]
            item.deferred = bool(readers) and all(
                r is readers[0] is not None for r in readers
            )
    return ops


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
