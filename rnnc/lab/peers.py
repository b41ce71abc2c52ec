"""Peer quantization methods on the same models and test data as `rnnc eval`.

    evaluate_peers("models/imdb_lstm.onnx", limit=2000)  -> [PeerResult, ...]

Peers (all post-training, 8-bit weights, activations quantized dynamically):

- ``ort-dynamic``: ``onnxruntime.quantization.quantize_dynamic(model, out,
  weight_type=QuantType.QInt8)`` run with onnxruntime. Its dynamic quantizer
  handles LSTM (-> com.microsoft DynamicQuantizeLSTM), MatMul/Gemm (->
  MatMulInteger) and Gather (8-bit embedding table + DequantizeLinear); it has no
  GRU support, so a GRU stays float32 (the notes say which ops were quantized).
- ``ort-dynamic-folded`` (only for graphs with a Transpose of an initializer, i.e.
  the PTB models' tied decoder): the same after folding that Transpose into an
  initializer, so the decoder MatMul's weight is a constant the quantizer sees.
- ``torch-dynamic``: ``torch.ao.quantization.quantize_dynamic`` (qint8 for
  nn.LSTM/nn.GRU/nn.Linear) on a torch module rebuilt from the ONNX initializers
  (Embedding -> 1-layer LSTM/GRU (batch_first) -> Linear, the decoder tied to the
  embedding for PTB); nn.Embedding stays float32.
- ``torch-dynamic-emb``: the same plus the embedding table in 8 bits
  (float_qparams_weight_only_qconfig: quint8, one float scale and zero point per
  row), the only embedding quantization torch's eager mode offers.

The rebuilt float torch module must reproduce onnxruntime's float outputs (max
abs diff < 1e-4 on the first and last test batch, or two stateful PTB windows)
before it is quantized.

Data and batching are rnnc.lab.evaluate's: the same --limit subset (IMDb: a
SUBSET_SEED random subset of the test reviews; PTB: the first N test tokens), the
same batches (the last IMDb batch padded with all-<pad> reviews, the PTB stream
batchified and run statefully in `bptt` windows, the last one padded with token 0
and masked), and the same metric (argmax accuracy; exp of the mean NLL in float64).

Memory: every stored weight tensor, in bytes: 8-bit values (1 byte each), their
scales (4 bytes each, float32 as in ONNX QuantizeLinear; torch keeps a double)
and zero points (1 byte each, 4 for torch's float per-row zero points), and the
float32 tensors left unquantized (biases, and whatever the method does not
quantize). ONNX: the initializers the graph reads, without int32/int64 tensors
(shapes, axes). The float32 baseline is the float model's weights counted the
same way.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_loader import graph_inputs, load_model
from rnnc.lab import datasets as ds
from rnnc.lab import evaluate as ev

PEERS = ("ort-dynamic", "ort-dynamic-folded", "torch-dynamic", "torch-dynamic-emb")
METHOD_NAMES = {
    "ort-dynamic": "onnxruntime dynamic (QInt8)",
    "ort-dynamic-folded": "onnxruntime dynamic (QInt8), tied Transpose folded",
    "torch-dynamic": "PyTorch dynamic (qint8)",
    "torch-dynamic-emb": "PyTorch dynamic (qint8) + 8-bit embedding",
}
REBUILD_TOLERANCE = 1e-4
PTB_BPTT = inspect.signature(ev.evaluate_ptb).parameters["bptt"].default


# ------------------------------------------------------------------------- data


@dataclass
class EvalData:
    """The inputs rnnc.lab.evaluate feeds one model, in the same order and batches."""

    dataset: str
    tokens: str  # input name
    logits: str  # output name
    batch: int
    samples: int  # reviews, or predicted tokens
    x: np.ndarray | None = None  # IMDb: [N, max_len]
    labels: np.ndarray | None = None
    stream: np.ndarray | None = None  # PTB: batchified [batch, steps]
    bptt: int = PTB_BPTT
    vocab_size: int = 0
    states: list[tuple[str, str, int]] = field(default_factory=list)  # in, out, H
    settings: dict = field(default_factory=dict)

    def zero_states(self) -> dict[str, np.ndarray]:
        return {
            name: np.zeros((1, self.batch, hidden), np.float32)
            for name, _, hidden in self.states
        }


def _is_int(info: onnx.ValueInfoProto) -> bool:
    return info.type.tensor_type.elem_type in (
        onnx.TensorProto.INT64,
        onnx.TensorProto.INT32,
    )


def _dims(info: onnx.ValueInfoProto) -> list[int | None]:
    return [
        d.dim_value if d.HasField("dim_value") else None
        for d in info.type.tensor_type.shape.dim
    ]


def infer_dataset(model: onnx.ModelProto) -> str:
    """ptb if the model takes float state inputs, imdb otherwise."""
    return "ptb" if any(not _is_int(i) for i in graph_inputs(model)) else "imdb"


def _vocab(model_path: Path, dataset: str) -> list[str]:
    meta = ev.sidecar(model_path)
    if meta.get("vocab_file"):
        return ds.load_vocab(model_path.parent / meta["vocab_file"])
    if dataset == "ptb":
        return ds.ptb_vocab()
    raise RnncError(f"no vocabulary for '{model_path}': its sidecar JSON names none")


def load_data(
    model_path: str | Path,
    dataset: str | None = None,
    *,
    limit: int | None = None,
    batch: int | None = None,
    bptt: int = PTB_BPTT,
) -> EvalData:
    """The test inputs `rnnc eval` uses for this model (same subset, batches)."""
    model_path = Path(model_path)
    model = load_model(model_path)
    dataset = dataset or infer_dataset(model)
    batch = batch or ev.DEFAULT_BATCH[dataset]
    inputs = graph_inputs(model)
    outputs = [o.name for o in model.graph.output]
    tokens = [i.name for i in inputs if _is_int(i) and len(_dims(i)) == 2]
    logits = "logits" if "logits" in outputs else outputs[0]
    if len(tokens) != 1:
        raise RnncError(f"'{model_path}' has no single [batch, steps] token input")
    words = _vocab(model_path, dataset)
    if dataset == "imdb":
        meta = ev.sidecar(model_path)
        max_len = meta.get("max_len") or meta.get("hyperparameters", {}).get("max_len")
        max_len = int(max_len or _dims(inputs[0])[1])
        texts, labels = ds.load_imdb("test")
        if limit is not None and limit < len(texts):
            order = np.random.default_rng(ev.SUBSET_SEED).permutation(len(texts))
            keep = np.sort(order[:limit])
            texts, labels = [texts[i] for i in keep], labels[keep]
        x = ds.encode_imdb(texts, words, max_len)
        return EvalData(
            "imdb",
            tokens[0],
            logits,
            min(batch, len(x)),
            len(x),
            x=x,
            labels=labels,
            settings={"max_len": max_len, "limit": limit},
        )
    test = ds.encode_ptb(ds.load_ptb("test"), words)
    if limit is not None:
        test = test[:limit]
    if len(test) < 2 * batch:
        raise RnncError(f"{len(test)} test tokens are too few for batch {batch}")
    stream = ds.batchify(test, batch)
    states = []
    for i in inputs:
        if _is_int(i):
            continue
        if not i.name.endswith("0") or i.name[:-1] not in outputs:
            raise RnncError(f"state input '{i.name}' has no output '{i.name[:-1]}'")
        states.append((i.name, i.name[:-1], int(_dims(i)[2])))
    return EvalData(
        "ptb",
        tokens[0],
        logits,
        batch,
        batch * (stream.shape[1] - 1),
        stream=stream,
        bptt=bptt,
        vocab_size=len(words),
        states=states,
        settings={"bptt": bptt, "limit": limit},
    )


def imdb_batches(data: EvalData) -> Iterator[tuple[np.ndarray, int]]:
    """[batch, max_len] blocks; the last is padded with all-<pad> rows."""
    x, batch = data.x, data.batch
    for start in range(0, len(x), batch):
        block = x[start : start + batch]
        real = len(block)
        if real < batch:
            pad = np.full((batch - real, x.shape[1]), ds.PAD_ID, dtype=x.dtype)
            block = np.concatenate([block, pad])
        yield block, real


def ptb_windows(data: EvalData) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs [batch, bptt], targets [batch, seq]), as rnnc eval windows them."""
    return ev._windows(data.stream, data.bptt)


Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def metric(run: Runner, data: EvalData) -> float:
    """IMDb accuracy or PTB perplexity per word of a runner (inputs -> outputs)."""
    if data.dataset == "imdb":
        preds = []
        for block, real in imdb_batches(data):
            logits = run({data.tokens: block})[data.logits]
            preds.append(np.argmax(logits[:real], axis=-1))
        return float(np.mean(np.concatenate(preds) == data.labels))
    state, nll, n = data.zero_states(), 0.0, 0
    for x, y in ptb_windows(data):
        out = run({data.tokens: x, **state})
        if out[data.logits].shape[-1] != data.vocab_size:
            raise RnncError("the model's classes do not match the PTB vocabulary")
        nll += ev._nll(out[data.logits], y)
        n += y.size
        state = {i: out[o] for i, o, _ in data.states}
    return math.exp(nll / n)


