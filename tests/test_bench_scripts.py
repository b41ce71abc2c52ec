"""The bench scripts import against the current tree (they are not run by the
suite: each takes minutes), so a moved or renamed module breaks a test, not a
later measurement."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("*.py")))
def test_bench_script_imports(script):
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import {script}"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
