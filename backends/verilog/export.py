"""Hardware IR (hw / comb / seq / sv as MLIR text) to SystemVerilog through CIRCT.

The chain (docs: /work/shared/docs/hardware-flow.md):

    xDSL module, printed in custom syntax
      -> circt.ir.Module.parse           (PyPI `circt` bindings, firtool 1.62)
      -> lower-seq-to-sv, hw-legalize-modules, prettify-verilog, hw-cleanup
      -> circt.export_verilog / circt.export_split_verilog

Print the xDSL module in its *custom* syntax (`str(module)`): xDSL's generic form of
`hw.constant`, `hw.module` or `comb.extract` puts into properties what CIRCT 1.62
stores as attributes, and CIRCT rejects it.

Every CIRCT failure (parse, verification, pass, emission) becomes an `RnncError`
whose message is the first line of CIRCT's first error diagnostic with its
line:column in the module text. `circt` is imported lazily: the rest of rnnc works
without it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xdsl.ir import Operation

from rnnc.dialects.errors import RnncError

PIPELINE = (
    "builtin.module(lower-seq-to-sv, hw.module(hw-legalize-modules),"
    " hw.module(prettify-verilog), hw.module(hw-cleanup))"
)
"""Passes run before emission. `lower-seq-to-sv` is required (ExportVerilog cannot
print `seq`); the others are firtool's usual clean-ups before ExportVerilog."""

DEFAULT_LOWERING_OPTIONS: tuple[str, ...] = (
    "locationInfoStyle=none",
    "omitVersionComment",
    "disallowLocalVariables",
    "disallowPackedArrays",
)
"""CIRCT `circt.loweringOptions`: no `// file:line` comments (the module text is a
temporary), no version banner (stable output), no `automatic logic` variables in
procedural blocks, and no packed arrays: yosys 0.23 cannot read `reg [1:0][7:0]`.
With `disallowPackedArrays`, `hw-legalize-modules` turns `hw.array_create` +
`hw.array_get` into a `casez`; an `!hw.array` inside an `sv.reg` memory is an
error ("unsupported packed array expression"), and `!hw.array` *ports* are left
packed (avoid them). Pass `lowering_options` without it to keep packed arrays
(Verilator and iverilog read them)."""

_LOC = re.compile(r'loc\("(?P<file>[^"]*)":(?P<line>\d+):(?P<col>\d+)\)')


def _import_circt() -> Any:
    try:
        import circt
        import circt.ir  # noqa: F401
        import circt.passmanager  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RnncError(
            f"Verilog export needs the CIRCT Python bindings, which the hw extra "
            f'installs: pip install "rnnc[hw]" ({err})'
        ) from err
    return circt


def _where(location: object) -> str:
    match = _LOC.search(str(location))
    return f"{match['line']}:{match['col']}: " if match else ""


def _first_line(message: str) -> str:
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    # Pass-pipeline failures start with a generic line; the diagnostic follows.
    lines = [ln for ln in lines if not ln.startswith("Failure while executing")]
    return lines[0] if lines else "unknown error"


def _rnnc_error(stage: str, err: Exception | None, diagnostics: list[str]) -> RnncError:
    detail = None
    for diag in getattr(err, "error_diagnostics", None) or ():
        detail = f"{_where(diag.location)}{_first_line(diag.message)}"
        break
    if detail is None and diagnostics:
        detail = diagnostics[0]
    if detail is None:
        detail = _first_line(str(err)) if err is not None else "unknown error"
    return RnncError(f"CIRCT rejected the hardware module ({stage}): {detail}")


def _text(module: str | Operation) -> str:
    return module if isinstance(module, str) else str(module)


@contextmanager
def _lowered(
    module_text: str | Operation, lowering_options: Sequence[str] | None
) -> Iterator[tuple[Any, list[str]]]:
    """Parse and lower in a fresh CIRCT context; yields (module, error list)."""
    circt = _import_circt()
    from circt.ir import Context, Location, Module, StringAttr
    from circt.passmanager import PassManager

    errors: list[str] = []

    def collect(diag: Any) -> bool:
        if "ERROR" in str(diag.severity):
            errors.append(f"{_where(diag.location)}{_first_line(diag.message)}")
        return True  # handled: do not print to stderr

    with Context() as ctx, Location.unknown():
        circt.register_dialects(ctx)
        handler = ctx.attach_diagnostic_handler(collect)
        try:
            try:
                module = Module.parse(_text(module_text))
            except Exception as err:  # circt's MLIRError has no importable name
                raise _rnnc_error("parse", err, errors) from None
            attrs = module.operation.attributes
            if lowering_options is not None or "circt.loweringOptions" not in attrs:
                options = (
                    DEFAULT_LOWERING_OPTIONS
                    if lowering_options is None
                    else tuple(lowering_options)
                )
                attrs["circt.loweringOptions"] = StringAttr.get(",".join(options))
            try:
                PassManager.parse(PIPELINE).run(module.operation)
            except Exception as err:
                raise _rnnc_error("lowering", err, errors) from None
            if errors:  # e.g. an unknown lowering option is only a diagnostic
                raise _rnnc_error("lowering", None, errors)
            yield module, errors
        finally:
            handler.detach()


def export_verilog(
    module_text: str | Operation, *, lowering_options: Sequence[str] | None = None
) -> str:
    """SystemVerilog for every `hw.module` in `module_text`, as one string.

    `module_text` is MLIR text in CIRCT-compatible custom syntax (an xDSL
    `ModuleOp` is printed with `str`). `lowering_options` replaces
    `DEFAULT_LOWERING_OPTIONS`; when it is None a `circt.loweringOptions` attribute
    already on the module is kept.
    """
    circt = _import_circt()
    with _lowered(module_text, lowering_options) as (module, errors):
        out = io.StringIO()
        try:
            circt.export_verilog(module, out)
        except Exception as err:
            raise _rnnc_error("export", err, errors) from None
        # ExportVerilog reports failures as diagnostics only (and prints nothing).
        if errors:
            raise _rnnc_error("export", None, errors)
        return out.getvalue()


def export_split(
    module_text: str | Operation,
    out_dir: str | Path,
    *,
    lowering_options: Sequence[str] | None = None,
) -> list[Path]:
    """One `<module>.sv` per `hw.module` in `out_dir` (plus CIRCT's `filelist.f`).

    Returns the Verilog files in CIRCT's file-list order.
    """
    circt = _import_circt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _lowered(module_text, lowering_options) as (module, errors):
        try:
            circt.export_split_verilog(module, str(out))
        except Exception as err:
            raise _rnnc_error("export", err, errors) from None
        if errors:
            raise _rnnc_error("export", None, errors)
    filelist = out / "filelist.f"
    if not filelist.exists():
        raise RnncError(f"CIRCT wrote no filelist.f in {out}")
    names = [ln.strip() for ln in filelist.read_text().splitlines() if ln.strip()]
    return [out / name for name in names]
