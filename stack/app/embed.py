"""Document splitting and a deterministic local embedder (no model, no download).

The embedder hashes features of the text into a fixed number of dimensions (the "hashing
trick"): character trigrams of every word plus the words themselves, each with a signed
weight, then L2-normalises.  Texts that share words and word pieces get a high cosine
similarity, so ranking by similarity is meaningful; the same text always gives the same
vector in every process (blake2b, never Python's salted ``hash``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator

DIM = 256
CHUNK_CHARS = 500
OVERLAP_CHARS = 50
_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _features(text: str) -> Iterator[tuple[str, float]]:
    for word in _WORD.findall(text.lower()):
        yield "w:" + word, 2.0
        padded = f"#{word}#"
        for i in range(max(1, len(padded) - 2)):
            yield "g:" + padded[i : i + 3], 1.0


def embed(text: str, dim: int = DIM) -> list[float]:
    """Unit-length ``dim``-dimensional vector of ``text`` (a fixed unit vector if featureless)."""
    vec = [0.0] * dim
    for feature, weight in _features(text):
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        h = int.from_bytes(digest, "big")
        vec[h % dim] += weight if (h >> 63) & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [v / norm for v in vec]


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors of the same length."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def _pieces(paragraph: str, limit: int) -> Iterator[str]:
    """Sentences of ``paragraph``; longer ones cut at word boundaries (or hard, if needed)."""
    for sentence in _SENTENCE_END.split(paragraph):
        if len(sentence) <= limit:
            yield sentence
            continue
        line = ""
        for word in sentence.split(" "):
            while len(word) > limit:
                if line:
                    yield line
                    line = ""
                yield word[:limit]
                word = word[limit:]
            if line and len(line) + 1 + len(word) > limit:
                yield line
                line = word
            else:
                line = f"{line} {word}" if line else word
        if line:
            yield line


def split(text: str, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """Chunks of at most ``size`` characters along paragraphs and sentences.

    Whitespace is normalised; consecutive chunks of one paragraph share up to ``overlap``
    trailing characters (whole words), so a phrase cut at a border is still found.
    """
    if size < 1 or overlap < 0 or overlap >= size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size (got {size}, {overlap})")
    chunks: list[str] = []
    for raw in re.split(r"\n\s*\n", text):
        paragraph = " ".join(raw.split())
        if not paragraph:
            continue
        current = ""
        for piece in _pieces(paragraph, size):
            if not current:
                current = piece
            elif len(current) + 1 + len(piece) <= size:
                current = f"{current} {piece}"
            else:
                chunks.append(current)
                tail = _tail(current, overlap)
                current = (
                    f"{tail} {piece}" if tail and len(tail) + 1 + len(piece) <= size else piece
                )
        if current:
            chunks.append(current)
    return chunks


def _tail(chunk: str, overlap: int) -> str:
    """The last whole words of ``chunk`` within ``overlap`` characters."""
    if overlap == 0:
        return ""
    words = chunk.split(" ")
    tail: list[str] = []
    length = 0
    for word in reversed(words):
        if length + len(word) + (1 if tail else 0) > overlap:
            break
        tail.insert(0, word)
        length += len(word) + (1 if len(tail) > 1 else 0)
    return " ".join(tail)
