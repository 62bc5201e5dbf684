"""Document bodies in the file storage: OpenDAL, scheme ``fs``, rooted at ``OPENDAL_FS_ROOT``.

Keys are ``datasets/<dataset id>/<document id>.txt`` (ids are UUIDs, so no user text ever
reaches a path).
"""

from __future__ import annotations

import threading
from typing import Any

from stack.app import config

_lock = threading.Lock()
_op: Any = None


def operator() -> Any:
    """The process's OpenDAL operator (root created on first use)."""
    global _op
    with _lock:
        if _op is None:
            import opendal

            root = config.current().fs_root
            root.mkdir(parents=True, exist_ok=True)
            _op = opendal.Operator("fs", root=str(root))
        return _op


def key(dataset_id: str, document_id: str) -> str:
    """Storage key of a document body."""
    return f"datasets/{dataset_id}/{document_id}.txt"


def put(dataset_id: str, document_id: str, text: str) -> None:
    """Store a document body (UTF-8)."""
    operator().write(key(dataset_id, document_id), text.encode("utf-8"))


def get(dataset_id: str, document_id: str) -> str:
    """Read a document body; ``opendal.exceptions.NotFound`` when absent."""
    data: bytes = bytes(operator().read(key(dataset_id, document_id)))
    return data.decode("utf-8")


def delete(dataset_id: str, document_id: str) -> None:
    """Remove a document body (absent is fine)."""
    operator().delete(key(dataset_id, document_id))


def stored_keys() -> list[tuple[str, str]]:
    """Every stored ``(dataset id, document id)``."""
    op = operator()
    if not op.exists("datasets/"):
        return []
    out = []
    for entry in op.scan("datasets/"):  # recursive listing
        parts = str(entry.path).split("/")
        if len(parts) == 3 and parts[2].endswith(".txt"):
            out.append((parts[1], parts[2].removesuffix(".txt")))
    return sorted(out)
