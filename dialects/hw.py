"""CIRCT's `hw` dialect as rnnc uses it: xDSL's `hw` plus two types it lacks.

xDSL 0.74's `hw` has no `!hw.inout<T>` (a reference to a Verilog variable or net,
what `sv.reg` / `sv.wire` declare) and no `!hw.uarray<NxT>` (an unpacked array, a
memory). They are defined here with CIRCT's names and spelling (checked against
the PyPI `circt` 1.62 bindings). Inside these types, hw types are printed in
CIRCT's short form (`uarray<16xi8>`, not `!hw.uarray<16xi8>`); both forms are
parsed. `HW` is xDSL's dialect with these types added: rnnc's contexts register
it under the name `hw` (rnnc/registry.py), so `!hw.inout` resolves by its prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects.builtin import IntAttr, IntegerType, Signedness
from xdsl.dialects.hw import ArrayType
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException


def _is_hw_value_type(typ: Attribute) -> bool:
    """Signless integers and (packed or unpacked) arrays of them."""
    if isinstance(typ, IntegerType):
        return typ.signedness.data == Signedness.SIGNLESS
    if isinstance(typ, ArrayType | UnpackedArrayType):
        return _is_hw_value_type(typ.get_element_type())
    return False


def _print_hw_element_type(printer: Printer, typ: Attribute) -> None:
    """CIRCT prints hw types nested in hw types without the `!hw.` prefix."""
    if isinstance(typ, UnpackedArrayType | InOutType):
        printer.print_string(typ.name.removeprefix("hw."))
        typ.print_parameters(printer)
    elif isinstance(typ, ArrayType):
        # Short form too; the element goes through this function again.
        printer.print_string(f"array<{len(typ)}x")
        _print_hw_element_type(printer, typ.get_element_type())
        printer.print_string(">")
    else:
        printer.print_attribute(typ)


def _parse_hw_element_type(parser: AttrParser) -> Attribute:
    """A type, or an hw type in short form (`uarray<4xi8>`, `array<2xi8>`, ...)."""
    if parser.parse_optional_keyword("uarray") is not None:
        return UnpackedArrayType.new(UnpackedArrayType.parse_parameters(parser))
    if parser.parse_optional_keyword("array") is not None:
        size, element = _parse_sized_element(parser)
        return ArrayType(element, size)
    if parser.parse_optional_keyword("inout") is not None:
        return InOutType.new(InOutType.parse_parameters(parser))
    return parser.parse_type()


def _parse_sized_element(parser: AttrParser) -> tuple[int, Attribute]:
    """`<` N `x` element `>`, with the element in short or long form."""
    with parser.in_angle_brackets():
        size = parser.parse_shape_dimension(allow_dynamic=False)
        parser.parse_shape_delimiter()
        element = _parse_hw_element_type(parser)
    return size, element


@irdl_attr_definition
class UnpackedArrayType(ParametrizedAttribute, TypeAttribute):
    """`!hw.uarray<N x T>`: an unpacked array (`T name[0:N-1]` in Verilog)."""

    name = "hw.uarray"

    element_type: Attribute
    size_attr: IntAttr

    def __init__(self, element_type: Attribute, size: int | IntAttr):
        if isinstance(size, int):
            size = IntAttr(size)
        super().__init__(element_type, size)

    def __len__(self) -> int:
        return self.size_attr.data

    def get_element_type(self) -> Attribute:
        return self.element_type

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        size, element = _parse_sized_element(parser)
        return (element, IntAttr(size))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{len(self)}x")
        _print_hw_element_type(printer, self.element_type)
        printer.print_string(">")

    def verify(self) -> None:
        if len(self) < 1:
            raise VerifyException("hw.uarray: size must be at least 1")
        if not _is_hw_value_type(self.element_type):
            raise VerifyException(
                "hw.uarray: element must be a signless integer or an array"
            )


@irdl_attr_definition
class InOutType(ParametrizedAttribute, TypeAttribute):
    """`!hw.inout<T>`: a reference to a Verilog variable or net holding a `T`."""

    name = "hw.inout"

    element_type: Attribute

    def __init__(self, element_type: Attribute):
        super().__init__(element_type)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            element = _parse_hw_element_type(parser)
        return (element,)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<")
        _print_hw_element_type(printer, self.element_type)
        printer.print_string(">")

    def verify(self) -> None:
        if not _is_hw_value_type(self.element_type):
            raise VerifyException(
                "hw.inout: element must be a signless integer or an array"
            )


def array_element(inout: Attribute) -> Attribute | None:
    """Element type of the array an `!hw.inout` refers to, if it is one."""
    if isinstance(inout, InOutType) and isinstance(
        inout.element_type, ArrayType | UnpackedArrayType
    ):
        return inout.element_type.get_element_type()
    return None


HW = Dialect(
    "hw",
    [*xdsl_hw.HW.operations],
    [*xdsl_hw.HW.attributes, InOutType, UnpackedArrayType],
)
