"""`python -m rnnc.cli`: the `rnnc` command."""

from rnnc.cli import entry

entry()
