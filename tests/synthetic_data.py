"""Tiny IMDb and PTB files in the real files' formats (rnnc.lab.datasets reads them
through $RNNC_DATA): gzipped JSON lines sorted by label, gzipped text lines."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

POS = "great superb loved wonderful fun best".split()
NEG = "awful boring worst dull hated bad".split()
FILLER = "the movie film plot it was a and , . !".split()
PTB_WORDS = "the cat dog sat on a mat ran fast N <unk> and saw".split()


def review(
    rng: np.random.Generator,
    label: int,
    words: tuple[int, int] = (3, 16),
    cues: tuple[int, int] = (1, 4),
    tail: str = "",
) -> str:
    """Filler words with a few sentiment cues of the label's side."""
    text = list(rng.choice(FILLER, rng.integers(*words)))
    for _ in range(rng.integers(*cues)):
        text.insert(rng.integers(0, len(text) + 1), rng.choice(POS if label else NEG))
    return " ".join(text) + tail


def write_imdb(root: Path, split: str, n: int, text: Callable[[int], str]) -> None:
    """n reviews, the first half negative, as the real files are sorted."""
    (root / "imdb").mkdir(parents=True, exist_ok=True)
    labels = [0] * (n // 2) + [1] * (n - n // 2)
    with gzip.open(root / "imdb" / f"imdb_{split}.jsonl.gz", "wt") as f:
        for i, label in enumerate(labels):
            rec = {
                "id": i,
                "rating": 9 if label else 2,
                "label": label,
                "text": text(label),
                "orig_path": f"aclImdb/{split}/{'pos' if label else 'neg'}/{i}.txt",
            }
            f.write(json.dumps(rec) + "\n")


def write_ptb(
    root: Path,
    rng: np.random.Generator,
    split: str,
    lines: int,
    words: tuple[int, int] = (2, 9),
    vocab: list[str] = PTB_WORDS,
) -> None:
    (root / "ptb").mkdir(parents=True, exist_ok=True)
    with gzip.open(root / "ptb" / f"ptb.{split}.txt.gz", "wt") as f:
        for _ in range(lines):
            f.write(" " + " ".join(rng.choice(vocab, rng.integers(*words))) + " \n")
