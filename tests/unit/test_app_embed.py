"""The deterministic embedder and the splitter of the reference backend (pure)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stack.app.embed import DIM, cosine, embed, split


def test_same_text_same_vector_in_another_process() -> None:
    text = "Déjà vu: the same text always embeds the same way."
    code = f"import json; from stack.app.embed import embed; print(json.dumps(embed({text!r})))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a salted hash() would differ
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout) == embed(text)


@given(st.text(max_size=300))
def test_vectors_are_unit_length_and_fixed_size(text: str) -> None:
    vec = embed(text)
    assert len(vec) == DIM
    assert math.isclose(math.sqrt(sum(v * v for v in vec)), 1.0, rel_tol=1e-9)


def test_similar_text_ranks_higher() -> None:
    docs = {
        "cats": "Cats are small mammals; a cat purrs and chases mice.",
        "rockets": "Rockets burn fuel to reach orbit around the Earth.",
        "bread": "Bread is baked from flour, water and yeast.",
    }
    query = embed("which cat chases mice")
    ranked = sorted(docs, key=lambda k: cosine(query, embed(docs[k])), reverse=True)
    assert ranked[0] == "cats"
    assert cosine(embed("orbit rocket fuel"), embed(docs["rockets"])) > cosine(
        embed("orbit rocket fuel"), embed(docs["bread"])
    )


def test_word_pieces_count_typos_still_match() -> None:
    doc = embed("the photosynthesis of green plants")
    assert cosine(embed("photosynthesys"), doc) > cosine(embed("astronomy"), doc)


def test_featureless_text_gets_a_valid_vector() -> None:
    assert embed("!!! ...") == embed("")
    assert sum(v * v for v in embed("")) == 1.0


def test_split_keeps_short_text_whole_and_normalises_space() -> None:
    assert split("  hello \n  world  ") == ["hello world"]
    assert split("") == [] and split(" \n\n \t") == []


def test_split_respects_size_paragraphs_and_overlap() -> None:
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(40)]
    text = " ".join(sentences[:20]) + "\n\n" + " ".join(sentences[20:])
    chunks = split(text, size=120, overlap=30)
    assert all(len(c) <= 120 for c in chunks)
    assert not any("19 talks" in c and "20 talks" in c for c in chunks)  # paragraph border
    for sentence in sentences:  # nothing is lost
        assert any(sentence in c for c in chunks), sentence
    first, second = chunks[0], chunks[1]
    assert first.split()[-1] in second  # consecutive chunks overlap


def test_split_cuts_words_longer_than_a_chunk() -> None:
    chunks = split("a" * 250 + " tail", size=100, overlap=10)
    assert all(len(c) <= 100 for c in chunks)
    assert chunks == ["a" * 100, "a" * 100, "a" * 50 + " tail"]


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=2000))
def test_split_never_exceeds_the_size(text: str) -> None:
    for chunk in split(text, size=80, overlap=20):
        assert 0 < len(chunk) <= 80 and chunk == chunk.strip()


def test_split_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="overlap < size"):
        split("x", size=10, overlap=10)
