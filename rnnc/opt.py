"""rnnc-opt: xdsl-opt with the rnnc dialects and passes registered.

Input text goes through `rnnc.ir_text` (no parser hang on a truncated file), the
pipeline through `rnnc.pass_spec`, and `-o` through `rnnc.outputs` (written only
when the run succeeds, atomically); every failure is one `rnnc-opt: error:` line
and exit code 2.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import IO

from xdsl.universe import Universe
from xdsl.utils.exceptions import ArgSpecParseError, ParseError, VerifyException
from xdsl.xdsl_opt_main import xDSLOptMain

from rnnc import outputs, registry
from rnnc.dialects.errors import RnncError
from rnnc.dialects.user_files import LIMITS
from rnnc.ir_text import check_ir_text, parse_error_text, read_ir
from rnnc.pass_spec import parse_pipeline


class _Buffer(io.StringIO):
    """The output, kept until the run has succeeded (xDSL closes it either way)."""

    def close(self) -> None:
        pass


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

    def setup_pipeline(self) -> None:
        # Checked by rnnc's parser (one-line errors), then built by xDSL's, whose
        # callback verifies between passes and serves --print-between-passes.
        parse_pipeline(self.args.passes, self.available_passes, known=registry.PASSES)
        super().setup_pipeline()

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        path = self.args.input_file
        if path is None:
            data = sys.stdin.buffer.read(LIMITS["module"] + 1)
            if len(data) > LIMITS["module"]:
                raise RnncError("stdin is over the size limit for a module")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise RnncError("stdin is not UTF-8 text") from None
            check_ir_text(text, "stdin")
            return io.BytesIO(text.encode()), "mlir"
        text = read_ir(path)
        extension = path.rpartition(".")[2] if "." in path else ""
        return io.BytesIO(text.encode()), extension

    def prepare_output(self) -> IO[str]:
        if self.args.output_file is None:
            return sys.stdout
        return self._buffer

    def run(self) -> None:
        destination = self.args.output_file
        if destination is not None:
            target = outputs.output_file(destination, inputs=[self.args.input_file])
            self._buffer = _Buffer()
        super().run()
        if destination is not None:
            target.write_text(self._buffer.getvalue())


LIST_ALL = False


def main(argv: list[str] | None = None) -> None:
    global LIST_ALL
    LIST_ALL = "--all" in (sys.argv[1:] if argv is None else argv)
    try:
        RnncOptMain(description="rnnc modular optimizer", args=argv).run()
    except (
        RnncError,
        ValueError,
        OSError,
        ParseError,
        VerifyException,
        ArgSpecParseError,
    ) as err:
        # Unknown passes, unreadable files, bad IR: one line, not a traceback.
        message = parse_error_text(err, limit=400)
        print(f"rnnc-opt: error: {message}", file=sys.stderr)
        sys.exit(2)
    except RecursionError:
        print("rnnc-opt: error: the input is nested too deeply", file=sys.stderr)
        sys.exit(2)
