"""Every policy flag's feedback tells what was built: the activation tables as
lowered (their formats and error), PWL segment counts as asked, MAC lanes that
change nothing, and a search result its validation set cannot resolve."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from conftest import needs, rnnc

from rnnc.dialects.rnn_semantics import activate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lstm_classifier.onnx"
EXAMPLE_INPUT = ROOT / "examples" / "lstm_classifier_input.npz"
LINE = re.compile(
    r"activation %(\w+) (lut|pwl) (\w+) (.*), fixed<(\d+),(-?\d+)> -> "
    r"fixed<(\d+),(-?\d+)>: max \|err\| ([0-9.e-]+), mean ([0-9.e-]+)"
)


def _quantize(tmp_path, capsys, *policy: str) -> list[re.Match]:
    out = tmp_path / "m.fxp.mlir"
    assert rnnc("quantize", EXAMPLE, "--calib", EXAMPLE_INPUT, "-o", out, *policy) == 0
    lines = [
        ln
        for ln in capsys.readouterr().err.splitlines()
        if ln.startswith("activation ")
    ]
    matches = [LINE.fullmatch(ln) for ln in lines]
    assert lines and all(matches), lines
    return matches


def _exact_error(match: re.Match) -> float:
    """The largest error a table with these formats can have at best: each output
    rounded to the output grid (half an LSB) at the inputs the input grid holds."""
    kind = match[3]
    w_in, f_in, f_out = int(match[5]), int(match[6]), int(match[8])
    raw = np.arange(-(1 << (w_in - 1)), 1 << (w_in - 1))
    exact = activate(kind, np.ldexp(raw.astype(np.float64), -f_in), None, None)
    best = np.ldexp(np.round(np.ldexp(exact, f_out)), -f_out)
    return float(np.abs(best - exact).max())


def test_activation_lines_describe_the_lowered_tables(tmp_path, capsys):
    for bits in ("12", "4"):
        for m in _quantize(tmp_path, capsys, "--weight-bits", "8", "--act-bits", bits):
            assert m[7] == bits  # the output format actually used
            floor = _exact_error(m)  # no table with these formats does better
            assert floor <= float(m[9]) + 1e-12
            assert float(m[9]) <= floor + 2.0 ** -int(m[8]) * 4 + 0.05
    # 4-bit inputs reach only a few of the 256 entries, and the report says so
    m = _quantize(tmp_path, capsys, "--act-bits", "4")[0]
    found = re.fullmatch(r"256 entries \((\d+) reachable from the input\)", m[4])
    assert found and int(found[1]) <= 16


def test_pwl_segments_are_reported_as_asked(tmp_path, capsys):
    for segments in ("8", "5"):
        for m in _quantize(
            tmp_path, capsys, "--activation", "pwl", "--pwl-segments", segments
        ):
            assert m[2] == "pwl" and m[4] == f"{segments} segments + 2 constant tails"


@needs("circt")
def test_lanes_that_change_no_cycle_are_told(tmp_path, capsys):
    fxp = tmp_path / "m.fxp.mlir"
    assert rnnc("quantize", EXAMPLE, "--calib", EXAMPLE_INPUT, "-o", fxp) == 0
    capsys.readouterr()
    cycles, macs = {}, {}
    for lanes in (4, 5, 6):
        out = tmp_path / f"rtl{lanes}"
        assert rnnc(fxp, "--emit=verilog", "-o", out, "--lanes", lanes) == 0
        err = capsys.readouterr().err
        cycles[lanes] = int(re.search(r"(\d+) cycles per sequence", err)[1])
        noted = re.search(
            r"note: (\d+) MAC lanes take as many mat-vec cycles as (\d+)", err
        )
        manifest = json.loads((out / "manifest.json").read_text())
        macs[lanes] = sum(s["steps"] * s["mac_cycles"] for s in manifest["stages"])
        if lanes == 5:
            assert macs[5] == macs[4]
            # Only the tail after the last group's MACs may differ.
            assert abs(cycles[5] - cycles[4]) < 0.01 * cycles[4]
            assert noted and noted.groups() == ("5", "4")
        else:
            assert noted is None
    assert macs[6] < macs[4] and cycles[6] < cycles[4]


def test_search_warns_when_the_standard_error_exceeds_the_budget():
    from rnnc.lab.search import SearchResult

    def result(se: float, metric: str = "accuracy"):
        return SimpleNamespace(
            chosen=SimpleNamespace(se=se),
            budget=0.005,
            metric=metric,
            dataset="imdb" if metric == "accuracy" else "ptb",
            samples=200,
        )

    assert SearchResult.warnings(result(0.004)) == []
    (line,) = SearchResult.warnings(result(0.014))
    assert "±1.4 pp" in line and "exceeds the budget (0.5 pp)" in line
    assert "200 reviews" in line
    assert SearchResult.warnings(result(0.0049, "perplexity")) == []
    assert SearchResult.warnings(result(0.0051, "perplexity"))
