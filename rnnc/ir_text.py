"""Reading `.mlir` text safely: the checks that must run before xDSL's parser.

xDSL 0.74's lexer matches a string literal with a regex that backtracks
exponentially when the literal is unterminated (a file cut inside a `dense<"0x...`
constant hangs it), and its parser recurses once per nesting level. `check_ir_text`
scans the text once, in linear time, for unterminated or badly escaped string
literals and for nesting deeper than `MAX_DEPTH`, and names the line. Every reader
of IR text (`rnnc` through `driver.load_module`, `rnnc-opt`) calls `read_ir`.
"""

from __future__ import annotations

import re
from pathlib import Path

from xdsl.utils.exceptions import ParseError

from rnnc.dialects.errors import RnncError
from rnnc.dialects.user_files import read_text

# Far deeper than any module rnnc prints (a dozen levels), far shallower than the
# depth at which the recursive parser exhausts Python's stack.
MAX_DEPTH = 64

# The lexer's string literal, unrolled so that matching is linear: runs of plain
# characters separated by the escapes MLIR allows.
_PLAIN = r'[^"\\\n\v\f]*'
_STRING = rf'"{_PLAIN}(?:\\(?:["nt\\]|[0-9A-Fa-f]{{2}}){_PLAIN})*"'
_TOKENS = re.compile(
    rf"(?P<comment>//[^\n]*)|(?P<string>{_STRING})|(?P<bad>\")|->|"
    r"(?P<open>[(\[{<])|(?P<close>[)\]}>])"
)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def check_ir_text(text: str, where: str) -> None:
    """Refuse what would hang or overflow the parser (see the module doc)."""
    depth = 0
    for m in _TOKENS.finditer(text):
        kind = m.lastgroup
        if kind == "open":
            depth += 1
            if depth > MAX_DEPTH:
                raise RnncError(
                    f"'{where}' is not valid rnnc IR: nesting deeper than {MAX_DEPTH} "
                    f"levels at line {_line(text, m.start())}"
                )
        elif kind == "close":
            depth = max(depth - 1, 0)
        elif kind == "bad":
            raise RnncError(
                f"'{where}' is not valid rnnc IR: unterminated or badly escaped "
                f"string literal at line {_line(text, m.start())} (is the file "
                "truncated?)"
            )


def parse_error_text(err: Exception, limit: int = 200) -> str:
    """One line for a parse or verify error: where and what, without xDSL's
    source excerpt and caret lines."""
    if isinstance(err, ParseError):
        loc = err.span.get_location()
        message = " ".join(str(err.msg).split())
        return f"line {loc.line}, column {loc.col}: {message}"[:limit]
    lines = [" ".join(ln.split()) for ln in str(err).splitlines() if ln.strip()]
    return (lines[0] if lines else type(err).__name__)[:limit]


def read_ir(path: str | Path) -> str:
    """The text of an `.mlir` file, checked to be safe to parse."""
    text = read_text(path, "module", "module")
    check_ir_text(text, str(path))
    return text
