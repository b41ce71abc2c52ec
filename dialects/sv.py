"""A subset of CIRCT's `sv` dialect: what a datapath needs beyond hw/comb/seq.

xDSL 0.74 has `hw`, `comb` and `seq` but no `sv`. The ops here use CIRCT's names,
attribute layout and custom syntax (checked against the PyPI `circt` 1.62 bindings),
so a module printed by xDSL is parsed by CIRCT unchanged and vice versa:

```mlir
%mem = sv.reg : !hw.inout<uarray<16xi8>>
sv.initial {
  sv.readmem %mem, "weights.hex", MemBaseHex : !hw.inout<uarray<16xi8>>
}
%slot = sv.array_index_inout %mem[%addr] : !hw.inout<uarray<16xi8>>, i4
%v = sv.read_inout %slot : !hw.inout<i8>
```

exports as `reg [7:0] mem[0:15]; initial $readmemh("weights.hex", mem);`.

The `!hw.inout<T>` and `!hw.uarray<NxT>` types the ops use are CIRCT's `hw` types
missing from xDSL, defined in dialects/hw.py; `seq.from_clock` is in dialects/seq.py.

Differences from CIRCT, all in what is accepted, never in what is printed:
`sv.reg`'s name is optional here (CIRCT takes it from the SSA name when absent, as in
`%mem = sv.reg`), `sym` inner symbols are not supported, and `sv.readmem` is only
allowed directly inside `sv.initial` (the one procedural op defined here).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from xdsl.dialects.builtin import (
    I32,
    ArrayAttr,
    FunctionType,
    IntegerAttr,
    IntegerType,
    StringAttr,
)
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    Region,
    SSAValue,
)
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_op_definition,
    operand_def,
    opt_attr_def,
    opt_operand_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import NoTerminator, OpTrait, Pure
from xdsl.utils.exceptions import VerifyException

from rnnc.dialects.hw import InOutType, array_element


class MemBase(IntEnum):
    """CIRCT's `MemBaseTypeAttr`: an i32 attribute printed as a keyword."""

    MemBaseBin = 0
    MemBaseHex = 1


# ----------------------------------------------------------------------------- ops


class ProceduralRegion(OpTrait):
    """The op's region holds procedural statements (`initial`, `always` blocks)."""


def _check_procedural(op: Operation) -> None:
    parent = op.parent_op()
    if parent is None or not parent.has_trait(ProceduralRegion):
        raise VerifyException(f"{op.name} should be in a procedural region")


def _print_declaration(
    printer: Printer, op: IRDLOperation, name: StringAttr | None
) -> None:
    """The tail of sv.reg / sv.wire: `(name "str")? attr-dict : !hw.inout<T>`."""
    if name is not None:
        printer.print_string(" name ")
        printer.print_string_literal(name.data)
    printer.print_op_attributes(op.attributes, reserved_attr_names=("name",))
    printer.print_string(" : ")
    printer.print_attribute(op.results[0].type)


def _parse_declaration(
    parser: Parser, op_name: str
) -> tuple[str | None, dict[str, Attribute], InOutType]:
    """(name, other attributes, type) of a `_print_declaration` tail; CIRCT reads
    the name only as `name "..."`, so an attribute-dict name is refused."""
    name = None
    if parser.parse_optional_keyword("name") is not None:
        name = parser.parse_str_literal("declaration name")
    attributes = parser.parse_optional_attr_dict()
    if "name" in attributes:
        parser.raise_error(
            f'{op_name}: give the name as `name "..."`, not in the attribute dict'
        )
    parser.parse_punctuation(":")
    pos = parser.pos
    typ = parser.parse_type()
    if not isinstance(typ, InOutType):
        parser.raise_error(f"{op_name}: expected an !hw.inout type", pos, parser.pos)
    return name, attributes, typ


