"""Reading the files a user names (model, module, arrays, policy): only regular files
of a bounded size, checked before a byte is read.

A FIFO or a device (`/dev/zero`) would block or never end, and a huge file would
exhaust memory before any parser could object; both become one `RnncError` line.
Every reader of a user-named file goes through `check_file` (or `read_bytes` /
`read_text`), with the bound of its kind from `LIMITS`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rnnc.dialects.errors import RnncError

MIB = 1 << 20
# Upper bounds per kind of input file, far above any real one (an ONNX protobuf
# cannot exceed 2 GiB; the IMDb fixed-point module is ~45 MB).
LIMITS = {
    "model": 2048 * MIB,
    "module": 512 * MIB,
    "arrays": 4096 * MIB,
    "config": 1 * MIB,
    "vocabulary": 256 * MIB,
}


def _size_text(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n} bytes"


def check_file(path: str | Path, what: str, kind: str) -> Path:
    """`path` as a Path if it is a readable regular file within `LIMITS[kind]`."""
    p = Path(path)
    if str(path) == "":
        raise RnncError(f"{what}: empty file name")
    try:
        st = os.stat(p)
    except OSError as err:
        raise RnncError(f"cannot read {what} '{p}': {err.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise RnncError(f"cannot read {what} '{p}': it is a folder")
    if not stat.S_ISREG(st.st_mode):
        raise RnncError(
            f"cannot read {what} '{p}': not a regular file (a pipe or a device)"
        )
    limit = LIMITS[kind]
    if st.st_size > limit:
        raise RnncError(
            f"{what} '{p}' is {_size_text(st.st_size)}, over the {_size_text(limit)} "
            f"limit for a {kind} file"
        )
    if not os.access(p, os.R_OK):
        raise RnncError(f"cannot read {what} '{p}': Permission denied")
    return p


def read_bytes(path: str | Path, what: str, kind: str) -> bytes:
    p = check_file(path, what, kind)
    try:
        return p.read_bytes()
    except OSError as err:
        raise RnncError(f"cannot read {what} '{p}': {err.strerror}") from None


def read_text(path: str | Path, what: str, kind: str) -> str:
    """UTF-8 text without NUL bytes (a binary file is refused, not mis-parsed)."""
    data = read_bytes(path, what, kind)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RnncError(
            f"{what} '{path}' is not UTF-8 text (byte {err.start}: "
            f"0x{data[err.start]:02x})"
        ) from None
    if "\0" in text:
        raise RnncError(
            f"{what} '{path}' is not text (NUL byte at offset {text.index(chr(0))})"
        )
    return text
