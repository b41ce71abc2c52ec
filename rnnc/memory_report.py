"""Memory footprint: every stored tensor (weights, biases, activation tables).

Initial-state constants are registers, not memory, and are left out; tensors with
equal contents (a tied embedding and output layer) are stored, and counted, once.

Bits per value come from the fixed-point type (or 32 for a float model); bytes are
the bit-packed size, ceil(count · W / 8), as a hardware memory would hold them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

from rnnc.dialects import fxp, rnn
from rnnc.dialects.arrays import array_of
from rnnc.passes.assign_formats import QCLASS

FLOAT_BITS = 32


@dataclass
class Row:
    name: str
    kind: str
    count: int
    bits: int

    @property
    def total_bits(self) -> int:
        return self.count * self.bits

    @property
    def bytes(self) -> int:
        return math.ceil(self.total_bits / 8)


@dataclass
class MemoryTable:
    rows: list[Row] = field(default_factory=list)

    @property
    def total_bits(self) -> int:
        return sum(r.total_bits for r in self.rows)

    @property
    def float_bits(self) -> int:
        return sum(r.count * FLOAT_BITS for r in self.rows if r.kind != "table")

    @property
    def reduction(self) -> float:
        """Fraction of the float32 footprint saved (tables count as extra)."""
        return 1 - self.total_bits / self.float_bits if self.float_bits else 0.0

    def versus_float(self) -> str:
        """The saving in words: a tiny model's activation tables can outweigh
        its weights, and "-500 % smaller" says that badly."""
        if self.reduction >= 0:
            return f"{100 * self.reduction:.1f} % smaller than float32"
        return (
            f"{self.total_bits / self.float_bits:.1f} × the float32 weights: "
            "the activation tables outweigh them"
        )

    def text(self) -> str:
        width = max([len(r.name) for r in self.rows] + [6])
        lines = [
            f"{'tensor':<{width}}  {'class':<7} {'count':>9} {'bits':>4} {'bytes':>9}"
        ]
        for r in self.rows:
            lines.append(
                f"{r.name:<{width}}  {r.kind:<7} {r.count:>9} {r.bits:>4} {r.bytes:>9}"
            )
        total = math.ceil(self.total_bits / 8)
        lines.append(
            f"{'total':<{width}}  {'':<7} {sum(r.count for r in self.rows):>9} "
            f"{'':>4} {total:>9}"
        )
        lines.append(
            f"float32: {self.float_bits // 8} bytes; fixed point: {total} bytes "
            f"({100 * self.reduction:.1f} % smaller)"
        )
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict:
        return {
            "tensors": [
                {
                    "name": r.name,
                    "class": r.kind,
                    "count": r.count,
                    "bits": r.bits,
                    "bytes": r.bytes,
                }
                for r in self.rows
            ],
            "total_bytes": math.ceil(self.total_bits / 8),
            "float32_bytes": self.float_bits // 8,
            "reduction": self.reduction,
        }


def memory_report(module: ModuleOp) -> MemoryTable:
    table = MemoryTable()
    tables: set[tuple] = set()
    stored: set[tuple] = set()
    for op in module.walk():
        name = op.results[0].name_hint if op.results else None
        if isinstance(op, fxp.ConstantOp):
            kind = op.attributes.get(QCLASS)
            kind = kind.data if isinstance(kind, StringAttr) else "weight"
            if kind == "state":
                continue  # initial states live in the state registers
            raw = array_of(op.value)
            fmt = fxp.format_of(op.result)
            # One stored copy of equal contents, e.g. a tied embedding and its
            # transposed use as the output layer's weights.
            key = (np.sort(raw, axis=None).tobytes(), fmt)
            if key in stored:
                continue
            stored.add(key)
            table.rows.append(Row(name or "?", kind, int(raw.size), fmt.width))
        elif isinstance(op, fxp.LutOp):
            # Identical tables (same function and format) are stored once.
            raw = array_of(op.table)
            key = (raw.tobytes(), fxp.format_of(op.result), op.symmetry.data)
            if key in tables:
                continue
            tables.add(key)
            table.rows.append(
                Row(
                    f"{name or '?'} (lut)",
                    "table",
                    raw.size,
                    fxp.format_of(op.result).width,
                )
            )
        elif isinstance(op, rnn.ConstantOp) and rnn.element_type_of(op.result).name in (
            "f32",
            "f64",
        ):
            count = int(array_of(op.value).size)
            table.rows.append(Row(name or "?", "float", count, FLOAT_BITS))
    return table
