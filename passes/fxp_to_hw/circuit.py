"""Building blocks for a clocked hw/comb/seq/sv module: registers with feedback,
counters, memories and ROMs.

All builders append to the current `ImplicitBuilder` block (the `hw.module` body,
a graph region: a register may be used before its next value is defined).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import comb, hw, seq
from xdsl.dialects.builtin import IntegerType, StringAttr
from xdsl.ir import Block, OpResult, SSAValue

from rnnc.dialects import sv
from rnnc.dialects.hw import InOutType, UnpackedArrayType
from rnnc.dialects.seq import FromClockOp
from rnnc.passes.fxp_to_hw.arith import bits, constant, sext, width_of


def name_hint(value: SSAValue, name: str) -> SSAValue:
    """Name the Verilog wire CIRCT declares for `value` if it needs one
    (`sv.namehint`; CIRCT otherwise names it `_GEN_nnn`)."""
    if isinstance(value, OpResult) and not isinstance(value.owner, hw.ConstantOp):
        value.owner.attributes.setdefault("sv.namehint", StringAttr(name))
    return value


def clog2(n: int) -> int:
    """Bits to count 0..n-1 (at least 1)."""
    return max((n - 1).bit_length(), 1)


BLOCK_RAM_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
"""(width, depth) of one 18-kbit block RAM (ECP5 DP16KD, Xilinx RAMB18)."""


def block_ram_depth(width: int) -> int:
    """Words of `width` bits one block RAM holds (wider words take several side
    by side, each as deep as its 36-bit shape)."""
    return next((d for w, d in BLOCK_RAM_SHAPES if width <= w), 512)


def resize(value: SSAValue, width: int) -> SSAValue:
    """Zero-extend or truncate an unsigned value."""
    w = width_of(value)
    if w == width:
        return value
    if w > width:
        return bits(value, 0, width)
    return comb.ConcatOp([constant(0, width - w), value], IntegerType(width)).result


def eq(a: SSAValue, value: int) -> SSAValue:
    return comb.ICmpOp(a, constant(value, width_of(a)), "eq").result


def ult(a: SSAValue, value: int) -> SSAValue:
    if value >= 1 << width_of(a):
        return constant(1, 1)
    return comb.ICmpOp(a, constant(value, width_of(a)), "ult").result


def uge(a: SSAValue, value: int) -> SSAValue:
    return comb.XorOp([ult(a, value), constant(1, 1)]).result


def and_(*values: SSAValue) -> SSAValue:
    return values[0] if len(values) == 1 else comb.AndOp(list(values)).result


def not_(value: SSAValue) -> SSAValue:
    return comb.XorOp([value, constant(1, 1)]).result


def mux(cond: SSAValue, if_true: SSAValue, if_false: SSAValue) -> SSAValue:
    return comb.MuxOp(cond, if_true, if_false).result


def add_const(value: SSAValue, amount: int) -> SSAValue:
    return comb.AddOp([value, constant(amount, width_of(value))]).result


def select(index: SSAValue, values: list[SSAValue]) -> SSAValue:
    """values[index] (index below len(values)) as one parallel case, not a chain
    of `?:`; one value needs no mux."""
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return mux(bits(index, 0, 1) if width_of(index) > 1 else index, *values[::-1])
    size = 1 << clog2(len(values))
    padded = list(values) + [values[-1]] * (size - len(values))
    # hw.array_create puts its last operand at index 0.
    array = hw.ArrayCreateOp(*reversed(padded)).result
    return hw.ArrayGetOp(array, resize(index, clog2(size))).result


def table(index: SSAValue, entries: list[int], width: int) -> SSAValue:
    """A constant table read combinationally (a case statement in Verilog)."""
    if len(set(entries)) == 1:
        return constant(entries[0], width)
    size = 1 << clog2(len(entries))
    padded = list(entries) + [entries[-1]] * (size - len(entries))
    # hw.array_create puts its last operand at index 0.
    array = hw.ArrayCreateOp(*[constant(v, width) for v in reversed(padded)]).result
    return hw.ArrayGetOp(array, resize(index, clog2(size))).result


@dataclass
class Rom:
    """Contents of a `$readmemh` memory, written next to the Verilog: `values`
    holds `lanes` fields of `width` bits per word (field p in bits
    [p·width, (p+1)·width)), word after word."""

    width: int
    values: list[int]
    lanes: int = 1

    def words(self) -> list[int]:
        mask = (1 << self.width) - 1
        fields = [v & mask for v in self.values]
        return [
            sum(f << (p * self.width) for p, f in enumerate(fields[a : a + self.lanes]))
            for a in range(0, len(fields), self.lanes)
        ]

    def hex_text(self) -> str:
        digits = max((self.width * self.lanes + 3) // 4, 1)
        return "".join(f"{w:0{digits}x}\n" for w in self.words())


@dataclass
class Circuit:
    """Clock, reset and the `always_ff` block shared by all memories."""

    clock: SSAValue
    reset: SSAValue
    roms: dict[str, Rom] = field(default_factory=dict)
    memories: dict[str, tuple[int, int]] = field(default_factory=dict)
    """(words, width) of every memory by name: the storage a host sees in the
    manifest."""
    _always: Block | None = None
    _initial: Block | None = None

    def always(self) -> Block:
        if self._always is None:
            clk = FromClockOp(self.clock).result
            self._always = sv.AlwaysFFOp(clk, []).body.block
        return self._always

    def reg(self, width: int, reset: int | None = 0, name: str | None = None) -> Reg:
        """A register cleared to `reset` by the reset input; `reset=None` for
        a pure datapath register (no reset logic: its value before first use
        does not matter)."""
        r = Reg(self, width, reset)
        if name:
            r.op.attributes["name"] = StringAttr(name)
        return r

    def delay(
        self,
        value: SSAValue,
        cycles: int,
        name: str | None = None,
        reset: bool = True,
    ) -> SSAValue:
        """`value` through `cycles` registers (the first one named `name`);
        `reset=False` for data, whose stale values nothing uses."""
        for _ in range(cycles):
            r = self.reg(width_of(value), 0 if reset else None, name)
            r.next(value)
            name = None
            value = r.q
        return value

    def memory(
        self, name: str, depth: int, width: int, banked: bool = False
    ) -> Memory | BankedMemory:
        """An `sv.reg` array; `banked`, one deeper than a block RAM is split
        into banks of one block RAM's depth (see `BankedMemory`)."""
        if banked:
            return self._banked(
                name, depth, width, lambda n, start, d: self.memory(n, d, width)
            )
        depth = max(depth, 2)
        self.memories[name] = (depth, width)
        typ = InOutType(UnpackedArrayType(IntegerType(width), depth))
        reg = sv.RegOp(typ.element_type, name)
        return Memory(self, reg.result, depth, width)

    def _banked(self, name: str, depth: int, width: int, bank):
        """`bank(name, start, depth)` once, or, deeper than one block RAM, once
        per bank of one block RAM's depth (a `BankedMemory`)."""
        bank_depth = block_ram_depth(width)
        if depth <= bank_depth:
            return bank(name, 0, depth)
        banks = [
            bank(f"{name}_bank{b}", start, min(bank_depth, depth - start))
            for b, start in enumerate(range(0, depth, bank_depth))
        ]
        return BankedMemory(self, banks, depth, width, bank_depth)

    def rom(
        self,
        name: str,
        width: int,
        values: list[int],
        lanes: int = 1,
        banked: bool = False,
    ) -> Memory | BankedMemory:
        """A ROM of `lanes` fields of `width` bits per word (`values`: the
        fields word after word), read from `name`.hex; `banked`, one deeper
        than a block RAM is split into banks (`name`_bank0.hex, ...)."""
        depth = len(values) // lanes
        if banked:

            def bank(bank_name: str, start: int, words: int) -> Memory:
                chunk = values[start * lanes : (start + words) * lanes]
                return self.rom(bank_name, width, chunk, lanes)

            return self._banked(name, depth, width * lanes, bank)
        mem = self.memory(name, depth, width * lanes)
        if self._initial is None:
            op = sv.InitialOp([])
            self._initial = op.body.block
        with ImplicitBuilder(self._initial):
            sv.ReadMemOp(mem.array, f"{name}.hex", sv.MemBase.MemBaseHex)
        padded = list(values) + [0] * ((mem.depth - depth) * lanes)
        self.roms[name] = Rom(width, padded, lanes)
        return mem

    def wire(self, value: SSAValue, name: str) -> SSAValue:
        """`value` through a named Verilog wire."""
        wire = sv.WireOp(value.type, name)
        sv.AssignOp(wire.result, value)
        return sv.ReadInOutOp(wire.result).result


