"""Accuracy of a quantized model on the paper's test sets, float vs fixed point.

    evaluate_imdb(model, config=...)   IMDb test accuracy (25k reviews, or --limit)
    evaluate_ptb(model, config=...)    PTB test perplexity per word (stateful)

Both run the float model with the rnnc float interpreter and the quantized model
with the bit-accurate fxp interpreter on the TEST split (default) or, with
split="valid", on a validation split for choosing a configuration: IMDb's is the
last 10 % of the CALIB_SEED-shuffled train set (what training/train_imdb.py held
out), PTB's is ptb.valid. Calibration inputs come from the TRAIN split only (for
IMDb with split="valid", from the other 90 %, so the two never overlap).

`prepare(...)` does the config-independent work once (data, float run,
calibration arrays; ranges calibrated per activation approximation) and returns a
`Prepared` whose `.run(config)` quantizes and evaluates one configuration; the
evaluators accept a `cache` dict that keeps `Prepared` objects across calls.

Modules are shape-specialised, so every batch runs at one shape: the last IMDb
batch is padded with all-<pad> reviews whose predictions are dropped, and the last
PTB window is padded with token 0 and its padded positions are masked out of the
loss (the model is causal, so padding after a position does not change that
position's logits; the final states are not used afterwards).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm
from xdsl.dialects.builtin import ModuleOp

from rnnc import driver
from rnnc.backends.interpreter.fxp_interpreter import OverflowCounter
from rnnc.dialects import shapes
from rnnc.dialects.errors import RnncError
from rnnc.dialects.user_files import check_file
from rnnc.frontend.onnx_import import declared_inputs, import_model
from rnnc.frontend.onnx_loader import load_model
from rnnc.lab import datasets as ds
from rnnc.memory_report import MemoryTable, memory_report
from rnnc.passes.quant_config import QuantConfig
from rnnc.pipeline import (
    QuantizeReport,
    activation_report,
    calibrated_float,
    lower_calibrated,
)

DATASETS = ("imdb", "ptb")
DEFAULT_CALIB = {"imdb": 256, "ptb": 64}  # reviews / BPTT windows of train data
DEFAULT_BATCH = {"imdb": 64, "ptb": 10}
CALIB_SEED = 0
SUBSET_SEED = 1  # --limit's IMDb test subset
SPLITS = ("test", "valid")
IMDB_VALID_DIVISOR = 10  # validation = the last len(train) // 10 shuffled reviews


@dataclass
class EvalResult:
    model: str
    dataset: str
    metric: str  # "accuracy" (higher is better) or "perplexity" (lower is better)
    float_metric: float
    fixed_metric: float
    samples: int  # reviews, or predicted tokens for PTB
    memory: MemoryTable
    overflows: int
    overflow_report: list[str]
    float_seconds: float
    fixed_seconds: float
    quantize_seconds: float
    batch: int
    calib_size: int
    config: QuantConfig
    activation_errors: list[str] = field(default_factory=list)
    saturated_constants: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # max_len, bptt, vocab, limit
    split: str = "test"  # or "valid"
    # Standard error of the mean per-sample difference fixed − float of the score
    # the metric averages: correctness (accuracy) or NLL per token (perplexity, so
    # on the log scale). Both runs see the same samples, so this is how far the
    # measured change could move on other data of the same kind.
    paired_se: float = 0.0

    @property
    def delta(self) -> float:
        """fixed − float (negative accuracy or positive perplexity = worse)."""
        return self.fixed_metric - self.float_metric

    def as_dict(self) -> dict:
        mem = self.memory.as_dict()
        return {
            "model": self.model,
            "dataset": self.dataset,
            "metric": self.metric,
            "float": self.float_metric,
            "fixed": self.fixed_metric,
            "delta": self.delta,
            "samples": self.samples,
            "weight_bytes_float32": mem["float32_bytes"],
            "weight_bytes_fixed": mem["total_bytes"],
            "memory_reduction": mem["reduction"],
            "memory": mem,
            "paired_se": self.paired_se,
            "overflows": self.overflows,
            "overflow_report": self.overflow_report,
            "seconds": {
                "float": self.float_seconds,
                "fixed": self.fixed_seconds,
                "quantize": self.quantize_seconds,
            },
            "batch": self.batch,
            "calib_size": self.calib_size,
            "config": _config_dict(self.config),
            "activation_errors": self.activation_errors,
            "saturated_constants": self.saturated_constants,
            "split": self.split,
            **self.settings,
        }

    def table(self) -> str:
        mem = self.memory
        fixed_bytes = math.ceil(mem.total_bits / 8)
        fmt = "{:.4f}" if self.metric == "accuracy" else "{:.3f}"
        rows = [
            ("", "float", "fixed", "change"),
            (
                self.metric,
                fmt.format(self.float_metric),
                fmt.format(self.fixed_metric),
                f"{self.delta:+.4f}",
            ),
            (
                "weights (bytes)",
                str(mem.float_bits // 8),
                str(fixed_bytes),
                f"{-100 * mem.reduction:+.1f} %",
            ),
            ("seconds", f"{self.float_seconds:.1f}", f"{self.fixed_seconds:.1f}", ""),
        ]
        calib = "train reviews" if self.dataset == "imdb" else "train windows"
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            f"{self.dataset} {self.split}, {self.samples} "
            + ("reviews" if self.dataset == "imdb" else "predicted tokens")
            + f", {Path(self.model).name}"
        ]
        for r in rows:
            lines.append(
                f"{r[0]:<{widths[0]}}  "
                + "  ".join(f"{c:>{w}}" for c, w in zip(r[1:], widths[1:], strict=True))
            )
        lines.append(
            f"quantization: {self.quantize_seconds:.1f} s, calibrated on "
            f"{self.calib_size} {calib}"
        )
        lines.append(
            f"overflows (fixed run): {self.overflows}"
            + (" values out of range" if self.overflows else "")
        )
        return "\n".join(lines) + "\n"


def _config_dict(config: QuantConfig) -> dict:
    out = {}
    for name in config.__dataclass_fields__:
        value = getattr(config, name)
        if name == "overrides":
            value = {k: str(v) for k, v in value.items()}
        out[name] = value
    return out


# ------------------------------------------------------------------------ helpers


def _data(what: str, load: Callable):
    """Run a dataset loader; missing or unreadable files become one clear line."""
    try:
        return load()
    except (OSError, EOFError, ValueError) as err:
        detail = getattr(err, "strerror", None) or str(err)
        name = getattr(err, "filename", None)
        where = f" '{name}'" if name else ""
        raise RnncError(
            f"cannot read {what}{where}: {detail} (data root {ds.data_dir()}; set "
            "RNNC_DATA to another folder)"
        ) from None
    except KeyError as err:
        raise RnncError(f"{what}: token {err} is not in the vocabulary") from None


def sidecar(model_path: str | Path) -> dict:
    """models/NAME.json next to models/NAME.onnx, or {} if there is none."""
    path = Path(model_path).with_suffix(".json")
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RnncError(f"cannot read model metadata '{path}': {err}") from None
    return meta if isinstance(meta, dict) else {}


def _vocab(model_path, meta: dict, vocab_path, default: Callable | None) -> list[str]:
    if vocab_path is None and meta.get("vocab_file"):
        vocab_path = Path(model_path).parent / meta["vocab_file"]
    if vocab_path is None:
        if default is None:
            raise RnncError(
                f"no vocabulary for '{model_path}': it has no "
                f"{Path(model_path).with_suffix('.json').name} naming a vocab_file; "
                "give --vocab"
            )
        return default()
    check_file(vocab_path, "vocabulary", "vocabulary")
    try:
        return ds.load_vocab(vocab_path)
    except OSError as err:
        raise RnncError(
            f"cannot read vocabulary '{vocab_path}': {err.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise RnncError(f"vocabulary '{vocab_path}' is not UTF-8 text") from None


def _is_int(typ) -> bool:
    return typ.element_type.name.startswith(("i", "si", "ui"))


def _outputs(model: onnx.ModelProto) -> list[tuple[str, int]]:
    """(name, rank or -1 if unknown) of each graph output."""
    out = []
    for o in model.graph.output:
        t = o.type.tensor_type
        out.append((o.name, len(t.shape.dim) if t.HasField("shape") else -1))
    return out


def _misfit(model_path, dataset: str, expect: str, model: onnx.ModelProto) -> RnncError:
    ins = ", ".join(
        f"{n} {t.element_type}{shapes.fmt(t.get_shape())}"
        for n, t in declared_inputs(model)
    )
    outs = ", ".join(n for n, _ in _outputs(model))
    return RnncError(
        f"'{Path(model_path).name}' does not fit the {dataset} dataset: it takes "
        f"({ins}) -> ({outs}); {dataset} needs {expect}"
    )


def _check_arrays(model_path, dataset, expect, model, arrays) -> None:
    try:
        driver.check_inputs(declared_inputs(model), arrays)
    except RnncError as err:
        raise RnncError(
            f"'{Path(model_path).name}' does not fit the {dataset} dataset ({expect}): "
            f"{err}"
        ) from None


def _merge(total: OverflowCounter, counter: OverflowCounter | None) -> None:
    if counter is not None:
        for op, (bad, n) in counter.events.items():
            total.add(op, bad, n)


def _bar(total: int, desc: str, unit: str, progress: bool) -> tqdm:
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )


def _approximation(config: QuantConfig) -> tuple:
    """The settings the calibrated ranges depend on (the approximated graph)."""
    return (
        config.activation_method,
        config.table_bits,
        config.lut_log2_range,
        config.pwl_segments,
    )


@dataclass
class Prepared:
    """The config-independent part of evaluating one model on one split: the
    data, the float metric and the calibration arrays, computed once; the ranges
    calibrated on them are kept per activation approximation. `run(config)`
    quantizes and evaluates one configuration (bit-identical to quantize_model)."""

    model_path: str
    dataset: str
    split: str
    metric: str
    model: onnx.ModelProto
    calibration: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]]
    float_metric: float
    float_seconds: float
    samples: int
    batch: int
    settings: dict
    # fixed module, progress -> (metric, overflow counter, seconds, scores)
    measure: Callable[
        [ModuleOp, bool], tuple[float, OverflowCounter, float, np.ndarray]
    ]
    float_scores: np.ndarray  # per sample: correctness or NLL (see paired_se)
    calibrated: dict = field(default_factory=dict)

    @property
    def calib_size(self) -> int:
        return len(next(iter(self.calibration.values())))

    def quantize(self, config: QuantConfig) -> tuple[ModuleOp, QuantizeReport, float]:
        start = time.perf_counter()
        key = _approximation(config)
        if key not in self.calibrated:
            self.calibrated[key] = calibrated_float(
                self.model, self.calibration, config, self.shapes
            )
        calibrated, _ = self.calibrated[key]
        module = calibrated.clone()
        saturated = lower_calibrated(module, config)
        report = QuantizeReport(activation_report(module), saturated)
        return module, report, time.perf_counter() - start

    def run(
        self,
        config: QuantConfig,
        progress: bool = True,
        quantized: tuple[ModuleOp, QuantizeReport, float] | None = None,
    ) -> EvalResult:
        """`quantized`: what self.quantize(config) returned, if already called."""
        fixed_module, report, q_seconds = quantized or self.quantize(config)
        fixed_metric, counter, x_seconds, scores = self.measure(fixed_module, progress)
        return EvalResult(
            model=self.model_path,
            dataset=self.dataset,
            metric=self.metric,
            float_metric=self.float_metric,
            fixed_metric=fixed_metric,
            samples=self.samples,
            memory=memory_report(fixed_module),
            overflows=counter.total_overflows,
            overflow_report=counter.report(),
            float_seconds=self.float_seconds,
            fixed_seconds=x_seconds,
            quantize_seconds=q_seconds,
            batch=self.batch,
            calib_size=self.calib_size,
            config=config,
            activation_errors=list(report.activation_errors),
            saturated_constants=list(report.saturated_constants),
            settings=dict(self.settings),
            split=self.split,
            paired_se=paired_se(scores, self.float_scores),
        )


def paired_se(fixed: np.ndarray, reference: np.ndarray) -> float:
    """Standard error of mean(fixed − reference) over paired samples."""
    diff = np.asarray(fixed, np.float64) - np.asarray(reference, np.float64)
    if diff.size < 2:
        return 0.0
    return float(np.std(diff, ddof=1) / math.sqrt(diff.size))


def _cached(cache: dict | None, key: tuple, make: Callable[[], Prepared]) -> Prepared:
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise RnncError(f"unknown split '{split}'; expected one of {SPLITS}")


# --------------------------------------------------------------------------- IMDb


def _imdb_batches(x: np.ndarray, batch: int) -> Iterator[tuple[np.ndarray, int]]:
    """[batch, max_len] blocks; the last is padded with all-<pad> rows."""
    for start in range(0, len(x), batch):
        block = x[start : start + batch]
        real = len(block)
        if real < batch:
            pad = np.full((batch - real, x.shape[1]), ds.PAD_ID, dtype=x.dtype)
            block = np.concatenate([block, pad])
        yield block, real


def _imdb_predictions(module, name, out, x, batch, desc, progress):
    preds, counter = [], OverflowCounter()
    start = time.perf_counter()
    program = driver.Program(module)
    with _bar(len(x), desc, "review", progress) as bar:
        for block, real in _imdb_batches(x, batch):
            outputs, c = program.run({name: block})
            logits = outputs[out]
            if logits.ndim != 2 or logits.shape[0] != batch:
                raise RnncError(
                    f"output '{out}' has shape {list(logits.shape)}; IMDb needs "
                    "class logits [batch, classes]"
                )
            preds.append(np.argmax(logits[:real], axis=-1))
            _merge(counter, c)
            bar.update(real)
    return np.concatenate(preds), counter, time.perf_counter() - start


def evaluate_imdb(
    model_path: str | Path,
    *,
    config: QuantConfig,
    vocab: str | Path | None = None,
    max_len: int | None = None,
    limit: int | None = None,
    batch: int = DEFAULT_BATCH["imdb"],
    calib_size: int = DEFAULT_CALIB["imdb"],
    progress: bool = True,
    split: str = "test",
    cache: dict | None = None,
) -> EvalResult:
    """Test accuracy (argmax of the logits vs the label) of the float and the
    fixed-point model; calibration on `calib_size` shuffled (fixed seed) train
    reviews.

    `limit` evaluates a fixed-seed random subset of that many test reviews (the
    file is sorted by label, so its first reviews are all negative).
    split="valid" evaluates the held-out last 10 % of the shuffled train set
    instead (its first `limit` reviews; it is already shuffled) and calibrates on
    the other 90 %; the test file is not read. `cache` (a dict) keeps the
    config-independent work for later calls with the same settings."""
    return prepare_imdb(
        model_path,
        vocab=vocab,
        max_len=max_len,
        limit=limit,
        batch=batch,
        calib_size=calib_size,
        progress=progress,
        split=split,
        cache=cache,
    ).run(config, progress)


def prepare_imdb(
    model_path: str | Path,
    *,
    vocab: str | Path | None = None,
    max_len: int | None = None,
    limit: int | None = None,
    batch: int = DEFAULT_BATCH["imdb"],
    calib_size: int = DEFAULT_CALIB["imdb"],
    progress: bool = True,
    split: str = "test",
    cache: dict | None = None,
) -> Prepared:
    """evaluate_imdb without a config: data, float run and calibration arrays."""
    _check_sizes(limit, batch, calib_size)
    _check_split(split)
    key = ("imdb", str(model_path), split, str(vocab), max_len, limit, batch)
    key += (calib_size,)
    return _cached(
        cache,
        key,
        lambda: _prepare_imdb(
            model_path, vocab, max_len, limit, batch, calib_size, progress, split
        ),
    )


def _imdb_model(model_path, vocab, max_len):
    """(model, input name, output name, vocabulary, review length) of an IMDb
    classifier, checked."""
    model = load_model(model_path)
    inputs = declared_inputs(model)
    outputs = _outputs(model)
    expect = "one integer input tokens [batch, max_len] and class logits [batch, n]"
    if (
        len(inputs) != 1
        or not _is_int(inputs[0][1])
        or len(inputs[0][1].get_shape()) != 2
    ):
        raise _misfit(model_path, "imdb", expect, model)
    out = _pick_output(outputs, 2)
    if out is None:
        raise _misfit(model_path, "imdb", expect, model)
    name, typ = inputs[0]
    meta = sidecar(model_path)
    words = _vocab(model_path, meta, vocab, None)
    if max_len is None:
        max_len = meta.get("max_len") or meta.get("hyperparameters", {}).get("max_len")
    if max_len is None:
        declared = typ.get_shape()[1]
        if declared == shapes.DYN:
            raise RnncError(
                f"no max_len for '{model_path}' (no sidecar JSON); give --max-len"
            )
        max_len = declared
    return model, name, out, words, int(max_len)


def _imdb_calibration(train: list[str], pool, calib_size, words, max_len):
    return ds.encode_imdb([train[i] for i in pool[:calib_size]], words, max_len)


def imdb_calibration(
    model_path: str | Path,
    *,
    calib_size: int = DEFAULT_CALIB["imdb"],
    vocab: str | Path | None = None,
    max_len: int | None = None,
) -> dict[str, np.ndarray]:
    """The calibration arrays `evaluate_imdb` uses on the test split: the first
    `calib_size` reviews of the CALIB_SEED-shuffled train split, encoded."""
    _check_sizes(None, 1, calib_size)
    _, name, _, words, max_len = _imdb_model(model_path, vocab, max_len)
    train, _ = _data("IMDb train data", lambda: ds.load_imdb("train"))
    pool = np.random.default_rng(CALIB_SEED).permutation(len(train))
    return {name: _imdb_calibration(train, pool, calib_size, words, max_len)}


def _prepare_imdb(
    model_path, vocab, max_len, limit, batch, calib_size, progress, split
) -> Prepared:
    model, name, out, words, max_len = _imdb_model(model_path, vocab, max_len)
    expect = "one integer input tokens [batch, max_len] and class logits [batch, n]"
    if split == "test":
        texts, labels = _data("IMDb test data", lambda: ds.load_imdb("test"))
        if limit is not None and limit < len(texts):
            order = np.random.default_rng(SUBSET_SEED).permutation(len(texts))
            keep = np.sort(order[:limit])
            texts, labels = [texts[i] for i in keep], labels[keep]
        train, _ = _data("IMDb train data", lambda: ds.load_imdb("train"))
        pool = np.random.default_rng(CALIB_SEED).permutation(len(train))
    else:  # the held-out tail of the shuffled train set; calibrate on the rest
        train, train_labels = _data("IMDb train data", lambda: ds.load_imdb("train"))
        order = np.random.default_rng(CALIB_SEED).permutation(len(train))
        n_val = len(train) // IMDB_VALID_DIVISOR
        keep, pool = order[len(train) - n_val :][:limit], order[: len(train) - n_val]
        texts, labels = [train[i] for i in keep], train_labels[keep]
    if not texts or not len(pool):
        raise RnncError(f"the IMDb {split} or train split is empty")
    calib = _imdb_calibration(train, pool, calib_size, words, max_len)
    x = ds.encode_imdb(texts, words, max_len)
    batch = min(batch, len(x))
    _check_arrays(model_path, "imdb", expect, model, {name: x[:batch]})

    float_module = import_model(model, {name: (batch, max_len)})
    float_pred, _, f_seconds = _imdb_predictions(
        float_module, name, out, x, batch, "float", progress
    )

    float_correct = (float_pred == labels).astype(np.float64)

    def measure(module, progress_):
        pred, counter, seconds = _imdb_predictions(
            module, name, out, x, batch, "fixed", progress_
        )
        correct = (pred == labels).astype(np.float64)
        return float(np.mean(correct)), counter, seconds, correct

    return Prepared(
        model_path=str(model_path),
        dataset="imdb",
        split=split,
        metric="accuracy",
        model=model,
        calibration={name: calib},
        shapes={name: (batch, max_len)},
        float_metric=float(np.mean(float_correct)),
        float_scores=float_correct,
        float_seconds=f_seconds,
        samples=len(labels),
        batch=batch,
        settings={"max_len": max_len, "vocab_size": len(words), "limit": limit},
        measure=measure,
    )


def _pick_output(outputs: list[tuple[str, int]], rank: int) -> str | None:
    """`logits` if the model has it, else its only output (rank-checked if known)."""
    named = [o for o in outputs if o[0] == "logits"]
    if named or len(outputs) == 1:
        name, r = (named or outputs)[0]
        return name if r in (rank, -1) else None
    return None


def _check_sizes(limit, batch, calib_size) -> None:
    if limit is not None and limit < 1:
        raise RnncError(f"--limit must be at least 1, got {limit}")
    if batch < 1:
        raise RnncError(f"--batch must be at least 1, got {batch}")
    if calib_size < 1:
        raise RnncError(f"--calib-size must be at least 1, got {calib_size}")


# ---------------------------------------------------------------------------- PTB


@dataclass
class _LMSignature:
    tokens: str
    logits: str
    states: list[tuple[str, str, int]]  # (input, output, hidden size)


def _lm_signature(model_path, model: onnx.ModelProto) -> _LMSignature:
    expect = (
        "an integer tokens [batch, steps] input, float state inputs NAME0 "
        "[layers, batch, hidden] and outputs logits [batch, steps, vocab] and NAME"
    )
    inputs = declared_inputs(model)
    outputs = dict(_outputs(model))
    tokens = [n for n, t in inputs if _is_int(t) and len(t.get_shape()) == 2]
    states = [(n, t) for n, t in inputs if not _is_int(t)]
    logits = _pick_output([o for o in outputs.items() if o[1] in (3, -1)], 3)
    if (
        len(tokens) != 1
        or len(inputs) != 1 + len(states)
        or not states
        or logits is None
    ):
        raise _misfit(model_path, "ptb", expect, model)
    sig = _LMSignature(tokens[0], logits, [])
    for name, typ in states:
        dims = typ.get_shape()
        out = name[:-1] if name.endswith("0") else None
        if len(dims) != 3 or out not in outputs or dims[2] == shapes.DYN:
            raise _misfit(model_path, "ptb", expect, model)
        if dims[0] == shapes.DYN:
            raise _misfit(model_path, "ptb", expect, model)
        sig.states.append((name, out, dims[2]))
    return sig


def _zero_states(sig: _LMSignature, model, batch: int) -> dict[str, np.ndarray]:
    layers = {n: t.get_shape()[0] for n, t in declared_inputs(model)}
    return {
        name: np.zeros((layers[name], batch, hidden), np.float32)
        for name, _, hidden in sig.states
    }


def _windows(data: np.ndarray, bptt: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs [batch, bptt], targets [batch, seq]) windows; the last input window
    is padded with token 0 after its `seq` real steps."""
    steps = data.shape[1]
    for i in range(0, steps - 1, bptt):
        seq = min(bptt, steps - 1 - i)
        x = data[:, i : i + seq]
        if seq < bptt:
            x = np.concatenate([x, np.zeros((len(x), bptt - seq), x.dtype)], axis=1)
        yield np.ascontiguousarray(x), data[:, i + 1 : i + 1 + seq]


