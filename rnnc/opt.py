"""rnnc-opt: xdsl-opt with the rnnc dialects and passes registered."""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import sys

from xdsl.universe import Universe
from xdsl.utils.exceptions import ParseError, VerifyException
from xdsl.xdsl_opt_main import xDSLOptMain

from rnnc import registry
from rnnc.dialects.errors import RnncError


class RnncOptMain(xDSLOptMain):
    version_format = "rnnc-opt built on xdsl {}"

    def register_all_dialects(self) -> None:
        # xDSL's dialects, rnnc's, and rnnc's `hw` and `seq` (xDSL's with CIRCT's
        # additions) in place of xDSL's.
        dialects = {
            **Universe.get_multiverse().all_dialects,
            **registry.DIALECTS,
            **registry.EXTENDED,
        }
        for name, factory in dialects.items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        for name, factory in registry.PASSES.items():
            self.register_pass(name, factory)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        # xDSL's help lists its ~150 passes; name rnnc's first, xDSL's with --all.
        others = sorted(set(self.available_passes) - set(registry.PASSES))
        arg_parser._option_string_actions["-p"].help = (
            "comma-separated pass pipeline; rnnc's passes: "
            + ", ".join(registry.PASSES)
            + (
                "; xDSL's passes: " + ", ".join(others)
                if LIST_ALL
                else f" (and {len(others)} xDSL passes: --help --all lists them)"
            )
        )
        arg_parser.add_argument(
            "--all", action="store_true", help="with --help: list xDSL's passes too"
        )


LIST_ALL = False


def did_you_mean(message: str, known: list[str]) -> str:
    """xDSL's "Unrecognized passes: [...]" with the closest known pass names."""
    found = re.search(r"Unrecognized passes: (\[.*\])", message)
    if not found:
        return message
    hints = []
    for name in ast.literal_eval(found[1]):
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hints.append(f"'{name}': did you mean '{close[0]}'?")
    return message + ("; " + "; ".join(hints) if hints else "")


def main() -> None:
    global LIST_ALL
    LIST_ALL = "--all" in sys.argv[1:]
    opt = None
    try:
        opt = RnncOptMain(description="rnnc modular optimizer")
        opt.run()
    except (RnncError, ValueError, OSError, ParseError, VerifyException) as err:
        # Unknown passes, unreadable files, bad IR: one line, not a traceback.
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        message = lines[-1] if lines else repr(err)
        known = [*registry.PASSES, *(opt.available_passes if opt else ())]
        message = did_you_mean(message, known)
        print(f"rnnc-opt: error: {message}", file=sys.stderr)
        sys.exit(2)
