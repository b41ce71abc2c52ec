"""Sweeps: a grid of quantization configurations, evaluated in parallel on Dask.

    points = grid(base, weight_bits=[4, 8], act_bits=[8, 16], methods=["lut"],
                  fits=["cover", "mse"])
    result = run_sweep("model.onnx", "imdb", points, workers=2, limit=500)
    write_outputs(result, "outdir/")   # sweep.csv, sweep.json, two PNG plots

Every grid point is one independent evaluation (rnnc.lab.evaluate) on a Dask worker:
by default a LocalCluster of `workers` processes with one thread each, or the
cluster of an existing scheduler (`scheduler="tcp://host:8786"`; its workers need
rnnc installed and the model and data at the same paths). Each worker process
first builds, once, what does not depend on the configuration (data, float run,
calibrated ranges per activation method, see evaluate.Prepared); the grid tasks
are then timed on their own, so the speed-up printed (sum of the task times /
wall time of the grid) measures the parallelism of the evaluations.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rnnc.dialects.errors import RnncError
from rnnc.lab import evaluate
from rnnc.passes.quant_config import ACT_CLASSES, WEIGHT_FITS, QuantConfig

METHODS = ("lut", "pwl", "hard")
MARKERS = {"lut": "o", "pwl": "s", "hard": "^"}
CSV_FIELDS = (
    "model",
    "dataset",
    "split",
    "metric",
    "weight_bits",
    "act_bits",
    "activation",
    "weight_fit",
    "float",
    "fixed",
    "delta",
    "weight_bytes",
    "float32_bytes",
    "reduction_pct",
    "overflows",
    "seconds",
    "pareto",
)
KB = 1024


@dataclass(frozen=True)
class Point:
    weight_bits: int
    act_bits: int
    activation: str
    config: QuantConfig

    @property
    def weight_fit(self) -> str:
        return self.config.weight_fit


def parse_ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise RnncError(f"bad {flag} '{text}', expected integers like 4,8,16") from None
    if not values:
        raise RnncError(f"{flag} is empty")
    return values


def _parse_choices(text: str, choices: Sequence[str], flag: str) -> list[str]:
    picked = [c.strip() for c in text.split(",") if c.strip()]
    if not picked or any(c not in choices for c in picked):
        raise RnncError(f"bad {flag} '{text}', expected a list of {', '.join(choices)}")
    return picked


def parse_methods(text: str) -> list[str]:
    return _parse_choices(text, METHODS, "--activation")


def parse_fits(text: str | None, base: QuantConfig) -> list[str]:
    """Comma-separated weight fits; None keeps the base policy's."""
    if text is None:
        return [base.weight_fit]
    return _parse_choices(text, WEIGHT_FITS, "--weight-fit")


def grid(
    base: QuantConfig,
    weight_bits: Sequence[int],
    act_bits: Sequence[int],
    methods: Sequence[str],
    fits: Sequence[str] | None = None,
) -> list[Point]:
    """One point per (weight fit, method, act bits, weight bits); act bits set
    every activation-like class (as --act-bits does), the rest comes from `base`."""
    points = []
    for fit in dict.fromkeys(fits or [base.weight_fit]):
        for method in dict.fromkeys(methods):
            for a in dict.fromkeys(act_bits):
                for w in dict.fromkeys(weight_bits):
                    bits = {**base.bits, "weight": w, **{c: a for c in ACT_CLASSES}}
                    config = replace(
                        base, bits=bits, activation_method=method, weight_fit=fit
                    )
                    points.append(Point(w, a, method, config.validate()))
    return points


def pareto_front(
    memory: Sequence[float], metric: Sequence[float], higher_is_better: bool
) -> list[int]:
    """Indices of the points no other point beats (less or equal memory and a
    better or equal metric, one of them strictly), by increasing memory; of equal
    points, the first."""
    sign = -1 if higher_is_better else 1
    order = sorted(range(len(memory)), key=lambda i: (memory[i], sign * metric[i], i))
    front, best = [], math.inf
    for i in order:
        if sign * metric[i] < best:
            front.append(i)
            best = sign * metric[i]
    return front


# ---------------------------------------------------------------- on a worker

_CACHE: dict = {}  # per worker process: evaluate.Prepared, reused across tasks


def _prepare(model: str, dataset: str, settings: dict) -> evaluate.Prepared:
    return evaluate.prepare(model, dataset, cache=_CACHE, progress=False, **settings)


def _warm(model: str, dataset: str, settings: dict, configs: list) -> float:
    """Float run, calibration and ranges for each activation method."""
    start = time.perf_counter()
    prep = _prepare(model, dataset, settings)
    for config in configs:
        prep.quantize(config)
    return time.perf_counter() - start


