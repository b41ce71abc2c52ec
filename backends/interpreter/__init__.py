"""Interpreters of rnn/fxp modules: float, bit-accurate fixed point, intervals."""
