"""Run the open Verilog tools on exported RTL: iverilog, Verilator lint, yosys.

Each helper takes a list of Verilog files, runs one tool in a subprocess and returns
its output; a missing tool or a tool failure is an `RnncError` naming the tool (and,
on failure, its first error line). Debian packages: `iverilog`, `verilator`,
`yosys` (see .ci/run).

`$readmemh`/`$readmemb` file names are relative to the tool's working directory:
pass `workdir` (the directory holding the memory files) to `run_iverilog` and
`synth_yosys`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnc.dialects.errors import RnncError

DEFAULT_TIMEOUT = 600.0

_PACKAGES = {
    "iverilog": "iverilog",
    "vvp": "iverilog",
    "verilator": "verilator",
    "yosys": "yosys",
    "nextpnr-ice40": "nextpnr-ice40",
}

Sources = Sequence[str | Path]


def find_tool(name: str) -> str:
    """Absolute path of `name` on PATH, or an RnncError saying how to install it."""
    path = shutil.which(name)
    if path is None:
        package = _PACKAGES.get(name, name)
        raise RnncError(
            f"{name} not found on PATH (install it: apt-get install -y {package})"
        )
    return path


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None


def _first_error(text: str) -> str:
    """The most informative line: a real error, else a warning, else any line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if "Exiting due to" not in ln]
    for test in (
        lambda ln: "ERROR" in ln or ln.startswith("%Error"),
        lambda ln: ln.startswith("%Warning"),
        lambda ln: "error" in ln.lower(),
    ):
        for ln in lines:
            if test(ln):
                return ln
    return lines[0] if lines else "no output"


