"""rnnc-opt: xdsl-opt with the rnnc dialects and passes registered."""

from __future__ import annotations

import argparse
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
        # xDSL's help lists its ~150 passes; name rnnc's, the others stay usable.
        arg_parser._option_string_actions["-p"].help = (
            "comma-separated pass pipeline; rnnc's passes: "
            + ", ".join(registry.PASSES)
            + " (xDSL's passes work too: `xdsl-opt --help` lists them)"
        )


def main() -> None:
    try:
        RnncOptMain(description="rnnc modular optimizer").run()
    except (RnncError, ValueError, OSError, ParseError, VerifyException) as err:
        # Unknown passes, unreadable files, bad IR: one line, not a traceback.
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        message = lines[-1] if lines else repr(err)
        print(f"rnnc-opt: error: {message}", file=sys.stderr)
        sys.exit(2)
