"""The `rnnc` parser, the core commands without the `lab` extra, and a source
checkout's `rnnc` package finding its sibling layer folders."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnc.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lstm_classifier.onnx"
EXAMPLE_INPUT = ROOT / "examples" / "lstm_classifier_input.npz"
SHAPE = "tokens=4x12"
LAB_ONLY = ("dask", "distributed", "matplotlib", "tqdm")

# Runs `rnnc` with the lab's packages made unimportable, then checks none got in.
WITHOUT_LAB = f"""
import sys
for name in {LAB_ONLY!r}:
    sys.modules[name] = None
from rnnc.cli import main
code = main(sys.argv[1:])
loaded = [m for m in {LAB_ONLY!r} if sys.modules.get(m) is not None]
assert not loaded, loaded
assert not any(m.startswith("rnnc.lab") for m in sys.modules), "rnnc.lab imported"
sys.exit(code)
"""


def without_lab(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_LAB, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    listed = [m[1] for ln in out.splitlines() if (m := re.match(r" {4}(\S+)", ln))]
    assert listed == list(COMMANDS)


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"rnnc {version('rnnc')}\n"


def test_bare_model_is_compile(tmp_path):
    bare, named = tmp_path / "bare.mlir", tmp_path / "named.mlir"
    flags = ["--emit=expanded", "--input-shape", SHAPE]
    assert main([str(EXAMPLE), *flags, "-o", str(bare)]) == 0
    assert main(["compile", str(EXAMPLE), *flags, "-o", str(named)]) == 0
    assert bare.read_text() == named.read_text()
    assert "rnn.lstm" not in bare.read_text()  # expand-cells ran
    # options first: still compile
    assert main(["-o", str(bare), "--input-shape", SHAPE, str(EXAMPLE)]) == 0
    assert "rnn.lstm" in bare.read_text()


def test_subcommand_errors_are_one_line(capsys):
    assert main(["run", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "rnnc: error: the following arguments are required: --input/-i, -o/--output\n"
    )
    assert main([]) == 2
    assert capsys.readouterr().err == (
        "rnnc: error: the following arguments are required: model\n"
    )


def test_core_commands_run_without_the_lab_extra(tmp_path):
    """quantize, report, run, compile (also to Verilog) import no lab package."""
    fxp = tmp_path / "m.fxp.mlir"
    steps = [
        ("quantize", EXAMPLE, "--calib", EXAMPLE_INPUT, "-o", fxp, "--weight-bits", 8),
        ("report", fxp),
        ("run", fxp, "--input", EXAMPLE_INPUT, "-o", tmp_path / "y.npz"),
        (EXAMPLE, "--input-shape", SHAPE, "-o", tmp_path / "e.mlir"),
        ("synth-report", "--help"),
        ("verify", "--help"),
    ]
    for args in steps:
        proc = without_lab(*args)
        assert proc.returncode == 0, (args, proc.stderr)
    with np.load(tmp_path / "y.npz") as out:
        assert out["logits"].shape == (4, 2)


@pytest.mark.parametrize("command", ["eval", "search", "sweep"])
def test_lab_command_without_the_extra_says_what_to_install(command):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nsys.modules['tqdm'] = None\n"
            "from rnnc.cli import entry\nentry()",
            command,
            EXAMPLE,
            "--dataset",
            "imdb",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"rnnc: error: `rnnc {command}` needs tqdm, which the lab extra installs: "
        'pip install "rnnc[lab]"\n'
    )


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_lab_imports_lab_packages_at_module_level():
    sources = [
        p
        for folder in ("rnnc", "dialects", "passes", "backends")
        for p in (ROOT / folder).rglob("*.py")
        if "lab" not in p.relative_to(ROOT).parts
    ]
    assert len(sources) > 30
    offenders = {
        str(p.relative_to(ROOT)): found
        for p in sources
        if (found := _top_level_imports(p) & set(LAB_ONLY))
    }
    assert not offenders


def test_source_checkout_finds_its_layers():
    """Started in the checkout's root with no installed mapping (-S: no site
    packages, so no editable finder), `rnnc.<layer>` is the sibling folder."""
    code = (
        "import rnnc.dialects.errors, rnnc.passes, rnnc.backends.verilog\n"
        "print(rnnc.__file__)\n"
        "print(rnnc.dialects.errors.__file__)\n"
        "print(rnnc.passes.__file__)\n"
        "print(rnnc.backends.verilog.__file__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [Path(p) for p in proc.stdout.split()] == [
        ROOT / "rnnc" / "__init__.py",
        ROOT / "dialects" / "errors.py",
        ROOT / "passes" / "__init__.py",
        ROOT / "backends" / "verilog" / "__init__.py",
    ]


def test_a_missing_hardware_tool_skips_locally_and_fails_in_ci(monkeypatch):
    from conftest import require

    monkeypatch.delenv("CI", raising=False)
    require("python3")  # present: nothing happens
    with pytest.raises(pytest.skip.Exception, match="no-such-tool not installed"):
        require("python3", "no-such-tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install"):
        require("no-such-tool")


def test_rnnc_opt_help_names_rnnc_passes_only():
    from rnnc.registry import PASSES

    opt = [sys.executable, "-c", "from rnnc.opt import main; main()"]
    text = subprocess.run([*opt, "--help"], capture_output=True, text=True).stdout
    flat = " ".join(text.split()).replace("- ", "-")
    assert all(name in flat for name in PASSES)
    assert "convert-arith-to-riscv" not in flat  # one of xDSL's passes
    # which stay usable
    proc = subprocess.run(
        [*opt, "-p", "canonicalize"],
        input="builtin.module {}",
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
