"""Every file and folder the CLI writes, written so that no data is lost.

- The destination is checked when the command starts (`output_file`,
  `output_folder`), before any long work: an empty name, a folder where a file is
  wanted (or the reverse), a missing or read-only parent folder, and a path naming
  one of the command's inputs are refused with one line.
- A file is written to a temporary file in its target folder and renamed over the
  target (`os.replace`), so a failure mid-write leaves the old file, never half a
  new one. rnnc writes exactly the name given (`-o y` writes `y`, not `y.npz`).
- An RTL folder is built in a temporary sibling folder and swapped in whole, so a
  re-emit leaves no stale `.sv`/`.hex` files; an existing folder is replaced only
  if it is empty or holds nothing but an earlier emit's files.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import numpy as np

from rnnc.dialects.errors import RnncError

T = TypeVar("T")
# The files an RTL emit writes: a folder holding only these (and a manifest) is
# rnnc's to replace.
RTL_MANIFEST = "manifest.json"
RTL_SUFFIXES = (".sv", ".v", ".hex", ".f", ".json")
# Names that look like a file, not the folder `--emit=verilog -o` wants.
FILE_LIKE_SUFFIXES = (".sv", ".v", ".mlir", ".npz", ".json", ".onnx")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_parent(path: Path, flag: str) -> None:
    parent = path.parent
    if not parent.exists():
        raise RnncError(f"{flag} '{path}': folder '{parent}' does not exist")
    if not parent.is_dir():
        raise RnncError(f"{flag} '{path}': '{parent}' is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RnncError(f"{flag} '{path}': folder '{parent}' is not writable")


def _check_not_input(path: Path, flag: str, inputs: Iterable[str | Path | None]):
    for item in inputs:
        if item and (
            _same_file(path, Path(item)) or path.resolve() == Path(item).resolve()
        ):
            raise RnncError(
                f"{flag} '{path}' is an input of this command; refusing to overwrite it"
            )


def _named(path: str | Path | None, flag: str) -> Path:
    if path is None or str(path).strip() == "":
        raise RnncError(f"{flag} needs a file name, got an empty one")
    return Path(path)


@dataclass(frozen=True)
class OutputFile:
    """A checked destination file; its writers replace it atomically."""

    path: Path

    def write(self, fill: Callable[[IO[bytes]], None]) -> Path:
        """Call `fill` on a temporary file next to the target, then rename it."""
        path = self.path
        mode = os.stat(path).st_mode if path.exists() else None
        if mode is not None and stat.S_ISCHR(mode):  # /dev/null: nothing to lose
            buffer = io.BytesIO()  # zip writers seek, a device cannot
            fill(buffer)
            with open(path, "wb") as f:
                f.write(buffer.getvalue())
            return path
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        except OSError as err:
            raise RnncError(f"cannot write '{path}': {err.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, stat.S_IMODE(mode) if mode is not None else _default_mode())
            os.replace(tmp, path)
        except OSError as err:
            raise RnncError(f"cannot write '{path}': {err.strerror or err}") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def write_text(self, text: str) -> Path:
        return self.write(lambda f: f.write(text.encode()))

    def write_json(self, data: object) -> Path:
        return self.write_text(json.dumps(data, indent=2) + "\n")

    def write_npz(self, arrays: Mapping[str, np.ndarray]) -> Path:
        # A file object, not a name: np.savez would append `.npz` to a name.
        return self.write(lambda f: np.savez(f, **arrays))


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_mode() -> int:
    """What `open(path, "w")` would have given (mkstemp makes 0600)."""
    return 0o666 & ~_umask()


def output_file(
    path: str | Path | None,
    *,
    flag: str = "-o",
    inputs: Iterable[str | Path | None] = (),
) -> OutputFile:
    """Check a file destination now (see the module doc); write it later."""
    p = _named(path, flag)
    if p.is_dir():
        raise RnncError(f"{flag} '{p}' is a folder; give a file name")
    if p.exists() and not (p.is_file() or stat.S_ISCHR(os.stat(p).st_mode)):
        raise RnncError(f"{flag} '{p}' exists and is not a regular file")
    _check_parent(p, flag)
    _check_not_input(p, flag, inputs)
    return OutputFile(p)


def optional_output(
    path: str | Path | None, *, flag: str, inputs: Iterable[str | Path | None] = ()
) -> OutputFile | None:
    """`output_file` for an optional flag (None when not given)."""
    return None if path is None else output_file(path, flag=flag, inputs=inputs)


def work_folder(path: str | Path | None, *, flag: str = "-o") -> Path:
    """A folder a command creates or adds files to (not a file, a parent that is a
    folder); checked before the work starts."""
    p = _named(path, flag)
    if p.exists() and not p.is_dir():
        raise RnncError(f"{flag} '{p}' is a file; a folder is needed here")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RnncError(f"{flag} '{p}': '{parent}' is not a folder")
            break
    return p


def _rtl_leftovers(folder: Path) -> list[str]:
    """The entries of `folder` an RTL emit did not write (empty: rnnc's to replace)."""
    entries = list(folder.iterdir())
    if not entries:
        return []
    if not (folder / RTL_MANIFEST).is_file():
        return sorted(e.name for e in entries)
    return sorted(
        e.name for e in entries if not (e.is_file() and e.suffix in RTL_SUFFIXES)
    )


@dataclass(frozen=True)
class OutputFolder:
    """A checked destination folder, built aside and swapped in whole."""

    path: Path

    def build(self, fill: Callable[[Path], T]) -> T:
        """Call `fill` on an empty temporary folder, then make it `path`."""
        path = self.path
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        except OSError as err:
            raise RnncError(f"cannot create '{path}': {err.strerror}") from None
        try:
            result = fill(tmp)
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
            if path.exists():
                _swap(tmp, path)
            else:
                os.rename(tmp, path)
        except OSError as err:
            raise RnncError(f"cannot write '{path}': {err.strerror or err}") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return result


def _swap(new: Path, path: Path) -> None:
    """Replace the folder `path` by `new`: the old one is moved aside, then deleted
    once `new` is in place (put back if that fails)."""
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
    swapped = False
    try:
        os.rename(path, aside / path.name)
        try:
            os.rename(new, path)
            swapped = True
        except OSError:
            os.rename(aside / path.name, path)
            raise
    finally:
        if swapped or not (aside / path.name).exists():
            shutil.rmtree(aside, ignore_errors=True)


def output_folder(
    path: str | Path | None,
    *,
    flag: str = "-o",
    inputs: Iterable[str | Path | None] = (),
) -> OutputFolder:
    """Check an RTL folder destination now: not a file, and either new, empty or an
    earlier emit (whose files the new emit replaces)."""
    p = _named(path, flag)
    if p.exists() and not p.is_dir():
        raise RnncError(f"{flag} '{p}' is a file; --emit=verilog writes a folder")
    if not p.exists() and p.suffix in FILE_LIKE_SUFFIXES:
        raise RnncError(
            f"{flag} '{p}' looks like a file name; --emit=verilog writes a folder "
            "(e.g. -o rtl)"
        )
    _check_parent(p, flag)
    _check_not_input(p, flag, inputs)
    if p.is_dir():
        foreign = _rtl_leftovers(p)
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise RnncError(
                f"{flag} '{p}' holds files an RTL emit did not write ({shown}); "
                "give a new or empty folder"
            )
    return OutputFolder(p)