def _evaluate_point(point: Point, model: str, dataset: str, settings: dict) -> dict:
    start = time.perf_counter()
    result = _prepare(model, dataset, settings).run(point.config, progress=False)
    mem = result.memory
    return {
        "weight_bits": point.weight_bits,
        "act_bits": point.act_bits,
        "activation": point.activation,
        "weight_fit": point.weight_fit,
        "metric": result.metric,
        "samples": result.samples,
        "float": result.float_metric,
        "fixed": result.fixed_metric,
        "delta": result.delta,
        "weight_bytes": math.ceil(mem.total_bits / 8),
        "float32_bytes": mem.float_bits // 8,
        "reduction_pct": 100 * mem.reduction,
        "overflows": result.overflows,
        "seconds": time.perf_counter() - start,
    }


# ---------------------------------------------------------------- the driver


@dataclass
class SweepResult:
    model: str
    dataset: str
    split: str
    metric: str
    samples: int
    float_metric: float
    rows: list[dict]  # CSV_FIELDS, in grid order
    wall_seconds: float  # the grid, after the warm-up
    warm_seconds: float  # wall time of the warm-up (all workers at once)
    workers: int
    scheduler: str
    settings: dict = field(default_factory=dict)

    @property
    def task_seconds(self) -> float:
        return sum(r["seconds"] for r in self.rows)

    @property
    def speedup(self) -> float:
        return self.task_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def _fmt(self, value: float) -> str:
        return f"{100 * value:.2f}" if self.metric == "accuracy" else f"{value:.3f}"

    def summary(self) -> str:
        name = "acc %" if self.metric == "accuracy" else "ppl"
        lines = [
            f"sweep: {Path(self.model).name} on {self.dataset} {self.split} "
            f"({self.samples} samples), float {name} {self._fmt(self.float_metric)}",
            f"{'method':<6} {'fit':<5} {'act':>3} {'weight':>6} {name:>8} {'delta':>8} "
            f"{'bytes':>10} {'saved':>6} {'ovf':>6} {'s':>6}",
        ]
        for r in self.rows:
            delta = (
                f"{100 * r['delta']:+.2f}"
                if self.metric == "accuracy"
                else f"{r['delta']:+.3f}"
            )
            lines.append(
                f"{r['activation']:<6} {r['weight_fit']:<5} {r['act_bits']:>3} "
                f"{r['weight_bits']:>6} "
                f"{self._fmt(r['fixed']):>8} {delta:>8} "
                f"{r['weight_bytes']:>10} {r['reduction_pct']:>5.1f}% "
                f"{r['overflows']:>6} {r['seconds']:>6.1f}"
                + ("  *" if r["pareto"] else "")
            )
        lines.append("* on the Pareto front (memory vs metric)")
        lines.append(
            f"{len(self.rows)} evaluations on {self.workers} worker(s): "
            f"{self.wall_seconds:.1f} s wall for {self.task_seconds:.1f} s of "
            f"evaluations = {self.speedup:.2f}x speed-up (warm-up, once per worker "
            f"in parallel: {self.warm_seconds:.1f} s)"
        )
        if self.workers > 1:
            lines.append(
                "(task times are measured while the tasks share the machine: if "
                "other jobs use the cores, compare the wall time with --workers 1)"
            )
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "split": self.split,
            "metric": self.metric,
            "samples": self.samples,
            "float": self.float_metric,
            "workers": self.workers,
            "scheduler": self.scheduler,
            "wall_seconds": self.wall_seconds,
            "task_seconds": self.task_seconds,
            "speedup": self.speedup,
            "warm_seconds": self.warm_seconds,
            "rows": self.rows,
            **self.settings,
        }


