"""CIRCT's `seq` dialect as rnnc uses it: xDSL's `seq` plus `seq.from_clock`.

xDSL 0.74's `seq` lacks `seq.from_clock` (a `!seq.clock` as an `i1`, which
`sv.alwaysff` takes). `Seq` is xDSL's dialect with it added; rnnc's contexts
register it under the name `seq` (rnnc/registry.py).
"""

from __future__ import annotations

from xdsl.dialects import seq as xdsl_seq
from xdsl.dialects.builtin import IntegerType
from xdsl.dialects.seq import ClockType
from xdsl.ir import Dialect, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure


@irdl_op_definition
class FromClockOp(IRDLOperation):
    """CIRCT's `seq.from_clock`: a `!seq.clock` as an `i1` (for `sv.alwaysff`).

    Syntax: `seq.from_clock %clk`.
    """

    name = "seq.from_clock"

    input = operand_def(ClockType)
    result = result_def(IntegerType(1))
    traits = traits_def(Pure())

    def __init__(self, clock: SSAValue | Operation):
        super().__init__(operands=[clock], result_types=[IntegerType(1)])

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.input)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> FromClockOp:
        clock = parser.resolve_operand(parser.parse_unresolved_operand(), ClockType())
        op = cls(clock)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op


Seq = Dialect(
    "seq",
    [*xdsl_seq.Seq.operations, FromClockOp],
    [*xdsl_seq.Seq.attributes],
)
