"""The RTL of a hardware plan: controller, mat-vec lanes, elementwise pipeline.

Built as one `hw.module` of hw/comb/seq/sv ops (docs/hardware.md has the picture
and the timing formula). One stage runs at a time; per stage and time step:

1. **Mat-vec phase**, C = Σ_i ceil(N/P)·K_i cycles, on the one array of P MAC
   lanes all stages share (`MacArray`): cycle c reads operand element k of
   mat-vec i (from a buffer, or the state) and the word of the weight ROM at the
   stage's base address + c (one weight per lane), multiplies exactly (signed)
   and accumulates; the sum of each output unit goes to the stage's result
   memory of its lane.
2. **Elementwise phase**, N + D + 5 cycles: unit j enters per cycle; its mat-vec
   results, states and constants are read, then the step's elementwise ops run with
   one register stage per op (D = the longest op chain; the first P products
   use the idle lanes' multipliers); results are written to the state buffers
   (the row not being read) and output buffers.

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
from rnnc.passes.fxp_to_hw.arith import bits, constant, sext, width_of
from rnnc.passes.fxp_to_hw.circuit import (
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
"""Cycles from the end of the mat-vec phase (C) until the elementwise phase may
read the result memories: the last issue at C - 1 is written at C + 4."""
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

    @property
    def cycles_per_step(self) -> int:
        return self.mac_cycles + self.units + self.depth + MAC_LATENCY + 1

    @property
    def overhead(self) -> int:
        """Cycles per step beyond the mat-vec phase."""
        return self.cycles_per_step - self.mac_cycles


@dataclass
class Design:
    module: ModuleOp
    roms: dict[str, Rom]
    lanes: int
    stages: list[StageTiming] = field(default_factory=list)
    input_width: int = 0
    output_width: int = 0
    seq_len_width: int = 0

    @property
    def compute_cycles(self) -> int:
        """Cycles from the start of a sequence to its first output word."""
        stages = sum(s.steps * s.cycles_per_step for s in self.stages)
        return stages + OUTPUT_LATENCY


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
    every stage's mat-vecs, each stage's from its base address on; the stage
    that runs drives the operand and the weight address. One signed multiply
    per lane; outside the mat-vec phase the lanes' multipliers compute the
    running stage's elementwise products (the first P of them), so an LSTM or
    GRU cell needs no multiplier of its own when P ≥ 3.
    """

    def __init__(self, c: Circuit, plan: HardwarePlan, lanes: int, mode: SSAValue):
        self.c, self.lanes, self.mode = c, lanes, mode
        mvs = [m for s in plan.stages for m in s.matvecs]
        self.x_width = max(m.lhs_fmt.width for m in mvs)
        self.w_width = max(m.weight_fmt.width for m in mvs)
        self.acc_width = max(m.out_fmt.width for m in mvs)
        words = sum(ceil(m.weight.shape[1] / lanes) * m.weight.shape[0] for m in mvs)
        self.address_bits = clog2(words)
        self.weights: list[list[int]] = [[] for _ in range(lanes)]
        self.issues: list[tuple[int, SSAValue, SSAValue, SSAValue, SSAValue]] = []
        self.acc_regs = [
            c.reg(self.acc_width, None, f"mac_acc{p}") for p in range(lanes)
        ]
        self.acc = [r.q for r in self.acc_regs]
        # Elementwise products on the lanes' multipliers: (mode, lane, a, b,
        # the placeholder of the product).
        self.lent: list[tuple[int, int, SSAValue, SSAValue, hw.ConstantOp]] = []

    def lend(self, mode: int, lane: int, a: SSAValue, b: SSAValue, width: int):
        """a · b (signed, `width` bits) on lane `lane`'s multiplier while
        `mode` runs outside its mat-vec phase, one cycle later (a and b go
        through the lane's operand registers)."""
        placeholder = hw.ConstantOp(0, IntegerType(width))
        self.lent.append((mode, lane, a, b, placeholder))
        return placeholder.result

    def add_weights(self, mvs, groups: list[int]) -> int:
        """Append a stage's weights to the lanes' ROMs (columns in (mat-vec,
        group, k) order); returns their base address."""
        base = len(self.weights[0])
        for lane in range(self.lanes):
            for m, gg in zip(mvs, groups, strict=True):
                w = np.zeros((m.weight.shape[0], gg * self.lanes), np.int64)
                w[:, : m.weight.shape[1]] = m.weight
                self.weights[lane] += w[:, lane :: self.lanes].T.reshape(-1).tolist()
        return base

    def issue(self, mode: int, on, first, x, address) -> None:
        """While `mode` runs: multiply x (given FETCH_DELAY after the issue) by
        the weights at `address` when `on`, starting a new sum when `first`."""
        self.issues.append((mode, on, and_(on, first), x, address))

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
        # Flags of the cycle before the operand registers, and of the cycle
        # the accumulators work on.
        on0 = c.delay(on, FETCH_DELAY)
        on2 = c.delay(on0, 2)
        first2 = c.delay(first, FETCH_DELAY + 2)
        # One ROM word holds every lane's weight of an address (lane p in
        # bits [p·w, (p+1)·w)): one wide memory, read synchronously, then
        # registered in the fabric (a block RAM's clock-to-output is half a
        # cycle; deep ROMs add a mux of block RAM outputs), then the lanes'
        # weight registers.
        fields = [w for word in zip(*self.weights, strict=True) for w in word]
        rom = c.rom("mac_w", self.w_width, fields, self.lanes)
        read = c.delay(rom.read(address), 1, "mac_w_rd", reset=False)
        row = c.delay(read, 1, "mac_w_q", reset=False)
        lent_lanes = {entry[1] for entry in self.lent}
        if len(lent_lanes) < self.lanes:  # lanes that only multiply-accumulate
            x1 = c.delay(x0, 1, "mac_x", reset=False)
        widths = [
            (width_of(a), width_of(b), width_of(p.result)) for *_, a, b, p in self.lent
        ]
        a_width = max([self.x_width] + [w[0] for w in widths])
        b_width = max([self.w_width] + [w[1] for w in widths])
        p_width = max([self.acc_width] + [w[2] for w in widths])
        for lane, acc in enumerate(self.acc_regs):
            w = self.w_width
            lent = [entry for entry in self.lent if entry[1] == lane]
            w0 = bits(row, lane * w, w)
            if self.lanes > 1:
                w0 = c.wire(w0, f"mac_w{lane}")
            if not lent:
                a = x1
                b = c.delay(w0, 1, f"mac_b{lane}", reset=False)
            else:
                # Outside the mat-vec phase the running stage's operands: the
                # choice is made before the operand registers, so the
                # multiplier's inputs come straight from registers.
                by_mode_a = [sext(x0, a_width)] * (1 << width_of(self.mode))
                by_mode_b = [sext(w0, b_width)] * len(by_mode_a)
                for mode, _, ea, eb, _ in lent:
                    by_mode_a[mode] = sext(ea, a_width)
                    by_mode_b[mode] = sext(eb, b_width)
                a = mux(on0, sext(x0, a_width), select(self.mode, by_mode_a))
                b = mux(on0, sext(w0, b_width), select(self.mode, by_mode_b))
                a = c.delay(a, 1, f"mac_a{lane}", reset=False)
                b = c.delay(b, 1, f"mac_b{lane}", reset=False)
            width = p_width if lent else self.acc_width
            prod = hw_fixed.signed_product(a, b, width, f"mac_prod{lane}")
            for *_, placeholder in lent:
                placeholder.result.replace_all_uses_with(
                    bits(prod, 0, width_of(placeholder.result))
                )
                placeholder.detach()
                placeholder.erase()
            prod2 = c.delay(
                bits(prod, 0, self.acc_width), 1, f"mac_prod{lane}_q", reset=False
            )
            summed = comb.AddOp([acc.q, prod2]).result
            acc.next(mux(on2, mux(first2, prod2, summed), acc.q))


