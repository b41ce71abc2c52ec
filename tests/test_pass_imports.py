"""The passes that work on the float `rnn` IR depend only on the dialects (and xDSL):
no import, even inside a function, from the backends or the rnnc tool layer."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PASSES = [
    "approximate_activations",
    "assign_formats",
    "expand_cells",
    "fold_constants",
    "interval_analysis",
    "quant_config",
    "range_analysis",
]
ALLOWED = ("rnnc.dialects", "rnnc.passes")


def rnnc_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n for n in names if n == "rnnc" or n.startswith("rnnc.")]


@pytest.mark.parametrize("name", PASSES)
def test_pass_imports_only_dialects_and_passes(name):
    bad = [
        m
        for m in rnnc_imports(ROOT / "passes" / f"{name}.py")
        if not m.startswith(ALLOWED)
    ]
    assert bad == []


def test_the_check_sees_a_backend_import(tmp_path):
    path = tmp_path / "p.py"
    path.write_text("def f():\n    from rnnc.backends.interpreter import fusion\n")
    assert rnnc_imports(path) == ["rnnc.backends.interpreter"]
