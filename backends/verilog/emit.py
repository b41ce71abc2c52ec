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

from rnnc.backends.interpreter.signature import signature
from rnnc.backends.verilog.export import export_split
from rnnc.dialects.fixed import Format
from rnnc.dialects.rnn_semantics import main_function
from rnnc.passes.fxp_to_hw.datapath import TOP, Design
from rnnc.passes.fxp_to_hw.lower_fxp_to_hw import build, take_memories
from rnnc.passes.fxp_to_hw.plan import plan_design
from rnnc.passes.fxp_to_hw.plan_view import HardwarePlan, read_plan
from rnnc.passes.fxp_to_hw.state_ports import state_source
from rnnc.passes.fxp_to_hw.weight_stream import STREAM_FILE


@dataclass
class Emitted:
    out_dir: Path
    sources: list[Path]
    design: Design
    plan: HardwarePlan
    module: ModuleOp | None = None  # the fxp module the plan binds to

    def manifest(self) -> dict:
        d = self.design
        return {
            "top": TOP,
            "lanes": d.lanes,
            "sources": [p.name for p in self.sources],
            "memories": sorted(f"{name}.hex" for name in d.roms),
            "in_data_width": d.input_width,
            # Each sequence on in_data: the initial states (in this order,
            # each word in the low bits), then the input words, time-major.
            "initial_states": self.initial_states(),
            "input": {
                "offset": self.plan.preamble_words,
                "steps": self.plan.steps,
                "size": self.plan.input_size,
                "width": self.plan.buffers[self.plan.input_buffer].fmt.width,
                "frac": self.plan.buffers[self.plan.input_buffer].fmt.frac,
            },
            "seq_len_width": d.seq_len_width,
            "outputs": [
                {
                    "name": o.name or None,
                    "elements": int(sum(r.length for r in o.runs)),
                    "width": self.output_format(o).width,
                    "frac": self.output_format(o).frac,
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

    def initial_states(self) -> list[dict]:
        """The preamble of each sequence: the host-given initial states, in the
        order the stream carries them, each named by its value in the module
        (`value`), its stage and its state (`state`, the step's argument)."""
        entries, offset = [], 0
        host = self.plan.host.states if self.plan.host else []
        fn = main_function(self.module) if self.module is not None else None
        names = [n for n, _ in signature(self.module)[0]] if fn else []
        loaded = [
            (s, st)
            for s in self.plan.stages
            for st in s.states
            if st.loaded is not None
        ]
        for index, (stage, state) in enumerate(loaded):
            buf = self.plan.buffers[state.loaded]
            value = host[index] if index < len(host) else None
            source = state_source(fn, value) if fn and value else None
            entries.append(
                {
                    "source": None
                    if source is None
                    else {
                        "input": names[source.index],
                        "positions": source.positions.tolist(),
                        "stride": source.stride,
                    },
                    "stage": stage.name,
                    "state": state.arg.name_hint,
                    "offset": offset,
                    "elements": buf.words,
                    "width": buf.fmt.width,
                    "frac": buf.fmt.frac,
                }
            )
            offset += buf.words
        return entries

    def output_format(self, output):
        """The format of an output's words: its runs' buffer format, scaled by
        the run's shift (every run of an output has the same format)."""
        run = output.runs[0]
        fmt = self.plan.buffers[run.buffer].fmt
        return Format(fmt.width + run.shift, fmt.frac + run.shift)


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
    emitted = Emitted(out, sources, design, plan, module)
    (out / "manifest.json").write_text(json.dumps(emitted.manifest(), indent=2) + "\n")
    return emitted
