"""approximate-activations: sigmoid/tanh (and the other ONNX activations) → LUT/PWL.

Hardware has no exp; each activation becomes a table (`rnn.lut`) or a piecewise-
linear function (`rnn.pwl`) still in float, so its effect can be measured before any
other quantization. Lowering turns them into `fxp.lut`/`fxp.pwl` with fixed-point
constants. Functions that are piecewise linear already (Relu stays as is;
HardSigmoid, LeakyRelu, Affine, ThresholdedRelu) become exact PWLs. Each replaced
op records its measured `max_error` and `mean_error` against the exact function on a
dense grid over twice the table range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, ModuleOp, f64
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from rnnc.dialects import rnn
from rnnc.dialects.errors import RnncError
from rnnc.dialects.rnn_semantics import IMPLS, activate
from rnnc.passes import softmax

METHODS = ("lut", "pwl", "hard")
# Bounds of the approximation parameters (the policy schema checks them too): a
# table of 2^20 entries, 4096 segments and |x| < 2^16 are far beyond any use, and
# keep building and measuring the approximation to seconds.
LUT_BITS = (1, 20)
PWL_SEGMENTS = (1, 4096)
LOG2_RANGE = (-8, 16)


def check_parameters(
    method: str, lut_bits: int, log2_range: int | None, pwl_segments: int
) -> None:
    """Refuse an unknown method or a parameter outside its bounds."""
    if method not in METHODS:
        raise RnncError(
            f"unknown activation approximation '{method}', expected one of "
            + ", ".join(METHODS)
        )
    bounded = [
        ("lut bits", lut_bits, LUT_BITS),
        ("pwl segments", pwl_segments, PWL_SEGMENTS),
    ]
    if log2_range is not None:
        bounded.append(("lut log2 range", log2_range, LOG2_RANGE))
    for what, value, (lo, hi) in bounded:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RnncError(f"{what} must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise RnncError(f"{what} must be in [{lo}, {hi}], got {value}")


# Default log2 of the table range R: beyond it the function is within 1e-3 of its
# limit (sigmoid(8) = 0.99966, tanh(4) = 0.99933).
DEFAULT_LOG2_RANGE = {"Sigmoid": 3, "Tanh": 2}
EXACT_PWL = {"HardSigmoid", "LeakyRelu", "Affine", "ThresholdedRelu"}


def kind_of(op: Operation) -> tuple[str, float | None, float | None] | None:
    if isinstance(op, rnn.SigmoidOp):
        return "Sigmoid", None, None
    if isinstance(op, rnn.TanhOp):
        return "Tanh", None, None
    if isinstance(op, rnn.ActivationOp):
        alpha = None if op.alpha is None else op.alpha.value.data
        beta = None if op.beta is None else op.beta.value.data
        return op.kind.data, alpha, beta
    return None


def exact_pwl(kind: str, alpha, beta) -> tuple[list, list, list]:
    """(breakpoints, slopes, intercepts) of the functions that are PWL already."""
    if kind == "HardSigmoid":  # clip(alpha x + beta, 0, 1)
        lo, hi = -beta / alpha, (1 - beta) / alpha
        return [lo, hi], [0.0, alpha, 0.0], [0.0, beta, 1.0]
    if kind == "LeakyRelu":
        return [0.0], [alpha, 1.0], [0.0, 0.0]
    if kind == "Affine":
        return [], [alpha], [beta]
    if kind == "ThresholdedRelu":
        return [alpha], [0.0, 1.0], [0.0, 0.0]
    raise ValueError(kind)


def hard_pwl(kind: str) -> tuple[list, list, list] | None:
    if kind == "Sigmoid":  # clip(x/4 + 1/2, 0, 1)
        return [-2.0, 2.0], [0.0, 0.25, 0.0], [0.0, 0.5, 1.0]
    if kind == "Tanh":  # clip(x, -1, 1)
        return [-1.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]
    return None


def chord_pwl(kind, alpha, beta, log2_range: int, segments: int):
    """Chords of f between uniform breakpoints over [-R, R]; constant outside."""
    r = 2.0**log2_range
    bps = np.linspace(-r, r, segments + 1)
    f = activate(kind, bps.astype(np.float64), alpha, beta)
    slopes = np.diff(f) / np.diff(bps)
    intercepts = f[:-1] - slopes * bps[:-1]
    return (
        list(bps),
        [0.0, *slopes, 0.0],
        [float(f[0]), *intercepts, float(f[-1])],
    )


@dataclass
class ReplaceActivation(RewritePattern):
    method: str
    lut_bits: int
    log2_range: int | None
    pwl_segments: int

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        found = kind_of(op)
        if found is None:
            return
        kind, alpha, beta = found
        log2_range = (
            self.log2_range
            if self.log2_range is not None
            else DEFAULT_LOG2_RANGE.get(kind, 3)
        )
        x = op.operands[0]
        if kind in EXACT_PWL:
            new = rnn.PwlOp(x, *exact_pwl(kind, alpha, beta))
        elif self.method == "hard" and hard_pwl(kind) is not None:
            new = rnn.PwlOp(x, *hard_pwl(kind))
        elif self.method == "pwl":
            new = rnn.PwlOp(
                x, *chord_pwl(kind, alpha, beta, log2_range, self.pwl_segments)
            )
        else:
            new = rnn.LutOp(x, kind, alpha, beta, log2_range, self.lut_bits)
        max_err, mean_err = measure_error(new, kind, alpha, beta, log2_range)
        new.attributes["max_error"] = FloatAttr(max_err, f64)
        new.attributes["mean_error"] = FloatAttr(mean_err, f64)
        new.result.name_hint = op.results[0].name_hint
        # Annotations of earlier passes (ranges, formats) stay valid for the value.
        new.attributes.update(op.attributes)
        rewriter.replace(op, new)


def measure_error(op: Operation, kind, alpha, beta, log2_range: int):
    """Max and mean |approx - exact| on 2^16 points over [-2R, 2R]."""
    grid = np.linspace(-(2.0 ** (log2_range + 1)), 2.0 ** (log2_range + 1), 1 << 16)
    grid = grid.astype(np.float32)
    approx = IMPLS[type(op)](op, [grid])[0].astype(np.float64)
    exact = activate(kind, grid.astype(np.float64), alpha, beta)
    err = np.abs(approx - exact)
    return float(err.max()), float(err.mean())


@dataclass(frozen=True)
class ApproximateActivationsPass(ModulePass):
    """Replace activation functions by tables or piecewise-linear functions."""

    name = "approximate-activations"

    method: str = "lut"
    lut_bits: int = 8
    log2_range: int | None = None
    pwl_segments: int = 16
    # the softmax heads' table size (passes/softmax.py); None: lut_bits
    softmax_lut_bits: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        check_parameters(self.method, self.lut_bits, self.log2_range, self.pwl_segments)
        pattern = ReplaceActivation(
            self.method, self.lut_bits, self.log2_range, self.pwl_segments
        )
        PatternRewriteWalker(
            GreedyRewritePatternApplier([pattern]), apply_recursively=False
        ).rewrite_module(op)
        # Softmax heads stay exact here; their tables, built when lowered, are
        # sized from the same policy (passes/softmax.py).
        bits = self.lut_bits
        if self.softmax_lut_bits is not None:
            bits = self.softmax_lut_bits
            check_parameters(self.method, bits, self.log2_range, self.pwl_segments)
        for inner in op.walk():
            if isinstance(inner, rnn.SoftmaxBaseOp):
                inner.attributes[softmax.BITS_ATTR] = IntegerAttr(bits, 64)


def error_report(module: ModuleOp) -> list[str]:
    """One line per approximated activation (for the CLI)."""
    lines = []
    for op in module.walk():
        if isinstance(op, rnn.LutOp | rnn.PwlOp) and "max_error" in op.attributes:
            what = (
                f"lut {op.kind.data} 2^{op.log2_entries.value.data} entries "
                f"|x|<2^{op.log2_range.value.data}"
                if isinstance(op, rnn.LutOp)
                else f"pwl {len(op.slopes.get_values())} segments"
            )
            lines.append(
                f"%{op.result.name_hint or '?'} {what}: max |err| "
                f"{op.attributes['max_error'].value.data:.3g}, mean "
                f"{op.attributes['mean_error'].value.data:.3g}"
            )
    return lines
