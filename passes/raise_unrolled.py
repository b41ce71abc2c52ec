"""raise-unrolled: T copies of one step body chained through states → `rnn.recurrence`.

Exporters that trace a Python loop (Keras on the torch backend, torch
`nn.LSTMCell`/`nn.GRUCell` loops) write every time step out: step t reads
`seq[t]` (a `rnn.gather` or unit `rnn.slice` by a constant index) and the states
the step before computed. This pass finds such chains whatever ops the step holds:

- a *shift map* f pairs each op of step t with its copy in step t+1: the index
  ops of one sequence seed it (`seq[i]` ↦ `seq[i±1]`), and an op maps to a user of
  its operands' images with the same name, properties and types whose every
  operand is the image of its own (step values) or the very same value (weights,
  constants, anything outside the loop). Other sequences read by the steps are
  paired on first use.
- steps 1..T-1 must be copies under f; step 1 becomes the body. An operand of
  step 1 that step 2 takes from step 1 is a state: step 1's value is its next
  state, step 0's its incoming value.
- step 0 is often not a copy: the exporter or constant folding specialised it to
  the initial states (`h @ R` of a zero `h` became a constant). It is accepted
  when the body, run on the initial states (those step 0 reads in their place,
  else zeros) and folded, computes step 0's values op for op (constants equal to
  float rounding).

Values of the steps used elsewhere become results: the final states, or a
per-step output read back by a constant `rnn.gather`. The step ops are erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, OpResult, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.traits import Pure

from rnnc.dialects import rnn
from rnnc.dialects.arrays import array_of, dense_of, numpy_dtype
from rnnc.passes.fold_constants import fold_constants

# Constants of step 0 and of the body run on the initial states agree to this
# relative tolerance (they were folded by different evaluators).
CONST_RTOL = 1e-6


# ---------------------------------------------------------------- index ops


@dataclass(frozen=True)
class Group:
    """The ops reading one time step each of `seq` along `axis` (by index)."""

    seq: SSAValue
    axis: int
    kind: str  # "gather" (axis dropped) or "slice" (axis kept, size 1)
    by_index: dict[int, Operation]

    @property
    def steps(self) -> int:
        return rnn.shape_of(self.seq)[self.axis]

    def index_of(self, op: Operation) -> int | None:
        for i, o in self.by_index.items():
            if o is op:
                return i
        return None


def _constant_array(value: SSAValue) -> np.ndarray | None:
    owner = value.owner
    if isinstance(owner, rnn.ConstantOp):
        return array_of(owner.value)
    return None


def _index_read(op: Operation) -> tuple[tuple, int] | None:
    """(group key, index) when `op` reads one step of a tensor by a constant."""
    if isinstance(op, rnn.GatherOp):
        idx = _constant_array(op.indices)
        if idx is None or idx.ndim != 0:
            return None
        rank = len(rnn.shape_of(op.data))
        axis = op.axis.value.data % rank
        size = rnn.shape_of(op.data)[axis]
        return ("gather", op.data, axis), int(idx) % size
    if isinstance(op, rnn.SliceOp):
        axes = op.axes.get_values()
        if len(axes) != 1 or tuple(op.steps.get_values()) != (1,):
            return None
        rank = len(rnn.shape_of(op.input))
        axis = axes[0] % rank
        size = rnn.shape_of(op.input)[axis]
        start, end = op.starts.get_values()[0], op.ends.get_values()[0]
        start = start + size if start < 0 else start
        end = min(end + size if end < 0 else end, size)
        if end != start + 1 or not 0 <= start < size:
            return None
        return ("slice", op.input, axis), start
    return None


def index_groups(block: Block) -> list[Group]:
    """Every tensor read step by step at each of its ≥ 3 time indices."""
    found: dict[tuple, dict[int, Operation]] = {}
    for op in block.ops:
        read = _index_read(op)
        if read is not None:
            key, index = read
            found.setdefault(key, {}).setdefault(index, op)
    groups = []
    for (kind, seq, axis), by_index in found.items():
        steps = rnn.shape_of(seq)[axis]
        if steps >= 3 and sorted(by_index) == list(range(steps)):
            groups.append(Group(seq, axis, kind, by_index))
    return groups


# --------------------------------------------------------------- shift map


def _same_kind(a: Operation, b: Operation) -> bool:
    return (
        a.name == b.name
        and len(a.operands) == len(b.operands)
        and [r.type for r in a.results] == [r.type for r in b.results]
        and a.properties == b.properties
        and a.attributes == b.attributes
        and not a.regions
        and not b.regions
    )


@dataclass
class ShiftMap:
    """f: op of step t ↦ its copy in step t+1, with the step of each op."""

    groups: list[Group]
    direction: dict[int, int] = field(default_factory=dict)  # group → ±1
    image: dict[Operation, Operation] = field(default_factory=dict)
    taken: set[Operation] = field(default_factory=set)
    step: dict[Operation, int] = field(default_factory=dict)
    open_pairs: int = 0  # operand pairs `unify` left open (fewer: better match)

    def seed(self, g: int, d: int) -> None:
        group = self.groups[g]
        self.direction[g] = d
        for i, op in group.by_index.items():
            if i + d in group.by_index:
                self.image[op] = group.by_index[i + d]
                self.taken.add(group.by_index[i + d])

    def _lazy(self, a: SSAValue, b: SSAValue) -> bool:
        """`a`, `b` read consecutive steps of another sequence: pair its reads."""
        if not (isinstance(a, OpResult) and isinstance(b, OpResult)):
            return False
        for g, group in enumerate(self.groups):
            i, j = group.index_of(a.op), group.index_of(b.op)
            if i is None or j is None or abs(i - j) != 1:
                continue
            if g in self.direction:
                return self.direction[g] == j - i and self.image.get(a.op) is b.op
            if group.steps != self.groups[next(iter(self.direction))].steps:
                return False
            self.seed(g, j - i)
            return True
        return False

    def pair(self, a: SSAValue, b: SSAValue) -> bool:
        """Operand `a` of a step and `b` of its copy: images, the same value, or
        reads of consecutive steps of another sequence."""
        if isinstance(a, OpResult) and a.op in self.image:
            return self.image[a.op].results[a.index] is b
        return a is b or self._lazy(a, b)

    def unify(self, op: Operation, cand: Operation, log: list[Operation]) -> bool:
        """Pair `op` with `cand` if they are copies. An operand pair that is
        neither paired nor pairable (a state read from the step before, a value
        the exporter folded in step 0) is left open: `_Raising` checks those."""
        if op in self.image:
            return self.image[op] is cand
        if cand in self.taken or cand is op or not _same_kind(op, cand):
            return False
        self.image[op] = cand
        self.taken.add(cand)
        log.append(op)
        for a, b in zip(op.operands, cand.operands, strict=True):
            if isinstance(a, OpResult) and a.op in self.image:
                if self.image[a.op].results[a.index] is not b:
                    return False
                continue
            if a is b or self._lazy(a, b):
                continue
            if (
                isinstance(a, OpResult)
                and isinstance(b, OpResult)
                and a.index == b.index
                and a.op.parent is op.parent
            ):
                mark = len(log)
                if self.unify(a.op, b.op, log):
                    continue
                self.rollback(log, mark)
            self.open_pairs += 1
        return True

    def rollback(self, log: list[Operation], mark: int) -> None:
        while len(log) > mark:
            op = log.pop()
            self.taken.discard(self.image.pop(op))

    def extend(self, ops: Iterable[Operation]) -> None:
        for op in ops:
            if op in self.image:
                continue
            pivots = [
                v for v in op.operands if isinstance(v, OpResult) and v.op in self.image
            ]
            if not pivots:
                continue
            target = self.image[pivots[0].op].results[pivots[0].index]
            # Of the users that pair, the one leaving the fewest operands open.
            best, fewest = None, None
            for use in list(target.uses):
                cand = use.operation
                if cand.parent is not op.parent:
                    continue
                log: list[Operation] = []
                self.open_pairs = 0
                if self.unify(op, cand, log) and (
                    fewest is None or self.open_pairs < fewest
                ):
                    best, fewest = cand, self.open_pairs
                self.rollback(log, 0)
            if best is not None:
                self.unify(op, best, [])

    def number_steps(self, steps: int) -> None:
        """Step of every paired op: T-1 minus its distance to the end of its
        chain (the last step is complete; step 0 may be specialised)."""
        for op in [*self.image, *self.taken]:
            if op in self.step:
                continue
            chain = [op]
            while chain[-1] in self.image:
                chain.append(self.image[chain[-1]])
            for k, o in enumerate(reversed(chain)):
                self.step.setdefault(o, steps - 1 - k)


# ------------------------------------------------------------------ raising


class _Reject(Exception):
    """This chain is not a recurrence the pass raises (left as it is)."""


@dataclass
class _Slot:
    incoming: SSAValue  # what step 1 reads (a value of step 0)
    nxt: SSAValue  # what step 1 yields (read by step 2)
    arg: SSAValue | None = None


def _depends_on(ops: list[Operation], roots: set[Operation]) -> set[Operation]:
    """The ops of `ops` (in order) that depend on one of `roots` (roots included)."""
    out = set(roots)
    for op in ops:
        if op not in out and any(
            isinstance(v, OpResult) and v.op in out for v in op.operands
        ):
            out.add(op)
    return out


class _Raising:
    def __init__(self, block: Block, shift: ShiftMap):
        self.block = block
        self.f = shift
        self.ops = list(block.ops)
        self.pos = {op: i for i, op in enumerate(self.ops)}
        self.steps = shift.groups[next(iter(shift.direction))].steps
        by_step: dict[int, list[Operation]] = {}
        for op in self.ops:
            if op in shift.step:
                by_step.setdefault(shift.step[op], []).append(op)
        self.by_step = by_step
        self.stepped = {
            op for t, ops in by_step.items() if t >= 1 for op in ops
        }  # steps 1..T-1

    # ---- checks

    def check_copies(self) -> None:
        T = self.steps
        if any(t not in self.by_step for t in range(1, T)):
            raise _Reject
        for t in range(1, T - 1):
            here, there = self.by_step[t], self.by_step[t + 1]
            images = [self.f.image.get(op) for op in here]
            if None in images or set(images) != set(there) or len(here) != len(there):
                raise _Reject
            if t == 1:
                continue  # its open operands are classified as states
            reads = {op for _, op in self.seeds_at(t)}
            for op in here:
                if op in reads:
                    continue
                for a, b in zip(op.operands, self.f.image[op].operands, strict=True):
                    if not (a is b or self._paired(a, b)):
                        raise _Reject

    def _paired(self, a: SSAValue, b: SSAValue) -> bool:
        image = self.f.image
        return (
            isinstance(a, OpResult)
            and a.op in image
            and image[a.op].results[a.index] is b
        )

    def step0_ops(self) -> set[Operation]:
        """Ops computing step 0: they depend on a step-0 read and on no later step."""
        roots = set(self.by_step.get(0, []))
        later = _depends_on(self.ops, self.stepped)
        return {op for op in _depends_on(self.ops, roots) if op not in later}

    # ---- the body

    def seeds_at(self, t: int) -> list[tuple[int, Operation]]:
        """(group, read op) of each sequence read at step t."""
        out = []
        for g, d in self.f.direction.items():
            group = self.f.groups[g]
            out.append((g, group.by_index[t if d > 0 else group.steps - 1 - t]))
        return out

    def classify(self, peeled: set[Operation]) -> tuple[list[_Slot], list[SSAValue]]:
        """State slots and shared (loop-invariant) operands of step 1."""
        step1 = set(self.by_step[1])
        seeds = {op for _, op in self.seeds_at(1)}
        slots: dict[SSAValue, _Slot] = {}
        shared: list[SSAValue] = []
        for op in self.by_step[1]:
            if op in seeds:
                continue
            twin = self.f.image[op]
            for a, b in zip(op.operands, twin.operands, strict=True):
                if isinstance(a, OpResult) and a.op in step1:
                    continue
                if a is b:
                    if isinstance(a, OpResult) and (
                        a.op in peeled or a.op in self.stepped
                    ):
                        raise _Reject
                    shared.append(a)
                elif isinstance(b, OpResult) and b.op in step1:
                    slot = slots.setdefault(a, _Slot(a, b))
                    if slot.nxt is not b:
                        raise _Reject
                else:
                    raise _Reject
        return list(slots.values()), shared

    def build_body(self, slots: list[_Slot]) -> tuple[Block, dict[SSAValue, SSAValue]]:
        seeds = self.seeds_at(1)
        arg_types = []
        for g, _ in seeds:
            seq = self.sequence_type(g)
            arg_types.append(rnn.tensor(seq.get_shape()[1:], seq.element_type))
        arg_types += [s.incoming.type for s in slots]
        block = Block(arg_types=arg_types)
        mapping: dict[SSAValue, SSAValue] = {}
        seed_ops = set()
        for (g, op), arg in zip(seeds, block.args, strict=False):
            seed_ops.add(op)
            group = self.f.groups[g]
            value: SSAValue = arg
            if group.kind == "slice":
                unsq = rnn.UnsqueezeOp(arg, [group.axis])
                block.add_op(unsq)
                value = unsq.result
            mapping[op.results[0]] = value
        for slot, arg in zip(slots, block.args[len(seeds) :], strict=True):
            slot.arg = arg
            mapping[slot.incoming] = arg
            arg.name_hint = slot.nxt.name_hint
        for op in self.by_step[1]:
            if op in seed_ops:
                continue
            block.add_op(op.clone(value_mapper=mapping))
        return block, mapping

    def sequence_type(self, g: int) -> rnn.TensorType:
        group = self.f.groups[g]
        shape = list(rnn.shape_of(group.seq))
        shape.insert(0, shape.pop(group.axis))
        return rnn.tensor(shape, rnn.element_type_of(group.seq))

    # ---- step 0

    def instantiate(
        self, body: Block, inits: Sequence[SSAValue], t: int, scratch: Block
    ) -> dict[SSAValue, SSAValue]:
        """The body's ops at step t on the given states, folded, into `scratch`
        (operands outside it are the real graph's values); per body value, its
        value at step t."""
        seeds = self.seeds_at(t)
        n = len(seeds)
        mapping: dict[SSAValue, SSAValue] = dict(zip(body.args[n:], inits, strict=True))
        for (g, read), arg in zip(seeds, body.args, strict=False):
            mapping[arg] = read.results[0]
            if self.f.groups[g].kind == "slice":  # the read is the unsqueezed arg
                for use in arg.uses:
                    mapping[use.operation.results[0]] = read.results[0]
        for op in body.ops:
            if op.results and op.results[0] in mapping:
                continue
            scratch.add_op(op.clone(value_mapper=mapping))
        body_values = [*body.args, *(r for op in body.ops for r in op.results)]
        scratch.add_op(func.ReturnOp(*(mapping[v] for v in body_values)))
        holder = ModuleOp(Region([scratch]))
        fold_constants(holder)
        holder.body.detach_block(scratch)
        ret = scratch.last_op
        assert isinstance(ret, func.ReturnOp)
        scratch.detach_op(ret)
        values = dict(zip(body_values, ret.arguments, strict=True))
        ret.erase(safe_erase=False)
        return values

    def initial_guess(self, slots: list[_Slot], peeled: set[Operation]) -> list:
        """Per slot: the value step 0 reads in the state's place, else zeros."""
        guesses = []
        inverse = {v: k for k, v in self.f.image.items()}
        for slot in slots:
            found = None
            for use in slot.incoming.uses:
                pre = inverse.get(use.operation)
                if pre is not None and pre in peeled:
                    cand = pre.operands[use.index]
                    if not (isinstance(cand, OpResult) and cand.op in peeled):
                        found = cand
            guesses.append(found)
        return guesses


class _Equal:
    """Structural equality of two value DAGs (constants compared by value)."""

    def __init__(self):
        self.memo: dict[tuple[SSAValue, SSAValue], bool] = {}

    def __call__(self, p: SSAValue, q: SSAValue) -> bool:
        if p is q:
            return True
        key = (p, q)
        if key not in self.memo:
            self.memo[key] = False  # no cycles in SSA; guards re-entry
            self.memo[key] = self._compare(p, q)
        return self.memo[key]

    def _compare(self, p: SSAValue, q: SSAValue) -> bool:
        if p.type != q.type:
            return False
        if not (isinstance(p, OpResult) and isinstance(q, OpResult)):
            return False
        a, b = p.op, q.op
        if isinstance(a, rnn.ConstantOp) and isinstance(b, rnn.ConstantOp):
            x, y = array_of(a.value), array_of(b.value)
            if x.dtype.kind in "iub":
                return bool((x == y).all())
            return bool(np.allclose(x, y, rtol=CONST_RTOL, atol=1e-30))
        if p.index != q.index or not _same_kind(a, b):
            return False
        return all(self(x, y) for x, y in zip(a.operands, b.operands, strict=True))


def _zeros(like: SSAValue) -> rnn.ConstantOp:
    dtype = numpy_dtype(rnn.element_type_of(like))
    return rnn.ConstantOp(dense_of(np.zeros(rnn.shape_of(like), dtype)))


def raise_chain(block: Block, shift: ShiftMap) -> bool:
    """Replace the chain `shift` pairs by one recurrence; False if it is none."""
    r = _Raising(block, shift)
    try:
        r.check_copies()
        peeled = r.step0_ops()
        slots, _ = r.classify(peeled)
        if not slots:
            raise _Reject
        body, body_of_step1 = r.build_body(slots)
    except _Reject:
        return False
    scratch = Block()
    try:
        _replace_steps(r, slots, peeled, body, body_of_step1, scratch)
    except _Reject:
        _drop(scratch)
        _drop(body)
        return False
    return True


def _replace_steps(
    r: _Raising,
    slots: list[_Slot],
    peeled: set[Operation],
    body: Block,
    body_of_step1: dict[SSAValue, SSAValue],
    scratch: Block,
) -> None:
    """Check step 0, build the recurrence and rewire the steps' outside uses
    (raises `_Reject`, having changed nothing, when the chain is no loop)."""
    block, shift, T = r.block, r.f, r.steps
    # Step 0: the body on the initial states must compute step 0's values.
    guesses = r.initial_guess(slots, peeled)
    new_consts: list[Operation] = []
    inits = []
    for slot, guess in zip(slots, guesses, strict=True):
        if guess is None:
            zero = _zeros(slot.incoming)
            new_consts.append(zero)
            guess = zero.result
        inits.append(guess)
    at0 = r.instantiate(body, inits, 0, scratch)
    equal = _Equal()
    if not all(equal(s.incoming, at0[body_of_step1[s.nxt]]) for s in slots):
        raise _Reject
    # Values of the steps used outside them, by step and body value.
    inside = r.stepped | peeled

    def outside(user: Operation) -> bool:
        return user.parent is block and user not in inside

    uses: list[tuple[SSAValue, int, SSAValue]] = []  # (value, step, body value)
    inverse = {v: k for k, v in shift.image.items()}
    for op in r.ops:
        if op not in inside:
            continue
        for res in op.results:
            if not any(outside(u.operation) for u in res.uses):
                continue
            if op in peeled:
                uses.append((res, 0, _counterpart(res, at0, equal)))
                continue
            t, pre = shift.step[op], op
            while shift.step[pre] > 1:
                pre = inverse[pre]
            uses.append((res, t, body_of_step1[pre.results[res.index]]))
    _drop(scratch)  # it reads step 0's values, which go
    # Outputs of the recurrence.
    state_values = [s.nxt for s in slots]
    body_states = [body_of_step1[v] for v in state_values]
    per_step: list[SSAValue] = []
    for _, t, bv in uses:
        if bv in body_states and t == T - 1:
            continue
        if bv not in per_step:
            per_step.append(bv)
    # Where the recurrence goes: before the first user outside the steps, after
    # every value it reads.
    users = [
        r.pos[u.operation] for v, _, _ in uses for u in v.uses if outside(u.operation)
    ]
    if not users:
        raise _Reject
    first_user = min(users)
    seqs = []
    anchor = r.ops[first_user]
    reads = [g for g, _ in r.seeds_at(1)]
    outer = [shift.groups[g].seq for g in reads] + [
        v for v in inits if v not in [c.result for c in new_consts]
    ]
    body_ops = set(body.ops)
    outer += [
        v
        for op in body.ops
        for v in op.operands
        if isinstance(v, OpResult) and v.op not in body_ops
    ]
    for v in outer:
        if isinstance(v, OpResult) and v.op.parent is block:
            if v.op in inside or r.pos[v.op] >= first_user:
                raise _Reject
    reverse = {shift.direction[g] for g in reads}
    if len(reverse) != 1:
        raise _Reject
    backwards = reverse == {-1}
    body.add_op(rnn.YieldOp([*body_states, *per_step]))
    for const in new_consts:
        block.insert_op_before(const, anchor)
    for g in reads:
        group = shift.groups[g]
        seq = group.seq
        if group.axis != 0:
            rank = len(rnn.shape_of(seq))
            perm = [group.axis, *[a for a in range(rank) if a != group.axis]]
            tr = rnn.TransposeOp(seq, perm)
            block.insert_op_before(tr, anchor)
            seq = tr.result
        seqs.append(seq)
    out_types = [
        rnn.tensor((T, *rnn.shape_of(v)), rnn.element_type_of(v)) for v in per_step
    ]
    rec = rnn.RecurrenceOp(seqs, inits, out_types, Region(body), reverse=backwards)
    block.insert_op_before(rec, anchor)
    for res, slot in zip(rec.final_states, slots, strict=True):
        res.name_hint = slot.nxt.name_hint
    # Replace the uses outside the steps.
    reads_back: dict[tuple[int, int], SSAValue] = {}
    for value, t, bv in uses:
        if bv in body_states and t == T - 1:
            new = rec.final_states[body_states.index(bv)]
            new.name_hint = value.name_hint
        else:
            k = per_step.index(bv)
            at = T - 1 - t if backwards else t
            if (k, at) not in reads_back:
                index = rnn.ConstantOp(dense_of(np.asarray(at, np.int64)))
                read = rnn.GatherOp.build(
                    operands=[rec.step_outputs[k], index.result],
                    result_types=[value.type],
                    properties={},
                )
                block.insert_op_before(index, anchor)
                block.insert_op_before(read, anchor)
                reads_back[(k, at)] = read.results[0]
            new = reads_back[(k, at)]
        for use in list(value.uses):
            if outside(use.operation):
                use.operation.operands[use.index] = new
    # The steps are dead now.
    for op in reversed(r.ops):
        if op in inside and all(not res.uses for res in op.results):
            op.detach()
            op.erase()


def _counterpart(
    value: SSAValue, at0: dict[SSAValue, SSAValue], equal: _Equal
) -> SSAValue:
    """The body value that computes `value` (of step 0) at step 0."""
    for body_value, at_step0 in at0.items():
        if at_step0.type == value.type and equal(value, at_step0):
            return body_value
    raise _Reject


def _drop(scratch: Block) -> None:
    for op in reversed(list(scratch.ops)):
        op.detach()
        op.erase(safe_erase=False)


def raise_block(block: Block) -> int:
    """Raise chains in `block` until none is left; returns how many."""
    raised = 0
    progress = True
    while progress:
        progress = False
        groups = index_groups(block)
        for g in range(len(groups)):
            for d in (1, -1):
                shift = ShiftMap(groups)
                shift.seed(g, d)
                ops = list(block.ops)
                shift.extend(ops)
                shift.number_steps(groups[g].steps)
                if raise_chain(block, shift):
                    raised += 1
                    progress = True
                    break
            if progress:
                break
    return raised


def raise_unrolled(module: ModuleOp) -> int:
    count = 0
    for op in module.walk():
        if isinstance(op, func.FuncOp):
            count += raise_block(op.body.block)
    if count:
        erase_dead(module)
    return count


def erase_dead(module: ModuleOp) -> None:
    """Erase pure ops whose results are unused (what the rewrites left)."""
    for op in reversed(list(module.walk())):
        if (
            op.dialect_name() == "rnn"
            and op.has_trait(Pure)
            and op.results
            and all(not r.uses for r in op.results)
        ):
            op.detach()
            op.erase()


@dataclass(frozen=True)
class RaiseUnrolledPass(ModulePass):
    """Fold unrolled time steps (Keras, torch cell loops) into recurrences."""

    name = "raise-unrolled"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        raise_unrolled(op)
