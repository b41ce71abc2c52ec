"""Verilog generation: `rnnc --emit=verilog`.

fxp module → plan-hardware (hwplan IR) → build-datapath (hw/comb/seq/sv) → CIRCT
ExportVerilog → out/*.sv + ROM .hex files + manifest.json (what a host or a
testbench needs to drive the design).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp

from rnnc.backends.verilog.export import export_split
from rnnc.passes.fxp_to_hw.datapath import TOP, Design
from rnnc.passes.fxp_to_hw.lower_fxp_to_hw import build, take_memories
from rnnc.passes.fxp_to_hw.plan import plan_design
from rnnc.passes.fxp_to_hw.plan_view import HardwarePlan, read_plan
from rnnc.passes.fxp_to_hw.weight_stream import STREAM_FILE


@dataclass
class Emitted:
    out_dir: Path
    sources: list[Path]
    design: Design
    plan: HardwarePlan

    def manifest(self) -> dict:
        d = self.design
        return {
            "top": TOP,
            "lanes": d.lanes,
            "sources": [p.name for p in self.sources],
            "memories": sorted(f"{name}.hex" for name in d.roms),
            "input": {
                "steps": self.plan.steps,
                "size": self.plan.input_size,
                "width": d.input_width,
                "frac": self.plan.buffers[self.plan.input_buffer].fmt.frac,
            },
            "seq_len_width": d.seq_len_width,
            "outputs": [
                {
                    "name": o.name or None,
                    "elements": int(sum(r.length for r in o.runs)),
                }
                for o in self.plan.outputs
            ],
            "output_width": d.output_width,
            "stages": [
                {**asdict(s), "cycles_per_step": s.cycles_per_step} for s in d.stages
            ],
            "compute_cycles": d.compute_cycles,
            # Every memory of the design: ROMs (weights, read from the .hex
            # files) and RAMs (the input buffer, two whole sequences so the
            # next one loads while one is computed; states; step outputs;
            # mat-vec results), so their cost is visible before synthesis.
            "storage": [
                {
                    "name": name,
                    "kind": "rom" if name in d.roms else "ram",
                    "words": words,
                    "width": width,
                    "bits": words * width,
                }
                for name, (words, width) in d.memories.items()
            ],
            "storage_bits": sum(w * b for w, b in d.memories.values()),
            # The weights read from the stream port (null: all on chip).
            "weight_stream": d.stream.manifest(d.compute_cycles) if d.stream else None,
        }


def emit_verilog(
    module: ModuleOp,
    out_dir: str | Path,
    lanes: int = 1,
    onchip_kbits: int | None = None,
) -> Emitted:
    """Write the RTL of a lowered fxp module into `out_dir` (with
    `onchip_kbits`, the weights beyond that budget in `weight_stream.hex`)."""
    out = Path(out_dir)
    design_op, host = plan_design(module)  # binds to `module`, which the tb runs
    plan = read_plan(design_op, host)
    hw_module = ModuleOp([design_op])
    design = build(hw_module, lanes, onchip_kbits)
    roms = take_memories(hw_module)
    sources = export_split(hw_module, out)
    for name, rom in roms.items():
        (out / f"{name}.hex").write_text(rom.hex_text())
    if design.stream is not None:
        (out / STREAM_FILE).write_text(design.stream.hex_text())
    emitted = Emitted(out, sources, design, plan)
    (out / "manifest.json").write_text(json.dumps(emitted.manifest(), indent=2) + "\n")
    return emitted