class Reg:
    """A `seq.compreg` (with synchronous reset unless `reset` is None) whose
    input is set later."""

    def __init__(self, circuit: Circuit, width: int, reset: int | None):
        self.placeholder = hw.ConstantOp(0, IntegerType(width))
        self.op = seq.CompRegOp(
            self.placeholder.result,
            circuit.clock,
            reset=None if reset is None else (circuit.reset, constant(reset, width)),
        )
        self.q = self.op.results[0]

    def next(self, value: SSAValue) -> None:
        assert width_of(value) == width_of(self.q), (width_of(value), width_of(self.q))
        self.op.operands = [value, *self.op.operands[1:]]
        self.placeholder.detach()
        self.placeholder.erase()


@dataclass
class Memory:
    """An `sv.reg` array: synchronous writes, combinational reads."""

    circuit: Circuit
    array: SSAValue
    depth: int
    width: int

    @property
    def address_bits(self) -> int:
        return clog2(self.depth)

    def _named(self, address: SSAValue, role: str) -> SSAValue:
        """The address through a named wire of its exact width: iverilog evaluates
        an inlined index expression wider than its operands, so CIRCT's
        `{1'h0, j} - 5'h10` (for j + 16 in 5 bits) would index out of range."""
        address = resize(address, self.address_bits)
        if isinstance(address, OpResult) and isinstance(address.owner, hw.ConstantOp):
            return address
        if isinstance(address, OpResult) and isinstance(address.owner, sv.ReadInOutOp):
            return address
        wire = sv.WireOp(address.type, f"{self.array.name_hint or 'mem'}_{role}")
        sv.AssignOp(wire.result, address)
        return sv.ReadInOutOp(wire.result).result

    def read(self, address: SSAValue) -> SSAValue:
        slot = sv.ArrayIndexInOutOp(self.array, self._named(address, "raddr"))
        return sv.ReadInOutOp(slot.result).result

    def read_delayed(
        self, address: SSAValue, cycles: int, name: str | None = None
    ) -> SSAValue:
        """The word at `address`, `cycles` registers later (the first one the
        block RAM's own read register; with `name`, named `name`_rd, and the
        last `name`_q)."""
        word = self.read(address)
        if cycles < 1:
            return word
        word = self.circuit.delay(word, 1, f"{name}_rd" if name else None, False)
        if cycles > 1:
            word = self.circuit.delay(word, cycles - 2, reset=False)
            word = self.circuit.delay(word, 1, f"{name}_q" if name else None, False)
        return word

    def write(self, enable: SSAValue, address: SSAValue, data: SSAValue) -> None:
        address = self._named(address, "waddr")
        data = sext(data, self.width) if width_of(data) < self.width else data
        data = bits(data, 0, self.width)
        with ImplicitBuilder(self.circuit.always()):
            cond = sv.IfOp(enable, [])
        with ImplicitBuilder(cond.then.block):
            slot = sv.ArrayIndexInOutOp(self.array, address)
            sv.PAssignOp(slot.result, data)