def run_sweep(
    model_path: str | Path,
    dataset: str,
    points: Sequence[Point],
    *,
    workers: int = 2,
    scheduler: str | None = None,
    log: Callable[[str], None] | None = None,
    **settings,
) -> SweepResult:
    """Evaluate every point; `settings` are rnnc.lab.evaluate.evaluate's keywords
    (limit, split, batch, bptt, calib_size, vocab, max_len)."""
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    log = log or (lambda line: None)
    if not points:
        raise RnncError("the sweep grid is empty")
    if workers < 1:
        raise RnncError(f"--workers must be at least 1, got {workers}")
    settings = evaluate._dataset_kwargs(model_path, dataset, settings)
    if not Path(model_path).is_file():
        raise RnncError(f"cannot read model '{model_path}': no such file")
    model = str(Path(model_path).resolve())
    methods = {p.activation: p.config for p in points}

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise RnncError(
                f"cannot reach the Dask scheduler '{scheduler}': {err}"
            ) from None
    else:
        # Dask sets MALLOC_TRIM_THRESHOLD_=65536 in its workers; the interpreters
        # allocate many mid-sized arrays, and with it they ran ~1.5x slower.
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
        client = Client(cluster)
    try:
        n_workers = len(client.scheduler_info()["workers"])
        log(f"{n_workers} Dask worker(s); warming up (float run, calibration)")
        start = time.perf_counter()
        client.run(_warm, model, dataset, settings, list(methods.values()))
        warm = time.perf_counter() - start
        log(f"warm-up {warm:.1f} s; evaluating {len(points)} configurations")
        start = time.perf_counter()
        futures = client.map(
            _evaluate_point,
            list(points),
            model=model,
            dataset=dataset,
            settings=settings,
            pure=False,
        )
        index = {f.key: i for i, f in enumerate(futures)}
        rows: list[dict | None] = [None] * len(points)
        for done, (future, row) in enumerate(
            as_completed(futures, with_results=True), 1
        ):
            rows[index[future.key]] = row
            log(
                f"[{done}/{len(points)}] {row['activation']} act {row['act_bits']} "
                f"weight {row['weight_bits']} ({row['weight_fit']} fit): "
                f"{row['metric']} {row['fixed']:.4f} "
                f"({row['seconds']:.1f} s)"
            )
        wall = time.perf_counter() - start
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    first = rows[0]
    front = set(
        pareto_front(
            [r["weight_bytes"] for r in rows],
            [r["fixed"] for r in rows],
            first["metric"] == "accuracy",
        )
    )
    table = []
    for i, r in enumerate(rows):
        table.append(
            {
                "model": Path(model).name,
                "dataset": dataset,
                "split": settings.get("split", "test"),
                **{k: r[k] for k in CSV_FIELDS if k in r},
                "pareto": i in front,
            }
        )
    return SweepResult(
        model=model,
        dataset=dataset,
        split=settings.get("split", "test"),
        metric=first["metric"],
        samples=first["samples"],
        float_metric=first["float"],
        rows=table,
        wall_seconds=wall,
        warm_seconds=warm,
        workers=n_workers,
        scheduler=scheduler or "local",
        settings={k: v for k, v in settings.items() if k != "split"},
    )


# ------------------------------------------------------------------- outputs


