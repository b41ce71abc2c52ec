"""Shared helpers: run the `rnnc` CLI in-process, compare arrays, require the
hardware tools."""

from __future__ import annotations

import importlib.util
import os
import warnings

import numpy as np
import pytest

from rnnc.backends.interpreter import fxp_kernels
from rnnc.cli import main

warnings.filterwarnings("ignore")


# Wide formats: 32-bit activations, 24-bit weights (exact products stay within 64
# bits), fine activation tables over |x| < 16: only rounding near 2^-20 remains.
WIDE_POLICY = dict(
    weight_bits=24,
    bias_bits=32,
    input_bits=32,
    accumulator_bits=32,
    preactivation_bits=32,
    activation_bits=32,
    state_bits=32,
    output_bits=32,
    lut_bits=20,
    lut_log2_range=4,
)

# Hardware tests: 6-bit weights, 10-bit values, small tables (quick simulations).
HW_POLICY = dict(
    weight_bits=6,
    activation_bits=10,
    state_bits=10,
    preactivation_bits=10,
    lut_bits=6,
)


def rnnc(*args: str) -> int:
    return main([str(a) for a in args])


def assert_close(got: dict, want: dict, atol: float = 1e-5) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(
            got[name], want[name], rtol=0, atol=atol, err_msg=name
        )


@pytest.fixture
def run_cli(tmp_path):
    """Run `rnnc run` on a model and named inputs; returns the named outputs."""

    def run(model_path, inputs: dict, *extra: str) -> dict:
        src, dst = tmp_path / "in.npz", tmp_path / "out.npz"
        np.savez(src, **inputs)
        assert rnnc("run", model_path, "--input", src, "-o", dst, *extra) == 0
        with np.load(dst) as out:
            return {k: out[k] for k in out.files}

    return run


@pytest.fixture(params=["numba", "numpy"])
def loops(request, monkeypatch):
    """Both kernel sets of the interpreter: the one-pass compiled (numba) loops
    and numpy alone; the same arithmetic must come out of each."""
    if request.param == "numba":
        pytest.importorskip("numba")
        if fxp_kernels.jit() is None:
            pytest.skip("the compiled loops are turned off")
    else:
        monkeypatch.setattr(fxp_kernels, "_JIT", [None])
    return request.param


# Python packages a test may need: checked by import, not on PATH.
PACKAGES = {"circt", "keras"}  # CIRCT's bindings (ExportVerilog); Keras 3 exports


def _installed(tool: str) -> bool:
    if tool in PACKAGES:
        return importlib.util.find_spec(tool) is not None
    from rnnc.backends.verilog import simulate

    return simulate.have_resolved(tool)  # on PATH, or its YoWASP wheel's command


def require(*tools: str) -> None:
    """Skip the running test or fixture when a hardware tool (a program on PATH,
    or "circt") is missing; in CI (the CI environment variable set) fail instead,
    as CI installs every tool and a skipped hardware test would hide a gap."""
    missing = [t for t in tools if not _installed(t)]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must install every hardware tool)", pytrace=False)
    pytest.skip(message)


def available(tool: str) -> bool:
    """For an extra check inside a test that runs anyway: whether `tool` is
    installed; in CI a missing tool fails the test instead."""
    if _installed(tool):
        return True
    if os.environ.get("CI"):
        pytest.fail(f"{tool} not installed (CI must install every hardware tool)")
    return False


def needs(*tools: str) -> pytest.MarkDecorator:
    """`require` as a marker, for a test or a module's pytestmark."""
    return pytest.mark.needs_tools(*tools)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "needs_tools(*tools): the test needs these hardware tools"
    )
    config.addinivalue_line(
        "markers",
        "slow: runs a simulator or synthesis tool (deselect with -m 'not slow' for "
        "a quick run; CI runs everything)",
    )


# Tools whose runs take seconds to minutes: a test needing one is `slow`.
SLOW_TOOLS = {"iverilog", "vvp", "verilator", "yosys", "nextpnr-ice40", "nextpnr-ecp5"}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        tools = {t for m in item.iter_markers("needs_tools") for t in m.args}
        if tools & SLOW_TOOLS:
            item.add_marker(pytest.mark.slow)


def pytest_runtest_setup(item) -> None:
    for mark in item.iter_markers("needs_tools"):
        require(*mark.args)
