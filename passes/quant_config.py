"""Quantization policy: word lengths per tensor class, modes, overrides.

Read from a TOML file and/or CLI flags (flags win). Example:

    rounding = "half-even"        # floor | half-up | half-even
    overflow = "saturate"         # wrap | saturate
    range = "calib"               # calib | percentile | bound
    weight_fit = "cover"          # cover | mse: F of weights and biases
    guard_bits = 0
    [bits]
    weight = 8
    bias = 16
    accumulator = 32
    preactivation = 16
    activation = 8
    state = 16
    output = 16
    input = 16
    [activations]
    method = "lut"                # lut | pwl | hard
    lut_bits = 8
    lut_log2_range = 3            # table covers |x| < 2^3 (default: 3 sigmoid, 2 tanh)
    pwl_segments = 16
    [overrides]                   # by SSA name: a width or "W,F"
    c_next = 20
    Wi_T = "12,10"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rnnc.dialects import fixed
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format
from rnnc.passes.weight_fit import format_for_mse

CLASSES = (
    "input",
    "weight",
    "bias",
    "accumulator",
    "preactivation",
    "activation",
    "state",
    "output",
)
RANGE_SOURCES = ("calib", "percentile", "bound")
# How a constant's F is chosen: cover its whole range, or least squared error.
WEIGHT_FITS = ("cover", "mse")
CONSTANT_CLASSES = ("weight", "bias")
# The classes one activation word length (`--act-bits`) sets: the datapath values
# other than the accumulator.
ACT_CLASSES = ("input", "preactivation", "activation", "state", "output")
DEFAULT_BITS = {
    "input": 16,
    "weight": 16,
    "bias": 16,
    "accumulator": 32,
    "preactivation": 16,
    "activation": 16,
    "state": 16,
    "output": 16,
}


@dataclass(frozen=True)
class QuantConfig:
    bits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BITS))
    rounding: str = "half-even"
    overflow: str = "saturate"
    range: str = "calib"
    weight_fit: str = "cover"
    guard_bits: int = 0
    overrides: dict[str, int | Format] = field(default_factory=dict)
    activation_method: str = "lut"
    lut_bits: int = 8
    lut_log2_range: int | None = None
    pwl_segments: int = 16

    def validate(self) -> QuantConfig:
        for name, width in self.bits.items():
            if name not in CLASSES:
                raise RnncError(
                    f"unknown tensor class '{name}' in bits; expected one of "
                    + ", ".join(CLASSES)
                )
            _check_width(width, f"{name} bits")
        if self.rounding not in fixed.ROUNDING_MODES:
            raise RnncError(
                f"unknown rounding mode '{self.rounding}'; expected one of "
                + ", ".join(fixed.ROUNDING_MODES)
            )
        if self.overflow not in fixed.OVERFLOW_MODES:
            raise RnncError(
                f"unknown overflow mode '{self.overflow}'; expected one of "
                + ", ".join(fixed.OVERFLOW_MODES)
            )
        if self.range not in RANGE_SOURCES:
            raise RnncError(
                f"unknown range source '{self.range}'; expected one of "
                + ", ".join(RANGE_SOURCES)
            )
        if self.weight_fit not in WEIGHT_FITS:
            raise RnncError(
                f"unknown weight fit '{self.weight_fit}'; expected one of "
                + ", ".join(WEIGHT_FITS)
            )
        if not 0 <= self.guard_bits <= 16:
            raise RnncError(f"guard bits must be in [0, 16], got {self.guard_bits}")
        for name, spec in self.overrides.items():
            if isinstance(spec, int):
                _check_width(spec, f"override '{name}'")
        return self

    def format_for(
        self,
        cls: str,
        name: str | None,
        lo: float,
        hi: float,
        values: np.ndarray | None = None,
    ) -> Format:
        """`values`: a weight or bias constant, fitted by `weight_fit`."""
        spec = self.overrides.get(name) if name else None
        if isinstance(spec, Format):
            return spec
        width = spec if isinstance(spec, int) else self.bits[cls]
        if values is not None and self.weight_fit == "mse":
            return format_for_mse(values, width)
        return fixed.format_for_range(lo, hi, width, self.guard_bits)


def _check_width(width: object, what: str) -> None:
    if not isinstance(width, int) or isinstance(width, bool):
        raise RnncError(f"{what} must be an integer, got {width!r}")
    if not 2 <= width <= 32:
        raise RnncError(f"{what} must be between 2 and 32, got {width}")


def _parse_override(name: str, spec: object) -> int | Format:
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec
    if isinstance(spec, str):
        text = spec.removeprefix("fixed<").removesuffix(">")
        parts = text.split(",")
        try:
            width, frac = (int(p) for p in parts)
        except ValueError:
            pass
        else:
            _check_width(width, f"override '{name}'")
            return Format(width, frac)
    raise RnncError(f"override '{name}' must be a width or \"W,F\", got {spec!r}")


def load_config(path: str | Path | None = None, **flags) -> QuantConfig:
    """TOML file (optional) then flags; None-valued flags are ignored."""
    config = QuantConfig()
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as err:
            raise RnncError(f"cannot read config '{path}': {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise RnncError(f"config '{path}' is not valid TOML: {err}") from None
        config = _from_dict(config, data, str(path))
    bits = dict(config.bits)
    for cls in CLASSES:
        value = flags.pop(f"{cls}_bits", None)
        if value is not None:
            bits[cls] = value
    updates = {k: v for k, v in flags.items() if v is not None}
    unknown = set(updates) - set(QuantConfig.__dataclass_fields__)
    if unknown:
        raise RnncError(f"unknown quantization option(s) {sorted(unknown)}")
    return replace(config, bits=bits, **updates).validate()


def _from_dict(config: QuantConfig, data: dict, where: str) -> QuantConfig:
    data = dict(data)
    bits = dict(config.bits)
    for cls, width in data.pop("bits", {}).items():
        bits[cls] = width
    acts = data.pop("activations", {})
    overrides = {
        name: _parse_override(name, spec)
        for name, spec in data.pop("overrides", {}).items()
    }
    updates = {}
    for key in ("rounding", "overflow", "range", "weight_fit", "guard_bits"):
        if key in data:
            updates[key] = data.pop(key)
    for key, attr in (
        ("method", "activation_method"),
        ("lut_bits", "lut_bits"),
        ("lut_log2_range", "lut_log2_range"),
        ("pwl_segments", "pwl_segments"),
    ):
        if key in acts:
            updates[attr] = acts.pop(key)
    leftover = sorted(data) + [f"activations.{k}" for k in acts]
    if leftover:
        raise RnncError(f"unknown key(s) {leftover} in config '{where}'")
    return replace(config, bits=bits, overrides=overrides, **updates)
