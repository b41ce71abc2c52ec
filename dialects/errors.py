"""The one exception type the CLI turns into a single error line (exit code 2)."""


class RnncError(Exception):
    """A user-facing problem: bad model, unsupported op, bad input or config."""