def write_csv(result: SweepResult, path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in result.rows:
            writer.writerow({k: row[k] for k in CSV_FIELDS})


def _axis(result: SweepResult) -> tuple[float, str]:
    if result.metric == "accuracy":
        return 100.0, "accuracy [%]"
    return 1.0, "perplexity [per word]"


def _title(result: SweepResult, what: str) -> str:
    unit = "reviews" if result.dataset == "imdb" else "tokens"
    return (
        f"{Path(result.model).name} on {result.dataset} ({result.split}, "
        f"{result.samples} {unit}): {what}"
    )


def _log_y(ax, values: Sequence[float], metric: str) -> None:
    if metric == "perplexity" and min(values) > 0 and max(values) / min(values) > 3:
        ax.set_yscale("log")


def _zoom(ax, result: SweepResult, scale: float) -> None:
    """Leave out points far worse than the rest (never Pareto points) so the front
    stays readable, and say so: accuracy drops of more than 5x the median drop and
    2 pp; perplexity rises of more than 5x the median rise and 20 %."""
    rows = result.rows
    if len(rows) < 3:
        return
    if result.metric == "accuracy":

        def loss(r):
            return -r["delta"]

        floor = 0.02
    else:

        def loss(r):
            return r["delta"] / result.float_metric

        floor = 0.2
    losses = sorted(loss(r) for r in rows)
    cut = max(5 * losses[len(losses) // 2], floor)
    off = [r for r in rows if loss(r) > cut and not r["pareto"]]
    if not off:
        return
    keep = [r["fixed"] for r in rows if r not in off] + [result.float_metric]
    pad = 0.1 * (max(keep) - min(keep)) + (0.005 if scale != 1 else 0.01 * min(keep))
    ax.set_ylim((min(keep) - pad) * scale, (max(keep) + pad) * scale)
    worst = [r["fixed"] * scale for r in off]
    where = (
        f"below the axis, down to {min(worst):.1f} %"
        if result.metric == "accuracy"
        else f"above the axis, up to {max(worst):.1f}"
    )
    ax.text(
        0.01,
        0.01,
        f"{len(off)} configuration(s) {where} (see sweep.csv)",
        transform=ax.transAxes,
        fontsize=8,
        color="dimgrey",
    )


@dataclass
class _Series:
    """The grid points of one (weight fit, method, act bits): one legend entry."""

    label: str
    method: str
    act_bits: int
    filled: bool  # the mse fit filled, the cover fit hollow (when both occur)
    rows: list[dict]


def _series(rows: Sequence[dict]) -> list[_Series]:
    fits = list(dict.fromkeys(r["weight_fit"] for r in rows))
    out: dict[tuple, _Series] = {}
    for r in rows:
        key = (r["weight_fit"], r["activation"], r["act_bits"])
        if key not in out:
            label = f"{r['activation']}, activations {r['act_bits']} bits"
            if len(fits) > 1:
                label += f", {r['weight_fit']} weight fit"
            filled = len(fits) == 1 or r["weight_fit"] == "mse"
            out[key] = _Series(label, r["activation"], r["act_bits"], filled, [])
        out[key].rows.append(r)
    return sorted(out.values(), key=lambda s: (s.method, s.act_bits, not s.filled))


def _point_label(r: dict, rows: Sequence[dict]) -> str:
    text = f"w{r['weight_bits']}/a{r['act_bits']} {r['activation']}"
    if len({x["weight_fit"] for x in rows}) > 1:
        text += f" {r['weight_fit']}"
    return text


def plot_pareto(result: SweepResult, path: str | Path) -> None:
    """Metric vs memory footprint: a marker style per activation method, a colour
    per activation width, hollow markers for the cover weight fit when the grid
    also has mse, the Pareto front connected, the float baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, ylabel = _axis(result)
    rows = result.rows
    acts = sorted({r["act_bits"] for r in rows})
    cmap = plt.get_cmap("viridis")
    colour = {a: cmap(i / max(1, len(acts) - 1) * 0.85) for i, a in enumerate(acts)}
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for series in _series(rows):
        ax.scatter(
            [r["weight_bytes"] / KB for r in series.rows],
            [r["fixed"] * scale for r in series.rows],
            marker=MARKERS.get(series.method, "o"),
            facecolors=colour[series.act_bits] if series.filled else "none",
            edgecolors=colour[series.act_bits],
            s=45,
            alpha=0.85,
            label=series.label,
            zorder=3,
        )
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["weight_bytes"])
    fx = [r["weight_bytes"] / KB for r in front]
    fy = [r["fixed"] * scale for r in front]
    ax.plot(fx, fy, "-", color="crimson", lw=1.5, zorder=2, label="Pareto front")
    ax.scatter(fx, fy, s=160, facecolors="none", edgecolors="crimson", lw=1.5, zorder=4)
    for i, (r, x, y) in enumerate(zip(front, fx, fy, strict=True)):
        ax.annotate(
            _point_label(r, rows),
            (x, y),
            textcoords="offset points",
            xytext=(7, -13 if i % 2 == 0 else 7),
            fontsize=7,
            color="crimson",
        )
    ax.axhline(
        result.float_metric * scale,
        color="grey",
        ls="--",
        lw=1,
        label=f"float32 baseline ({result.float_metric * scale:.4g})",
    )
    _log_y(ax, [r["fixed"] for r in rows] + [result.float_metric], result.metric)
    _zoom(ax, result, scale)
    ax.set_xlabel("memory footprint: weights + biases + tables [KB, 1 KB = 1024 B]")
    ax.set_ylabel(ylabel)
    ax.set_title(_title(result, f"{result.metric} vs memory"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_bits(result: SweepResult, path: str | Path) -> None:
    """Metric vs weight word length, a line per (weight fit, activation method,
    width); the cover fit dashed when the grid also has mse."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, ylabel = _axis(result)
    rows = result.rows
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for series in _series(rows):
        pts = sorted(series.rows, key=lambda r: r["weight_bits"])
        ax.plot(
            [r["weight_bits"] for r in pts],
            [r["fixed"] * scale for r in pts],
            marker=MARKERS.get(series.method, "o"),
            ls="-" if series.filled else "--",
            label=series.label,
        )
    ax.axhline(
        result.float_metric * scale, color="grey", ls="--", lw=1, label="float32"
    )
    _log_y(ax, [r["fixed"] for r in rows] + [result.float_metric], result.metric)
    ax.set_xlabel("weight word length [bits]")
    ax.set_ylabel(ylabel)
    ax.set_title(_title(result, f"{result.metric} vs weight bits"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(result: SweepResult, outdir: str | Path) -> list[Path]:
    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RnncError(f"cannot create '{out}': {err.strerror}") from None
    files = [out / "sweep.csv", out / "sweep.json"]
    files += [out / "sweep_pareto.png", out / "sweep_bits.png"]
    write_csv(result, files[0])
    files[1].write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    plot_pareto(result, files[2])
    plot_bits(result, files[3])
    return files


def stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