@irdl_op_definition
class RegOp(IRDLOperation):
    """A Verilog `reg` holding a value of the inout's element type.

    Syntax: `%r = sv.reg (init %v)? (name "str")? attr-dict : !hw.inout<T>`.
    Without a name CIRCT names the register after the SSA value (`%mem` -> `mem`).
    """

    name = "sv.reg"

    init = opt_operand_def()
    reg_name = opt_attr_def(StringAttr, attr_name="name")
    result = result_def(InOutType)

    def __init__(
        self,
        element_type: Attribute,
        name: str | None = None,
        init: SSAValue | Operation | None = None,
    ):
        attributes = {} if name is None else {"name": StringAttr(name)}
        super().__init__(
            operands=[[] if init is None else [init]],
            result_types=[InOutType(element_type)],
            attributes=attributes,
        )
        if name is not None and SSAValue.is_valid_name(name):
            self.result.name_hint = name

    def verify_(self) -> None:
        assert isinstance(self.result.type, InOutType)
        if self.init is not None and self.init.type != self.result.type.element_type:
            raise VerifyException(
                "sv.reg: init value must have the register's element type"
            )

    def print(self, printer: Printer) -> None:
        if self.init is not None:
            printer.print_string(" init ")
            printer.print_operand(self.init)
        _print_declaration(printer, self, self.reg_name)

    @classmethod
    def parse(cls, parser: Parser) -> RegOp:
        init = None
        if parser.parse_optional_keyword("init") is not None:
            init = parser.parse_unresolved_operand()
        name, attributes, typ = _parse_declaration(parser, cls.name)
        op = cls(
            typ.element_type,
            name,
            None if init is None else parser.resolve_operand(init, typ.element_type),
        )
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class ReadInOutOp(IRDLOperation):
    """The value held by an inout (a Verilog variable used as an expression).

    Syntax: `%v = sv.read_inout %r attr-dict : !hw.inout<T>` (result type `T`).
    """

    name = "sv.read_inout"

    input = operand_def(InOutType)
    result = result_def()
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue | Operation):
        typ = SSAValue.get(input).type
        if not isinstance(typ, InOutType):
            raise ValueError("sv.read_inout: operand must be an !hw.inout")
        super().__init__(operands=[input], result_types=[typ.element_type])

    def verify_(self) -> None:
        assert isinstance(self.input.type, InOutType)
        if self.result.type != self.input.type.element_type:
            raise VerifyException(
                "sv.read_inout: result type must be the inout's element type"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.input)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.input.type)

    @classmethod
    def parse(cls, parser: Parser) -> ReadInOutOp:
        operand = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        pos = parser.pos
        typ = parser.parse_type()
        if not isinstance(typ, InOutType):
            parser.raise_error(
                "sv.read_inout: expected an !hw.inout type", pos, parser.pos
            )
        op = cls(parser.resolve_operand(operand, typ))
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class ArrayIndexInOutOp(IRDLOperation):
    """Element `index` of an inout array, as an inout (Verilog `mem[index]`).

    Syntax: `%e = sv.array_index_inout %mem[%i] attr-dict : !hw.inout<A>, iK`
    (result `!hw.inout<element of A>`; `A` is an `!hw.uarray` or `!hw.array`).
    """

    name = "sv.array_index_inout"

    input = operand_def(InOutType)
    index = operand_def(IntegerType)
    result = result_def(InOutType)
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue | Operation, index: SSAValue | Operation):
        element = array_element(SSAValue.get(input).type)
        if element is None:
            raise ValueError("sv.array_index_inout: operand must be an inout array")
        super().__init__(operands=[input, index], result_types=[InOutType(element)])

    def verify_(self) -> None:
        element = array_element(self.input.type)
        if element is None:
            raise VerifyException(
                "sv.array_index_inout: input must be an !hw.inout of an array"
            )
        if self.result.type != InOutType(element):
            raise VerifyException(
                "sv.array_index_inout: result must be an !hw.inout of the element type"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.input)
        printer.print_string("[")
        printer.print_operand(self.index)
        printer.print_string("]")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.input.type)
        printer.print_string(", ")
        printer.print_attribute(self.index.type)

    @classmethod
    def parse(cls, parser: Parser) -> ArrayIndexInOutOp:
        array = parser.parse_unresolved_operand()
        parser.parse_punctuation("[")
        index = parser.parse_unresolved_operand()
        parser.parse_punctuation("]")
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        pos = parser.pos
        array_type = parser.parse_type()
        if array_element(array_type) is None:
            parser.raise_error(
                "sv.array_index_inout: expected an !hw.inout of an array",
                pos,
                parser.pos,
            )
        parser.parse_punctuation(",")
        index_type = parser.parse_type()
        array_v, index_v = parser.resolve_operands(
            [array, index], [array_type, index_type], parser.pos
        )
        op = cls(array_v, index_v)
        op.attributes.update(attributes)
        return op


