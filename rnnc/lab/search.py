"""Automatic word-length search (see docs/search.md).

    search(model, "imdb", budget=0.005, limit=1000) -> SearchResult

Finds the smallest memory footprint (weights + biases + activation tables, as
memory_report counts it) whose metric on the VALIDATION split stays within a
budget of the float metric: accuracy may drop by at most `budget` (absolute, so
0.005 = 0.5 percentage points), perplexity may grow by at most `budget`
(relative). The test split is never read.

Phases, each keeping every change that stays within budget:
  start     the given (wide) configuration; it must be within budget itself
  class     per tensor class that holds memory, largest first: binary search of
            its word length, from its current width down to 2, the others fixed
  tensor    per weight tensor, largest first: its class width minus 1, then 2
            bits, as an override by SSA name (mixed precision)
  datapath  the classes that hold no memory (input, accumulator, ...): binary
            search too, narrowing the datapath at no memory cost (skipped with
            memory_only)

The float run, the calibration arrays and the calibrated ranges are computed once
(rnnc.lab.evaluate.Prepared); each evaluation quantizes (assign-formats, lower) and
runs the fixed-point model. Every configuration is evaluated at most once, and
the chosen one is always one that was evaluated, so its metric is reproducible.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format
from rnnc.lab import evaluate
from rnnc.memory_report import MemoryTable, memory_report
from rnnc.outputs import output_file
from rnnc.passes.quant_config import CLASSES, QuantConfig

MIN_BITS = 2
# Standard errors of the paired change the budget must hold by (docs/search.md):
# a change at the edge of the budget on the validation split is as likely to
# miss it as to meet it on the test split.
DEFAULT_MARGIN = 1.0
TOLERANCE = 1e-9  # float noise when comparing a metric with the budget


def parse_budget(text: str | float) -> float:
    """'0.5%' -> 0.005; a bare number is a fraction ('0.005' -> 0.005)."""
    raw = str(text).strip()
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        raise RnncError(
            f"bad --budget '{text}', expected a percentage like 0.5% or a fraction"
        ) from None
    if raw.endswith("%"):
        value /= 100
    if not 0 <= value < 1 or math.isnan(value):
        raise RnncError(f"--budget must be in [0%, 100%), got '{text}'")
    return value


def within(
    metric: str,
    float_metric: float,
    fixed_metric: float,
    budget: float,
    se: float = 0.0,
    margin: float = 0.0,
) -> bool:
    """Accuracy: absolute drop <= budget; perplexity: relative rise <= budget,
    compared as log(fixed / float) <= log(1 + budget). With a margin of z
    standard errors of the paired difference (EvalResult.paired_se, on the same
    scale), the drop or log-ratio plus z·se must fit: an upper confidence bound."""
    if metric == "accuracy":
        change = float_metric - fixed_metric
        limit = budget
    else:
        change = math.log(fixed_metric / float_metric)
        limit = math.log1p(budget)
    return change + margin * se <= limit + TOLERANCE


@dataclass
class Trial:
    index: int  # 0 = start
    phase: str
    change: str
    bits: dict[str, int]
    overrides: dict[str, int | Format]
    metric: float
    memory_bytes: int
    ok: bool
    overflows: int
    seconds: float
    same_as: int | None = None  # same fixed-point module as this trial: not run
    se: float = 0.0  # paired standard error of the change (EvalResult.paired_se)

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "phase": self.phase,
            "change": self.change,
            "same_as": self.same_as,
            "bits": dict(self.bits),
            "overrides": {k: str(v) for k, v in self.overrides.items()},
            "metric": self.metric,
            "paired_se": self.se,
            "memory_bytes": self.memory_bytes,
            "within_budget": self.ok,
            "overflows": self.overflows,
            "seconds": self.seconds,
        }


@dataclass
class SearchResult:
    model: str
    dataset: str
    split: str
    metric: str
    budget: float
    float_metric: float
    samples: int
    start: Trial
    chosen: Trial
    config: QuantConfig
    memory: MemoryTable  # of the chosen configuration
    trials: list[Trial]
    seconds: float
    prepare_seconds: float
    stopped: str = ""  # why the search ended early (max evaluations), if it did
    settings: dict = field(default_factory=dict)

    @property
    def evaluations(self) -> int:
        """Fixed-point runs (configurations giving an already evaluated module
        reuse its result)."""
        return sum(t.same_as is None for t in self.trials)

    @property
    def float32_bytes(self) -> int:
        return self.memory.float_bits // 8

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "split": self.split,
            "metric": self.metric,
            "budget": self.budget,
            "float": self.float_metric,
            "fixed": self.chosen.metric,
            "delta": self.chosen.metric - self.float_metric,
            "samples": self.samples,
            "bits": dict(self.config.bits),
            "overrides": {k: str(v) for k, v in self.config.overrides.items()},
            "memory_bytes": self.chosen.memory_bytes,
            "start_memory_bytes": self.start.memory_bytes,
            "float32_bytes": self.float32_bytes,
            "memory_reduction": self.memory.reduction,
            "memory": self.memory.as_dict(),
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "prepare_seconds": self.prepare_seconds,
            "stopped": self.stopped,
            "config": evaluate._config_dict(self.config),
            "trials": [t.as_dict() for t in self.trials],
            **self.settings,
        }

    def _fmt(self, value: float) -> str:
        if self.metric == "accuracy":
            return f"{100 * value:.2f} %"
        return f"{value:.3f}"

    def budget_text(self) -> str:
        if self.metric == "accuracy":
            text = f"accuracy drop <= {100 * self.budget:.3g} pp"
        else:
            text = f"perplexity rise <= {100 * self.budget:.3g} %"
        margin = self.settings.get("margin", 0)
        return text + (f" by {margin:g} standard error(s)" if margin else "")

    def table(self) -> str:
        start, chosen = self.start, self.chosen
        unit = "reviews" if self.dataset == "imdb" else "predicted tokens"
        lines = [
            f"word-length search: {Path(self.model).name}, {self.dataset} "
            f"{self.split} ({self.samples} {unit}), {self.budget_text()}",
            "",
            f"{'class':<14} {'start':>5} {'chosen':>6}",
        ]
        for cls in CLASSES:
            lines.append(f"{cls:<14} {start.bits[cls]:>5} {chosen.bits[cls]:>6}")
        for name, spec in self.config.overrides.items():
            lines.append(f"{'  ' + name:<14} {'':>5} {str(spec):>6}  (override)")
        f32 = self.float32_bytes
        lines += [
            "",
            f"{'':<22} {'float32':>12} {'start':>12} {'chosen':>12}",
            f"{'memory (bytes)':<22} {f32:>12} {start.memory_bytes:>12} "
            f"{chosen.memory_bytes:>12}",
            f"{'  vs float32':<22} {'':>12} "
            f"{_pct(start.memory_bytes, f32):>12} {_pct(chosen.memory_bytes, f32):>12}",
            f"{self.metric:<22} {self._fmt(self.float_metric):>12} "
            f"{self._fmt(start.metric):>12} {self._fmt(chosen.metric):>12}",
            "",
            f"{self.evaluations} fixed-point evaluations in {self.seconds:.0f} s "
            f"(+ {self.prepare_seconds:.0f} s float run and calibration); "
            f"chosen: evaluation {chosen.index} ({chosen.change})",
        ]
        if self.stopped:
            lines.append(f"stopped early: {self.stopped}")
        lines += self.warnings()
        return "\n".join(lines) + "\n"

    def warnings(self) -> list[str]:
        """A chosen change whose standard error exceeds the budget is noise: the
        validation samples are too few to tell it from the budget's edge."""
        se = self.chosen.se
        limit = self.budget if self.metric == "accuracy" else math.log1p(self.budget)
        if se <= limit:
            return []
        unit = "reviews" if self.dataset == "imdb" else "predicted tokens"
        scale = "pp" if self.metric == "accuracy" else "%"
        return [
            f"warning: the chosen change's standard error (±{100 * se:.2g} {scale}) "
            f"exceeds the budget ({100 * self.budget:.3g} {scale}): {self.samples} "
            f"{unit} cannot resolve it; give a larger --limit"
        ]


