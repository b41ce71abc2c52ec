"""lower-fxp-to-hw: the `fxp` module as one clocked `hw.module` (hw/comb/seq/sv).

Two steps, as CIRCT keeps conversions apart from emission: `plan-hardware`
(passes/fxp_to_hw/plan.py) turns the function into a `hwplan.design`, printable
IR; `build-datapath` (passes/fxp_to_hw/datapath.py) builds the circuit from it.
The module's function becomes `rnnc_top`: input and output streams with valid/ready
handshakes, one array of P MAC lanes shared by all stages with its weight ROM,
an elementwise pipeline, state and sequence buffers and the controller (see
docs/hardware.md and passes/fxp_to_hw/datapath.py). The ROM contents go into the
module attribute `rnnc.memories` (name → raw words; words × fields for a ROM
whose word packs several lanes' fields), which `rnnc --emit=verilog` writes as
the `$readmemh` files next to the Verilog.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import DictionaryAttr, ModuleOp
from xdsl.passes import ModulePass

from rnnc.dialects.arrays import array_of, dense_of
from rnnc.passes.fxp_to_hw.circuit import Rom
from rnnc.passes.fxp_to_hw.datapath import Design, build_design
from rnnc.passes.fxp_to_hw.plan import PlanHardwarePass
from rnnc.passes.fxp_to_hw.plan_view import design_of, read_plan

MEMORIES = "rnnc.memories"


def lower(module: ModuleOp, lanes: int = 1, onchip_kbits: int | None = None) -> Design:
    """Replace the contents of a lowered `fxp` module by the datapath, through
    its plan (plan-hardware, then build-datapath); returns its description."""
    PlanHardwarePass().apply(Context(), module)
    return build(module, lanes, onchip_kbits)


def build(module: ModuleOp, lanes: int = 1, onchip_kbits: int | None = None) -> Design:
    """Replace the `hwplan.design` of `module` by the datapath; returns its
    description. The ROM contents go into the module attribute `rnnc.memories`."""
    design = build_design(read_plan(design_of(module)), lanes, onchip_kbits)
    for op in list(module.ops):
        op.detach()
        op.erase()
    for op in list(design.module.ops):
        op.detach()
        module.body.block.add_op(op)
    design.module = module
    module.attributes[MEMORIES] = DictionaryAttr(
        {
            name: dense_of(np.asarray(rom.values, np.int64).reshape(-1, rom.lanes))
            if rom.lanes > 1
            else dense_of(np.asarray(rom.values, np.int64))
            for name, rom in design.roms.items()
        }
    )
    return design


def take_memories(module: ModuleOp) -> dict[str, Rom]:
    """The ROM contents recorded by the pass, removed from the module (CIRCT need
    not see them). Widths come from the `sv.reg` each file is read into."""
    from rnnc.dialects import sv

    attr = module.attributes.pop(MEMORIES, None)
    if attr is None:
        return {}
    widths = {}
    for op in module.walk():
        if isinstance(op, sv.ReadMemOp):
            name = op.filename.data.removesuffix(".hex")
            array = op.dest.type.element_type
            widths[name] = array.element_type.width.data
    roms = {}
    for name, value in attr.data.items():
        fields = array_of(value)
        lanes = fields.shape[1] if fields.ndim == 2 else 1
        roms[name] = Rom(widths[name] // lanes, fields.reshape(-1).tolist(), lanes)
    return roms


@dataclass(frozen=True)
class BuildDatapathPass(ModulePass):
    """Build the hw.module of a `hwplan.design` with `lanes` MAC lanes (and
    the weights beyond `onchip-kbits` from the weight stream port)."""

    name = "build-datapath"

    lanes: int = 1
    onchip_kbits: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        build(op, self.lanes, self.onchip_kbits)


@dataclass(frozen=True)
class LowerFxpToHwPass(ModulePass):
    """Lower a fixed-point module to a pipelined hw.module with `lanes` MAC lanes
    (and the weights beyond `onchip-kbits` from the weight stream port)."""

    name = "lower-fxp-to-hw"

    lanes: int = 1
    onchip_kbits: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower(op, self.lanes, self.onchip_kbits)