def _or(values: list[SSAValue]) -> SSAValue:
    return values[0] if len(values) == 1 else comb.OrOp(values).result


class _StageBuilder:
    def __init__(
        self, c, plan, stage: Stage, memories, mode, mode_value, mac, seq_len, bank
    ):
        self.c, self.plan, self.stage = c, plan, stage
        self.memories: list[Memory] = memories
        self.mode_value, self.mac = mode_value, mac
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

    def fetch(self, fetch: Fetch, k: SSAValue, width: int) -> SSAValue:
        """Element k of a vector operand, sign-extended to `width` bits,
        FETCH_DELAY cycles later: every memory word is registered as it is
        read (a synchronous read, which maps to block RAM) and the choice
        among sources follows the registers."""
        c = self.c
        k_q = c.delay(k, FETCH_DELAY, reset=False)
        if fetch.state is not None:
            state = self.stage.states[fetch.state]
            n = self.stage.units
            mem = self.memories[state.buffer]
            addr = mux(
                self.parity,
                _plus(resize(k, mem.address_bits), constant(n, mem.address_bits)),
                resize(k, mem.address_bits),
            )
            held = sext(c.delay(mem.read(addr), FETCH_DELAY, reset=False), width)
            init = table(k_q, [int(v) for v in state.init], mem.width)
            first = c.delay(self.first_step, FETCH_DELAY, reset=False)
            return mux(first, sext(init, width), held)
        value = None
        for seg in fetch.segments:
            row = self.t_actual if seg.row is None else seg.row
            cw = max(width_of(k), seg.lo.bit_length(), seg.col0.bit_length()) + 1
            col = resize(k, cw)
            if seg.lo != seg.col0:  # k - lo + col0, exact while the segment holds k
                col = add_const(col, seg.col0 - seg.lo)
            word = self.memories[seg.buffer].read(self.address(seg.buffer, row, col))
            word = c.delay(word, FETCH_DELAY, reset=False)
            data = sext(hw_fixed.shift_left(word, seg.shift), width)
            if value is None:
                value = data
            else:
                value = mux(uge(k_q, seg.lo), data, value)
        return value

    def build(self) -> StageTiming:
        stage, lanes = self.stage, self.lanes
        self.groups = [ceil(m.weight.shape[1] / lanes) for m in stage.matvecs]
        ks = [m.weight.shape[0] for m in stage.matvecs]
        mac_cycles = sum(g * k for g, k in zip(self.groups, ks, strict=True))
        levels = _levels(stage)
        self.written = [st.next for st in stage.states] + [w for w, _ in stage.writes]
        depth = max((levels.get(v) or 0 for v in self.written), default=0)
        timing = StageTiming(
            stage.name,
            stage.steps,
            mac_cycles,
            stage.units,
            depth,
            stage.macs_per_step,
        )
        self._counters(timing)
        if stage.matvecs:
            self._mac_unit(mac_cycles, ks)
        self._elementwise_unit(timing)
        return timing

    def _counters(self, timing: StageTiming) -> None:
        """Cycle-in-step counter `sc`, step counter t, time index, ping-pong row."""
        c, stage = self.c, self.stage
        length = timing.cycles_per_step
        sc_reg = c.reg(clog2(length), name=f"{stage.name}_cycle")
        sc = self.sc = sc_reg.q
        at_end = eq(sc, length - 1)
        sc_reg.next(
            mux(
                and_(self.active, not_(at_end)),
                add_const(sc, 1),
                constant(0, width_of(sc)),
            )
        )
        t, self.done = _wrap_counter(
            c, stage.steps, and_(self.active, at_end), name=f"{stage.name}_t"
        )
        if stage.reverse:
            self.t_actual = comb.SubOp(constant(stage.steps - 1, width_of(t)), t).result
        else:
            self.t_actual = t
        self.parity = bits(t, 0, 1) if stage.steps > 1 else constant(0, 1)
        self.first_step = eq(t, 0) if stage.steps > 1 else constant(1, 1)

    def _mac_unit(self, mac_cycles: int, ks: list[int]) -> None:
        """The stage's use of the shared MAC array: operand fetch and weight
        address per cycle, and its result memories (one per lane and mat-vec)
        written from the lanes' accumulators."""
        c, stage, sc = self.c, self.stage, self.sc
        mvs, groups = stage.matvecs, self.groups
        mac_on = and_(self.active, ult(sc, mac_cycles))
        m_count = len(mvs)
        i_width = clog2(m_count)
        i_reg = c.reg(i_width, name=f"{stage.name}_mv") if m_count > 1 else None
        i = i_reg.q if i_reg else constant(0, 1)
        k, k_end = _var_counter(c, i, [kk - 1 for kk in ks], mac_on, f"{stage.name}_k")
        g, g_end = _var_counter(
            c, i, [gg - 1 for gg in groups], and_(mac_on, k_end), f"{stage.name}_g"
        )
        if i_reg:
            last_i = eq(i, m_count - 1)
            adv = and_(mac_on, k_end, g_end)
            i_reg.next(mux(adv, mux(last_i, constant(0, i_width), add_const(i, 1)), i))
        x_width = max(m.lhs_fmt.width for m in mvs)
        operands: dict[int, SSAValue] = {}
        per_mv = []
        for m in mvs:
            key = id(m.lhs)
            if key not in operands:
                operands[key] = self.fetch(m.lhs, k, x_width)
            per_mv.append(operands[key])
        base = self.mac.add_weights(mvs, groups)
        address = add_const(resize(sc, self.mac.address_bits), base)
        x = select(c.delay(i, FETCH_DELAY, reset=False), per_mv)
        self.mac.issue(self.mode_value, mac_on, eq(k, 0), x, address)
        # The sum of the last k of a group is in the accumulators MAC_DELAY
        # cycles after its issue.
        last = c.delay(and_(mac_on, k_end), MAC_DELAY)
        i_d, g_d = c.delay(i, MAC_DELAY), c.delay(g, MAC_DELAY)
        self.result_mems = []
        for lane, acc in enumerate(self.mac.acc):
            row = []
            for index, (m, gg) in enumerate(zip(mvs, groups, strict=True)):
                mem = c.memory(f"{stage.name}_acc{lane}_{index}", gg, m.out_fmt.width)
                we = and_(last, eq(i_d, index)) if len(mvs) > 1 else last
                mem.write(we, g_d, bits(acc, 0, m.out_fmt.width))
                row.append(mem)
            self.result_mems.append(row)

    def _multiply(self, a: SSAValue, b: SSAValue, width: int) -> SSAValue:
        """An elementwise product, one cycle after its operands (registered at
        the multiplier's inputs): on a MAC lane's multiplier (idle while the
        elementwise ops run) when the stage has a lane left, else its own."""
        index = self.products
        self.products += 1
        if self.mac is not None and index < self.mac.lanes:
            return self.mac.lend(self.mode_value, index, a, b, width)
        return hw_fixed.signed_product(self._pipe(a), self._pipe(b), width)

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
        n, depth = stage.units, timing.depth
        ew_start = timing.mac_cycles + MAC_LATENCY if mvs else 0
        ew_on = and_(self.active, uge(sc, ew_start), ult(sc, ew_start + n))
        clear = not_(ew_on)
        j, _ = _wrap_counter(c, n, ew_on, clear, f"{stage.name}_j")
        if mvs:
            jp, jp_wrap = _wrap_counter(c, lanes, ew_on, clear, f"{stage.name}_lane")
            jg, _ = _wrap_counter(c, max(groups), jp_wrap, clear, f"{stage.name}_group")
        signals: dict[SSAValue, tuple[SSAValue, int | None]] = {}
        # Sources one cycle after j: memory words registered as they are read.
        jp_q = c.delay(jp, 1, reset=False) if mvs and lanes > 1 else None
        for index, m in enumerate(mvs):
            reads = [
                c.delay(row[index].read(jg), 1, reset=False) for row in self.result_mems
            ]
            signals[m.result] = (select(jp_q, reads) if lanes > 1 else reads[0], 0)
        needed = {v for op in stage.ops for v in op.operands} | set(written)
        for value, fetch in stage.fetches.items():
            if value not in needed:
                continue
            width = fxp.format_of(value).width
            signals[value] = (self.fetch(fetch, j, width), FETCH_DELAY - 1)
        for value, raw in stage.constants.items():
            width = fxp.format_of(value).width
            if raw.size == 1:
                signals[value] = (constant(int(raw[0]), width), None)
            else:
                entries = table(j, [int(v) for v in raw], width)
                signals[value] = (c.delay(entries, 1, reset=False), 0)
        if stage.mask is not None:
            tw = max(width_of(self.t_actual), width_of(self.seq_len))
            live = comb.ICmpOp(
                resize(self.t_actual, tw), resize(self.seq_len, tw), "ult"
            ).result
            signals[stage.mask] = (live, None)

        for op in stage.ops:
            levels = [signals[v][1] for v in op.operands if signals[v][1] is not None]
            level = max(levels, default=0)
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

        we = c.delay(ew_on, 1 + depth)
        wj = c.delay(j, 1 + depth)
        for state in stage.states:
            mem = self.memories[state.buffer]
            ab = mem.address_bits
            addr = mux(
                self.parity, resize(wj, ab), _plus(resize(wj, ab), constant(n, ab))
            )
            mem.write(we, addr, aligned(state.next))
        for value, buffer in stage.writes:
            if self.memories[buffer] is None:  # nothing reads it
                continue
            row = self.t_actual if stage.steps > 1 else 0
            mem = self.memories[buffer]
            mem.write(we, self.address(buffer, row, wj), aligned(value))