@dataclass
class BankedMemory:
    """A memory deeper than one block RAM as banks of one block RAM's depth:
    a write goes to the bank of its address; a delayed read reads every bank,
    registers each bank's word (the block RAM's register, then the fabric's)
    and only then chooses the bank, so no block RAM output drives the
    multiplexer of a deep cascade in the same cycle."""

    circuit: Circuit
    banks: list[Memory]
    depth: int
    width: int
    bank_depth: int

    @property
    def address_bits(self) -> int:
        return clog2(self.depth)

    def _split(self, address: SSAValue) -> tuple[SSAValue, SSAValue]:
        address = resize(address, self.address_bits)
        low_bits = clog2(self.bank_depth)
        low = bits(address, 0, low_bits)
        high = bits(address, low_bits, self.address_bits - low_bits)
        return high, low

    def write(self, enable: SSAValue, address: SSAValue, data: SSAValue) -> None:
        high, low = self._split(address)
        for b, bank in enumerate(self.banks):
            mine = comb.ICmpOp(high, constant(b, width_of(high)), "eq").result
            bank.write(comb.AndOp([enable, mine]).result, low, data)

    def read(self, address: SSAValue) -> SSAValue:
        high, low = self._split(address)
        return select(high, [bank.read(low) for bank in self.banks])

    def read_delayed(
        self, address: SSAValue, cycles: int, name: str | None = None
    ) -> SSAValue:
        if cycles < 1:
            return self.read(address)
        high, low = self._split(address)
        words = [
            bank.read_delayed(low, cycles, f"{name}_bank{b}" if name else None)
            for b, bank in enumerate(self.banks)
        ]
        which = f"{name}_bank" if name else None
        return select(self.circuit.delay(high, cycles, which, False), words)