# ----------------------------------------------------------------- onnxruntime


def ort_runner(model: onnx.ModelProto | str | Path) -> Runner:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    src = (
        model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    )
    sess = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(names, inputs), strict=True))

    return run


@contextlib.contextmanager
def _quiet():
    """Silence the quantizers' advice (root-logger warnings, deprecations)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def ort_quantize(model: onnx.ModelProto) -> onnx.ModelProto:
    """quantize_dynamic(model, out, weight_type=QuantType.QInt8), in a temp dir."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, _quiet():
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(src))
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return onnx.load(str(dst))


def fold_initializer_transposes(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy where Transpose(initializer) nodes are initializers (as constant
    folding would make them); returns the copy and how many were folded."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    inits = {t.name: t for t in out.graph.initializer}
    folded = 0
    for node in list(out.graph.node):
        if node.op_type != "Transpose" or node.input[0] not in inits:
            continue
        array = numpy_helper.to_array(inits[node.input[0]])
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        out.graph.initializer.append(
            numpy_helper.from_array(np.transpose(array, perm), node.output[0])
        )
        out.graph.node.remove(node)
        folded += 1
    used = {i for n in out.graph.node for i in n.input}
    for t in list(out.graph.initializer):
        if t.name not in used:
            out.graph.initializer.remove(t)
    return out, folded


@dataclass
class MemRow:
    name: str
    dtype: str
    count: int
    bytes: int


def onnx_memory(model: onnx.ModelProto) -> list[MemRow]:
    """The initializers the graph reads, except int32/int64 (shapes, axes)."""
    used = {i for n in model.graph.node for i in n.input}
    used |= {o.name for o in model.graph.output}
    rows = []
    for t in model.graph.initializer:
        if t.name not in used or t.data_type in (
            onnx.TensorProto.INT64,
            onnx.TensorProto.INT32,
        ):
            continue
        dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
        count = int(np.prod(t.dims)) if len(t.dims) else 1
        rows.append(MemRow(t.name, str(dtype), count, count * dtype.itemsize))
    return rows


def _consumers(model: onnx.ModelProto, name: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if name in n.input]


def _float_users(model: onnx.ModelProto, rows: list[MemRow]) -> list[str]:
    """Op types reading float32 weight matrices (rank >= 2) of a quantized graph;
    a Transpose is followed to the op that reads its output."""
    rank = {t.name: sum(1 for d in t.dims if d > 1) for t in model.graph.initializer}
    users: dict[str, int] = {}
    for r in rows:
        if r.dtype != "float32" or rank.get(r.name, 0) < 2:
            continue
        for node in _consumers(model, r.name)[:1]:
            op = node.op_type
            if op == "Transpose":
                op = "/".join(n.op_type for n in _consumers(model, node.output[0]))
                op = f"{op} (via Transpose)"
            users[op] = users.get(op, 0) + r.count
    return [f"{op} ({count:,} values)" for op, count in users.items()]


def _ort_notes(
    float_model: onnx.ModelProto, q: onnx.ModelProto, rows: list[MemRow]
) -> tuple[str, str, list[str]]:
    """(W bits, A bits, notes) describing what quantize_dynamic did; weight
    matrices are initializers with two or more dims > 1 (biases are not)."""
    ops = [n.op_type for n in q.graph.node]
    before = [n.op_type for n in float_model.graph.node]
    notes = []
    rnn_float = [op for op in ops if op in ("LSTM", "GRU", "RNN")]
    if "DynamicQuantizeLSTM" in ops:
        notes.append(
            "LSTM -> com.microsoft DynamicQuantizeLSTM (int8 W and R, one scale "
            "each; the kernel quantizes X and H to 8 bits at run time; biases, "
            "gates and cell state float32)"
        )
    for op in rnn_float:
        try:
            from onnxruntime.quantization.registry import IntegerOpsRegistry

            supported = ", ".join(sorted(IntegerOpsRegistry))
        except ImportError:  # pragma: no cover
            supported = "?"
        notes.append(
            f"{op} left float32: onnxruntime's dynamic quantizer does not handle "
            f"{op} (it quantizes {supported})"
        )
    q_gather = [
        n
        for n in q.graph.node
        if n.op_type == "Gather" and n.input[0].endswith("_quantized")
    ]
    if q_gather:
        notes.append(
            "embedding Gather reads an 8-bit table (one scale), then DequantizeLinear"
        )
    mmi = ops.count("MatMulInteger")
    if mmi:
        heads = sum(before.count(op) for op in ("Gemm", "MatMul"))
        notes.append(
            f"{mmi} of {heads} Gemm/MatMul -> MatMulInteger (int8 weights, input "
            "quantized to uint8 per call by DynamicQuantizeLinear)"
        )
    users = _float_users(q, rows)
    if users:
        notes.append("float32 weights left: " + "; ".join(users))
    w_bits = "8" if not users else "8 + fp32"
    if "DynamicQuantizeLSTM" in ops:
        a_bits = "8 dyn"
    else:
        a_bits = "fp32" + (" (8 dyn in MatMulInteger)" if mmi else "")
    return w_bits, a_bits, notes


# ----------------------------------------------------------------------- torch


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


DEFAULT_ACTIVATIONS = {
    "LSTM": [b"Sigmoid", b"Tanh", b"Tanh"],
    "GRU": [b"Sigmoid", b"Tanh"],
}
# ONNX gate blocks -> torch's order: LSTM iofc -> ifgo (g = c), GRU zrh -> rzn.
GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2)}