def _signature(module) -> tuple:
    """The fixed-point module up to constant values: every op with its result and
    block argument types (the formats); constants and tables follow from those, so
    configurations with equal signatures give equal modules."""
    sig = []
    for op in module.walk():
        sig.append((op.name, *(str(r.type) for r in op.results)))
        for region in op.regions:
            for block in region.blocks:
                sig.append(tuple(str(a.type) for a in block.args))
    return tuple(sig)


def _pct(value: int, ref: int) -> str:
    return f"{100 * (value / ref - 1):+.1f} %" if ref else ""


class _Stop(Exception):
    pass


class Searcher:
    """The search state: the best configuration so far and every evaluation."""

    def __init__(
        self,
        prepared: evaluate.Prepared,
        budget: float,
        start: QuantConfig,
        *,
        max_evals: int | None = None,
        min_share: float = 0.001,
        margin: float = DEFAULT_MARGIN,
        log: Callable[[str], None] | None = None,
    ):
        if max_evals is not None and max_evals < 1:
            raise RnncError(f"--max-evals must be at least 1, got {max_evals}")
        if not 0 <= margin <= 10 or math.isnan(margin):
            raise RnncError(f"--margin must be in [0, 10], got {margin}")
        self.margin = margin
        self.prep = prepared
        self.budget = budget
        self.start_config = start
        self.max_evals = max_evals
        self.min_share = min_share
        self.log = log or (lambda line: None)
        self.trials: list[Trial] = []
        self.seen: dict[tuple, Trial] = {}  # by configuration
        self.modules: dict[tuple, Trial] = {}  # by fixed-point module signature
        self.runs = 0
        self.best: Trial | None = None
        self.best_config = start
        self.best_memory: MemoryTable | None = None

    # ------------------------------------------------------------ evaluation

    @staticmethod
    def _key(config: QuantConfig) -> tuple:
        return (
            tuple(sorted(config.bits.items())),
            tuple(sorted((k, str(v)) for k, v in config.overrides.items())),
        )

    def memory_of(self, config: QuantConfig) -> MemoryTable:
        """The footprint of a configuration: quantize only, no evaluation."""
        module, _, _ = self.prep.quantize(config)
        return memory_report(module)

    def best_table(self) -> MemoryTable:
        """The footprint of the best configuration (kept when it was evaluated)."""
        return self.best_memory or self.memory_of(self.best_config)

    def signature(self, config: QuantConfig) -> tuple:
        return _signature(self.prep.quantize(config)[0])

    def _accept(self, trial: Trial, config: QuantConfig, memory: MemoryTable):
        self.trials.append(trial)
        self.seen[self._key(config)] = trial
        self.log(self._line(trial))
        best = self.best
        if trial.ok and (best is None or trial.memory_bytes <= best.memory_bytes):
            self.best, self.best_config, self.best_memory = trial, config, memory

    def evaluate(self, config: QuantConfig, phase: str, change: str) -> Trial:
        key = self._key(config)
        if key in self.seen:
            return self.seen[key]
        start = time.perf_counter()
        quantized = self.prep.quantize(config)
        module = quantized[0]
        sig = _signature(module)
        if sig in self.modules:  # same formats everywhere: the same result
            prev = self.modules[sig]
            trial = replace(
                prev,
                index=len(self.trials),
                phase=phase,
                change=change,
                bits=dict(config.bits),
                overrides=dict(config.overrides),
                seconds=time.perf_counter() - start,
                same_as=prev.index,
            )
            self._accept(trial, config, memory_report(module))
            return trial
        if self.max_evals is not None and self.runs >= self.max_evals:
            raise _Stop(f"--max-evals {self.max_evals} reached")
        self.runs += 1
        result = self.prep.run(config, progress=False, quantized=quantized)
        memory_bytes = math.ceil(result.memory.total_bits / 8)
        trial = Trial(
            index=len(self.trials),
            phase=phase,
            change=change,
            bits=dict(config.bits),
            overrides=dict(config.overrides),
            metric=result.fixed_metric,
            memory_bytes=memory_bytes,
            ok=within(
                self.prep.metric,
                self.prep.float_metric,
                result.fixed_metric,
                self.budget,
                result.paired_se,
                self.margin,
            ),
            overflows=result.overflows,
            seconds=time.perf_counter() - start,
            se=result.paired_se,
        )
        self.modules[sig] = trial
        self._accept(trial, config, result.memory)
        return trial

    def _line(self, t: Trial) -> str:
        ref = self.prep.float_metric
        if self.prep.metric == "accuracy":
            value = (
                f"{100 * t.metric:.2f} % ({100 * (t.metric - ref):+.2f} "
                f"± {100 * t.se:.2f} pp)"
            )
        else:
            value = (
                f"{t.metric:.3f} ({100 * (t.metric / ref - 1):+.2f} "
                f"± {100 * t.se:.2f} %)"
            )
        verdict = "ok" if t.ok else "over budget"
        if t.same_as is not None:
            verdict += f" (same module as [{t.same_as}], not run)"
        return (
            f"[{t.index:>3}] {t.phase:<8} {t.change:<28} {self.prep.metric} {value}, "
            f"{t.memory_bytes} bytes, {t.seconds:.1f} s: {verdict}"
        )

    # ---------------------------------------------------------------- phases

    def _bisect(
        self,
        with_width: Callable[[int], QuantConfig],
        hi: int,
        phase: str,
        what: str,
        scan_below: bool = False,
    ) -> None:
        """Smallest width within budget in [MIN_BITS, hi], assuming monotonicity;
        only widths that were evaluated within budget are kept. `scan_below` then
        tries every narrower width once: with fitted weights (mse) the error is not
        monotone in the width, and 3 bits can beat 5."""
        lo = MIN_BITS
        if lo >= hi:
            return
        if self.signature(with_width(lo)) == self.signature(self.best_config):
            self.log(
                f"      {phase:<8} {what}: its width changes nothing, kept at {hi}"
            )
            return
        while lo < hi:
            mid = (lo + hi) // 2
            if self.evaluate(with_width(mid), phase, f"{what}={mid}").ok:
                hi = mid
            else:
                lo = mid + 1
        if scan_below:
            for width in range(hi - 1, MIN_BITS - 1, -1):
                self.evaluate(with_width(width), phase, f"{what}={width}")

    def _bisect_class(self, cls: str, phase: str) -> None:
        base = self.best_config
        self._bisect(
            lambda w: replace(base, bits={**base.bits, cls: w}),
            base.bits[cls],
            phase,
            cls,
            scan_below=phase == "class",  # memory classes only
        )

    def class_impacts(self) -> dict[str, int]:
        """Bytes saved by one bit less per class (0 = the class holds no memory)."""
        base = self.memory_of(self.best_config).total_bits
        impacts = {}
        for cls in CLASSES:
            width = self.best_config.bits[cls]
            if width <= MIN_BITS:
                impacts[cls] = 0
                continue
            fewer = replace(
                self.best_config, bits={**self.best_config.bits, cls: width - 1}
            )
            impacts[cls] = max(0, base - self.memory_of(fewer).total_bits) // 8
        return impacts

    def weight_tensors(self) -> list[tuple[str, int]]:
        """(name, values) of the weight tensors, largest first, that hold at least
        `min_share` of the footprint and are not pinned by a "W,F" override."""
        table = self.best_table()
        sizes: dict[str, int] = {}
        for row in table.rows:
            if row.kind == "weight" and row.name != "?":
                sizes[row.name] = sizes.get(row.name, 0) + row.count
        total = table.total_bits
        out = []
        for name, count in sorted(sizes.items(), key=lambda kv: -kv[1]):
            if isinstance(self.start_config.overrides.get(name), Format):
                continue
            width = self.best_config.overrides.get(
                name, self.best_config.bits["weight"]
            )
            if count * width >= self.min_share * total:
                out.append((name, count))
        return out

    def refine_tensor(self, name: str) -> None:
        """Bisect one tensor's width below its class's as an override."""
        base = self.best_config
        width = base.overrides.get(name, base.bits["weight"])

        def with_width(w: int) -> QuantConfig:
            return replace(base, overrides={**base.overrides, name: w})

        # A matrix shared by two uses (a tied embedding and decoder) narrowed in
        # one of them is stored twice: more memory, not less.
        if width > MIN_BITS and (
            self.memory_of(with_width(width - 1)).total_bits
            >= self.best_table().total_bits
        ):
            self.log(f"      tensor   {name}: narrowing it alone saves no memory")
            return
        self._bisect(with_width, width, "tensor", name, scan_below=True)

    def run(self, memory_only: bool = False) -> tuple[str, dict[str, int]]:
        """Returns (why it stopped early or "", bytes per bit of each class)."""
        start = self.evaluate(self.start_config, "start", "start")
        if not start.ok:
            raise RnncError(
                f"the start configuration already misses the budget "
                f"({self.prep.metric} {start.metric:.4f} vs float "
                f"{self.prep.float_metric:.4f}); start wider (--*-bits, --lut-bits)"
            )
        impacts = self.class_impacts()
        memory_classes = sorted(
            (c for c in CLASSES if impacts[c] > 0), key=lambda c: -impacts[c]
        )
        datapath = [c for c in CLASSES if impacts[c] == 0]
        try:
            for cls in memory_classes:
                self._bisect_class(cls, "class")
            for name, _ in self.weight_tensors():
                self.refine_tensor(name)
            if not memory_only:
                for cls in datapath:
                    self._bisect_class(cls, "datapath")
        except _Stop as stop:
            return str(stop), impacts
        return "", impacts


