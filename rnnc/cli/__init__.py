"""The `rnnc` command: one argparse parser, one subcommand per module of this
package (each has NAME, HELP, DESCRIPTION, `add_arguments(parser)` and
`run(args) -> exit code`; LAB = True marks the commands of the `lab` extra).

    rnnc MODEL [--emit=mlir|expanded] [-o FILE]        compile and print IR
    rnnc MODEL --emit=verilog -o DIR [--lanes P] [--calib c.npz policy]   RTL
    rnnc verify MODEL --calib c.npz [policy] [--sequences N] [--lanes P]
                                                        RTL simulation vs interpreter
    rnnc synth-report DIR [--json r.json]               yosys / nextpnr estimates
    rnnc run MODEL --input x.npz -o y.npz [--expand]    run (float or fixed point)
    rnnc quantize MODEL --calib c.npz [policy] -o m.fxp.mlir
    rnnc report MODEL.fxp.mlir [--json r.json]          memory footprint
    rnnc eval MODEL.onnx --dataset imdb|ptb [policy]    test metric, float vs fixed
    rnnc search MODEL.onnx --dataset D --budget 0.5% -o chosen.toml   word lengths
    rnnc sweep MODEL.onnx --dataset D --weight-bits 4,8 --act-bits 8,16 -o DIR
    rnnc calib MODEL.onnx --dataset imdb|ptb [--samples N] -o calib.npz

`rnnc MODEL ...` (no command) is `rnnc compile MODEL ...`. Only the chosen
command's flags are built, so that a core command never imports the lab. Every user
error ends as one `rnnc: error: ...` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from rnnc.cli.common import LAB_MODULES, Parser
from rnnc.dialects.errors import RnncError

COMMANDS = (
    "compile",
    "run",
    "quantize",
    "report",
    "verify",
    "synth-report",
    "eval",
    "search",
    "sweep",
    "calib",
)
TOP_LEVEL_FLAGS = ("-h", "--help", "--version")


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"rnnc.cli.{name.replace('-', '_')}")


def require_lab(command: str) -> None:
    """A lab command without the `lab` extra's packages is a user error."""
    missing = [m for m in LAB_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise RnncError(
            f"`rnnc {command}` needs {', '.join(missing)}, which the lab extra "
            'installs: pip install "rnnc[lab]"'
        )


def _version() -> str:
    try:
        return version("rnnc")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


def build_parser(selected: str | None = None) -> Parser:
    """The parser with every command listed; the flags of `selected` only."""
    top = Parser(
        prog="rnnc",
        description="A compiler for recurrent neural networks in fixed point.",
        epilog="`rnnc MODEL ...` is short for `rnnc compile MODEL ...`.",
    )
    top.add_argument("--version", action="version", version=f"rnnc {_version()}")
    sub = top.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        module = command_module(name)
        p = sub.add_parser(
            name, help=module.HELP, description=module.DESCRIPTION, prog=f"rnnc {name}"
        )
        p.set_defaults(_run=module.run)
        if name == selected:
            if getattr(module, "LAB", False):
                require_lab(name)
            module.add_arguments(p)
            show_defaults(p)
    return top


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every flag with a default says it in --help."""
    for action in parser._actions:
        default = action.default
        if (
            default is None
            or default is False
            or default == []
            or default == argparse.SUPPRESS
            or action.help == argparse.SUPPRESS
            or "default" in (action.help or "")
        ):
            continue
        shown = "(default: %(default)s)"
        action.help = f"{action.help} {shown}" if action.help else shown


# Characters that break a line (str.splitlines), shown escaped: a name from a damaged
# file must not split the one error line.
_LINE_BREAKS = {c: f"\\x{c:02x}" for c in (*range(32), 0x7F, 0x85) if c != 9}
_LINE_BREAKS |= {0x2028: "\\u2028", 0x2029: "\\u2029"}


def one_line(message: str) -> str:
    return message.translate(_LINE_BREAKS)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, *TOP_LEVEL_FLAGS):
        argv = ["compile", *argv]
    try:
        args = build_parser(argv[0]).parse_args(argv)
        code = args._run(args)
    except RnncError as err:
        print(f"rnnc: error: {one_line(str(err))}", file=sys.stderr)
        code = 2
    return code


def entry() -> None:
    sys.exit(main())