def _gates(w: np.ndarray, op: str) -> np.ndarray:
    blocks = np.split(w, len(GATE_ORDER[op]), axis=0)
    return np.concatenate([blocks[i] for i in GATE_ORDER[op]], axis=0)


@dataclass
class TorchSpec:
    """What rebuild_torch read from the ONNX graph."""

    cell: str  # LSTM or GRU
    vocab: int
    emb_dim: int
    hidden: int
    out: int
    tied: bool
    lm: bool  # PTB: states in and out, logits per step
    state_inputs: list[str]  # initial_h (, initial_c) input names


def _torch_module_class():
    import torch
    from torch import nn

    class RebuiltRNN(nn.Module):
        """Embedding -> 1-layer LSTM/GRU (batch_first) -> Linear."""

        def __init__(self, spec: TorchSpec):
            super().__init__()
            self.spec = spec
            self.embedding = nn.Embedding(spec.vocab, spec.emb_dim)
            rnn = nn.LSTM if spec.cell == "LSTM" else nn.GRU
            self.rnn = rnn(spec.emb_dim, spec.hidden, batch_first=True)
            self.fc = nn.Linear(spec.hidden, spec.out)
            if spec.tied:
                self.fc.weight = self.embedding.weight

        def forward(self, tokens, *state):
            lstm = self.spec.cell == "LSTM"
            if not self.spec.lm:
                _, new = self.rnn(self.embedding(tokens))
                return self.fc((new[0] if lstm else new)[-1])
            hx = (state[0], state[1]) if lstm else state[0]
            y, new = self.rnn(self.embedding(tokens), hx)
            return (self.fc(y), *(new if lstm else (new,)))

    return torch, RebuiltRNN


