"""Quality of results of the generated RTL: real place and route on ECP5.

One row per design (LSTM / GRU classifier: embedding → 1-layer cell → linear head,
random weights, 8-bit weights and 16-bit other classes, as bench/hw_cycles.py
builds them; input 32 for hidden 64, input 64 for hidden 128), P MAC lanes:

- DSP: MULT18X18D after nextpnr-ecp5 on LFE5U-85F-8, and DSP48E1 from yosys
  `synth_xilinx`;
- EBR / (W+T): block RAM bits (DP16KD × 18 kbit) ÷ (weight bits: W, R and the
  head's matrix at 8 bits, + table bits: every activation table ROM as the RTL
  stores it), RAMB / (W+T) the same with RAMB18 (RAMB36 = 2). An 8-bit weight
  takes 9 bits of a block RAM whose words are 9, 18 or 36 bits wide (the parity
  bits hold no weight at P·8-bit words), so 9/8 = 1.125 is the floor at P a power
  of two;
- LUT (TRELLIS_COMB), FF (TRELLIS_FF) and fmax on ECP5;
- cycles per step ÷ (MACs/P), from the emitted manifest (the planned count the
  verify tests check equals the simulated one);
- GOP/s at fmax: 2 · MACs per step ÷ cycles per step × fmax.

A lone registered 16×8 signed MAC (inputs registered, product registered,
32-bit accumulator; one MULT18X18D) is placed in the same run, and every
design's fmax is also given as a ratio to it (issue 11's goal: ≥ 0.75).

    python bench/hw_qor.py [--lanes 1,4,16,64] [--cells lstm,gru] [--hidden 64,128]
        [--jobs 1] [--steps 8] [--json qor.json] [--no-xilinx]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnc.backends.verilog import simulate
from rnnc.backends.verilog import synth_report as sr
from rnnc.backends.verilog.emit import emit_verilog
from rnnc.dialects import fxp
from rnnc.dialects.arrays import array_of
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.fxp_to_hw.arith import lut_entries
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

WEIGHT_BITS = 8
VOCAB = 100
RAMB18_BITS = 18 * 1024
INPUTS = {64: 32, 128: 64}  # hidden → input (embedding) size
GATES = {"lstm": 4, "gru": 3}

LONE_MAC = """\
// A lone registered 16x8 signed multiply-accumulate: the fmax ceiling of one
// MAC lane (inputs registered, product registered, 32-bit accumulator).
module lone_mac (
  input  logic               clk,
  input  logic signed [15:0] x,
  input  logic signed [7:0]  w,
  output logic signed [31:0] acc
);
  logic signed [15:0] x_q;
  logic signed [7:0]  w_q;
  logic signed [23:0] p_q;
  always_ff @(posedge clk) begin
    x_q <= x;
    w_q <= w;
    p_q <= x_q * w_q;
    acc <= acc + 32'(p_q);
  end