def latency(op) -> int:
    """Register stages of an elementwise op: its output register plus the
    registers inside a pipelined circuit (`hw_fixed.LUT_STAGES` for a table;
    a product's operand registers)."""
    if isinstance(op, fxp.LutOp):
        return 1 + hw_fixed.LUT_STAGES
    if isinstance(op, fxp.MulOp | fxp.PwlOp):
        return 2
    return 1


def _levels(stage: Stage) -> dict[SSAValue, int | None]:
    """Pipeline level of each elementwise value: sources 0 (operand fetches
    FETCH_DELAY - 1), each op `latency` after its latest operand; None for
    values that hold still during a step (scalar constants, the length mask)."""
    levels: dict[SSAValue, int | None] = {}
    for value in stage.fetches:
        levels[value] = FETCH_DELAY - 1
    for value, raw in stage.constants.items():
        levels[value] = None if raw.size == 1 else 0
    if stage.mask is not None:
        levels[stage.mask] = None
    for op in stage.ops:
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


# More MAC lanes than any mat-vec has outputs change nothing; the bound keeps an
# absurd --lanes from building a design for hours.
MAX_LANES = 1024


def build_design(plan: HardwarePlan, lanes: int = 1) -> Design:
    """The `rnnc_top` hw.module for `plan` with one array of `lanes` MAC lanes."""
    if not 1 <= lanes <= MAX_LANES:
        raise RnncError(f"hardware lanes must be in [1, {MAX_LANES}] (got {lanes})")
    in_width = plan.buffers[plan.input_buffer].fmt.width
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
    ports += [
        ("out_ready", IntegerType(1), hw.Direction.INPUT),
        ("in_ready", IntegerType(1), hw.Direction.OUTPUT),
        ("out_valid", IntegerType(1), hw.Direction.OUTPUT),
        ("out_data", IntegerType(out_width), hw.Direction.OUTPUT),
        ("out_last", IntegerType(1), hw.Direction.OUTPUT),
    ]
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
                b.words * (2 if i == plan.input_buffer else 1),
                b.fmt.width,
            )
            if i in used
            else None
            for i, b in enumerate(plan.buffers)
        ]
        # Input: one beat per element, time-major, into one of two banks: the next
        # sequence loads while the current one is computed.
        words = plan.buffers[plan.input_buffer].words
        load_bank = c.reg(1, name="load_bank")
        run_bank = c.reg(1, name="run_bank")
        full = [c.reg(1, name="bank0_full"), c.reg(1, name="bank1_full")]
        in_ready = not_(mux(load_bank.q, full[1].q, full[0].q))
        beat = and_(args["in_valid"], in_ready)
        load_count, load_done = _wrap_counter(c, words, beat, name="load_count")
        memories[plan.input_buffer].write(
            beat, _bank_address(load_bank.q, words, load_count), args["in_data"]
        )
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
        has_macs = any(stage.matvecs for stage in plan.stages)
        mac = MacArray(c, plan, lanes, mode.q) if has_macs else None
        for s, stage in enumerate(plan.stages):
            builder = _StageBuilder(
                c, plan, stage, memories, mode.q, s + 1, mac, seq_len, run_bank.q
            )
            design.stages.append(builder.build())
            advance.append(builder.done)
            stage_done.append(builder.done)
        if mac:
            mac.build()
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
        mode.next(nxt)
        hw.OutputOp([in_ready, valid.q, data_q.q, and_(valid.q, last_q.q)])
    module_type = hw.ModuleType(
        ArrayAttr(
            [hw.ModulePort(StringAttr(n), t, hw.DirectionAttr(d)) for n, t, d in ports]
        )
    )
    design.module = ModuleOp(
        [hw.HWModuleOp(StringAttr(TOP), module_type, Region(block))]
    )
    design.roms = c.roms
    return design
