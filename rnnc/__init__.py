"""rnnc: a fixed-point compiler for recurrent neural networks."""
