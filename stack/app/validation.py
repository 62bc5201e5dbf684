"""Request validation of the HTTP contract (pure; raises :class:`RequestError` -> 4xx JSON)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping

_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100
DEFAULT_TOP_K = 4


class RequestError(Exception):
    """A client error: HTTP ``status``, a stable ``code`` and a human ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def as_json(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, "status": self.status}


def dataset_name(name: str) -> str:
    """A dataset name: a letter or digit, then up to 63 letters, digits, ``_ . -``."""
    if not _DATASET.match(name):
        raise RequestError(
            400,
            "invalid_dataset",
            f"invalid dataset name {name!r}: use a letter or digit, then up to 63 "
            "letters, digits, '_', '.' or '-'",
        )
    return name


def document_id(value: str) -> str:
    """A document id (a UUID); anything else names no document (404)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise RequestError(404, "not_found", f"unknown document {value!r}") from None


def document_text(mimetype: str, body: bytes) -> str:
    """The ``text`` of a ``{"text": ...}`` JSON body; 415/400 with the reason otherwise."""
    if mimetype != "application/json":
        raise RequestError(
            415,
            "unsupported_media_type",
            f"send the document as JSON with Content-Type: application/json (got {mimetype!r})",
        )
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "malformed_json", "the body is not UTF-8") from None
    except ValueError as exc:
        raise RequestError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(400, "invalid_body", 'the body must be a JSON object {"text": "..."}')
    text = data.get("text")
    if not isinstance(text, str):
        raise RequestError(400, "invalid_body", 'the body needs a string field "text"')
    if not text.strip():
        raise RequestError(400, "empty_text", '"text" is empty')
    return text


def search_params(args: Mapping[str, str]) -> tuple[str, int]:
    """``q`` (required, non-blank) and ``top_k`` (1..100, default 4) of a search."""
    q = args.get("q", "")
    if not q.strip():
        raise RequestError(400, "missing_query", "give the query as ?q=...")
    if len(q) > MAX_QUERY_CHARS:
        raise RequestError(400, "query_too_long", f"q has more than {MAX_QUERY_CHARS} characters")
    raw = args.get("top_k", str(DEFAULT_TOP_K))
    try:
        top_k = int(raw)
    except ValueError:
        raise RequestError(400, "invalid_top_k", f"top_k must be an integer, got {raw!r}") from None
    if not 1 <= top_k <= MAX_TOP_K:
        raise RequestError(400, "invalid_top_k", f"top_k must be 1..{MAX_TOP_K}, got {top_k}")
    return q, top_k