def _token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """−log softmax(logits)[target] at each target position, in float64."""
    z = logits[:, : targets.shape[1]].astype(np.float64)
    top = z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
    return lse - picked


def _nll(logits: np.ndarray, targets: np.ndarray) -> float:
    """Summed −log softmax(logits)[target] over the target positions."""
    return float(_token_nll(logits, targets).sum())


def _run_lm(program: driver.Program, sig: _LMSignature, state, x):
    outputs, counter = program.run({sig.tokens: x, **state})
    new_state = {inp: outputs[out] for inp, out, _ in sig.states}
    return outputs[sig.logits], new_state, counter


def _ptb_nll(module, sig, zero, data, bptt, vocab_size, desc, progress):
    """NLL of every predicted token (window by window), overflows, seconds."""
    state, nlls = dict(zero), []
    counter = OverflowCounter()
    start = time.perf_counter()
    program = driver.Program(module)
    with _bar(data.shape[0] * (data.shape[1] - 1), desc, "tok", progress) as bar:
        for x, y in _windows(data, bptt):
            logits, state, c = _run_lm(program, sig, state, x)
            if logits.shape[-1] != vocab_size:
                raise RnncError(
                    f"the model predicts {logits.shape[-1]} classes but the PTB "
                    f"vocabulary has {vocab_size} words"
                )
            nlls.append(_token_nll(logits, y).ravel())
            _merge(counter, c)
            bar.update(y.size)
    return np.concatenate(nlls), counter, time.perf_counter() - start


