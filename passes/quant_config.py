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
    lut_bits = 8                  # default: activation bits within DEFAULT_LUT_BITS
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
from rnnc.dialects.user_files import read_text
from rnnc.passes import softmax
from rnnc.passes.approximate_activations import check_parameters
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

# Default table size: as many index bits as the activation has (a table step
# under the output's lsb times the slope bound), within these bounds: 256 entries
# at A <= 8, 1,024 (hls4ml's default table size) from A = 10. That takes an LSTM at
# A16 from 1.8 % to 1.0 % error (0.9 % with 12 bits, for 4x the block RAM per
# table); the word-length search counts the tables' memory, so narrowing the
# activations also shrinks them (docs/performance.md).
DEFAULT_LUT_BITS = (8, 10)


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
    lut_bits: int | None = None  # None: `table_bits`, from the activation width
    lut_log2_range: int | None = None
    pwl_segments: int = 16

    @property
    def table_bits(self) -> int:
        """log2 of the activation tables' size: `lut_bits`, by default the
        activation word length within DEFAULT_LUT_BITS (docs/performance.md)."""
        if self.lut_bits is not None:
            return self.lut_bits
        lo, hi = DEFAULT_LUT_BITS
        return min(max(self.bits.get("activation", DEFAULT_BITS["activation"]), lo), hi)

    @property
    def softmax_table_bits(self) -> int:
        """The softmax heads' table size (passes/softmax.py): `lut_bits` when set,
        else the softmax's own default. It does not follow the activation width:
        its log table has up to 2^(bits + 6) entries (64K words at 10 bits)."""
        if self.lut_bits is not None:
            return self.lut_bits
        return softmax.DEFAULT_LUT_BITS

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
        if not _is_int(self.guard_bits) or not 0 <= self.guard_bits <= 16:
            raise RnncError(
                f"guard bits must be an integer in [0, 16], got {self.guard_bits!r}"
            )
        for name, spec in self.overrides.items():
            if isinstance(spec, int):
                _check_width(spec, f"override '{name}'")
        check_parameters(
            self.activation_method,
            self.table_bits,
            self.lut_log2_range,
            self.pwl_segments,
        )
        return self

    def check_overrides(self, names: set[str]) -> None:
        """An override must name a tensor of the model (a typo would otherwise be
        ignored silently)."""
        unknown = sorted(set(self.overrides) - names)
        if unknown:
            shown = ", ".join(sorted(names)[:8]) + (" ..." if len(names) > 8 else "")
            raise RnncError(
                f"override(s) {unknown} name no tensor of the model; its tensors "
                f"include: {shown}"
            )

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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_width(width: object, what: str) -> None:
    if not _is_int(width):
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
            data = tomllib.loads(read_text(path, "config", "config"))
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


# The TOML schema: top-level scalars, the [activations] keys (and the field each
# sets), with their types; [bits] and [overrides] are tables of widths.
_TOP = {
    "rounding": str,
    "overflow": str,
    "range": str,
    "weight_fit": str,
    "guard_bits": int,
}
_ACTIVATIONS = {
    "method": ("activation_method", str),
    "lut_bits": ("lut_bits", int),
    "lut_log2_range": ("lut_log2_range", int),
    "pwl_segments": ("pwl_segments", int),
}
_TABLES = ("bits", "activations", "overrides")


def _typed(value: object, kind: type, key: str, where: str) -> object:
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        name = "an integer" if kind is int else "a string"
        raise RnncError(f"config '{where}': {key} must be {name}, got {value!r}")
    return value


def _from_dict(config: QuantConfig, data: dict, where: str) -> QuantConfig:
    data = dict(data)
    for table in _TABLES:
        if table in data and not isinstance(data[table], dict):
            raise RnncError(
                f"config '{where}': [{table}] must be a table, got {data[table]!r}"
            )
    bits = dict(config.bits)
    for cls, width in data.pop("bits", {}).items():
        bits[cls] = width
    acts = dict(data.pop("activations", {}))
    overrides = {
        name: _parse_override(name, spec)
        for name, spec in data.pop("overrides", {}).items()
    }
    updates = {}
    for key, kind in _TOP.items():
        if key in data:
            updates[key] = _typed(data.pop(key), kind, key, where)
    for key, (attr, kind) in _ACTIVATIONS.items():
        if key in acts:
            updates[attr] = _typed(acts.pop(key), kind, f"activations.{key}", where)
    leftover = sorted(data) + [f"activations.{k}" for k in acts]
    if leftover:
        raise RnncError(f"unknown key(s) {leftover} in config '{where}'")
    return replace(config, bits=bits, overrides=overrides, **updates)