def rebuild_torch(model: onnx.ModelProto, dataset: str):
    """The torch module (float, eval mode) with the ONNX model's weights."""
    torch, RebuiltRNN = _torch_module_class()
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and _attr(node, "value") is not None:
            inits[node.output[0]] = numpy_helper.to_array(_attr(node, "value"))
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    inputs = graph_inputs(model)
    tokens = [i.name for i in inputs if _is_int(i)]
    what = f"rebuilding torch from '{model.graph.name}'"

    rnns = [n for n in nodes if n.op_type in ("LSTM", "GRU")]
    if len(rnns) != 1:
        raise RnncError(f"{what}: need exactly one LSTM/GRU node, got {len(rnns)}")
    rnn = rnns[0]
    op = rnn.op_type
    bad = {
        "direction": (_attr(rnn, "direction", b"forward"), b"forward"),
        "layout": (_attr(rnn, "layout", 0), 0),
        "clip": (_attr(rnn, "clip"), None),
        "activations": (_attr(rnn, "activations") or None, None),
        "input_forget": (_attr(rnn, "input_forget", 0), 0),
    }
    if bad["activations"][0] == DEFAULT_ACTIVATIONS[op]:
        bad["activations"] = (None, None)
    if op == "GRU":  # torch's GRU applies the reset gate after the recurrence
        bad["linear_before_reset"] = (_attr(rnn, "linear_before_reset", 0), 1)
    for key, (got, want) in bad.items():
        if got != want:
            raise RnncError(f"{what}: {op} {key}={got!r}, torch needs {want!r}")
    ins = list(rnn.input) + [""] * 8
    if ins[4] or ins[7]:
        raise RnncError(f"{what}: sequence_lens and peepholes are not supported")
    w, r = inits[ins[1]][0], inits[ins[2]][0]
    gates = len(GATE_ORDER[op])
    hidden = int(_attr(rnn, "hidden_size", w.shape[0] // gates))
    b = inits[ins[3]][0] if ins[3] else np.zeros(2 * gates * hidden, np.float32)

    gathers = [
        n
        for n in nodes
        if n.op_type == "Gather" and n.input[0] in inits and n.input[1] in tokens
    ]
    if len(gathers) != 1:
        raise RnncError(f"{what}: no embedding Gather of the token input")
    emb_name = gathers[0].input[0]
    emb = inits[emb_name]

    heads = [n for n in nodes if n.op_type in ("Gemm", "MatMul")]
    if len(heads) != 1:
        raise RnncError(f"{what}: need one Gemm/MatMul head, got {len(heads)}")
    head = heads[0]
    tied = False
    if head.op_type == "Gemm":
        if _attr(head, "alpha", 1.0) != 1.0 or _attr(head, "beta", 1.0) != 1.0:
            raise RnncError(f"{what}: Gemm with alpha/beta != 1")
        fc_w = inits[head.input[1]]
        fc_w = fc_w if _attr(head, "transB", 0) else fc_w.T
        if _attr(head, "transA", 0):
            raise RnncError(f"{what}: Gemm with transA")
        fc_b = inits[head.input[2]] if len(head.input) > 2 and head.input[2] else None
    else:
        src = head.input[1]
        if src in inits:
            fc_w = inits[src].T
        elif src in producer and producer[src].op_type == "Transpose":
            base = producer[src].input[0]
            fc_w = inits[base]
            tied = base == emb_name
        else:
            raise RnncError(f"{what}: the MatMul weight is not a constant")
        adds = [
            n
            for n in nodes
            if n.op_type == "Add"
            and head.output[0] in n.input
            and any(i in inits for i in n.input)
        ]
        fc_b = (
            next((inits[i] for i in adds[0].input if i in inits), None)
            if adds
            else None
        )

    lm = dataset == "ptb"
    spec = TorchSpec(
        cell=op.upper(),
        vocab=emb.shape[0],
        emb_dim=emb.shape[1],
        hidden=hidden,
        out=fc_w.shape[0],
        tied=tied,
        lm=lm,
        state_inputs=[i for i in ins[5 : 7 if op == "LSTM" else 6] if i] if lm else [],
    )
    if lm and len(spec.state_inputs) != (2 if op == "LSTM" else 1):
        raise RnncError(f"{what}: the {op}'s initial states are not graph inputs")
    module = RebuiltRNN(spec)
    g = gates * hidden

    def t(a):
        return torch.from_numpy(np.array(a, dtype=np.float32))

    with torch.no_grad():
        module.embedding.weight.copy_(t(emb))
        module.rnn.weight_ih_l0.copy_(t(_gates(w, op)))
        module.rnn.weight_hh_l0.copy_(t(_gates(r, op)))
        module.rnn.bias_ih_l0.copy_(t(_gates(b[:g], op)))
        module.rnn.bias_hh_l0.copy_(t(_gates(b[g:], op)))
        if not tied:
            module.fc.weight.copy_(t(fc_w))
        module.fc.bias.copy_(t(fc_b) if fc_b is not None else torch.zeros(spec.out))
    return module.eval()


def torch_runner(module, data: EvalData) -> Runner:
    import torch

    spec = module.spec
    state_outs = {i: o for i, o, _ in data.states}

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            tokens = torch.from_numpy(inputs[data.tokens])
            if not spec.lm:
                return {data.logits: module(tokens).numpy()}
            states = [torch.from_numpy(inputs[n]) for n in spec.state_inputs]
            logits, *new = module(tokens, *states)
        out = {data.logits: logits.numpy()}
        for name, value in zip(spec.state_inputs, new, strict=True):
            out[state_outs[name]] = value.numpy()
        return out

    return run


def compare(run_a: Runner, run_b: Runner, data: EvalData) -> float:
    """Max abs difference of all outputs on the first and last IMDb batch, or on
    the first two PTB windows (each side carrying its own state)."""
    diff = 0.0
    if data.dataset == "imdb":
        blocks = list(imdb_batches(data))
        for block, _ in {0: blocks[0], 1: blocks[-1]}.values():
            a, b = run_a({data.tokens: block}), run_b({data.tokens: block})
            diff = max(diff, float(np.abs(a[data.logits] - b[data.logits]).max()))
        return diff
    sa = sb = data.zero_states()
    for _, (x, _) in zip(range(2), ptb_windows(data), strict=False):
        a, b = run_a({data.tokens: x, **sa}), run_b({data.tokens: x, **sb})
        for name in [data.logits] + [o for _, o, _ in data.states]:
            diff = max(diff, float(np.abs(a[name] - b[name]).max()))
        sa = {i: a[o] for i, o, _ in data.states}
        sb = {i: b[o] for i, o, _ in data.states}
    return diff


def torch_quantize(module, embedding: bool = False):
    import torch
    from torch import nn
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        float_qparams_weight_only_qconfig,
        quantize_dynamic,
    )

    spec = {nn.LSTM: default_dynamic_qconfig, nn.GRU: default_dynamic_qconfig}
    spec[nn.Linear] = default_dynamic_qconfig
    if embedding:
        spec[nn.Embedding] = float_qparams_weight_only_qconfig
    with _quiet():
        return quantize_dynamic(module, spec, dtype=torch.qint8).eval()


def torch_memory(module) -> list[MemRow]:
    """Stored tensors of a (possibly dynamically quantized) rebuilt module; a
    float tensor shared by two modules (the tied embedding) counts once."""
    import torch
    from torch import nn
    from torch.ao.nn import quantized as nnq
    from torch.ao.nn.quantized import dynamic as nnqd

    rows: list[MemRow] = []
    seen: set[int] = set()

    def add(name: str, tensor) -> None:
        if tensor is None:
            return
        if not tensor.is_quantized:
            if tensor.data_ptr() in seen:
                return
            seen.add(tensor.data_ptr())
            n = tensor.numel()
            rows.append(MemRow(name, "float32", n, n * 4))
            return
        n = tensor.numel()
        dtype = str(tensor.dtype).removeprefix("torch.")
        rows.append(MemRow(name, dtype, n, n * tensor.element_size()))
        scheme = tensor.qscheme()
        if scheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            channels, zp_bytes = 1, 1
        else:
            channels = tensor.q_per_channel_scales().numel()
            float_zp = scheme == torch.per_channel_affine_float_qparams
            zp_bytes = 4 if float_zp else 1
        rows.append(MemRow(f"{name} scale", "float32", channels, 4 * channels))
        rows.append(MemRow(f"{name} zero point", dtype, channels, zp_bytes * channels))

    for prefix, m in module.named_modules():
        if isinstance(m, nnqd.Linear):
            add(f"{prefix}.weight", m.weight())
            add(f"{prefix}.bias", m.bias())
        elif isinstance(m, (nnqd.LSTM, nnqd.GRU)):
            wb = m._weight_bias()
            for kind in ("weight", "bias"):
                for name, tensor in wb[kind].items():
                    add(f"{prefix}.{name}", tensor)
        elif isinstance(m, nnq.Embedding):
            add(f"{prefix}.weight", m.weight())
        elif isinstance(m, (nn.Linear, nn.LSTM, nn.GRU, nn.Embedding)):
            for name, p in m.named_parameters(recurse=False):
                add(f"{prefix}.{name}", p.detach())
    return rows


# --------------------------------------------------------------------- results


@dataclass
class PeerResult:
    key: str
    method: str
    metric: str  # accuracy | perplexity
    w_bits: str
    a_bits: str
    float_metric: float
    quant_metric: float
    weight_bytes: int
    float32_bytes: int
    samples: int
    seconds: float  # quantization + the quantized run
    float_seconds: float
    memory: list[MemRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rebuild_max_diff: float | None = None  # torch peers: rebuilt vs onnxruntime

    @property
    def change(self) -> float:
        return self.quant_metric - self.float_metric

    @property
    def reduction(self) -> float:
        return 1 - self.weight_bytes / self.float32_bytes

    def row(self) -> tuple:
        return (
            self.method,
            self.w_bits,
            self.a_bits,
            self.float_metric,
            self.quant_metric,
            self.change,
            self.weight_bytes,
            100 * self.reduction,
        )

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "method": self.method,
            "metric": self.metric,
            "w_bits": self.w_bits,
            "a_bits": self.a_bits,
            "float": self.float_metric,
            "quantized": self.quant_metric,
            "change": self.change,
            "weight_bytes": self.weight_bytes,
            "float32_bytes": self.float32_bytes,
            "reduction": self.reduction,
            "samples": self.samples,
            "seconds": {"quantized": self.seconds, "float": self.float_seconds},
            "memory": [vars(r) for r in self.memory],
            "notes": self.notes,
            "rebuild_max_diff": self.rebuild_max_diff,
        }


def _bytes(rows: list[MemRow]) -> int:
    return sum(r.bytes for r in rows)


def _timed(fn: Callable, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def evaluate_peers(
    model_path: str | Path,
    dataset: str | None = None,
    *,
    limit: int | None = None,
    batch: int | None = None,
    bptt: int = PTB_BPTT,
    methods: tuple[str, ...] = PEERS,
    log: Callable[[str], None] | None = None,
    data: EvalData | None = None,
) -> list[PeerResult]:
    """Each peer's float and quantized metric and weight memory on the data
    `rnnc eval` uses (same `limit`, batch and bptt)."""
    unknown = set(methods) - set(PEERS)
    if unknown:
        raise RnncError(f"unknown peer method(s) {sorted(unknown)}; know {PEERS}")
    log = log or (lambda _msg: None)
    model = load_model(model_path)
    dataset = dataset or infer_dataset(model)
    data = data or load_data(model_path, dataset, limit=limit, batch=batch, bptt=bptt)
    metric_name = "accuracy" if dataset == "imdb" else "perplexity"
    results: list[PeerResult] = []
    ort_float = ort_runner(model)
    float_rows = onnx_memory(model)
    ort_metric, ort_seconds = _timed(metric, ort_float, data)
    log(f"onnxruntime float: {ort_metric:.6g} ({ort_seconds:.1f} s)")

    ort_variants = [("ort-dynamic", model, [])]
    folded, n_folded = fold_initializer_transposes(model)
    if n_folded:
        ort_variants.append(
            (
                "ort-dynamic-folded",
                folded,
                [
                    f"{n_folded} Transpose of an initializer folded into a constant "
                    "first (the tied decoder's weight), as constant folding would"
                ],
            )
        )
    for key, source, extra in ort_variants:
        if key not in methods:
            continue
        start = time.perf_counter()
        q = ort_quantize(source)
        q_metric = metric(ort_runner(q), data)
        seconds = time.perf_counter() - start
        rows = onnx_memory(q)
        w_bits, a_bits, notes = _ort_notes(model, q, rows)
        results.append(
            PeerResult(
                key,
                METHOD_NAMES[key],
                metric_name,
                w_bits,
                a_bits,
                ort_metric,
                q_metric,
                _bytes(rows),
                _bytes(float_rows),
                data.samples,
                seconds,
                ort_seconds,
                rows,
                extra + notes,
            )
        )
        log(f"{key}: {q_metric:.6g} ({seconds:.1f} s)")

    torch_keys = [k for k in ("torch-dynamic", "torch-dynamic-emb") if k in methods]
    if not torch_keys:
        return results
    module = rebuild_torch(model, dataset)
    diff = compare(torch_runner(module, data), ort_float, data)
    if not diff < REBUILD_TOLERANCE:
        raise RnncError(
            f"the torch module rebuilt from '{model_path}' differs from onnxruntime "
            f"by {diff:.3g} (> {REBUILD_TOLERANCE}); not quantizing it"
        )
    torch_float_rows = torch_memory(module)
    torch_metric, torch_seconds = _timed(metric, torch_runner(module, data), data)
    log(f"torch float (rebuilt, max diff {diff:.2g}): {torch_metric:.6g}")
    for key in torch_keys:
        start = time.perf_counter()
        q = torch_quantize(module, embedding=key == "torch-dynamic-emb")
        q_metric = metric(torch_runner(q, data), data)
        seconds = time.perf_counter() - start
        rows = torch_memory(q)
        cell = module.spec.cell
        notes = [
            f"rebuilt float module reproduces onnxruntime: max abs diff {diff:.2g}",
            f"nn.{cell} -> DynamicQuantized{cell}, nn.Linear -> DynamicQuantized"
            "Linear (int8 weights, one scale each; inputs quantized to 8 bits at "
            "run time; biases, gates and states float32)",
        ]
        if key == "torch-dynamic-emb":
            notes.append(
                "nn.Embedding -> quantized Embedding (quint8, one float scale and "
                "zero point per row)"
            )
            w_bits = "8"
        else:
            notes.append(
                "nn.Embedding left float32 (quantize_dynamic does not handle it)"
            )
            w_bits = "8 + fp32"
        if module.spec.tied:
            notes.append(
                "tied embedding/decoder: the decoder Linear gets its own int8 copy, "
                "so the matrix is stored twice"
            )
        results.append(
            PeerResult(
                key,
                METHOD_NAMES[key],
                metric_name,
                w_bits,
                "8 dyn",
                torch_metric,
                q_metric,
                _bytes(rows),
                _bytes(torch_float_rows),
                data.samples,
                seconds,
                torch_seconds,
                rows,
                notes,
                diff,
            )
        )
        log(f"{key}: {q_metric:.6g} ({seconds:.1f} s)")
    return results
