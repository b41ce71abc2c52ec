"""Progress bars for long work (synthesis, place and route, simulation,
calibration): tqdm on stderr, with the elapsed time and an ETA. Only on a
terminal and never when asked to be quiet; without tqdm (the core install has
none), no bar."""

from __future__ import annotations

import importlib.util
import sys


def enabled(quiet: bool = False) -> bool:
    return (
        not quiet
        and sys.stderr.isatty()
        and importlib.util.find_spec("tqdm") is not None
    )


class _Silent:
    """A bar that shows nothing (the same calls as tqdm's)."""

    total = 0
    n = 0

    def update(self, n: int = 1) -> None:
        pass

    def set_description_str(self, text: str) -> None:
        pass

    def write(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def bar(total: int | None, desc: str, unit: str = "step", quiet: bool = False):
    """A tqdm bar on stderr, or a silent one (see `enabled`)."""
    if not enabled(quiet):
        return _Silent()
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
