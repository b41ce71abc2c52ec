"""The ONNX frontend: load and check a model, import it into the rnn dialect."""