def _body_region(body: Region | Sequence[Operation] | None) -> Region:
    """A single-block region: given, or holding `body`'s ops."""
    if isinstance(body, Region):
        return body
    return Region(Block(list(body or [])))


def _parse_body(parser: Parser) -> Region:
    """A region in braces; an empty `{}` still gets its one block."""
    region = parser.parse_region()
    if not region.blocks:
        region.add_block(Block())
    return region


@irdl_op_definition
class InitialOp(IRDLOperation):
    """A Verilog `initial` block: one block of procedural statements.

    Syntax: `sv.initial { ... } attr-dict` (no terminator).
    """

    name = "sv.initial"

    body = region_def("single_block")
    traits = traits_def(NoTerminator(), ProceduralRegion())

    def __init__(self, body: Region | Sequence[Operation] | None = None):
        super().__init__(regions=[_body_region(body)])

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_region(
            self.body, print_entry_block_args=False, print_empty_block=False
        )
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> InitialOp:
        region = _parse_body(parser)
        op = cls(region)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


@irdl_op_definition
class ReadMemOp(IRDLOperation):
    """`$readmemh` / `$readmemb` of a file into an inout array, in `sv.initial`.

    Syntax: `sv.readmem %mem, "file", MemBaseHex attr-dict : !hw.inout<A>`.
    `base` is stored as CIRCT stores it: an i32 attribute (Bin = 0, Hex = 1).
    """

    name = "sv.readmem"

    dest = operand_def(InOutType)
    filename = attr_def(StringAttr)
    base = attr_def(IntegerAttr[I32])

    def __init__(self, dest: SSAValue | Operation, filename: str, base: MemBase | str):
        if isinstance(base, str):
            base = MemBase[base]
        super().__init__(
            operands=[dest],
            attributes={
                "filename": StringAttr(filename),
                "base": IntegerAttr(int(base), 32),
            },
        )

    @property
    def mem_base(self) -> MemBase:
        return MemBase(self.base.value.data)

    def verify_(self) -> None:
        if array_element(self.dest.type) is None:
            raise VerifyException("sv.readmem: destination must be an inout array")
        if self.base.value.data not in tuple(MemBase):
            raise VerifyException("sv.readmem: base must be 0 (Bin) or 1 (Hex)")
        _check_procedural(self)

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.dest)
        printer.print_string(", ")
        printer.print_string_literal(self.filename.data)
        printer.print_string(f", {self.mem_base.name}")
        printer.print_op_attributes(
            self.attributes, reserved_attr_names=("filename", "base")
        )
        printer.print_string(" : ")
        printer.print_attribute(self.dest.type)

    @classmethod
    def parse(cls, parser: Parser) -> ReadMemOp:
        dest = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        filename = parser.parse_str_literal("file name")
        parser.parse_punctuation(",")
        base = parser.parse_keyword_in([b.name for b in MemBase], "memory base")
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        typ = parser.parse_type()
        op = cls(parser.resolve_operand(dest, typ), filename, base)
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class WireOp(IRDLOperation):
    """A Verilog `wire`, driven by one `sv.assign`.

    Syntax: `%w = sv.wire (name "str")? attr-dict : !hw.inout<T>`. A wire keeps an
    expression in a declaration of exactly T's width (iverilog evaluates an
    inlined array index wider than its operands).
    """

    name = "sv.wire"

    wire_name = opt_attr_def(StringAttr, attr_name="name")
    result = result_def(InOutType)

    def __init__(self, element_type: Attribute, name: str | None = None):
        attributes = {} if name is None else {"name": StringAttr(name)}
        super().__init__(result_types=[InOutType(element_type)], attributes=attributes)
        if name is not None and SSAValue.is_valid_name(name):
            self.result.name_hint = name

    def print(self, printer: Printer) -> None:
        _print_declaration(printer, self, self.wire_name)

    @classmethod
    def parse(cls, parser: Parser) -> WireOp:
        name, attributes, typ = _parse_declaration(parser, cls.name)
        op = cls(typ.element_type, name)
        op.attributes.update(attributes)
        return op