def evaluate_ptb(
    model_path: str | Path,
    *,
    config: QuantConfig,
    vocab: str | Path | None = None,
    limit: int | None = None,
    batch: int = DEFAULT_BATCH["ptb"],
    bptt: int = 35,
    calib_size: int = DEFAULT_CALIB["ptb"],
    progress: bool = True,
    split: str = "test",
    cache: dict | None = None,
) -> EvalResult:
    """Test perplexity per word (exp of the mean NLL of every token after the first
    of each batchified row), stateful across consecutive `bptt` windows.

    `limit` keeps the first `limit` tokens of the test stream. Calibration runs on
    `calib_size` windows of train tokens, with the states the float model reaches
    there (zero at the start of each train row), so state inputs get real ranges.
    split="valid" evaluates ptb.valid instead (the test file is not read); `cache`
    (a dict) keeps the config-independent work for later calls.
    """
    return prepare_ptb(
        model_path,
        vocab=vocab,
        limit=limit,
        batch=batch,
        bptt=bptt,
        calib_size=calib_size,
        progress=progress,
        split=split,
        cache=cache,
    ).run(config, progress)


def prepare_ptb(
    model_path: str | Path,
    *,
    vocab: str | Path | None = None,
    limit: int | None = None,
    batch: int = DEFAULT_BATCH["ptb"],
    bptt: int = 35,
    calib_size: int = DEFAULT_CALIB["ptb"],
    progress: bool = True,
    split: str = "test",
    cache: dict | None = None,
) -> Prepared:
    """evaluate_ptb without a config: data, float run and calibration arrays."""
    _check_sizes(limit, batch, calib_size)
    _check_split(split)
    if bptt < 1:
        raise RnncError(f"--bptt must be at least 1, got {bptt}")
    key = ("ptb", str(model_path), split, str(vocab), limit, batch, bptt, calib_size)
    return _cached(
        cache,
        key,
        lambda: _prepare_ptb(
            model_path, vocab, limit, batch, bptt, calib_size, progress, split
        ),
    )


