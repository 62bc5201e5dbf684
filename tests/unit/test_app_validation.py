"""Request validation of the reference backend's HTTP contract (pure)."""

from __future__ import annotations

import pytest

from stack.app.validation import (
    RequestError,
    dataset_name,
    document_id,
    document_text,
    search_params,
)


def _err(fn, *args) -> RequestError:  # type: ignore[no-untyped-def]
    with pytest.raises(RequestError) as info:
        fn(*args)
    return info.value


@pytest.mark.parametrize("name", ["kb", "KB-1", "a.b_c", "9" * 64])
def test_good_dataset_names(name: str) -> None:
    assert dataset_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "é", "9" * 65, "..", "x;drop"])
def test_bad_dataset_names_are_400(name: str) -> None:
    e = _err(dataset_name, name)
    assert (e.status, e.code) == (400, "invalid_dataset") and repr(name) in e.message


def test_document_ids_are_uuids_else_404() -> None:
    assert document_id("0F0F0F0F-0000-0000-0000-000000000000") == (
        "0f0f0f0f-0000-0000-0000-000000000000"
    )
    e = _err(document_id, "../../etc/passwd")
    assert (e.status, e.code) == (404, "not_found")


def test_document_text_accepts_a_json_object_with_text() -> None:
    assert document_text("application/json", b'{"text": "hello", "extra": 1}') == "hello"


@pytest.mark.parametrize(
    ("mimetype", "body", "status", "code"),
    [
        ("text/plain", b'{"text": "x"}', 415, "unsupported_media_type"),
        ("application/json", b"{nope", 400, "malformed_json"),
        ("application/json", b"\xff\xfe", 400, "malformed_json"),
        ("application/json", b"", 400, "malformed_json"),
        ("application/json", b'["text"]', 400, "invalid_body"),
        ("application/json", b'{"text": 5}', 400, "invalid_body"),
        ("application/json", b'{"body": "x"}', 400, "invalid_body"),
        ("application/json", b'{"text": " \\n\\t "}', 400, "empty_text"),
    ],
)
def test_bad_bodies(mimetype: str, body: bytes, status: int, code: str) -> None:
    e = _err(document_text, mimetype, body)
    assert (e.status, e.code) == (status, code)
    assert e.as_json() == {"error": code, "message": e.message, "status": status}


def test_search_params_defaults_and_bounds() -> None:
    assert search_params({"q": "cats"}) == ("cats", 4)
    assert search_params({"q": "cats", "top_k": "100"}) == ("cats", 100)
    for args, code in [
        ({}, "missing_query"),
        ({"q": "  "}, "missing_query"),
        ({"q": "x" * 2001}, "query_too_long"),
        ({"q": "x", "top_k": "0"}, "invalid_top_k"),
        ({"q": "x", "top_k": "101"}, "invalid_top_k"),
        ({"q": "x", "top_k": "ten"}, "invalid_top_k"),
    ]:
        e = _err(search_params, args)
        assert (e.status, e.code) == (400, code), args
