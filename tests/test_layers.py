"""The layers of the tree import only downwards: dialects <- passes <- backends <- rnnc.

Read from the source (every import statement, also those inside functions), so a
lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# folder -> (its package, the packages it may import from the project)
LAYERS = {
    "dialects": ("rnnc.dialects", ("rnnc.dialects",)),
    "passes": ("rnnc.passes", ("rnnc.dialects", "rnnc.passes")),
    "backends": ("rnnc.backends", ("rnnc.dialects", "rnnc.passes", "rnnc.backends")),
}


def _imports(path: Path, package: str, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of a project module in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = [*package.split("."), *path.relative_to(root).with_suffix("").parts[1:]]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = ".".join(here[: len(here) - node.level])
                if node.module:
                    names = [f"{base}.{node.module}"]
                else:
                    names = [f"{base}.{alias.name}" for alias in node.names]
            else:
                names = [node.module or ""]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.split(".")[0] == "rnnc"]
    return found


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_layer_imports_only_downwards(folder):
    package, allowed = LAYERS[folder]
    bad = []
    for path in _sources(folder):
        for line, module in _imports(path, package):
            if not any(module == a or module.startswith(a + ".") for a in allowed):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_check_sees_upward_imports(tmp_path):
    """The import reader finds absolute, lazy and relative imports."""
    (tmp_path / "passes").mkdir()
    src = tmp_path / "passes" / "p.py"
    src.write_text(
        "from rnnc.backends.x import y\n"
        "def f():\n    import rnnc.driver\n"
        "from .. import lab\n"
    )
    modules = sorted(m for _, m in _imports(src, "rnnc.passes", tmp_path))
    assert modules == ["rnnc.backends.x", "rnnc.driver", "rnnc.lab"]