def _ptb_calibration(float_module, sig, train, zero, bptt, calib_size, progress=False):
    """Consecutive train windows, each with the float model's state at its start,
    stacked along the batch axis (`zero`: the states at the run's batch)."""
    batch = next(iter(zero.values())).shape[1]
    train_rows = ds.batchify(train, batch)
    need = math.ceil(calib_size / batch)
    if train_rows.shape[1] < need * bptt:
        raise RnncError(f"the PTB train split is too short for {calib_size} windows")
    xs, states, state = [], [], dict(zero)
    program = driver.Program(float_module)
    with _bar(need, "calibration", "window", progress) as bar:
        for w in range(need):
            x = np.ascontiguousarray(train_rows[:, w * bptt : (w + 1) * bptt])
            xs.append(x)
            states.append(state)
            _, state, _ = _run_lm(program, sig, state, x)
            bar.update()
    calibration = {sig.tokens: np.concatenate(xs)[:calib_size]}
    for name, _, _ in sig.states:
        calibration[name] = np.concatenate([s[name] for s in states], axis=1)[
            :, :calib_size
        ]
    return calibration


def ptb_calibration(
    model_path: str | Path,
    *,
    calib_size: int = DEFAULT_CALIB["ptb"],
    batch: int = DEFAULT_BATCH["ptb"],
    bptt: int = 35,
    vocab: str | Path | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """The calibration arrays `evaluate_ptb` uses: `calib_size` windows of `bptt`
    train tokens and the float model's states (h0, c0, ...) at their starts."""
    _check_sizes(None, batch, calib_size)
    if bptt < 1:
        raise RnncError(f"--bptt must be at least 1, got {bptt}")
    model, sig, words = _ptb_model(model_path, vocab)
    train = _data("PTB train data", lambda: ds.encode_ptb(ds.load_ptb("train"), words))
    zero = _zero_states(sig, model, batch)
    shapes_ = {sig.tokens: (batch, bptt), **{k: v.shape for k, v in zero.items()}}
    float_module = import_model(model, shapes_)
    return _ptb_calibration(float_module, sig, train, zero, bptt, calib_size, progress)


def _ptb_model(model_path, vocab):
    """The PTB language model, its inputs' roles and the vocabulary."""
    model = load_model(model_path)
    sig = _lm_signature(model_path, model)
    words = _vocab(
        model_path,
        sidecar(model_path),
        vocab,
        lambda: _data("PTB train data", ds.ptb_vocab),
    )
    return model, sig, words


def _prepare_ptb(
    model_path, vocab, limit, batch, bptt, calib_size, progress, split
) -> Prepared:
    model, sig, words = _ptb_model(model_path, vocab)

    test = _data(f"PTB {split} data", lambda: ds.encode_ptb(ds.load_ptb(split), words))
    if limit is not None:
        test = test[:limit]
    train = _data("PTB train data", lambda: ds.encode_ptb(ds.load_ptb("train"), words))
    if len(test) < 2 * batch:
        raise RnncError(
            f"{len(test)} {split} tokens are too few for batch {batch} (each row "
            "needs 2)"
        )
    data = ds.batchify(test, batch)
    zero = _zero_states(sig, model, batch)
    shapes_ = {sig.tokens: (batch, bptt), **{k: v.shape for k, v in zero.items()}}
    expect = "tokens [batch, steps] and states [layers, batch, hidden]"
    first = next(_windows(data, bptt))[0]
    _check_arrays(model_path, "ptb", expect, model, {sig.tokens: first, **zero})
    float_module = import_model(model, shapes_)

    calibration = _ptb_calibration(float_module, sig, train, zero, bptt, calib_size)

    f_nll, _, f_seconds = _ptb_nll(
        float_module, sig, zero, data, bptt, len(words), "float", progress
    )

    def measure(module, progress_):
        x_nll, counter, seconds = _ptb_nll(
            module, sig, zero, data, bptt, len(words), "fixed", progress_
        )
        return math.exp(x_nll.mean()), counter, seconds, x_nll

    return Prepared(
        model_path=str(model_path),
        dataset="ptb",
        split=split,
        metric="perplexity",
        model=model,
        calibration=calibration,
        shapes=shapes_,
        float_metric=math.exp(f_nll.mean()),
        float_scores=f_nll,
        float_seconds=f_seconds,
        samples=len(f_nll),
        batch=batch,
        settings={"bptt": bptt, "vocab_size": len(words), "limit": limit},
        measure=measure,
    )


def _dataset_kwargs(model_path, dataset: str, kwargs: dict) -> dict:
    if dataset not in DATASETS:
        raise RnncError(f"unknown dataset '{dataset}'; expected one of {DATASETS}")
    if Path(model_path).suffix != ".onnx":
        raise RnncError(f"evaluate an .onnx model, got '{model_path}'")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs.setdefault("calib_size", DEFAULT_CALIB[dataset])
    kwargs.setdefault("batch", DEFAULT_BATCH[dataset])
    if dataset == "imdb" and "bptt" in kwargs:
        raise RnncError("--bptt applies to --dataset ptb only")
    if dataset == "ptb" and "max_len" in kwargs:
        raise RnncError("--max-len applies to --dataset imdb only")
    return kwargs


def evaluate(model_path: str | Path, dataset: str, **kwargs) -> EvalResult:
    kwargs = _dataset_kwargs(model_path, dataset, kwargs)
    if dataset == "imdb":
        return evaluate_imdb(model_path, **kwargs)
    return evaluate_ptb(model_path, **kwargs)


def prepare(model_path: str | Path, dataset: str, **kwargs) -> Prepared:
    """`evaluate` without a config: a Prepared whose .run(config) evaluates one."""
    kwargs = _dataset_kwargs(model_path, dataset, kwargs)
    if dataset == "imdb":
        return prepare_imdb(model_path, **kwargs)
    return prepare_ptb(model_path, **kwargs)