endmodule
"""


class Classifier(nn.Module):
    """Embedding → one LSTM or GRU layer → linear head on the final state."""

    def __init__(self, cell: str, emb: int, hidden: int):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, emb)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(
            emb, hidden, batch_first=True
        )
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens):
        _, state = self.rnn(self.emb(tokens))
        h = state[0] if isinstance(state, tuple) else state
        return self.head(h[-1])

    def weight_bits(self) -> int:
        matrices = (self.rnn.weight_ih_l0, self.rnn.weight_hh_l0, self.head.weight)
        return WEIGHT_BITS * sum(m.numel() for m in matrices)


@dataclass(frozen=True)
class Config:
    cell: str
    hidden: int
    lanes: int

    @property
    def name(self) -> str:
        return f"{self.cell.upper()} h{self.hidden} P={self.lanes}"

    @property
    def inputs(self) -> int:
        return INPUTS.get(self.hidden, self.hidden // 2)


def table_bits(module) -> int:
    """Bits of the activation table ROMs, one per fxp.lut, as the RTL stores
    them (with the reflected half of a symmetric table)."""
    total = 0
    for op in module.walk():
        if isinstance(op, fxp.LutOp):
            out = fxp.format_of(op.result)
            table = [int(v) for v in array_of(op.table)]
            total += len(lut_entries(table, op.symmetry.data, out)) * out.width
    return total


def emit(config: Config, steps: int, out: Path) -> tuple[dict, int]:
    """Quantize (W8/A16) and emit the RTL into `out`: manifest, weight + table
    bits."""
    torch.manual_seed(0)
    model = Classifier(config.cell, config.inputs, config.hidden).eval()
    onnx_path = out / "model.onnx"
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(2, steps, dtype=torch.long),),
            str(onnx_path),
            dynamo=False,
            input_names=["tokens"],
            output_names=["logits"],
        )
    tokens = np.random.default_rng(0).integers(0, VOCAB, (2, steps))
    policy = load_config(None, weight_bits=WEIGHT_BITS, activation_bits=16)
    with contextlib.redirect_stderr(io.StringIO()):
        module, _ = quantize_model(load_model(onnx_path), {"tokens": tokens}, policy)
    stored = model.weight_bits() + table_bits(module)
    emitted = emit_verilog(module, out / "rtl", config.lanes)
    return emitted.manifest(), stored


def place(sources_dir: Path, targets, args, label: str) -> dict:
    files, workdir, top = sr.collect_sources([sources_dir])
    return sr.synth_report(
        files,
        top or sr.find_top(files),
        workdir=workdir,
        targets=targets,
        freq_mhz=args.freq,
        timeout=args.timeout,
        progress=sr.stderr_progress(f"hw_qor {label}"),
    )


def measure(config: Config, args, tmp: Path) -> dict:
    start = time.perf_counter()
    work = tmp / config.name.replace(" ", "_").replace("=", "")
    manifest, stored_bits = emit(config, args.steps, work)
    report = place(work / "rtl", args.targets, args, config.name)
    stage = manifest["stages"][0]  # the recurrence
    macs, cycles = stage["macs"], stage["cycles_per_step"]
    e, x = report["ecp5"], report.get("xilinx")
    fmax = e["fmax_mhz"]
    row = {
        "design": config.name,
        "cell": config.cell,
        "hidden": config.hidden,
        "inputs": config.inputs,
        "lanes": config.lanes,
        "steps": args.steps,
        "weight_and_table_bits": stored_bits,
        "macs_per_step": macs,
        "cycles_per_step": cycles,
        "cycles_ratio": cycles / (macs / config.lanes),
        "mult18": e["mult18"],
        "dp16kd": e["dp16kd"],
        "ebr_ratio": e["ebr_bits"] / stored_bits,
        "luts": e["luts"],
        "ffs": e["ffs"],
        "fmax_mhz": fmax,
        "gops": 2 * macs / cycles * fmax * 1e-3 if fmax else None,
        "critical_path": e.get("critical_path"),
        "synth_seconds": e["synth_seconds"],
        "pnr_seconds": e["pnr_seconds"],
        "seconds": round(time.perf_counter() - start, 1),
    }
    if x is not None:
        bram18 = 2 * x["bram36_equiv"]  # RAMB18 equivalents
        row |= {
            "dsp48": x["dsps"],
            "ramb_ratio": bram18 * RAMB18_BITS / stored_bits,
            "xilinx_luts": x["luts"],
            "xilinx_ffs": x["ffs"],
        }
    return row


def lone_mac(args, tmp: Path) -> dict:
    src = tmp / "lone_mac"
    src.mkdir()
    (src / "lone_mac.sv").write_text(LONE_MAC)
    e = place(src, ("ecp5",), args, "lone MAC")["ecp5"]
    return {"fmax_mhz": e["fmax_mhz"], "mult18": e["mult18"], "ffs": e["ffs"]}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict], mac: dict) -> str:
    head = (
        f"{'design':<16} {'MULT18':>6} {'DSP48':>5} {'EBR/WT':>6} {'RAM/WT':>6} "
        f"{'LUT':>6} {'FF':>6} {'fmax':>6} {'÷MAC':>5} {'cyc÷MACs/P':>10} "
        f"{'GOP/s':>6}"
    )
    lines = [head]
    for r in rows:
        ratio = r["fmax_mhz"] / mac["fmax_mhz"] if r["fmax_mhz"] else None
        lines.append(
            f"{r['design']:<16} {r['mult18']:>6} {_fmt(r.get('dsp48'), 'd'):>5} "
            f"{r['ebr_ratio']:>6.2f} {_fmt(r.get('ramb_ratio'), '.2f'):>6} "
            f"{r['luts']:>6} {r['ffs']:>6} {_fmt(r['fmax_mhz'], '.1f'):>6} "
            f"{_fmt(ratio, '.2f'):>5} {r['cycles_ratio']:>10.3f} "
            f"{_fmt(r['gops'], '.3f'):>6}"
        )
    lines.append(
        f"{'lone 16x8 MAC':<16} {mac['mult18']:>6} {'':>5} {'':>6} {'':>6} "
        f"{'':>6} {mac['ffs']:>6} {mac['fmax_mhz']:>6.1f} {1:>5.2f}"
    )
    lines.append("critical paths (nextpnr-ecp5):")
    for r in rows:
        path = r.get("critical_path")
        if path:
            lines.append(
                f"  {r['design']}: {path['ns']:.2f} ns ({path['logic_ns']:.2f} "
                f"logic) {' -> '.join(path['through'])}"
            )
    return "\n".join(lines)


def conditions(args) -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_start": os.getloadavg(),
        "device": f"{sr.ECP5.name} speed {sr.ECP5.speed} {sr.ECP5.package}",
        "nextpnr_target_mhz": args.freq or sr.ECP5_FREQ_MHZ,
        "steps": args.steps,
        "jobs": args.jobs,
        "tools": {
            "yosys": simulate.tool_version("yosys"),
            "nextpnr-ecp5": simulate.tool_version(sr.NEXTPNR_ECP5),
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lanes", default="1,4,16,64", help="MAC lanes P, comma-separated")
    p.add_argument("--cells", default="lstm,gru", help="lstm and/or gru")
    p.add_argument("--hidden", default="64,128", help="hidden sizes")
    p.add_argument("--jobs", type=int, default=1, help="designs placed at once")
    p.add_argument("--steps", type=int, default=8, help="sequence length T")
    p.add_argument("--freq", type=float, help="nextpnr target MHz (default 100)")
    p.add_argument("--timeout", type=float, default=7200.0, help="s per tool run")
    p.add_argument("--json", help="also write conditions and rows here")
    p.add_argument("--no-xilinx", action="store_true", help="ECP5 only")
    args = p.parse_args()
    args.targets = ("ecp5",) if args.no_xilinx else ("xilinx", "ecp5")
    configs = [
        Config(cell, int(h), int(lanes))
        for cell in args.cells.split(",")
        for h in args.hidden.split(",")
        for lanes in args.lanes.split(",")
    ]
    info = conditions(args)
    print(f"# {info['device']}; {info['tools']}; T={args.steps}", file=sys.stderr)
    rows: list[dict] = []

    def save() -> None:  # after every design: a long run keeps what it measured
        if args.json:
            out = {"conditions": info, "lone_mac": mac, "rows": rows}
            Path(args.json).write_text(json.dumps(out, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="hw_qor-") as tmp:
        mac = lone_mac(args, Path(tmp))
        save()
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(measure, c, args, Path(tmp)) for c in configs]
            for future in as_completed(futures):
                row = future.result()
                rows.append(row)
                rows.sort(key=lambda r: (r["cell"], r["hidden"], r["lanes"]))
                print(table([row], mac).splitlines()[1], file=sys.stderr)
                save()
    print(table(rows, mac))


if __name__ == "__main__":
    main()
