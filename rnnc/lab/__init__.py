"""Experiments on real models: data sets, evaluation, search, sweeps, peers, results."""