def _run(
    tool: str,
    args: Sequence[str],
    *,
    cwd: str | Path | None,
    timeout: float,
    what: str,
) -> subprocess.CompletedProcess[str]:
    exe = find_tool(tool)
    try:
        proc = subprocess.run(
            [exe, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise RnncError(f"{tool}: {what} timed out after {timeout:g} s") from err
    if proc.returncode != 0:
        output = proc.stderr + "\n" + proc.stdout
        raise RnncError(
            f"{tool}: {what} failed (exit {proc.returncode}): {_first_error(output)}"
        )
    return proc


def _paths(sources: Sources) -> list[str]:
    if isinstance(sources, str | Path):
        sources = [sources]
    paths = [Path(s).resolve() for s in sources]
    if not paths:
        raise RnncError("no Verilog sources given")
    for path in paths:  # iverilog warns about a missing file but exits 0
        if not path.is_file():
            raise RnncError(f"Verilog source not found: {path}")
    return [str(p) for p in paths]


def run_iverilog(
    sources: Sources,
    *,
    top: str | None = None,
    workdir: str | Path | None = None,
    flags: Sequence[str] = (),
    plusargs: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Compile with `iverilog -g2012` and run with `vvp`; returns vvp's stdout.

    `top` selects the root module (`-s`), e.g. a testbench. The simulation runs in
    `workdir` (default: a temporary directory), where `$readmemh` files are found.
    """
    paths = _paths(sources)
    find_tool("iverilog")
    find_tool("vvp")
    with tempfile.TemporaryDirectory(prefix="rnnc-iverilog-") as tmp:
        binary = str(Path(tmp) / "sim.vvp")
        top_args = ["-s", top] if top else []
        _run(
            "iverilog",
            ["-g2012", *flags, *top_args, "-o", binary, *paths],
            cwd=workdir or tmp,
            timeout=timeout,
            what="compilation",
        )
        proc = _run(
            "vvp",
            ["-n", binary, *plusargs],
            cwd=workdir or tmp,
            timeout=timeout,
            what="simulation",
        )
    return proc.stdout


def run_verilator(
    sources: Sources,
    *,
    top: str,
    workdir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Build a simulator with `verilator --binary --timing` (the testbench's
    delays need `--timing`) and run it in `workdir`; returns its stdout."""
    paths = _paths(sources)
    with tempfile.TemporaryDirectory(prefix="rnnc-verilator-") as tmp:
        _run(
            "verilator",
            [
                "--binary",
                "--timing",
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
                "--top-module",
                top,
                "--Mdir",
                tmp,
                "-o",
                "sim",
                *paths,
            ],
            cwd=tmp,
            timeout=timeout,
            what="build",
        )
        proc = subprocess.run(
            [str(Path(tmp) / "sim")],
            cwd=workdir or tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RnncError(
                f"verilator: simulation failed (exit {proc.returncode}): "
                f"{_first_error(proc.stderr + proc.stdout)}"
            )
    return proc.stdout


def lint_verilator(
    sources: Sources,
    *,
    top: str | None = None,
    flags: Sequence[str] = ("-Wall",),
    fatal: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """`verilator --lint-only -Wall`; returns Verilator's messages ("" when clean).

    With `fatal` (default) any warning is an RnncError quoting the first one;
    otherwise warnings are returned (`-Wno-fatal`) and only errors raise.
    """
    paths = _paths(sources)
    args = ["--lint-only", *flags]
    if not fatal:
        args.append("-Wno-fatal")
    if top:
        args += ["--top-module", top]
    proc = _run("verilator", [*args, *paths], cwd=None, timeout=timeout, what="lint")
    return (proc.stderr + proc.stdout).strip()


SYNTH_COMMANDS = {
    "generic": "synth",
    "xilinx": "synth_xilinx",
    "ice40": "synth_ice40",
}


@dataclass
class SynthResult:
    """What yosys reported: its log and the `stat -json` numbers.

    `stats` is the design-level total (the hierarchy below the top summed up),
    `modules` the per-module numbers by module name (without yosys' leading `\\`).
    """

    log: str
    stats: dict = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    version: str = ""

    @property
    def num_cells(self) -> int:
        return int(self.stats.get("num_cells", 0))

    @property
    def cells_by_type(self) -> dict[str, int]:
        return dict(self.stats.get("num_cells_by_type", {}))


def synth_yosys(
    sources: Sources,
    top: str,
    *,
    target: str = "generic",
    workdir: str | Path | None = None,
    extra: str = "",
    flags: Sequence[str] = (),
    write_json: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> SynthResult:
    """`read_verilog -sv`, then `synth -top X` (or `synth_xilinx`, `synth_ice40`).

    Runs in `workdir` (where `$readmemh` files are read at elaboration time).
    `flags` are added to the synthesis command (e.g. `-flatten`, `-dsp`), `extra`
    is appended to the yosys script and `write_json` names a file for the
    synthesised netlist (yosys `write_json`, e.g. for nextpnr). Returns the log
    and `stat -json`.
    """
    if target not in SYNTH_COMMANDS:
        raise RnncError(
            f"unknown yosys target {target!r} (one of {', '.join(SYNTH_COMMANDS)})"
        )
    paths = _paths(sources)
    with tempfile.TemporaryDirectory(prefix="rnnc-yosys-") as tmp:
        stat_file = Path(tmp) / "stat.json"
        if any(ch.isspace() for ch in str(stat_file)):
            raise RnncError(f"yosys: temporary directory {tmp!r} contains spaces")
        # read_verilog takes a quoted file name; `tee -o` does not (quotes would
        # become part of the name), hence the check above.
        steps = [f'read_verilog -sv "{p}"' for p in paths]
        steps.append(" ".join([SYNTH_COMMANDS[target], "-top", top, *flags]))
        if extra.strip():
            steps.append(extra.strip())
        if write_json is not None:
            netlist = str(Path(write_json).resolve())
            if any(ch.isspace() for ch in netlist):
                raise RnncError(f"yosys: netlist path {netlist!r} contains spaces")
            steps.append(f"write_json {netlist}")
        steps.append(f"tee -q -o {stat_file} stat -json")
        script = "; ".join(steps)
        proc = _run(
            "yosys",
            ["-Q", "-p", script],
            cwd=workdir or tmp,
            timeout=timeout,
            what=f"{SYNTH_COMMANDS[target]} of {top}",
        )
        try:
            stats = json.loads(stat_file.read_text())
        except (OSError, ValueError) as err:
            raise RnncError(f"yosys: no readable statistics ({err})") from err
    modules = {
        name.removeprefix("\\"): numbers
        for name, numbers in stats.get("modules", {}).items()
    }
    return SynthResult(
        log=proc.stdout,
        stats=stats.get("design", {}),
        modules=modules,
        version=str(stats.get("creator", "")),
    )