class _Assignment(IRDLOperation):
    """`dest = src` (continuous) or `dest <= src` (procedural, non-blocking).

    Syntax: `sv.assign %dest, %src attr-dict : T` (`%dest : !hw.inout<T>`).
    """

    dest = operand_def(InOutType)
    src = operand_def()

    def __init__(self, dest: SSAValue | Operation, src: SSAValue | Operation):
        super().__init__(operands=[dest, src])

    def verify_(self) -> None:
        assert isinstance(self.dest.type, InOutType)
        if self.dest.type.element_type != self.src.type:
            raise VerifyException(f"{self.name}: value type must match the destination")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.dest)
        printer.print_string(", ")
        printer.print_operand(self.src)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.src.type)

    @classmethod
    def parse(cls, parser: Parser):
        dest = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        src = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        typ = parser.parse_type()
        op = cls(
            parser.resolve_operand(dest, InOutType(typ)),
            parser.resolve_operand(src, typ),
        )
        op.attributes.update(attributes)
        return op


@irdl_op_definition
class AssignOp(_Assignment):
    """Continuous assignment to a wire: `assign dest = src;`."""

    name = "sv.assign"

    dest = operand_def(InOutType)
    src = operand_def()


@irdl_op_definition
class PAssignOp(_Assignment):
    """Non-blocking assignment `dest <= src` in a procedural region."""

    name = "sv.passign"

    dest = operand_def(InOutType)
    src = operand_def()

    def verify_(self) -> None:
        super().verify_()
        _check_procedural(self)


@irdl_op_definition
class AlwaysFFOp(IRDLOperation):
    """`always_ff @(posedge clk)`: one block of procedural statements.

    Syntax: `sv.alwaysff(posedge %clk) { ... } attr-dict` (`%clk : i1`; only
    `posedge`, no reset clause).
    """

    name = "sv.alwaysff"

    clock = operand_def(IntegerType(1))
    body = region_def("single_block")
    traits = traits_def(NoTerminator(), ProceduralRegion())

    def __init__(
        self, clock: SSAValue | Operation, body: Region | Sequence[Operation] = ()
    ):
        super().__init__(operands=[clock], regions=[_body_region(body)])

    def print(self, printer: Printer) -> None:
        printer.print_string("(posedge ")
        printer.print_operand(self.clock)
        printer.print_string(") ")
        printer.print_region(
            self.body, print_entry_block_args=False, print_empty_block=False
        )
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> AlwaysFFOp:
        parser.parse_punctuation("(")
        parser.parse_keyword("posedge")
        clock = parser.resolve_operand(
            parser.parse_unresolved_operand(), IntegerType(1)
        )
        parser.parse_punctuation(")")
        region = _parse_body(parser)
        op = cls(clock, region)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


