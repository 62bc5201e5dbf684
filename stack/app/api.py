"""The HTTP contract (``/v1``): documents in, status out, similarity search, health.

* ``POST /v1/datasets/<name>/documents`` ``{"text": ...}`` -> 202 ``{"id", "status": "queued"}``
  (the dataset is created on first use; the body goes to the file storage, indexing to the
  ``dataset`` queue);
* ``GET /v1/datasets/<name>/documents/<id>`` -> ``{"status": queued|indexing|completed|error,
  "error": reason|null, ...}``;
* ``GET /v1/datasets/<name>/search?q=...&top_k=N`` -> ``{"results": [{"document_id", "text",
  "score", "chunk"}]}``, best first, one (the best) chunk per document;
* ``GET /health`` and ``GET /v1/health`` -> :func:`stack.app.health.report`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from stack.app import validation
from stack.app.validation import RequestError

log = logging.getLogger("stack.app.api")
bp = Blueprint("stack", __name__)


def _dataset(sess: Any, name: str, *, create: bool) -> Any:
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from stack.app.models import Dataset

    found = sess.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
    if found is not None or not create:
        return found
    try:
        with sess.begin_nested():
            found = Dataset(name=name)
            sess.add(found)
    except IntegrityError:  # created concurrently by another request
        found = sess.execute(select(Dataset).where(Dataset.name == name)).scalar_one()
    return found


def _unknown_dataset(name: str) -> RequestError:
    return RequestError(404, "not_found", f"unknown dataset {name!r} (add a document first)")


@bp.post("/v1/datasets/<name>/documents")
def add_document(name: str) -> Any:
    """Accept a document and queue its indexing."""
    from stack.app import db, storage
    from stack.app.models import ERROR, QUEUED, Document, now

    name = validation.dataset_name(name)
    text = validation.document_text(request.mimetype, request.get_data(cache=False))
    with db.session() as sess:
        dataset = _dataset(sess, name, create=True)
        doc = Document(dataset_id=dataset.id, status=QUEUED, size=len(text.encode("utf-8")))
        sess.add(doc)
        sess.flush()
        storage.put(dataset.id, doc.id, text)
        doc_id = doc.id
    try:
        # The document's state lives in the documents table and nothing here waits for the
        # task, so no result is kept (and the api subscribes to no result channel).
        current_app.extensions["celery"].send_task(
            "stack.index_document", args=[doc_id], ignore_result=True
        )
    except Exception as exc:
        log.exception("queueing document %s failed", doc_id)
        with db.session() as sess:
            row = sess.get(Document, doc_id)
            row.status, row.error, row.updated_at = ERROR, f"not queued: {exc}"[:2000], now()
        raise RequestError(
            503, "broker_unavailable", "the task broker is unreachable; try again later"
        ) from None
    return jsonify({"id": doc_id, "dataset": name, "status": QUEUED}), 202


@bp.get("/v1/datasets/<name>/documents/<doc_id>")
def get_document(name: str, doc_id: str) -> Any:
    """A document's indexing state."""
    from stack.app import db
    from stack.app.models import Document

    name = validation.dataset_name(name)
    doc_id = validation.document_id(doc_id)
    with db.session() as sess:
        dataset = _dataset(sess, name, create=False)
        if dataset is None:
            raise _unknown_dataset(name)
        doc = sess.get(Document, doc_id)
        if doc is None or doc.dataset_id != dataset.id:
            raise RequestError(404, "not_found", f"unknown document {doc_id!r} in {name!r}")
        return jsonify(doc.as_json(name))


@bp.get("/v1/datasets/<name>/search")
def search(name: str) -> Any:
    """Similarity search over the dataset's chunks; the best chunk per document."""
    from stack.app import config, db, vectors
    from stack.app.embed import embed

    name = validation.dataset_name(name)
    q, top_k = validation.search_params(request.args)
    with db.session() as sess:
        dataset = _dataset(sess, name, create=False)
        if dataset is None:
            raise _unknown_dataset(name)
        collection = dataset.collection(config.current().index_prefix)
    try:
        vector, limit = embed(q), min(top_k * 4, 400)
        hits = vectors.using(collection, lambda store: store.search_by_vector(vector, top_k=limit))
    except Exception as exc:
        log.exception("search in %s failed", collection)
        raise RequestError(
            503, "vector_store_unavailable", f"the vector store did not answer: {exc}"[:500]
        ) from None
    best: dict[str, Any] = {}
    for hit in hits:  # best first
        doc_id = str(hit.metadata.get("document_id", hit.id))
        if doc_id not in best:
            chunk = hit.metadata.get("chunk")
            best[doc_id] = {
                "document_id": doc_id,
                "text": hit.text,
                "score": round(float(hit.score), 6),
                "chunk": int(chunk) if chunk is not None else None,
            }
    results = sorted(best.values(), key=lambda r: r["score"], reverse=True)[:top_k]
    return jsonify({"dataset": name, "query": q, "results": results})


@bp.get("/health")
@bp.get("/v1/health")
def health() -> Any:
    """Dependencies' state and beat's last run; 503 naming what is down."""
    from stack.app.health import report

    body, status = report()
    return jsonify(body), status