def search(
    model_path: str | Path,
    dataset: str,
    *,
    budget: float,
    start: QuantConfig | None = None,
    limit: int | None = None,
    max_evals: int | None = None,
    memory_only: bool = False,
    min_share: float = 0.001,
    margin: float = DEFAULT_MARGIN,
    batch: int | None = None,
    bptt: int | None = None,
    calib_size: int | None = None,
    vocab: str | Path | None = None,
    max_len: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    cache: dict | None = None,
) -> SearchResult:
    """Search word lengths on the validation split (module docstring)."""
    start = (start or QuantConfig()).validate()
    begin = time.perf_counter()
    prep = evaluate.prepare(
        model_path,
        dataset,
        split="valid",
        limit=limit,
        batch=batch,
        bptt=bptt,
        calib_size=calib_size,
        vocab=vocab,
        max_len=max_len,
        progress=progress,
        cache=cache,
    )
    prepare_seconds = time.perf_counter() - begin
    if log:
        log(
            f"float {prep.metric} on {dataset} valid ({prep.samples} samples): "
            f"{prep.float_metric:.4f} ({prepare_seconds:.1f} s)"
        )
    searcher = Searcher(
        prep,
        budget,
        start,
        max_evals=max_evals,
        min_share=min_share,
        margin=margin,
        log=log,
    )
    begin = time.perf_counter()
    stopped, impacts = searcher.run(memory_only)
    assert searcher.best is not None and searcher.best_memory is not None
    return SearchResult(
        model=str(model_path),
        dataset=dataset,
        split=prep.split,
        metric=prep.metric,
        budget=budget,
        float_metric=prep.float_metric,
        samples=prep.samples,
        start=searcher.trials[0],
        chosen=searcher.best,
        config=searcher.best_config,
        memory=searcher.best_memory,
        trials=searcher.trials,
        seconds=time.perf_counter() - begin,
        prepare_seconds=prepare_seconds,
        stopped=stopped,
        settings={
            **prep.settings,
            "batch": prep.batch,
            "calib_size": prep.calib_size,
            "memory_only": memory_only,
            "min_share": min_share,
            "margin": margin,
            "max_evals": max_evals,
            "bytes_per_bit": impacts,
        },
    )