@irdl_op_definition
class IfOp(IRDLOperation):
    """`if (cond) begin ... end` in a procedural region (no else branch).

    Syntax: `sv.if %cond { ... } attr-dict`.
    """

    name = "sv.if"

    cond = operand_def(IntegerType(1))
    then = region_def("single_block")
    traits = traits_def(NoTerminator(), ProceduralRegion())

    def __init__(
        self, cond: SSAValue | Operation, body: Region | Sequence[Operation] = ()
    ):
        super().__init__(operands=[cond], regions=[_body_region(body)])

    def verify_(self) -> None:
        _check_procedural(self)

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.cond)
        printer.print_string(" ")
        printer.print_region(
            self.then, print_entry_block_args=False, print_empty_block=False
        )
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> IfOp:
        cond = parser.resolve_operand(parser.parse_unresolved_operand(), IntegerType(1))
        region = _parse_body(parser)
        op = cls(cond, region)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


@irdl_op_definition
class VerbatimOp(IRDLOperation):
    """Text emitted as is in the module body (here: lint pragmas).

    Syntax: `sv.verbatim "text" attr-dict` (no substitutions).
    """

    name = "sv.verbatim"

    format_string = attr_def(StringAttr)

    def __init__(self, text: str):
        super().__init__(attributes={"format_string": StringAttr(text)})

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.format_string.data)
        printer.print_op_attributes(
            self.attributes, reserved_attr_names=("format_string",)
        )

    @classmethod
    def parse(cls, parser: Parser) -> VerbatimOp:
        op = cls(parser.parse_str_literal("verbatim text"))
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


@irdl_op_definition
class VerbatimExprOp(IRDLOperation):
    """A Verilog expression given as text, `{{i}}` standing for operand i.

    Syntax: `%r = sv.verbatim.expr "text"(%a, ...)? : (A, ...) -> T attr-dict`.
    The datapath writes its signed products with it (`$signed({{0}}) *
    $signed({{1}})`): `comb.mul` has no signedness and exports as an unsigned
    multiply of sign-extended operands, which costs 2-3 DSP blocks per product.
    CIRCT keeps the expression in a declaration of the result's width, whose
    context extends the signed operands.
    """

    name = "sv.verbatim.expr"

    format_string = attr_def(StringAttr)
    symbols = opt_attr_def(ArrayAttr)
    substitutions = var_operand_def()
    result = result_def(IntegerType)
    traits = traits_def(Pure())

    def __init__(
        self, text: str, substitutions: Sequence[SSAValue | Operation], typ: Attribute
    ):
        super().__init__(
            operands=[list(substitutions)],
            result_types=[typ],
            attributes={"format_string": StringAttr(text)},
        )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.format_string.data)
        if self.substitutions:
            printer.print_string("(")
            printer.print_list(self.substitutions, printer.print_operand)
            printer.print_string(")")
        printer.print_string(" : ")
        printer.print_attribute(
            FunctionType.from_lists(
                [v.type for v in self.substitutions], [self.result.type]
            )
        )
        attributes = dict(self.attributes)
        if self.symbols is not None and not self.symbols.data:
            del attributes["symbols"]
        printer.print_op_attributes(attributes, reserved_attr_names=("format_string",))

    @classmethod
    def parse(cls, parser: Parser) -> VerbatimExprOp:
        text = parser.parse_str_literal("verbatim text")
        operands = []
        if parser.parse_optional_punctuation("(") is not None:
            operands = parser.parse_comma_separated_list(
                parser.Delimiter.NONE, parser.parse_unresolved_operand
            )
            parser.parse_punctuation(")")
        parser.parse_punctuation(":")
        pos = parser.pos
        typ = parser.parse_type()
        if not isinstance(typ, FunctionType) or len(typ.outputs.data) != 1:
            parser.raise_error(
                "sv.verbatim.expr: expected a function type with one result",
                pos,
                parser.pos,
            )
        values = parser.resolve_operands(operands, typ.inputs.data, parser.pos)
        op = cls(text, values, typ.outputs.data[0])
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


SV = Dialect(
    "sv",
    [
        RegOp,
        WireOp,
        ReadInOutOp,
        ArrayIndexInOutOp,
        InitialOp,
        ReadMemOp,
        AssignOp,
        PAssignOp,
        AlwaysFFOp,
        IfOp,
        VerbatimOp,
        VerbatimExprOp,
    ],
    [],
)
