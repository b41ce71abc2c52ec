"""rnnc: a fixed-point compiler for recurrent neural networks.

The layers live in top-level folders that installation maps into this package
(pyproject's package-dir): dialects/ is `rnnc.dialects`, passes/ `rnnc.passes`,
backends/ `rnnc.backends`. Python started in a source checkout's root imports this
folder, not the installed package (the current directory comes first on sys.path),
and this folder has no dialects/: so when the sibling folders sit next to it, a
finder maps the three names to them, ahead of any installed mapping (an editable
install may point at another checkout; this `rnnc` needs its own layers).
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent
LAYERS = ("dialects", "passes", "backends")


class SiblingLayerFinder:
    """Finds `rnnc.<layer>` as the checkout's top-level `<layer>/` folder."""

    @staticmethod
    def find_spec(fullname: str, path=None, target=None) -> ModuleSpec | None:
        parent, _, layer = fullname.partition(".")
        if parent != __name__ or layer not in LAYERS:
            return None
        return PathFinder.find_spec(fullname, [str(_CHECKOUT)])


if not (Path(__file__).parent / "dialects").exists() and all(
    (_CHECKOUT / layer / "__init__.py").is_file() for layer in LAYERS
):
    if not any(isinstance(f, SiblingLayerFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, SiblingLayerFinder())
