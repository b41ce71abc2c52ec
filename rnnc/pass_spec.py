"""Pass pipelines from text (`rnnc run -p`, `rnnc-opt -p`): one parser, one-line
errors.

xDSL reports a malformed pipeline with `ArgSpecParseError`, which derives from
`BaseException` (so `except Exception` misses it) and spans several lines; bad
parameter names or values raise `ValueError`/`TypeError`. All become one
`RnncError` naming the pipeline.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping

from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.arg_spec import parse_pipeline as parse_specs
from xdsl.utils.exceptions import ArgSpecParseError

from rnnc.dialects.errors import RnncError

PassFactories = Mapping[str, Callable[[], type[ModulePass]]]


def _last_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__


def parse_pipeline(
    spec: str,
    available: PassFactories,
    callback=None,
    *,
    known: PassFactories | None = None,
) -> PassPipeline:
    """The pipeline `spec` ("a,b{opt=1}") of passes from `available`; an unknown
    name lists the passes of `known` (default: `available`)."""
    try:
        names = [s.name for s in parse_specs(spec)]
    except ArgSpecParseError as err:
        raise RnncError(f"bad pass pipeline '{spec}': {_last_line(err)}") from None
    unknown = [n for n in names if n not in available]
    if unknown:
        close = [
            f"did you mean '{m[0]}'?"
            for n in unknown
            if (m := difflib.get_close_matches(n, list(available), 1))
        ]
        raise RnncError(
            f"unknown pass(es) {unknown}; known: {sorted(known or available)}"
            + "".join(f"; {c}" for c in close)
        )
    try:
        return PassPipeline.parse_spec(dict(available), spec, callback)
    except (ArgSpecParseError, ValueError, TypeError) as err:
        raise RnncError(f"bad pass pipeline '{spec}': {_last_line(err)}") from None
