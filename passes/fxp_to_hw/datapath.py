"""The RTL of a hardware plan: controller, mat-vec lanes, elementwise pipeline.

Built as one `hw.module` of hw/comb/seq/sv ops (docs/hardware.md has the picture
and the timing formula). One stage runs at a time; per stage and time step:

1. **Mat-vec phase**, C = Σ_i ceil(N/P)·K_i cycles, on the one array of P MAC
   lanes all stages share (`MacArray`), group of P units after group: cycle c
   reads operand element k of mat-vec i (from a buffer, or the state) and the
   word of the weight ROM at the stage's base address + c (one weight per
   lane), multiplies exactly (signed) and accumulates; the sum of each output
   unit goes to the stage's result memory of its lane.
2. **Elementwise phase**, overlapping the mat-vec phase: unit j enters at
   cycle E + j, as soon as its group's sums are written (E: `_elementwise_start`);
   its mat-vec results, states and constants are read, then the step's
   elementwise ops run with their latencies in register stages (D = the longest
   op chain; products on the multipliers of `ProductPool`, shared by all
   stages); results are written to the state buffers (the row not being read)
   and output buffers. A step lasts E + N + D + 1 cycles.

With **pipelined steps** (`_StageBuilder.build` takes them when shorter), a
round issues the state mat-vecs of step t - 1, then the input mat-vecs of step
t, so the elementwise tail of step t - 1 runs beside the MACs of step t: a round
is max(C, E + N + D + 1) cycles; T + 1 rounds per stage, the first without the
state mat-vecs (there is no step -1) and the last ending with the tail.

Arithmetic uses `hw_fixed`, the hardware form of docs/fixed-point.md, so the result
is bit-exact with the fixed-point interpreter. Data registers have no reset;
control registers (counters, flags, the mode) have a synchronous one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

import numpy as np
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import comb, hw, seq
from xdsl.dialects.builtin import ArrayAttr, IntegerType, ModuleOp, StringAttr
from xdsl.ir import Block, Region, SSAValue

from rnnc.dialects import fxp, rnn, sv
from rnnc.dialects.arrays import array_of
from rnnc.dialects.errors import RnncError
from rnnc.passes.fxp_to_hw import arith as hw_fixed
from rnnc.passes.fxp_to_hw import reduction
from rnnc.passes.fxp_to_hw.arith import bits, constant, sext, width_of
from rnnc.passes.fxp_to_hw.circuit import (
    BankedMemory,
    Circuit,
    Memory,
    Rom,
    add_const,
    and_,
    clog2,
    eq,
    mux,
    name_hint,
    not_,
    resize,
    select,
    table,
    uge,
    ult,
)
from rnnc.passes.fxp_to_hw.plan_view import Fetch, HardwarePlan, Stage
from rnnc.passes.fxp_to_hw.weight_stream import (
    WeightStream,
    hold_while_stalled,
    place,
    rom_words,
)

TOP = "rnnc_top"
FETCH_DELAY = 2
"""Cycles from an operand's address to its value: the memory word registered
as it is read (a block RAM's read register), then again in the fabric (a
block RAM's clock-to-output is half a cycle)."""
MAC_DELAY = 5
"""Pipeline of a MAC lane: issue (operand fetch, weight address) → operand
fetch (FETCH_DELAY) beside the synchronous weight ROM read and its fabric
register → operand and weight registers → product register → accumulator:
the sum including the product issued at cycle c is in the accumulator at
c + MAC_DELAY."""
MAC_LATENCY = 5
"""Cycles from the end of a group's issues (c) until the elementwise pipeline
may read its sums: the last issue at c - 1 is written at c + 4."""
OUTPUT_LATENCY = 1
"""The output register between the result buffers and `out_data`."""


@dataclass
class StageTiming:
    name: str
    steps: int
    mac_cycles: int  # C
    units: int  # N
    depth: int  # D
    macs: int  # multiply-accumulates per step
    ew_start: int = 0  # E: the cycle unit 0 enters the elementwise pipeline
    pipelined: bool = False  # the next step's input mat-vecs overlap the tail
    phase_a: int = 0  # pipelined: cycles of the state mat-vecs in a round
    phase: int = 0  # phase `phase` of a step split in `phases` (hwplan.stage)
    phases: int = 1
    sweep_cycles: int = 0  # reductions: the elementwise sweeps before the last

    @property
    def cycles_per_step(self) -> int:
        """Cycles of a step (pipelined: of a round)."""
        return max(self.mac_cycles, self.tail_end)

    @property
    def tail_end(self) -> int:
        """The cycle after the last write of the elementwise pipeline."""
        return self.ew_start + self.sweep_cycles + self.units + self.depth + 1

    @property
    def total_cycles(self) -> int:
        """The stage's cycles: T steps, or pipelined T + 1 rounds, the first
        starting at phase B (step 0's input mat-vecs), the last ending when
        step T - 1 is written."""
        if not self.pipelined:
            return self.steps * self.cycles_per_step
        first = self.cycles_per_step - self.phase_a
        last = max(self.phase_a, self.tail_end)
        return (self.steps - 1) * self.cycles_per_step + first + last


@dataclass
class Design:
    module: ModuleOp
    roms: dict[str, Rom]
    lanes: int
    stages: list[StageTiming] = field(default_factory=list)
    memories: dict[str, tuple[int, int]] = field(default_factory=dict)
    input_width: int = 0
    output_width: int = 0
    seq_len_width: int = 0
    stream: WeightStream | None = None  # the weights read from the stream port

    @property
    def compute_cycles(self) -> int:
        """Cycles from the start of a sequence to its first output word (with
        streamed weights: at full bandwidth)."""
        stages = sum(s.total_cycles for s in self.stages)
        return stages + OUTPUT_LATENCY

    def cycles_at(self, valid: int, period: int) -> int:
        """`compute_cycles` when the weight stream is valid on `valid` of every
        `period` cycles the design waits on it (`WeightStream.stall_cycles`)."""
        stalls = self.stream.stall_cycles(valid, period) if self.stream else 0
        return self.compute_cycles + stalls


def _wrap_counter(c: Circuit, n: int, step: SSAValue, clear=None, name=None):
    """Counts `step`s modulo n; returns (value, `step` at the last value)."""
    width = clog2(n)
    if n == 1:
        return constant(0, width), step
    r = c.reg(width, name=name)
    at_end = eq(r.q, n - 1)
    nxt = mux(step, mux(at_end, constant(0, width), add_const(r.q, 1)), r.q)
    if clear is not None:
        nxt = mux(clear, constant(0, width), nxt)
    r.next(nxt)
    return r.q, and_(step, at_end)


def _var_counter(c: Circuit, index: SSAValue, ends: list[int], step: SSAValue, name):
    """Counts `step`s up to ends[index] (inclusive), then wraps."""
    width = clog2(max(ends) + 1)
    r = c.reg(width, name=name)
    end = table(index, ends, width)
    at_end = comb.ICmpOp(r.q, end, "eq").result
    r.next(mux(step, mux(at_end, constant(0, width), add_const(r.q, 1)), r.q))
    return r.q, at_end


def _times(value: SSAValue, factor: int, width: int) -> SSAValue:
    """value · factor as an unsigned `width`-bit number: shifts and adds of the
    constant's set bits (an address, not worth a multiplier block)."""
    value = resize(value, width)
    terms = [
        resize(hw_fixed.shift_left(value, b), width)
        for b in range(factor.bit_length())
        if factor >> b & 1 and b < width
    ]
    if not terms:
        return constant(0, width)
    return terms[0] if len(terms) == 1 else comb.AddOp(terms).result


def _plus(a: SSAValue, b: SSAValue) -> SSAValue:
    return comb.AddOp([a, b]).result


def _bank_address(bank: SSAValue, words: int, address: SSAValue) -> SSAValue:
    """Address in a two-bank memory of 2·words entries."""
    width = clog2(2 * words)
    offset = mux(bank, constant(words, width), constant(0, width))
    return _plus(offset, resize(address, width))


class MacArray:
    """P multiply-accumulate lanes shared by every stage (one stage runs at a
    time): lane p's field of the weight ROM holds the columns j ≡ p (mod P) of
    every stage's mat-vecs, each stage's from its base address on, group
    after group; the stage that runs drives the operand and the weight
    address. One signed multiply per lane, fed by registers only.

    Mat-vecs in `streamed` (indices as `weight_stream.place` gives them) take
    their words from the weight stream `port` (valid, data) instead of the
    ROM, in the cycle they are issued; without one, the array and every stage
    stall (`stall`, high while a streamed issue waits for its word).
    """

    def __init__(
        self,
        c: Circuit,
        plan: HardwarePlan,
        lanes: int,
        mode: SSAValue,
        streamed: frozenset[int] = frozenset(),
        port: tuple[SSAValue, SSAValue] | None = None,
    ):
        self.c, self.lanes, self.mode = c, lanes, mode
        mvs = [m for s in plan.stages for m in s.matvecs]
        self.x_width = max(m.lhs_fmt.width for m in mvs)
        self.w_width = max(m.weight_fmt.width for m in mvs)
        self.acc_width = max(m.out_fmt.width for m in mvs)
        self.index = {id(m): i for i, m in enumerate(mvs)}
        self.streamed, self.port = streamed, port
        words = sum(rom_words(m, lanes) for i, m in enumerate(mvs) if i not in streamed)
        self.address_bits = clog2(words)
        self.stream = WeightStream(lanes, self.w_width) if streamed else None
        self.ready: SSAValue | None = None  # the stream port's `weight_ready`
        self.stall: SSAValue | None = None
        self.weights: list[list[int]] = [[] for _ in range(lanes)]
        # (mode, on, first, x, address, streamed or None) per stage
        self.issues: list[tuple] = []
        self.acc_regs = [
            c.reg(self.acc_width, None, f"mac_acc{p}") for p in range(lanes)
        ]
        self.acc = [r.q for r in self.acc_regs]

    def add_weights(self, mvs, groups: int) -> int:
        """Append a stage's weights to the lanes' ROMs in the order the stage
        issues them, (group, mat-vec, k); returns their base address."""
        base = len(self.weights[0])
        padded = []
        for m in mvs:
            w = np.zeros((m.weight.shape[0], groups * self.lanes), np.int64)
            w[:, : m.weight.shape[1]] = m.weight
            padded.append(w)
        for lane in range(self.lanes):
            for g in range(groups):
                for w in padded:
                    self.weights[lane] += w[:, g * self.lanes + lane].tolist()
        return base

    def stage_weights(self, stage, order, n_a, groups, pipelined, sc, g, i, k):
        """Place a stage's weights (mat-vecs `order`, the first `n_a` in phase
        A): on-chip ones in the ROM, streamed ones in the stream. Returns the
        ROM address of the issue at cycle `sc` (group g, mat-vec i, row k) and
        whether it is streamed (None: nothing of the stage is)."""
        flags = [self.index[id(m)] in self.streamed for m in order]
        phases = [(0, n_a), (n_a, len(order))]
        width = self.address_bits
        if self.stream is not None:
            self.stream.add_stage(stage, order, n_a, groups, pipelined, flags)
        if not any(flags):
            base = self.add_weights(order[:n_a], groups)
            self.add_weights(order[n_a:], groups)
            return add_const(resize(sc, width), base), None
        streamed = table(i, [int(f) for f in flags], 1)
        if all(flags):
            return constant(0, width), streamed
        # Each phase's on-chip mat-vecs, group after group from its base: the
        # address of (g, i, k) is start(i) + g·K_on(phase of i) + k.
        starts, strides = [0] * len(order), []
        for lo, hi in phases:
            chip = [j for j in range(lo, hi) if not flags[j]]
            base = self.add_weights([order[j] for j in chip], groups)
            offset = 0
            for j in chip:
                starts[j] = base + offset
                offset += order[j].weight.shape[0]
            strides.append(_times(g, offset, width))
        in_a = ult(i, n_a) if 0 < n_a < len(order) else constant(int(n_a > 0), 1)
        stride = mux(in_a, strides[0], strides[1])
        return _plus(_plus(table(i, starts, width), stride), resize(k, width)), streamed

    def issue(self, mode: int, on, first, x, address, streamed=None) -> None:
        """While `mode` runs: multiply x (given FETCH_DELAY after the issue) by
        the weights at `address` (or, if `streamed`, the stream's word) when
        `on`, starting a new sum when `first`."""
        self.issues.append((mode, on, and_(on, first), x, address, streamed))

    def _by_mode(self, values: list[SSAValue], width: int) -> SSAValue:
        """The running stage's value of one issue field (zero in other modes)."""
        if len(values) == 1:  # one stage drives the array: no mux
            return values[0]
        table = [constant(0, width)] * (1 << width_of(self.mode))
        for issue, value in zip(self.issues, values, strict=True):
            table[issue[0]] = value
        return select(self.mode, table)

    def build(self) -> None:
        """The lanes, once every stage has issued."""
        c = self.c
        on = _or([i[1] for i in self.issues])
        first = _or([i[2] for i in self.issues])
        xs = [sext(i[3], self.x_width) for i in self.issues]
        # The operand (FETCH_DELAY after the issue) meets its weight: address
        # register, ROM read, then the operand and weight registers.
        x0 = c.wire(self._by_mode(xs, self.x_width), "mac_x_d")
        addresses = [resize(i[4], self.address_bits) for i in self.issues]
        address = self._by_mode(addresses, self.address_bits)
        # Flags of the cycle the accumulators work on.
        on2 = c.delay(on, FETCH_DELAY + 2)
        first2 = c.delay(first, FETCH_DELAY + 2)
        row = self._weight_word(address)
        a = c.delay(x0, 1, "mac_x", reset=False)
        for lane, acc in enumerate(self.acc_regs):
            w = self.w_width
            w0 = bits(row, lane * w, w)
            if self.lanes > 1:
                w0 = c.wire(w0, f"mac_w{lane}")
            b = c.delay(w0, 1, f"mac_b{lane}", reset=False)
            prod = hw_fixed.signed_product(a, b, self.acc_width, f"mac_prod{lane}")
            prod2 = c.delay(prod, 1, f"mac_prod{lane}_q", reset=False)
            summed = comb.AddOp([acc.q, prod2]).result
            acc.next(mux(on2, mux(first2, prod2, summed), acc.q))

    def _weight_word(self, address: SSAValue) -> SSAValue:
        """The weight ROM word at `address`, two cycles later (the block RAM's
        read register, then the fabric's: its clock-to-output is half a
        cycle). One word holds every lane's weight of an address (lane p in
        bits [p·w, (p+1)·w)); a ROM deeper than one block RAM is banked
        (`BankedMemory`: the bank is chosen after the registers). A streamed
        issue takes the stream's word instead, registered twice alike."""
        c = self.c
        rom_word = None
        if self.weights[0]:
            fields = [w for word in zip(*self.weights, strict=True) for w in word]
            rom = c.rom("mac_w", self.w_width, fields, self.lanes, banked=True)
            rom_word = rom.read_delayed(address, 2, "mac_w")
        flags = [and_(i[1], i[5]) for i in self.issues if i[5] is not None]
        if not flags:
            return rom_word
        valid, data = self.port
        self.ready = _or(flags)
        self.stall = and_(self.ready, not_(valid))
        taken = c.reg(width_of(data), None, "weight_in")
        taken.next(mux(self.ready, data, taken.q))
        word = c.delay(taken.q, 1, "weight_in_q", reset=False)
        if rom_word is None:
            return word
        return mux(c.delay(self.ready, 2, "weight_from_stream"), word, rom_word)


class ProductPool:
    """The multipliers of the elementwise products, shared by every stage: the
    running stage's k-th product is on multiplier k, so the design has as many
    as the stage with the most products (an LSTM or GRU cell: 3). They are not
    the MAC lanes': the elementwise pipeline runs while the lanes work on the
    next group."""

    def __init__(self, c: Circuit, mode: SSAValue):
        self.c, self.mode = c, mode
        # (mode, index, a, b, the placeholder of the product)
        self.uses: list[tuple[int, int, SSAValue, SSAValue, hw.ConstantOp]] = []

    def multiply(self, mode: int, index: int, a: SSAValue, b: SSAValue, width: int):
        """a · b (signed, `width` bits) on multiplier `index` while `mode`
        runs, one cycle after a and b (registered at the multiplier)."""
        placeholder = hw.ConstantOp(0, IntegerType(width))
        self.uses.append((mode, index, a, b, placeholder))
        return placeholder.result

    def build(self) -> None:
        c = self.c
        for index in sorted({u[1] for u in self.uses}):
            uses = [u for u in self.uses if u[1] == index]
            a_width = max(width_of(u[2]) for u in uses)
            b_width = max(width_of(u[3]) for u in uses)
            p_width = max(width_of(u[4].result) for u in uses)
            if len(uses) == 1:  # one stage: no choice before the registers
                a, b = uses[0][2], uses[0][3]
            else:
                by_mode_a = [constant(0, a_width)] * (1 << width_of(self.mode))
                by_mode_b = [constant(0, b_width)] * len(by_mode_a)
                for mode, _, ua, ub, _ in uses:
                    by_mode_a[mode] = sext(ua, a_width)
                    by_mode_b[mode] = sext(ub, b_width)
                a = select(self.mode, by_mode_a)
                b = select(self.mode, by_mode_b)
            a = c.delay(a, 1, f"ew_a{index}", reset=False)
            b = c.delay(b, 1, f"ew_b{index}", reset=False)
            prod = hw_fixed.signed_product(a, b, p_width, f"ew_prod{index}")
            for *_, placeholder in uses:
                placeholder.result.replace_all_uses_with(
                    bits(prod, 0, width_of(placeholder.result))
                )
                placeholder.detach()
                placeholder.erase()


def _or(values: list[SSAValue]) -> SSAValue:
    return values[0] if len(values) == 1 else comb.OrOp(values).result


@dataclass
class _Time:
    """The step a part of the stage works on: its time index (counted down in
    a reverse stage), the state row it reads (t mod 2; it writes the other)
    and whether it is step 0 (which reads the initial state)."""

    index: SSAValue
    parity: SSAValue
    first: SSAValue


class _StageBuilder:
    def __init__(
        self,
        c,
        plan,
        stage: Stage,
        memories,
        mode,
        mode_value,
        mac,
        pool,
        seq_len,
        bank,
    ):
        self.c, self.plan, self.stage = c, plan, stage
        self.memories: list[Memory | BankedMemory] = memories
        self.mode_value, self.mac, self.pool = mode_value, mac, pool
        self.products = 0  # elementwise products built so far
        self.active = eq(mode, mode_value)  # the controller runs this stage
        self.seq_len, self.lanes = seq_len, mac.lanes if mac else 1
        self.input_bank = bank  # the input buffer bank being computed on

    def address(self, buffer: int, row: SSAValue | int, col: SSAValue) -> SSAValue:
        mem = self.memories[buffer]
        cols = self.plan.buffers[buffer].cols
        width = mem.address_bits
        if isinstance(row, int):
            base = constant(row * cols, width)
        else:
            base = _times(row, cols, width)
        address = _plus(base, resize(col, width))
        if buffer == self.plan.input_buffer:
            words = self.plan.buffers[buffer].words
            return _bank_address(self.input_bank, words, address)
        return address

    def fetch(self, fetch: Fetch, k: SSAValue, width: int, time: _Time) -> SSAValue:
        """Element k of a vector operand at step `time`, sign-extended to
        `width` bits, FETCH_DELAY cycles later: every memory word is registered
        as it is read (a synchronous read, which maps to block RAM) and the
        choice among sources follows the registers."""
        c = self.c
        if fetch.state is not None:
            state = self.stage.states[fetch.state]
            n = self.stage.units
            mem = self.memories[state.buffer]
            addr = mux(
                time.parity,
                _plus(resize(k, mem.address_bits), constant(n, mem.address_bits)),
                resize(k, mem.address_bits),
            )
            held = sext(mem.read_delayed(addr, FETCH_DELAY), width)
            if state.loaded is not None:
                # The host's initial state: its row in the sequence's bank.
                init = self.memories[state.loaded].read_delayed(
                    _bank_address(self.input_bank, n, k), FETCH_DELAY
                )
            else:
                # The initial state: a ROM read at a registered address into a
                # register (a synchronous ROM), in step with the buffer's word.
                k_1 = c.delay(k, FETCH_DELAY - 1, reset=False)
                init = table(k_1, [int(v) for v in state.init], mem.width)
                init = c.delay(init, 1, reset=False)
            first = c.delay(time.first, FETCH_DELAY, reset=False)
            return mux(first, sext(init, width), held)
        k_q = c.delay(k, FETCH_DELAY, reset=False)
        value = None
        for seg in fetch.segments:
            row = time.index if seg.row is None else seg.row
            cw = max(width_of(k), seg.lo.bit_length(), seg.col0.bit_length()) + 1
            col = resize(k, cw)
            if seg.lo != seg.col0:  # k - lo + col0, exact while the segment holds k
                col = add_const(col, seg.col0 - seg.lo)
            mem = self.memories[seg.buffer]
            word = mem.read_delayed(self.address(seg.buffer, row, col), FETCH_DELAY)
            data = sext(hw_fixed.shift_left(word, seg.shift), width)
            if value is None:
                value = data
            else:
                value = mux(uge(k_q, seg.lo), data, value)
        return value

    def build(self) -> StageTiming:
        stage, lanes = self.stage, self.lanes
        # Every mat-vec has one output per unit (plan.set_units).
        self.groups = groups = ceil(stage.units / lanes)
        # Mat-vecs of the state (late: they wait for the previous step) first,
        # then those of step inputs (early: they may run a step ahead).
        mvs = stage.matvecs
        late = [m for m in mvs if m.lhs.state is not None]
        early = [m for m in mvs if m.lhs.state is None]
        self.order = late + early
        k_late = sum(m.weight.shape[0] for m in late)
        k_all = sum(m.weight.shape[0] for m in mvs)
        levels = _levels(stage, lanes)
        self.written = [st.next for st in stage.states if st.next is not None]
        self.written += [w for w, _ in stage.writes]
        depth = max((levels.get(v) or 0 for v in self.written), default=0)
        self.sweeps = reduction.plan_sweeps(
            stage.ops, self.written, stage.units, levels
        )

        def timing(pipelined: bool) -> StageTiming:
            k_first = k_late if pipelined else k_all
            return StageTiming(
                stage.name,
                stage.steps,
                groups * k_all,
                stage.units,
                depth,
                stage.macs_per_step,
                _elementwise_start(groups, k_first, lanes) if mvs else 0,
                pipelined,
                groups * k_late if pipelined else 0,
                phase=stage.phase,
                phases=stage.phases,
                sweep_cycles=self.sweeps.extra_cycles,
            )

        plain = timing(False)
        pipelined = timing(True)
        # The phases of a split step run one after the other (hwplan.stage).
        overlap = early and stage.steps > 1 and stage.phases == 1
        best = pipelined if overlap else plain
        best = best if best.total_cycles < plain.total_cycles else plain
        self.n_late = len(late) if best.pipelined else len(mvs)
        self._counters(best)
        if mvs:
            self._mac_unit(best)
        self._elementwise_unit(best)
        return best

    def _counters(self, timing: StageTiming) -> None:
        """Cycle-in-round counter `sc`, round counter r, and the step each part
        works on: without pipelining, step r for all; pipelined, the state
        mat-vecs and the elementwise pipeline work on step r - 1 while the
        input mat-vecs work on step r."""
        c, stage = self.c, self.stage
        length = timing.cycles_per_step
        rounds = stage.steps + timing.pipelined
        # Pipelined, round 0 starts at phase B and round T ends with the tail.
        start = timing.phase_a
        sc_reg = c.reg(clog2(length), start, f"{stage.name}_cycle")
        sc = self.sc = sc_reg.q
        width = width_of(sc)
        r_reg = c.reg(clog2(rounds), name=f"{stage.name}_t") if rounds > 1 else None
        r = self.round = r_reg.q if r_reg else constant(0, 1)
        self.last_round = eq(r, rounds - 1) if r_reg else constant(1, 1)
        last_end = max(timing.phase_a, timing.tail_end) if timing.pipelined else 0
        # `at_end` (sc is the round's last cycle) is a register set from the
        # counters' next values: the controller's decisions start at flip-flops,
        # not at a comparison of the counter.
        at_end_reg = c.reg(1, int(length == 1), f"{stage.name}_at_end")
        at_end = at_end_reg.q
        step_end = self.step_end = and_(self.active, at_end)
        self.done = and_(step_end, self.last_round)
        restart = mux(self.last_round, constant(start, width), constant(0, width))
        sc_next = mux(
            self.active, mux(at_end, restart, add_const(sc, 1)), constant(start, width)
        )
        sc_reg.next(sc_next)
        if r_reg:
            r_next = mux(self.last_round, constant(0, width_of(r)), add_const(r, 1))
            r_next = mux(step_end, r_next, r)
            r_reg.next(r_next)
            last_next = eq(r_next, rounds - 1)
        else:
            last_next = constant(1, 1)
        end_next = eq(sc_next, length - 1)
        if timing.pipelined:
            end_next = mux(last_next, eq(sc_next, last_end - 1), end_next)
        at_end_reg.next(end_next)
        now = self._time(r, 0)
        if timing.pipelined:
            self.time_early, self.time_late = now, self._time(r, 1)
        else:
            self.time_early = self.time_late = now

    def _time(self, r: SSAValue, behind: int) -> _Time:
        """The step `behind` steps before round r."""
        steps, width = self.stage.steps, width_of(r)
        if steps == 1:
            return _Time(constant(0, 1), constant(0, 1), constant(1, 1))
        # Round r works on step t = r - behind; the reverse stage's time index
        # is T - 1 - t.
        if self.stage.reverse:
            index = comb.SubOp(constant(steps - 1 + behind, width), r).result
        else:
            index = comb.SubOp(r, constant(behind, width)).result if behind else r
        parity = bits(r, 0, 1)
        if behind % 2:
            parity = not_(parity)
        return _Time(index, parity, eq(r, behind))

    def _mac_unit(self, timing: StageTiming) -> None:
        """The stage's use of the shared MAC array: operand fetch and weight
        address per cycle, group of P units after group (each group through
        every mat-vec, so that its elementwise work can start while the next
        group is multiplied), and its result memories (one per lane and
        mat-vec) written from the lanes' accumulators.

        Pipelined, a round issues the state mat-vecs of step r - 1 (phase A,
        all groups), then the input mat-vecs of step r (phase B, all groups),
        whose results are kept in two rows (step parity) until the elementwise
        pipeline of the next round reads them."""
        c, stage, sc = self.c, self.stage, self.sc
        order, groups, n_a = self.order, self.groups, self.n_late
        ks = [m.weight.shape[0] for m in order]
        mac_cycles = timing.mac_cycles
        counting = and_(self.active, ult(sc, mac_cycles))
        if timing.pipelined:
            # The last round ends with phase A: the counters wait at phase B's
            # start, where round 0 of the next sequence begins.
            phase_a = groups * sum(ks[:n_a])
            # (A stage without state mat-vecs, a per-step head, has no phase A.)
            in_b = uge(sc, phase_a) if phase_a else constant(1, 1)
            counting = and_(counting, not_(and_(self.last_round, in_b)))
            # Round 0 has no step -1; round T no step T.
            mac_on = and_(
                counting,
                mux(
                    in_b,
                    not_(eq(self.round, stage.steps)),
                    not_(eq(self.round, 0)),
                ),
            )
        else:
            mac_on = counting
        m_count = len(order)
        i_width = clog2(m_count)
        # Pipelined, the first round starts at phase B's first mat-vec.
        i_start = n_a if timing.pipelined and n_a < m_count else 0
        i_reg = c.reg(i_width, i_start, f"{stage.name}_mv") if m_count > 1 else None
        i = i_reg.q if i_reg else constant(0, 1)
        k, k_end = _var_counter(
            c, i, [kk - 1 for kk in ks], counting, f"{stage.name}_k"
        )
        g_reg = c.reg(clog2(groups), name=f"{stage.name}_g") if groups > 1 else None
        g = g_reg.q if g_reg else constant(0, 1)
        adv = and_(counting, k_end)
        # i runs through its phase's mat-vecs once per group, then on to the
        # next phase (or back to 0).
        g_last = eq(g, groups - 1) if g_reg else constant(1, 1)
        if i_reg:
            if 0 < n_a < m_count:
                in_a = ult(i, n_a)
                phase_end = mux(in_a, eq(i, n_a - 1), eq(i, m_count - 1))
                again = mux(in_a, constant(0, i_width), constant(n_a, i_width))
                onward = mux(in_a, constant(n_a, i_width), constant(0, i_width))
            else:
                phase_end = eq(i, m_count - 1)
                again = onward = constant(0, i_width)
            i_next = mux(phase_end, mux(g_last, onward, again), add_const(i, 1))
            i_reg.next(mux(adv, i_next, i))
        else:
            phase_end = constant(1, 1)
        if g_reg:
            g_next = mux(g_last, constant(0, width_of(g)), add_const(g, 1))
            g_reg.next(mux(and_(adv, phase_end), g_next, g))
        x_width = max(m.lhs_fmt.width for m in order)
        operands: dict[int, SSAValue] = {}
        per_mv = []
        for index, m in enumerate(order):
            key = id(m.lhs)
            if key not in operands:
                time = self.time_late if index < n_a else self.time_early
                operands[key] = self.fetch(m.lhs, k, x_width, time)
            per_mv.append(operands[key])
        address, streamed = self.mac.stage_weights(
            stage, order, n_a, groups, timing.pipelined, sc, g, i, k
        )
        x = select(c.delay(i, FETCH_DELAY, reset=False), per_mv)
        self.mac.issue(self.mode_value, mac_on, eq(k, 0), x, address, streamed)
        # The sum of the last k of a group is in the accumulators MAC_DELAY
        # cycles after its issue.
        last = c.delay(and_(mac_on, k_end), MAC_DELAY)
        i_d, g_d = c.delay(i, MAC_DELAY), c.delay(g, MAC_DELAY)
        row_d = c.delay(self.time_early.parity, MAC_DELAY)
        self.result_mems = []
        for lane, acc in enumerate(self.mac.acc):
            row = []
            for index, m in enumerate(order):
                two_rows = timing.pipelined and index >= n_a
                mem = c.memory(
                    f"{stage.name}_acc{lane}_{index}",
                    groups * (2 if two_rows else 1),
                    m.out_fmt.width,
                )
                we = and_(last, eq(i_d, index)) if len(order) > 1 else last
                address = self._result_row(g_d, row_d) if two_rows else g_d
                mem.write(we, address, bits(acc, 0, m.out_fmt.width))
                row.append(mem)
            self.result_mems.append(row)

    def _result_row(self, group: SSAValue, parity: SSAValue) -> SSAValue:
        """Address of `group` in a two-row result memory (row = step parity)."""
        width = clog2(2 * self.groups)
        offset = mux(parity, constant(self.groups, width), constant(0, width))
        return _plus(offset, resize(group, width))

    def _multiply(self, a: SSAValue, b: SSAValue, width: int) -> SSAValue:
        """An elementwise product, one cycle after its operands (registered at
        the multiplier's inputs), on the stage's next multiplier of the pool."""
        index = self.products
        self.products += 1
        return self.pool.multiply(self.mode_value, index, a, b, width)

    def _pipe(self, value: SSAValue, role: str | None = None) -> SSAValue:
        """A pipeline register inside the elementwise op being built, named
        after its result and `role`."""
        name = f"{self.op_name}_{role}" if role else None
        return self.c.delay(value, 1, name, reset=False)

    def _elementwise_unit(self, timing: StageTiming) -> None:
        """One unit index per cycle through the step's elementwise ops (one
        register stage each), then the writes of states and step outputs."""
        c, stage, lanes, sc = self.c, self.stage, self.lanes, self.sc
        mvs, groups, written = stage.matvecs, self.groups, self.written
        mvs = self.order if mvs else mvs
        n, depth = stage.units, timing.depth
        ew_start, time = timing.ew_start, self.time_late
        sweeps = reduction.Sweeps(self.active, sc, ew_start, n, self.sweeps)
        ew_on = sweeps.on
        if timing.pipelined:  # round 0 has no step -1
            ew_on = and_(ew_on, not_(eq(self.round, 0)))
        clear = not_(ew_on)
        j, _ = _wrap_counter(c, n, ew_on, clear, f"{stage.name}_j")
        if mvs:
            jp, jp_wrap = _wrap_counter(c, lanes, ew_on, clear, f"{stage.name}_lane")
            jg, _ = _wrap_counter(c, groups, jp_wrap, clear, f"{stage.name}_group")
        signals: dict[SSAValue, tuple[SSAValue, int | None]] = {}
        # Sources one cycle after j: memory words registered as they are read.
        jp_q = c.delay(jp, 1, reset=False) if mvs and lanes > 1 else None
        for index, m in enumerate(mvs):
            address = jg
            if timing.pipelined and index >= self.n_late:  # the last round's row
                address = self._result_row(jg, time.parity)
            reads = [
                c.delay(row[index].read(address), 1, reset=False)
                for row in self.result_mems
            ]
            if lanes > 1:
                word = c.delay(select(jp_q, reads), 1, reset=False)
            else:
                word = reads[0]
            signals[m.result] = (word, _result_level(lanes))
        needed = {v for op in stage.ops for v in op.operands} | set(written)
        for value, fetch in stage.fetches.items():
            if value not in needed:
                continue
            width = fxp.format_of(value).width
            signals[value] = (self.fetch(fetch, j, width, time), FETCH_DELAY - 1)
        for value, raw in stage.constants.items():
            width = fxp.format_of(value).width
            if raw.size == 1:
                signals[value] = (constant(int(raw[0]), width), None)
            else:
                entries = table(j, [int(v) for v in raw], width)
                signals[value] = (c.delay(entries, 1, reset=False), 0)
        if stage.mask is not None:
            tw = max(width_of(time.index), width_of(self.seq_len))
            live = comb.ICmpOp(
                resize(time.index, tw), resize(self.seq_len, tw), "ult"
            ).result
            signals[stage.mask] = (live, None)

        sweep = reduction.sweep_of(stage.ops)
        for op in stage.ops:
            levels = [signals[v][1] for v in op.operands if signals[v][1] is not None]
            level = max(levels, default=0)
            if isinstance(op, fxp.REDUCTIONS):
                x, lv = signals[op.input]
                enter = sweeps.in_sweep(sweep[op.results[0]] - 1)
                name = f"{stage.name}_{op.results[0].name_hint or 'v'}"
                out = reduction.reduce(c, op, x, lv or 0, enter, j, name)
                signals[op.results[0]] = (out, None)
                continue
            args = []
            for v in op.operands:
                sig, lv = signals[v]
                args.append(
                    sig if lv is None else c.delay(sig, level - lv, reset=False)
                )
            name = self.op_name = f"{stage.name}_{op.results[0].name_hint or 'v'}"
            out = _elementwise(op, args, self._multiply, self._pipe)
            name_hint(out, f"{name}_d")
            signals[op.results[0]] = (
                c.delay(out, 1, name, reset=False),
                level + latency(op),
            )

        def aligned(value):
            sig, lv = signals[value]
            return sig if lv is None else c.delay(sig, depth - lv, reset=False)

        last = ew_on if self.sweeps.sweeps == 1 else sweeps.last
        we = c.delay(last, 1 + depth)
        wj = c.delay(j, 1 + depth)
        for state in stage.states:
            if state.next is None:  # an earlier phase of a step reads it only
                continue
            mem = self.memories[state.buffer]
            ab = mem.address_bits
            addr = mux(
                time.parity, resize(wj, ab), _plus(resize(wj, ab), constant(n, ab))
            )
            mem.write(we, addr, aligned(state.next))
        for value, buffer in stage.writes:
            if self.memories[buffer] is None:  # nothing reads it
                continue
            # A one-row buffer holds one vector (a head's result, a value
            # passed between the phases of a step); others one row per step.
            row = time.index if self.plan.buffers[buffer].rows > 1 else 0
            mem = self.memories[buffer]
            if reduction.is_scalar(value, n):  # held: written once
                mem.write(
                    and_(we, eq(wj, 0)), self.address(buffer, row, wj), aligned(value)
                )
            else:
                mem.write(we, self.address(buffer, row, wj), aligned(value))


def _elementwise_start(groups: int, k_total: int, lanes: int) -> int:
    """E, the first cycle of the elementwise pipeline: unit j enters at E + j,
    and the sums of its group u = j // P (issued in cycles [u·K, (u+1)·K), K
    the step's operands of all mat-vecs) are readable MAC_LATENCY cycles
    after the last of them: E = max over u of (u+1)·K + MAC_LATENCY - u·P,
    the last group's when K ≥ P. The step's tail after the mat-vec phase is
    then MAC_LATENCY + (the last group's units) + D + 1 cycles."""
    return max((u + 1) * k_total - u * lanes for u in range(groups)) + MAC_LATENCY


def latency(op) -> int:
    """Register stages of an elementwise op: its output register plus the
    registers inside a pipelined circuit (`hw_fixed.LUT_STAGES` for a table;
    a product's operand registers; `hw_fixed.cast_stages` for a cast that
    rounds and saturates)."""
    if isinstance(op, fxp.LutOp):
        return 1 + hw_fixed.LUT_STAGES
    if isinstance(op, fxp.MulOp | fxp.PwlOp):
        return 2
    if isinstance(op, fxp.CastOp):
        return 1 + hw_fixed.cast_stages(
            fxp.format_of(op.input),
            fxp.format_of(op.result),
            op.rounding.data,
            op.overflow.data,
        )
    return 1


def _result_level(lanes: int) -> int:
    """Pipeline level of a mat-vec result in the elementwise unit: the lanes'
    result memories are read into registers (level 0), and with several lanes
    the lane's word is chosen and registered again (a P-way mux is a cycle's
    worth of logic and routing)."""
    return int(lanes > 1)


def _levels(stage: Stage, lanes: int) -> dict[SSAValue, int | None]:
    """Pipeline level of each elementwise value: sources 0 (operand fetches
    FETCH_DELAY - 1, mat-vec results `_result_level`), each op `latency` after
    its latest operand; None for values that hold still during a step (scalar
    constants, the length mask)."""
    levels: dict[SSAValue, int | None] = {}
    for m in stage.matvecs:
        levels[m.result] = _result_level(lanes)
    for value in stage.fetches:
        levels[value] = FETCH_DELAY - 1
    for value, raw in stage.constants.items():
        levels[value] = None if raw.size == 1 else 0
    if stage.mask is not None:
        levels[stage.mask] = None
    for op in stage.ops:
        if isinstance(op, fxp.REDUCTIONS):  # held in its register
            levels[op.results[0]] = None
            continue
        known = [levels.get(v, 0) for v in op.operands]
        levels[op.results[0]] = max(
            (lv for lv in known if lv is not None), default=0
        ) + latency(op)
    return levels


def _elementwise(op, args: list[SSAValue], multiply=None, stage=None) -> SSAValue:
    """The circuit of one elementwise op; `stage` registers the inside of a
    multi-stage op (`latency`), None builds it in one cycle."""
    if isinstance(op, fxp.AddOp | fxp.SubOp):
        out, fmt = hw_fixed.add(
            args[0],
            fxp.format_of(op.lhs),
            args[1],
            fxp.format_of(op.rhs),
            subtract=isinstance(op, fxp.SubOp),
        )
        return _check(op, out, fmt)
    if isinstance(op, fxp.MulOp):
        out, fmt = hw_fixed.mul(
            args[0], fxp.format_of(op.lhs), args[1], fxp.format_of(op.rhs), multiply
        )
        return _check(op, out, fmt)
    if isinstance(op, fxp.CastOp):
        return hw_fixed.cast(
            args[0],
            fxp.format_of(op.input),
            fxp.format_of(op.result),
            op.rounding.data,
            op.overflow.data,
            stage,
        )
    if isinstance(op, fxp.ClipOp):
        return hw_fixed.clip(args[0], op.min.value.data, op.max.value.data)
    if isinstance(op, fxp.LutOp):
        return hw_fixed.lut(
            args[0],
            fxp.format_of(op.input),
            [int(v) for v in array_of(op.table)],
            op.shift.value.data,
            op.symmetry.data,
            fxp.format_of(op.result),
            stage,
        )
    if isinstance(op, fxp.PwlOp):
        return hw_fixed.pwl(
            args[0],
            fxp.format_of(op.input),
            [int(v) for v in op.breakpoints.get_values()],
            [int(v) for v in op.slopes.get_values()],
            op.slope_frac.value.data,
            [int(v) for v in op.intercepts.get_values()],
            fxp.format_of(op.result),
            op.rounding.data,
            op.overflow.data,
            multiply,
            stage,
        )
    if isinstance(op, rnn.SelectOp):
        a, b = args[1], args[2]
        if width_of(a) != width_of(b):
            raise RnncError(
                f"hardware backend: select of different widths in {op.name}"
            )
        return comb.MuxOp(args[0], a, b).result
    raise RnncError(f"hardware backend does not support '{op.name}'")


def _check(op, out: SSAValue, fmt) -> SSAValue:
    if fmt != fxp.format_of(op.result):
        raise RnncError(f"hardware backend: unexpected result format of {op.name}")
    return out


def _load(c, plan, memories, beat, bank, count, data) -> None:
    """Writes of the input stream's beat `count` of a sequence into `bank`:
    beats [0, preamble) fill the loaded states' rows one after the other, the
    rest the input buffer."""
    width = width_of(count)
    offset = 0
    for state in plan.loaded_states:
        buf = plan.buffers[state.loaded]
        below = ult(count, offset + buf.words)
        mine = and_(beat, uge(count, offset), below) if offset else and_(beat, below)
        address = comb.SubOp(count, constant(offset, width)).result
        memories[state.loaded].write(
            mine,
            _bank_address(bank, buf.words, address),
            bits(data, 0, buf.fmt.width),
        )
        offset += buf.words
    buf = plan.buffers[plan.input_buffer]
    mine = and_(beat, uge(count, offset)) if offset else beat
    address = comb.SubOp(count, constant(offset, width)).result if offset else count
    memories[plan.input_buffer].write(
        mine, _bank_address(bank, buf.words, address), bits(data, 0, buf.fmt.width)
    )


# More MAC lanes than any mat-vec has outputs change nothing; the bound keeps an
# absurd --lanes from building a design for hours.
MAX_LANES = 1024


def build_design(
    plan: HardwarePlan, lanes: int = 1, onchip_kbits: int | None = None
) -> Design:
    """The `rnnc_top` hw.module for `plan` with one array of `lanes` MAC lanes;
    with `onchip_kbits`, the mat-vec weights beyond that ROM budget are read
    from a weight stream port (`weight_stream.place`)."""
    if not 1 <= lanes <= MAX_LANES:
        raise RnncError(f"hardware lanes must be in [1, {MAX_LANES}] (got {lanes})")
    streamed = place(plan, lanes, onchip_kbits)
    loaded = [st.loaded for st in plan.loaded_states]
    # One stream carries each sequence's loaded states, then its input words:
    # as wide as the widest of their words (each in the low bits).
    in_width = max(plan.buffers[b].fmt.width for b in [plan.input_buffer, *loaded])
    out_width = max(
        plan.buffers[r.buffer].fmt.width + r.shift for o in plan.outputs for r in o.runs
    )
    len_width = clog2(plan.steps + 1) if plan.has_seq_len else 0
    ports = [
        ("clk", seq.ClockType(), hw.Direction.INPUT),
        ("rst", IntegerType(1), hw.Direction.INPUT),
        ("in_valid", IntegerType(1), hw.Direction.INPUT),
        ("in_data", IntegerType(in_width), hw.Direction.INPUT),
    ]
    if len_width:
        ports.append(("seq_len", IntegerType(len_width), hw.Direction.INPUT))
    ports.append(("out_ready", IntegerType(1), hw.Direction.INPUT))
    if streamed:
        w_width = lanes * max(
            m.weight_fmt.width for s in plan.stages for m in s.matvecs
        )
        ports += [
            ("weight_valid", IntegerType(1), hw.Direction.INPUT),
            ("weight_data", IntegerType(w_width), hw.Direction.INPUT),
        ]
    ports += [
        ("in_ready", IntegerType(1), hw.Direction.OUTPUT),
        ("out_valid", IntegerType(1), hw.Direction.OUTPUT),
        ("out_data", IntegerType(out_width), hw.Direction.OUTPUT),
        ("out_last", IntegerType(1), hw.Direction.OUTPUT),
    ]
    if streamed:
        ports.append(("weight_ready", IntegerType(1), hw.Direction.OUTPUT))
    inputs = [t for _, t, d in ports if d == hw.Direction.INPUT]
    block = Block(arg_types=inputs)
    args = dict(
        zip(
            [n for n, _, d in ports if d == hw.Direction.INPUT],
            block.args,
            strict=False,
        )
    )
    for name, arg in args.items():
        arg.name_hint = name
    design = Design(
        ModuleOp([]),
        {},
        lanes,
        input_width=in_width,
        output_width=out_width,
        seq_len_width=len_width,
    )
    with ImplicitBuilder(block):
        # Casts drop low bits and accumulators are wider than some of the sums
        # they hold, by design: those bits are unused.
        sv.VerbatimOp("// verilator lint_off UNUSEDSIGNAL")
        c = Circuit(args["clk"], args["rst"])
        n_stages = len(plan.stages)
        mode = c.reg(clog2(n_stages + 2), name="mode")
        used = plan.read_buffers() | {plan.input_buffer}
        memories = [
            c.memory(
                f"buf_{b.name}".replace(".", "_"),
                b.words * (2 if i == plan.input_buffer or i in loaded else 1),
                b.fmt.width,
                banked=True,
            )
            if i in used
            else None
            for i, b in enumerate(plan.buffers)
        ]
        # Input: one beat per element, the loaded states first (the preamble),
        # then the input time-major, into one of two banks: the next sequence
        # loads while the current one is computed.
        words = plan.buffers[plan.input_buffer].words
        preamble = plan.preamble_words
        load_bank = c.reg(1, name="load_bank")
        run_bank = c.reg(1, name="run_bank")
        full = [c.reg(1, name="bank0_full"), c.reg(1, name="bank1_full")]
        in_ready = not_(mux(load_bank.q, full[1].q, full[0].q))
        beat = and_(args["in_valid"], in_ready)
        load_count, load_done = _wrap_counter(
            c, preamble + words, beat, name="load_count"
        )
        _load(c, plan, memories, beat, load_bank.q, load_count, args["in_data"])
        seq_len = None
        if len_width:
            first_beat = and_(beat, eq(load_count, 0))
            held = []
            for bank in (0, 1):
                r = c.reg(len_width, name=f"seq_len{bank}")
                mine = and_(first_beat, eq(load_bank.q, bank))
                r.next(mux(mine, args["seq_len"], r.q))
                held.append(r.q)
            seq_len = mux(run_bank.q, held[1], held[0])
        start = and_(eq(mode.q, 0), mux(run_bank.q, full[1].q, full[0].q))
        advance = [start]
        stage_done = []
        back = []  # (mode, condition, mode): the next step of a split step
        # The computation: with a weight stream, it holds while a word is late.
        computing = block.last_op, c.always().last_op
        has_macs = any(stage.matvecs for stage in plan.stages)
        port = (args["weight_valid"], args["weight_data"]) if streamed else None
        mac = MacArray(c, plan, lanes, mode.q, streamed, port) if has_macs else None
        pool = ProductPool(c, mode.q)
        for s, stage in enumerate(plan.stages):
            builder = _StageBuilder(
                c, plan, stage, memories, mode.q, s + 1, mac, pool, seq_len, run_bank.q
            )
            design.stages.append(builder.build())
            if stage.last_phase:
                advance.append(builder.done)
                if stage.phases > 1:  # on to phase 0 of the next step
                    again = and_(builder.step_end, not_(builder.last_round))
                    back.append((s + 1, again, s + 2 - stage.phases))
            else:  # on to the next phase of the step
                advance.append(builder.step_end)
            stage_done.append(builder.done)
        if mac:
            mac.build()
        pool.build()
        if mac and mac.stall is not None:
            run = not_(mac.stall)
            hold_while_stalled(block, computing[0], c.always(), computing[1], run)
            stage_done = [and_(done, run) for done in stage_done]
            advance = advance[:1] + [and_(go, run) for go in advance[1:]]
            back = [(m, and_(go, run), target) for m, go, target in back]
            design.stream = mac.stream
        # The last stage frees its input bank.
        release = and_(eq(mode.q, n_stages), stage_done[-1])
        for bank in (0, 1):
            loaded = and_(load_done, eq(load_bank.q, bank))
            freed = and_(release, eq(run_bank.q, bank))
            full[bank].next(
                mux(loaded, constant(1, 1), mux(freed, constant(0, 1), full[bank].q))
            )
        load_bank.next(mux(load_done, not_(load_bank.q), load_bank.q))
        run_bank.next(mux(release, not_(run_bank.q), run_bank.q))
        # Output: the results' runs, one element per beat, through an output
        # register (`out_data` comes from a flip-flop): a word is read (`take`)
        # when the register is empty or being emptied.
        runs = [r for o in plan.outputs for r in o.runs]
        sending = eq(mode.q, n_stages + 1)
        valid = c.reg(1, name="out_valid_q")
        last_q = c.reg(1, name="out_last_q")
        read_all = c.reg(1, name="out_read_all")
        room = comb.OrOp([not_(valid.q), args["out_ready"]]).result
        fire = and_(sending, not_(read_all.q), room)
        run_index, run_w = (
            (constant(0, 1), 1) if len(runs) == 1 else (None, clog2(len(runs)))
        )
        rr = c.reg(run_w, name="out_run") if len(runs) > 1 else None
        if rr:
            run_index = rr.q
        length = table(
            run_index, [r.length - 1 for r in runs], clog2(max(r.length for r in runs))
        )
        off = c.reg(width_of(length), name="out_offset")
        run_end = comb.ICmpOp(off.q, length, "eq").result
        off.next(
            mux(
                fire,
                mux(run_end, constant(0, width_of(length)), add_const(off.q, 1)),
                off.q,
            )
        )
        last_run = eq(run_index, len(runs) - 1) if rr else constant(1, 1)
        if rr:
            rr.next(
                mux(
                    and_(fire, run_end),
                    mux(last_run, constant(0, run_w), add_const(rr.q, 1)),
                    rr.q,
                )
            )
        last_word = and_(run_end, last_run)
        out_done = and_(valid.q, args["out_ready"], last_q.q)
        one, zero = constant(1, 1), constant(0, 1)
        valid.next(mux(fire, one, mux(args["out_ready"], zero, valid.q)))
        last_q.next(mux(fire, last_word, last_q.q))
        read_all.next(mux(and_(fire, last_word), one, mux(out_done, zero, read_all.q)))
        advance.append(out_done)
        sources = sorted({(r.buffer, r.shift) for r in runs})
        reads = []
        for b, shift in sources:
            mem = memories[b]
            starts = [r.start if r.buffer == b else 0 for r in runs]
            start = table(run_index, starts, mem.address_bits + 1)
            addr = _plus(start, resize(off.q, mem.address_bits + 1))
            word = hw_fixed.shift_left(mem.read(addr), shift)
            reads.append(sext(word, out_width))
        which = table(
            run_index,
            [sources.index((r.buffer, r.shift)) for r in runs],
            clog2(len(sources)),
        )
        data_q = c.reg(out_width, None, "out_data_q")
        data_q.next(mux(fire, select(which, reads), data_q.q))
        # Mode: load -> stages -> output -> load.
        mw = width_of(mode.q)
        nxt = mode.q
        for m, cond in enumerate(advance):
            target = constant((m + 1) % (n_stages + 2), mw)
            nxt = mux(and_(eq(mode.q, m), cond), target, nxt)
        for m, cond, target in back:
            nxt = mux(and_(eq(mode.q, m), cond), constant(target, mw), nxt)
        mode.next(nxt)
        outs = [in_ready, valid.q, data_q.q, and_(valid.q, last_q.q)]
        if streamed:
            outs.append(mac.ready)
        hw.OutputOp(outs)
    module_type = hw.ModuleType(
        ArrayAttr(
            [hw.ModulePort(StringAttr(n), t, hw.DirectionAttr(d)) for n, t, d in ports]
        )
    )
    design.module = ModuleOp(
        [hw.HWModuleOp(StringAttr(TOP), module_type, Region(block))]
    )
    design.roms = c.roms
    design.memories = c.memories
    return design
