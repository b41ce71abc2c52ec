"""Regenerate docs/results.md: rnnc's uniform configurations, the configuration
`rnnc search` chose and the peer quantizers, on the trained models that exist.

    python -m rnnc.lab.results [--limit N] [--out docs/results.md] [--models DIR]

For each of models/{imdb_lstm,imdb_gru,ptb_lstm,ptb_gru}.onnx that exists: the
float and fixed-point metric of rnnc at the paper's uniform word lengths
(CONFIGS), of models/<name>.search.toml if there is one, and of the peers in
rnnc.lab.peers, all on the same test data (`--limit`: the rnnc eval subset) — one
table in the paper's Table-3 format plus the memory footprints. Pareto plots
<plots>/<name>_pareto.png (default docs/plots/) are linked when they exist.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_loader import load_model
from rnnc.lab import evaluate as ev
from rnnc.lab import peers
from rnnc.passes.quant_config import ACT_CLASSES, CLASSES, QuantConfig, load_config

MODELS = ("imdb_lstm", "imdb_gru", "ptb_lstm", "ptb_gru")
# Word lengths W/A (weights / activation-like classes) and weight fit per
# dataset, 8-bit-index LUTs; the rest is load_config's default: bias 16,
# accumulator 32, half-even, saturate, calibrated ranges.
CONFIGS = {
    "imdb": [
        (16, 16, "cover", ""),
        (8, 16, "cover", ""),
        (8, 8, "cover", ""),
        (6, 8, "cover", ""),
        (4, 8, "cover", ""),
        (4, 8, "mse", ""),
        (3, 16, "cover", ""),
        (3, 16, "mse", ""),
        (3, 8, "mse", ""),
    ],
    "ptb": [
        (8, 16, "cover", ""),
        (8, 10, "cover", ""),
        (6, 16, "cover", ""),
        (6, 16, "mse", ""),
        (5, 16, "mse", ""),
    ],
}
EXTRA_CONFIGS = {
    ("ptb", "LSTM"): [(11, 10, "cover", "paper's LSTM W/A")],
    ("ptb", "GRU"): [(8, 3, "cover", "paper's GRU W/A")],
}
PAPER = [
    "IMDb (LSTM and GRU): up to 90 % memory reduction with less than 1 % accuracy "
    "loss.",
    "PTB LSTM 1×300: 11-bit weights / 10-bit activations, 92.8 → 93.7 perplexity "
    "per word (PPW).",
    "PTB GRU 1×300: 8-bit weights / 3-bit activations, 91.3 → 90.6 PPW.",
]


# The tables of docs/results.md: 256 entries whatever A (the default grows them
# with A, which would change the committed rows at A > 8).
UNIFORM_LUT_BITS = 8


def uniform(weight: int, act: int, fit: str = "cover") -> QuantConfig:
    return load_config(
        weight_bits=weight,
        weight_fit=fit,
        lut_bits=UNIFORM_LUT_BITS,
        **{f"{c}_bits": act for c in ACT_CLASSES},
    )


@dataclass
class Row:
    method: str
    w_bits: str
    a_bits: str
    float_metric: float | None
    quant_metric: float | None
    weight_bytes: int | None
    float32_bytes: int | None
    seconds: float = 0.0
    error: str = ""
    overflows: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        if self.float_metric is None or self.quant_metric is None:
            return None
        return self.quant_metric - self.float_metric

    def reduction(self, baseline: int | None) -> float | None:
        """Fraction saved against `baseline` (the float32 model's parameters)."""
        if not self.weight_bytes or not baseline:
            return None
        return 1 - self.weight_bytes / baseline


@dataclass
class ModelResult:
    name: str
    dataset: str
    cell: str
    layers: int
    units: int
    metric: str
    samples: int = 0
    rows: list[Row] = field(default_factory=list)
    float_metrics: dict[str, float] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    plot: str | None = None
    float32_bytes: int = 0  # the float model's parameters: every row's baseline


def _architecture(model: onnx.ModelProto, path: Path) -> tuple[str, int, int]:
    cells = [n for n in model.graph.node if n.op_type in ("LSTM", "GRU", "RNN")]
    if not cells:
        raise RnncError(f"'{path}' has no LSTM/GRU/RNN node")
    units = next(
        (a.i for a in cells[0].attribute if a.name == "hidden_size"),
        0,
    )
    return cells[0].op_type, len(cells), units


def _bits(config: QuantConfig) -> tuple[str, str]:
    w = str(config.bits["weight"])
    if config.overrides:
        w += f" (+{len(config.overrides)} overrides)"
    acts = {config.bits[c] for c in ACT_CLASSES}
    a = (
        str(acts.pop())
        if len(acts) == 1
        else "/".join(f"{c[:3]} {config.bits[c]}" for c in ACT_CLASSES)
    )
    return w, a


def _rnnc_runner(path: Path, dataset: str, limit: int | None) -> Callable:
    """config -> EvalResult; the float run and data are shared when rnnc.lab.evaluate
    has `prepare`."""
    if hasattr(ev, "prepare"):
        prepared = ev.prepare(path, dataset, limit=limit, progress=False)
        return lambda config: prepared.run(config, progress=False)
    return lambda config: ev.evaluate(
        path, dataset, config=config, limit=limit, progress=False
    )


def _tied_sizes(model: onnx.ModelProto) -> set[int]:
    """Sizes of initializers a Transpose reads (the tied PTB embedding)."""
    sizes = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    return {
        sizes[n.input[0]]
        for n in model.graph.node
        if n.op_type == "Transpose" and n.input[0] in sizes
    }


def _rnnc_row(
    run: Callable, label: str, config: QuantConfig, notes=(), tied=frozenset()
) -> Row:
    w, a = _bits(config)
    start = time.perf_counter()
    try:
        r = run(config)
    except RnncError as err:
        return Row(label, w, a, None, None, None, None, error=str(err))
    mem = r.memory.as_dict()
    notes = list(notes)
    for size in tied:
        copies = [row.name for row in r.memory.rows if row.count == size]
        if len(copies) > 1:
            notes.append(
                f"the tied matrix ({size:,} values) is stored {len(copies)} times "
                f"({', '.join(copies)}: the embedding and the decoder's folded "
                "transpose)"
            )
    return Row(
        label,
        w,
        a,
        r.float_metric,
        r.fixed_metric,
        mem["total_bytes"],
        mem["float32_bytes"],
        seconds=time.perf_counter() - start,
        overflows=r.overflows,
        notes=notes,
    )


def _search_notes(path: Path, config: QuantConfig) -> list[str]:
    notes = [
        "bits: " + ", ".join(f"{c} {config.bits[c]}" for c in CLASSES),
        f"activation {config.activation_method}, rounding {config.rounding}, "
        f"overflow {config.overflow}, range {config.range}, "
        f"weight fit {config.weight_fit}",
    ]
    if config.overrides:
        notes.append(
            "overrides: " + ", ".join(f"{k} {v}" for k, v in config.overrides.items())
        )
    header = [
        ln.lstrip("# ").rstrip()
        for ln in path.read_text().splitlines()
        if ln.startswith("#")
    ]
    if header:
        notes.append("search header: " + " / ".join(h for h in header if h))
    return notes


def evaluate_model(
    path: Path,
    limit: int | None,
    *,
    with_peers: bool = True,
    plots: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> ModelResult:
    name = path.stem
    dataset = name.split("_")[0]
    model = load_model(path)
    cell, layers, units = _architecture(model, path)
    result = ModelResult(
        name,
        dataset,
        cell,
        layers,
        units,
        "accuracy" if dataset == "imdb" else "perplexity",
        float32_bytes=sum(r.bytes for r in peers.onnx_memory(model)),
    )
    tied = _tied_sizes(model)
    start = time.perf_counter()
    try:
        run = _rnnc_runner(path, dataset, limit)
    except RnncError as err:
        result.details.append(f"rnnc evaluation failed: {err}")
        run = None
    if run is not None:
        for w, a, fit, note in CONFIGS[dataset] + EXTRA_CONFIGS.get(
            (dataset, cell), []
        ):
            label = "rnnc uniform" + (", mse fit" if fit == "mse" else "")
            label += f" ({note})" if note else ""
            row = _rnnc_row(run, label, uniform(w, a, fit), tied=tied)
            if a < 6:
                row.notes.append(
                    f"all five activation-like classes (input, pre-activation, "
                    f"activation, state, output) at {a} bits"
                )
            result.rows.append(row)
            log(
                f"[{name}] rnnc W{w}/A{a} {fit}: "
                f"{_fmt_metric(result, row.quant_metric)} "
                f"({row.seconds:.1f} s){' ' + row.error if row.error else ''}"
            )
        search = path.with_suffix(".search.toml")
        if not search.exists():
            result.details.append(
                f"no `rnnc search` row: {search.name} not found next to the model"
            )
        else:
            try:
                config = load_config(search)
            except RnncError as err:
                result.details.append(f"{search.name} not usable: {err}")
            else:
                row = _rnnc_row(
                    run,
                    f"rnnc search ({search.name})",
                    config,
                    _search_notes(search, config),
                    tied=tied,
                )
                result.rows.append(row)
                log(f"[{name}] rnnc search: {_fmt_metric(result, row.quant_metric)}")
        first = next((r for r in result.rows if r.float_metric is not None), None)
        if first is not None:
            result.float_metrics["rnnc float interpreter"] = first.float_metric
    if with_peers:
        try:
            data = peers.load_data(path, dataset, limit=limit)
            result.samples = data.samples
            got = peers.evaluate_peers(
                path, dataset, data=data, log=lambda m: log(f"[{name}] {m}")
            )
        except RnncError as err:
            result.details.append(f"peers failed: {err}")
            got = []
        for p in got:
            result.rows.append(
                Row(
                    p.method,
                    p.w_bits,
                    p.a_bits,
                    p.float_metric,
                    p.quant_metric,
                    p.weight_bytes,
                    p.float32_bytes,
                    seconds=p.seconds,
                    notes=p.notes,
                )
            )
            label = (
                "onnxruntime float"
                if p.key.startswith("ort")
                else "torch float (rebuilt)"
            )
            result.float_metrics.setdefault(label, p.float_metric)
    if not result.samples and result.rows:
        result.samples = _samples(path, dataset, limit)
    if plots is not None:
        png = plots / f"{name}_pareto.png"
        if png.exists():
            result.plot = str(png)
        else:
            result.details.append(
                f"no Pareto plot: {png} not found (`rnnc sweep ... -o DIR` writes "
                "DIR/sweep_pareto.png)"
            )
    result.seconds = time.perf_counter() - start
    return result


def _samples(path: Path, dataset: str, limit: int | None) -> int:
    try:
        return peers.load_data(path, dataset, limit=limit).samples
    except RnncError:
        return 0


# -------------------------------------------------------------------- markdown


def _fmt_metric(result: ModelResult, value: float | None) -> str:
    if value is None:
        return "—"
    if result.metric == "accuracy":
        return f"{100 * value:.2f} %"
    return f"{value:.2f}"


def _fmt_change(result: ModelResult, value: float | None) -> str:
    if value is None:
        return "—"
    if result.metric == "accuracy":
        return f"{100 * value:+.2f} pp"
    return f"{value:+.2f}"


def _title(result: ModelResult) -> str:
    return f"{'IMDb' if result.dataset == 'imdb' else 'PTB'} {result.cell}"


def table(results: list[ModelResult]) -> list[str]:
    head = [
        "model",
        "layers",
        "units",
        "method",
        "W bits",
        "A bits",
        "FP metric",
        "quantized",
        "change",
        "weight bytes",
        "reduction",
    ]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * 4 + ["--:"] * 7) + "|",
    ]
    for res in results:
        unit = "acc." if res.metric == "accuracy" else "PPW"
        for row in res.rows:
            red = row.reduction(res.float32_bytes)
            cells = [
                _title(res),
                str(res.layers),
                str(res.units),
                row.method,
                row.w_bits,
                row.a_bits,
                f"{_fmt_metric(res, row.float_metric)} {unit}"
                if row.float_metric is not None
                else "—",
                _fmt_metric(res, row.quant_metric),
                _fmt_change(res, row.change),
                f"{row.weight_bytes:,}" if row.weight_bytes else "—",
                f"{100 * red:.1f} %" if red is not None else "—",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _git() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{rev}{' with uncommitted changes' if dirty else ''}" if rev else ""


def _versions() -> str:
    out = [f"Python {platform.python_version()}"]
    for mod in ("numpy", "onnx", "onnxruntime", "torch", "xdsl"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except (ImportError, AttributeError):
            continue
    return ", ".join(out)


def render(
    results: list[ModelResult],
    *,
    command: str,
    limit: int | None,
    missing: list[str],
    seconds: float,
    out: Path,
    date: str,
    load: float = 0.0,
) -> str:
    cores = os.cpu_count()
    git = _git()
    lines = [
        "# Results: rnnc against peer quantizers",
        "",
        f"Generated by `{command}` on {date} in {seconds / 60:.1f} min on a "
        f"{cores}-core CPU ({platform.machine()}, {platform.system()}; load "
        f"average {load:.1f} at the start; a load above the core count means "
        "other jobs shared the cores, so the times are indicative only)"
        + (f"; rnnc at {git}" if git else "")
        + f". {_versions()}.",
        "",
    ]
    if limit is not None:
        lines += [
            f"**Subset: `--limit {limit}`.** IMDb rows use a fixed-seed random subset "
            f"of {limit} test reviews (`rnnc eval --limit {limit}`, "
            f"seed {ev.SUBSET_SEED}); PTB rows use the first {limit} test tokens. "
            "Numbers on a subset differ from full-test-set numbers; rerun without "
            "`--limit` for those.",
            "",
        ]
    else:
        lines += ["Full test sets (25,000 IMDb reviews, all PTB test tokens).", ""]
    if missing:
        lines += [
            "Not in the models folder when this was generated (not evaluated): "
            + ", ".join(f"`{m}`" for m in missing)
            + ".",
            "",
        ]
    lines += ["## Paper's reference numbers (Rapuano, Pacini, Fanucci 2022)", ""]
    lines += [f"- {p}" for p in PAPER] + [""]
    lines += [
        "## Table (paper's Table-3 format)",
        "",
        "FP metric: the float model's test accuracy (IMDb) or perplexity per word "
        "(PTB, lower is better) as each method's own runtime computes it; "
        "quantized: the same after quantization; change: quantized − FP "
        "(percentage points for accuracy). Weight bytes: the stored weights after "
        "quantization; reduction: 1 − weight bytes / the float32 model's "
        "parameter bytes, the same baseline for every row of a model (see Memory).",
        "",
        *table(results),
        "",
        "## How each row was produced",
        "",
        "- **rnnc uniform W/A**: `rnnc eval MODEL --dataset D --weight-bits W "
        "--act-bits A --lut-bits 8` — weights (embedding, recurrent and input "
        "matrices, classifier/decoder) W bits; input, pre-activation, activation, "
        "state and output A bits; bias 16 and accumulator 32 bits; sigmoid/tanh as "
        "256-entry tables; half-even rounding, saturation; formats from ranges "
        "calibrated on "
        f"{ev.DEFAULT_CALIB['imdb']} train reviews (IMDb) / "
        f"{ev.DEFAULT_CALIB['ptb']} train windows (PTB). Run bit-accurately by the "
        "fxp interpreter; the FP metric is rnnc's float interpreter. *mse fit*: "
        "`--weight-fit mse`, the F of each weight and bias by least squared error "
        "instead of covering its range (docs/fixed-point.md).",
        "- **rnnc search**: `models/<name>.search.toml` written by `rnnc search` "
        "(chosen on the validation split, docs/search.md), evaluated here on the "
        "test data like the uniform rows.",
        "- **onnxruntime dynamic**: `onnxruntime.quantization.quantize_dynamic(model, "
        "out, weight_type=QuantType.QInt8)` (no pre-processing), run by onnxruntime. "
        "It quantizes LSTM, MatMul/Gemm and Gather but not GRU (a GRU stays "
        "float32). *Folded* variant (tied PTB models only): the Transpose that "
        "reads the tied embedding is folded into a constant first, so the decoder "
        "MatMul is quantized too.",
        "- **PyTorch dynamic**: `torch.ao.quantization.quantize_dynamic` (qint8) of "
        "nn.LSTM/nn.GRU/nn.Linear in a torch module rebuilt from the ONNX "
        "initializers (gate blocks reordered ONNX iofc → torch ifgo, zrh → rzn); the "
        "rebuilt float module must match onnxruntime within 1e-4 before it is "
        "quantized. nn.Embedding stays float32; *+ 8-bit embedding* also quantizes "
        "it (quint8, float scale and zero point per row).",
        f"- Same data and batching for all rows: batch {ev.DEFAULT_BATCH['imdb']} "
        "reviews (last batch padded), PTB batchified into "
        f"{ev.DEFAULT_BATCH['ptb']} streams and run statefully in "
        f"{peers.PTB_BPTT}-token windows.",
        "- A bits `8 dyn`: dynamic quantization quantizes the inputs of the "
        "integer matrix products to 8 bits per call (range of that tensor at run "
        "time); everything else (gates, states, biases, softmax) is float32.",
        "",
        "## Memory",
        "",
        "- Baseline: the float32 model's parameters (the ONNX initializers "
        "the graph reads, 4 bytes each; shape constants not counted; the tied PTB "
        "embedding/decoder once, as the ONNX file stores it).",
        "- rnnc: the footprint `rnnc report` prints (rnnc/memory_report.py): "
        "every stored constant bit-packed at its width — weights, biases, "
        "activation tables; initial-state constants are not memory, and equal "
        "contents (a tied embedding and its transposed use as the decoder) count "
        "once. Its own float32 count (per model below) is a little smaller than "
        "the baseline because rnnc adds the ONNX input and recurrent bias pairs "
        "where the cell allows; `rnnc eval` prints its reduction against that "
        "count. A per-row note says so if a tied matrix is stored more than once.",
        "- Peers: what the quantized graph / module stores: 8-bit values 1 byte "
        "each, scales 4 bytes, zero points 1 byte (4 for torch's per-row float "
        "zero points), unquantized tensors 4 bytes per value. A float tensor "
        "read twice (the tied embedding) counts once; torch's and onnxruntime's "
        "separate 8-bit copies of it count separately.",
        "",
        "## Per model",
        "",
    ]
    for res in results:
        lines += [f"### {_title(res)} ({res.name}, {res.layers}×{res.units})", ""]
        what = "test reviews" if res.dataset == "imdb" else "predicted test tokens"
        lines.append(
            f"- {res.samples:,} {what}; {res.seconds:.0f} s for this model's rows."
        )
        if res.float_metrics:
            lines.append(
                "- float metric by runtime (should agree): "
                + "; ".join(
                    f"{k} {_fmt_metric(res, v)}" for k, v in res.float_metrics.items()
                )
            )
        lines.append(
            f"- float32 baseline of every row's reduction: {res.float32_bytes:,} "
            f"bytes ({res.float32_bytes // 4:,} parameters)."
        )
        own = sorted(
            {r.float32_bytes for r in res.rows if r.float32_bytes} - {res.float32_bytes}
        )
        if own:
            lines.append(
                "- float32 size as the methods count it themselves: "
                + ", ".join(f"{b:,}" for b in own)
                + " bytes (rnnc report's own count of its constants; see Memory)."
            )
        for row in res.rows:
            extra = []
            if row.overflows:
                extra.append(f"{row.overflows:,} values saturated")
            extra += row.notes
            if row.error:
                extra.append(f"failed: {row.error}")
            timing = f" ({row.seconds:.0f} s)" if row.seconds else ""
            if extra or timing:
                lines.append(
                    f"- {row.method} (W {row.w_bits}, A {row.a_bits}){timing}"
                    + (": " + "; ".join(extra) if extra else "")
                )
        lines += [f"- {d}" for d in res.details]
        if res.plot:
            rel = os.path.relpath(res.plot, out.parent)
            lines += ["", f"![{res.name} Pareto front]({rel})", "", f"[{rel}]({rel})"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m rnnc.lab.results",
        description="Regenerate docs/results.md: rnnc configurations and peer "
        "quantizers on the trained models in --models.",
    )
    p.add_argument(
        "--limit",
        type=int,
        help="IMDb test reviews (fixed-seed subset) / PTB test tokens per model",
    )
    p.add_argument("--out", default="docs/results.md", help="markdown file to write")
    p.add_argument("--models", default="models", help="folder with <name>.onnx")
    p.add_argument(
        "--plots", help="folder with <name>_pareto.png (default: <out folder>/plots)"
    )
    p.add_argument("--json", help="also write the rows as JSON")
    p.add_argument("--no-peers", action="store_true", help="rnnc rows only")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    out = Path(args.out)
    models = Path(args.models)
    plots = Path(args.plots) if args.plots else out.parent / "plots"

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    start = time.perf_counter()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    present = [m for m in MODELS if (models / f"{m}.onnx").exists()]
    missing = [m for m in MODELS if m not in present]
    if not present:
        print(
            f"rnnc.lab.results: error: none of {MODELS} in '{models}'", file=sys.stderr
        )
        return 2
    results = []
    for name in present:
        log(f"[{name}] evaluating ...")
        try:
            results.append(
                evaluate_model(
                    models / f"{name}.onnx",
                    args.limit,
                    with_peers=not args.no_peers,
                    plots=plots,
                    log=log,
                )
            )
        except RnncError as err:
            print(f"rnnc.lab.results: error: {name}: {err}", file=sys.stderr)
            return 2
    command = "python -m rnnc.lab.results" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    text = render(
        results,
        command=command,
        limit=args.limit,
        missing=missing,
        seconds=time.perf_counter() - start,
        out=out,
        date=date,
        load=load,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        **{k: v for k, v in vars(r).items() if k != "rows"},
                        "rows": [
                            {
                                **vars(row),
                                "change": row.change,
                                "reduction": row.reduction(r.float32_bytes),
                            }
                            for row in r.rows
                        ],
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    log(f"wrote {out} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
