"""The CLI explains itself: choices taken from the enums the compiler checks,
defaults shown, rnnc-opt's own passes first, did-you-mean for pass names."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import rnnc

from rnnc.cli import COMMANDS, main
from rnnc.dialects.fixed import OVERFLOW_MODES, ROUNDING_MODES
from rnnc.passes.approximate_activations import METHODS
from rnnc.passes.quant_config import RANGE_SOURCES, WEIGHT_FITS, QuantConfig
from rnnc.registry import PASSES

OPT = [sys.executable, "-c", "from rnnc.opt import main; main()"]


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["quantize", "run", "compile", "verify"])
def test_policy_flags_list_their_choices_and_defaults(command, capsys):
    text = _help(command, capsys)
    default = QuantConfig()
    for flag, choices, value in [
        ("--rounding", ROUNDING_MODES, default.rounding),
        ("--overflow", OVERFLOW_MODES, default.overflow),
        ("--range", RANGE_SOURCES, default.range),
        ("--weight-fit", WEIGHT_FITS, default.weight_fit),
        ("--activation", METHODS, default.activation_method),
    ]:
        assert f"{flag} {{{','.join(choices)}}}" in text
        assert f"(default: {value})" in text


def test_flags_with_defaults_show_them(capsys):
    text = _help("verify", capsys)
    for shown in ("--sequences SEQUENCES (default: 100)", "--seed SEED (default: 0)"):
        assert shown in text
    assert "--lanes LANES MAC lanes P (default: 1)" in text
    assert "(default: mlir)" in _help("compile", capsys)


def test_a_value_outside_the_choices_is_one_error_line(capsys):
    assert rnnc("quantize", "m.onnx", "--calib", "c.npz", "--rounding", "up") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnc: error: argument --rounding: invalid choice: 'up'")
    assert len(err.splitlines()) == 1


def test_every_command_has_help(capsys):
    for command in COMMANDS:
        assert f"usage: rnnc {command}" in _help(command, capsys)


def test_rnnc_opt_lists_its_passes_and_the_rest_with_all():
    text = subprocess.run([*OPT, "--help"], capture_output=True, text=True).stdout
    flat = " ".join(text.split()).replace("- ", "-")
    assert all(name in flat for name in PASSES)
    assert "convert-arith-to-riscv" not in flat and "--help --all" in flat
    text = subprocess.run(
        [*OPT, "--help", "--all"], capture_output=True, text=True
    ).stdout
    flat = " ".join(text.split()).replace("- ", "-")
    assert flat.index("lower-to-fxp") < flat.index("convert-arith-to-riscv")


def test_unknown_pass_names_get_a_did_you_mean(tmp_path, capsys):
    proc = subprocess.run(
        [*OPT, "-p", "expand-cell"],
        input="builtin.module {}",
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "did you mean 'expand-cells'?" in proc.stderr
    module = tmp_path / "m.mlir"
    module.write_text("builtin.module {}\n")
    from rnnc import driver
    from rnnc.dialects.errors import RnncError

    with pytest.raises(RnncError, match="did you mean 'range-analysis'"):
        driver.run_passes(driver.load_module(module), ["range-analysys"])
