"""Outputs cannot lose data: destinations checked first, written atomically, inputs
never overwritten, the name printed is the name written, RTL folders replaced whole."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from cli_harness import assert_user_error, invoke, rnn_model
from conftest import require

from rnnc import outputs

EXAMPLE = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def model(tmp_path):
    return rnn_model(tmp_path / "m.onnx")


@pytest.fixture
def inputs(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, X=np.ones((4, 2, 3), np.float32))
    return path


def test_writes_exactly_the_name_given(model, inputs, tmp_path):
    r = invoke("run", model, "-i", inputs, "-o", tmp_path / "y")
    assert r.code == 0, r.stderr
    assert (tmp_path / "y").is_file() and not (tmp_path / "y.npz").exists()
    assert f"wrote {tmp_path / 'y'}:" in r.stderr
    assert np.load(tmp_path / "y", allow_pickle=False)["Y_h"].shape == (1, 2, 5)


@pytest.mark.parametrize(
    "target, needle",
    [
        ("", "empty"),
        (".", "is a folder"),
        ("nodir/y.npz", "does not exist"),
        ("m.onnx/y.npz", "is not a folder"),
        ("x.npz", "refusing to overwrite"),
        ("m.onnx", "refusing to overwrite"),
    ],
)
def test_bad_destination_refused_before_work(model, inputs, tmp_path, target, needle):
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    dest = "" if target == "" else tmp_path / target
    assert_user_error(invoke("run", model, "-i", inputs, "-o", dest), needle)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_quantize_never_overwrites_its_model(model, tmp_path):
    calib = tmp_path / "c.npz"
    np.savez(calib, X=np.ones((4, 2, 3), np.float32))
    data = model.read_bytes()
    assert_user_error(invoke("quantize", model, "--calib", calib, "-o", model))
    assert_user_error(invoke(model, "-o", model), "refusing to overwrite")
    assert model.read_bytes() == data


def test_read_only_folder_refused(model, inputs, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        r = invoke("run", model, "-i", inputs, "-o", folder / "y.npz")
        assert_user_error(r, "not writable")
    finally:
        folder.chmod(0o700)


def test_failure_mid_write_keeps_the_old_file(model, inputs, tmp_path, monkeypatch):
    """The writer dies after half its bytes: the old file stays, no temp is left."""
    target = tmp_path / "y.npz"
    target.write_bytes(b"old contents")

    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", half_then_fail)
    r = invoke("run", model, "-i", inputs, "-o", target)
    assert_user_error(r, "cannot write", "No space left")
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "x.npz", "y.npz"]


def test_writer_keeps_existing_mode(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("a")
    target.chmod(0o640)
    outputs.output_file(target).write_text("b")
    assert target.read_text() == "b"
    assert target.stat().st_mode & 0o777 == 0o640


def test_device_output_is_written_not_replaced(model, inputs):
    r = invoke("run", model, "-i", inputs, "-o", os.devnull)
    assert r.code == 0, r.stderr
    assert Path(os.devnull).is_char_device()


def test_json_destination_checked_before_work(tmp_path):
    r = invoke(
        "report", EXAMPLE / "lstm_classifier.onnx", "--json", tmp_path / "no" / "r"
    )
    assert_user_error(r, "--json", "does not exist")


# ---------------------------------------------------------------- RTL folders


@pytest.fixture(scope="module")
def fxp_module(tmp_path_factory):
    require("circt")
    path = tmp_path_factory.mktemp("fxp") / "ex.fxp.mlir"
    r = invoke(
        "quantize",
        EXAMPLE / "lstm_classifier.onnx",
        "--calib",
        EXAMPLE / "lstm_classifier_input.npz",
        "-o",
        path,
    )
    assert r.code == 0, r.stderr
    return path


def _emit(module, out):
    return invoke(module, "--emit=verilog", "-o", out)


def test_reemit_clears_stale_files(fxp_module, tmp_path):
    out = tmp_path / "rtl"
    assert _emit(fxp_module, out).code == 0
    first = sorted(p.name for p in out.iterdir())
    assert "manifest.json" in first and any(n.endswith(".sv") for n in first)
    (out / "old_rom.hex").write_text("0\n")
    assert _emit(fxp_module, out).code == 0
    assert sorted(p.name for p in out.iterdir()) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]  # no temp folder


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: None, "looks like a file name"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "notes.txt"),
    ],
)
def test_rtl_destination_refused(fxp_module, tmp_path, make, needle):
    out = tmp_path / ("design.sv" if needle != "notes.txt" else "rtl")
    make(out)
    assert_user_error(_emit(fxp_module, out), needle)


def test_failed_emit_keeps_the_old_folder(fxp_module, tmp_path, monkeypatch):
    out = tmp_path / "rtl"
    assert _emit(fxp_module, out).code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    from rnnc import pipeline
    from rnnc.dialects.errors import RnncError

    def half_then_fail(module, folder, lanes=1, onchip_kbits=None):
        (Path(folder) / "rnnc_top.sv").write_text("module half")
        raise RnncError("CIRCT export failed")

    monkeypatch.setattr(pipeline, "emit_verilog", half_then_fail)
    assert_user_error(_emit(fxp_module, out), "CIRCT export failed")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]
