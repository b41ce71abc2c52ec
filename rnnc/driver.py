"""The compilation pipeline: model file → module → passes → results.

A model is an `.onnx` file (imported) or an `.mlir` file printed by rnnc (parsed).
Function arguments and results carry their ONNX names, which is how arrays are
matched to them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError, VerifyException

from rnnc import registry
from rnnc.backends.interpreter.float_interpreter import (
    InterpretationError,
    Interpreter,
    run_module,
)
from rnnc.backends.interpreter.fxp_interpreter import OverflowCounter, run_fixed
from rnnc.backends.interpreter.signature import (
    check_free_sizes,
    check_inputs,
    signature,
)
from rnnc.dialects import rnn
from rnnc.dialects.arrays import array_of
from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_import import (
    declared_inputs,
    dynamic_dims,
    import_free,
    import_model,
)
from rnnc.frontend.onnx_loader import load_model
from rnnc.ir_text import parse_error_text, read_ir
from rnnc.pass_spec import parse_pipeline
from rnnc.pipeline import EXPANDED as EXPANDED  # re-exported for driver users
from rnnc.pipeline import is_fixed_point


def load_module(
    path: str | Path, input_shapes: Mapping[str, Sequence[int]] | None = None
) -> ModuleOp:
    path = Path(path)
    if path.suffix == ".mlir":
        text = read_ir(path)
        try:
            module = Parser(registry.make_context(), text, str(path)).parse_module()
            module.verify()
        except (ParseError, VerifyException) as err:
            raise RnncError(
                f"'{path}' is not valid rnnc IR: {parse_error_text(err)}"
            ) from None
        except RecursionError:
            raise RnncError(
                f"'{path}' is not valid rnnc IR: nested too deeply"
            ) from None
        _check_constants(module, path)
        return module
    model = load_model(path)
    try:
        return import_model(model, input_shapes)
    except RnncError:
        open_sizes = [
            size
            for size, where in dynamic_dims(model).items()
            if not any(name in (input_shapes or {}) for name, _ in where)
        ]
        if not open_sizes:
            raise
    # Shapes computed from dynamic dims: import at size 1, the sizes the module
    # does not depend on marked free.
    return import_free(model, input_shapes, fixed=list(input_shapes or ()))


ELIDED = "dense_resource<__elided__>"  # MLIR's text for an elided constant
_LARGE_HEX = re.compile(r'dense<"0x[0-9A-Fa-f]{%d,}">')
_LARGE_LIST = re.compile(r"dense<\[[^<>]{%d,}?\]>")


def module_text(module: ModuleOp, elide_larger_than: int | None = None) -> str:
    """The printed module; with `elide_larger_than`, dense constants whose text
    is longer than that many characters print as MLIR's elided constant
    (`dense_resource<__elided__>`, for reading; such text does not parse back)."""
    text = str(module) + "\n"
    if elide_larger_than is None:
        return text
    n = max(int(elide_larger_than), 1)
    text = re.sub(_LARGE_HEX.pattern % n, ELIDED, text)
    return re.sub(_LARGE_LIST.pattern % n, ELIDED, text)


def _check_constants(module: ModuleOp, path: Path) -> None:
    """The NaN/Inf policy for a printed module's float constants (weights), as
    onnx_checks applies it to an ONNX model's initializers."""
    for op in module.walk():
        if isinstance(op, rnn.ConstantOp):
            values = array_of(op.value)
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                name = op.result.name_hint or "?"
                raise RnncError(
                    f"'{path}': constant %{name} holds NaN/Inf values; rnnc refuses "
                    "non-finite weights"
                )


def run_passes(module: ModuleOp, names: Sequence[str]) -> ModuleOp:
    if not names:
        return module
    pipeline = parse_pipeline(",".join(names), registry.PASSES)
    try:
        pipeline.apply(registry.make_context(), module)
        module.verify()
    except VerifyException as err:
        raise RnncError(f"IR does not verify after {list(names)}: {err}") from None
    return module


def load_for_run(model_path: str | Path, arrays: Mapping[str, np.ndarray]) -> ModuleOp:
    """An ONNX model is checked against its declared input shapes, then specialised
    to the shapes of the data (so shape computations in the graph fold away)."""
    model_path = Path(model_path)
    if model_path.suffix == ".mlir":
        return load_module(model_path)
    model = load_model(model_path)
    check_inputs(declared_inputs(model), arrays)
    return import_model(model, {k: np.shape(v) for k, v in arrays.items()})


class Program:
    """A module prepared to run many times, as an onnxruntime session is: its
    interpreter keeps the plans of its recurrences, their compiled loops and the
    products' prepared weights between runs (building them takes milliseconds per
    run). The module must not change while the program is used; one run at a
    time."""

    def __init__(self, module: ModuleOp):
        self.module = module
        self.inputs, self.outputs = signature(module)
        self.fixed_point = is_fixed_point(module)
        self._interpreter = Interpreter()

    def run(
        self, arrays: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], OverflowCounter | None]:
        """@main on named arrays: bit-accurately if the module is fixed point."""
        ordered = check_inputs(self.inputs, arrays)
        check_free_sizes(self.module, arrays)
        try:
            if self.fixed_point:
                results, counter = run_fixed(self.module, ordered, self._interpreter)
            else:
                results = run_module(self.module, ordered, self._interpreter)
                counter = None
        except InterpretationError as err:
            raise RnncError(str(err)) from None
        return dict(zip(self.outputs, results, strict=True)), counter


def execute(
    module: ModuleOp, arrays: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], OverflowCounter | None]:
    """Run @main on named arrays once: bit-accurately if the module is fixed
    point (`Program` for many runs)."""
    return Program(module).run(arrays)


def run(
    model_path: str | Path,
    arrays: Mapping[str, np.ndarray],
    passes: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Run a model on named inputs; returns named outputs."""
    module = run_passes(load_for_run(model_path, arrays), passes)
    return execute(module, arrays)[0]
