"""`rnnc synth-report DIR`: yosys / nextpnr estimates of emitted RTL (the flags
and the run live with the synthesis runner in the backend)."""

from __future__ import annotations

import argparse

NAME = "synth-report"
HELP = "synthesis estimates of emitted RTL (yosys, nextpnr)"
DESCRIPTION = "Synthesis report of exported Verilog (yosys, nextpnr-ice40)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnc.backends.verilog import synth_report

    synth_report.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from rnnc.backends.verilog import synth_report

    return synth_report.run(args)