# ------------------------------------------------------------------ TOML output


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string


def config_toml(config: QuantConfig, header: str = "") -> str:
    """A TOML policy that quant_config.load_config reads back as `config`."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for key in ("rounding", "overflow", "range", "weight_fit", "guard_bits"):
        lines.append(f"{key} = {_toml_value(getattr(config, key))}")
    lines += ["", "[bits]"]
    lines += [f"{cls} = {config.bits[cls]}" for cls in CLASSES if cls in config.bits]
    lines += ["", "[activations]", f"method = {_toml_value(config.activation_method)}"]
    lines.append(f"lut_bits = {config.table_bits}")
    if config.lut_log2_range is not None:
        lines.append(f"lut_log2_range = {config.lut_log2_range}")
    lines.append(f"pwl_segments = {config.pwl_segments}")
    if config.overrides:
        lines += ["", "[overrides]"]
        for name, spec in config.overrides.items():
            value = spec if isinstance(spec, int) else f"{spec.width},{spec.frac}"
            lines.append(f"{json.dumps(name)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_outputs(result: SearchResult, toml_path, json_path=None) -> None:
    header = (
        f"rnnc search {Path(result.model).name} --dataset {result.dataset}: "
        f"{result.metric} {result.chosen.metric:.6g} on {result.split} "
        f"({result.samples} samples; float {result.float_metric:.6g}, "
        f"{result.budget_text()}), {result.chosen.memory_bytes} bytes "
        f"({100 * result.memory.reduction:.1f} % smaller than float32)"
    )
    output_file(toml_path).write_text(config_toml(result.config, header))
    if json_path:
        output_file(json_path, flag="--json").write_json(result.as_dict())


def stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
