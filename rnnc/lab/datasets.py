"""Datasets of the paper's experiments: IMDb sentiment and PTB language modelling.

Only numpy and the standard library are used (no torch), so that the evaluator of
quantized models can load the exact same token ids as the float training did.

Data files are read from ``$RNNC_DATA`` (default: the ``shared/data`` folder beside
the repository, i.e. ``<repo>/../shared/data``); see ``SOURCES.md`` there for their
provenance.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
EOS_TOKEN = "<eos>"


def data_dir() -> Path:
    """Root of the data files; ``$RNNC_DATA`` overrides it (tests use fixtures)."""
    env = os.environ.get("RNNC_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


# --------------------------------------------------------------------------- vocab


def save_vocab(tokens: Sequence[str], path: str | os.PathLike) -> None:
    """Write one token per line; the line number (0-based) is the token id."""
    for t in tokens:
        if "\n" in t or t != t.strip() or not t:
            raise ValueError(f"token cannot be stored one per line: {t!r}")
    Path(path).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


def load_vocab(path: str | os.PathLike) -> list[str]:
    """Inverse of :func:`save_vocab`: the list index is the token id."""
    text = Path(path).read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def token_to_id(vocab: Sequence[str]) -> dict[str, int]:
    return {t: i for i, t in enumerate(vocab)}


# ---------------------------------------------------------------------------- IMDb

_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
# Words with inner apostrophes ("don't", "it's") stay whole; punctuation that
# carries sentiment or structure (! ? . , ; : etc.) becomes its own token.
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[!?.,;:()\"-]")


def tokenize_imdb(text: str) -> list[str]:
    """Lowercase, drop ``<br />`` tags, split into words and simple punctuation."""
    return _TOKEN_RE.findall(_BR_RE.sub(" ", text.lower()))


def load_imdb(split: str) -> tuple[list[str], np.ndarray]:
    """Raw review texts and int64 labels (1 = positive), in file order.

    The files are sorted by label, so callers must shuffle before training.
    """
    if split not in ("train", "test"):
        raise ValueError(f"IMDb split must be 'train' or 'test', got {split!r}")
    texts, labels = [], []
    with gzip.open(data_dir() / "imdb" / f"imdb_{split}.jsonl.gz", "rt") as f:
        for line in f:
            rec = json.loads(line)
            texts.append(rec["text"])
            labels.append(int(rec["label"]))
    return texts, np.asarray(labels, dtype=np.int64)


def build_imdb_vocab(texts: Iterable[str], size: int) -> list[str]:
    """``[<pad>, <unk>]`` followed by the ``size - 2`` most frequent train tokens.

    Ties are broken alphabetically so the vocabulary is deterministic.
    """
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(tokenize_imdb(t))
    words = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [PAD_TOKEN, UNK_TOKEN] + [w for w, _ in words[: max(size - 2, 0)]]


def encode_imdb(texts: Sequence[str], vocab: Sequence[str], max_len: int) -> np.ndarray:
    """int64 ``[N, max_len]`` token ids, PRE-padded with 0, keeping the LAST tokens.

    Pre-padding puts the real tokens at the end, so the RNN's final hidden state
    (the classifier input) comes right after the last word, with no masking needed
    in the ONNX graph. Long reviews keep their last ``max_len`` tokens (as Keras'
    ``pad_sequences`` default does), since reviews tend to end with the verdict.
    """
    index = token_to_id(vocab)
    out = np.full((len(texts), max_len), PAD_ID, dtype=np.int64)
    for row, text in enumerate(texts):
        ids = [index.get(w, UNK_ID) for w in tokenize_imdb(text)][-max_len:]
        if ids:
            out[row, max_len - len(ids) :] = ids
    return out


# ----------------------------------------------------------------------------- PTB


def load_ptb(split: str) -> list[str]:
    """All tokens of a PTB split, with ``<eos>`` appended after every sentence."""
    if split not in ("train", "valid", "test"):
        raise ValueError(f"PTB split must be train/valid/test, got {split!r}")
    tokens: list[str] = []
    with gzip.open(data_dir() / "ptb" / f"ptb.{split}.txt.gz", "rt") as f:
        for line in f:
            tokens.extend(line.split())
            tokens.append(EOS_TOKEN)
    return tokens


def ptb_vocab() -> list[str]:
    """The 10k PTB vocabulary from the train split, sorted, so ids are reproducible."""
    return sorted(set(load_ptb("train")))


def encode_ptb(tokens: Sequence[str], vocab: Sequence[str]) -> np.ndarray:
    """int64 ids; PTB is closed-vocabulary, so an unknown token is an error."""
    index = token_to_id(vocab)
    return np.fromiter((index[t] for t in tokens), dtype=np.int64, count=len(tokens))


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut the stream into ``batch_size`` contiguous rows: int64 ``[batch, steps]``.

    Row b holds the b-th 1/batch_size slice of the corpus (leftover tokens are
    dropped), so consecutive BPTT windows of a row continue the same text and the
    hidden state can be carried across windows.
    """
    ids = np.asarray(ids, dtype=np.int64)
    steps = len(ids) // batch_size
    return ids[: steps * batch_size].reshape(batch_size, steps).copy()
