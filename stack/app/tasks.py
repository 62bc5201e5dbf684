"""The Celery tasks: indexing (queue ``dataset``), the periodic cleanup and the heartbeat.

Task names are fixed (``stack.*``) so routes and the beat schedule refer to them by name
(:data:`stack.app.config.TASK_QUEUES`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

log = logging.getLogger("stack.app.tasks")


def index(document_id: str) -> dict[str, Any]:
    """Split, embed and store one document; its row moves indexing -> completed | error.

    Two short transactions, the fewest the status contract allows (``indexing`` must be
    visible while the work runs): one SELECT + UPDATE to start, one UPDATE to finish.  The
    vector work runs on a pooled adapter of this process (:func:`stack.app.vectors.using`).
    """
    from sqlalchemy import select, update

    from stack.app import config, db, storage, vectors
    from stack.app.embed import embed, split
    from stack.app.models import COMPLETED, ERROR, INDEXING, QUEUED, Dataset, Document, now
    from stack.stores.contract import Document as StoreDocument

    s = config.current()
    with db.session() as sess:
        row = sess.execute(
            select(Document, Dataset)
            .join(Dataset, Dataset.id == Document.dataset_id)
            .where(Document.id == document_id)
        ).first()
        if row is None:
            log.warning("index: document %s does not exist (deleted?)", document_id)
            return {"id": document_id, "status": "missing"}
        doc, dataset = row
        # A queued document was never indexed (fresh id; a started attempt leaves it
        # indexing or error), so it has no chunks to clear: skip that delete, a scan of
        # the whole collection's metadata.
        reindex = doc.status != QUEUED
        doc.status, doc.updated_at, doc.error = INDEXING, now(), None
        dataset_id, collection = dataset.id, dataset.collection(s.index_prefix)

    def finish(**values: Any) -> None:
        with db.session() as sess:
            sess.execute(
                update(Document)
                .where(Document.id == document_id)
                .values(updated_at=now(), **values)
            )

    try:
        chunks = split(storage.get(dataset_id, document_id))
        if not chunks:
            raise ValueError("the document holds no text to index")
        base = uuid.UUID(document_id)
        items = [
            StoreDocument(
                id=str(uuid.uuid5(base, str(i))),
                text=chunk,
                vector=embed(chunk),
                metadata={"document_id": document_id, "chunk": i},
            )
            for i, chunk in enumerate(chunks)
        ]

        def write(store: Any) -> None:  # repeatable: delete, then upsert by fixed ids
            if reindex:
                store.delete_by_metadata_field("document_id", document_id)  # re-index cleanly
            store.add(items)

        vectors.using(collection, write)
    except Exception as exc:
        log.exception("index: document %s failed", document_id)
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        finish(status=ERROR, error=reason)
        return {"id": document_id, "status": ERROR, "error": reason}
    finish(status=COMPLETED, chunks=len(chunks))
    return {"id": document_id, "status": COMPLETED, "chunks": len(chunks)}


def cleanup() -> dict[str, int]:
    """Drop failed documents older than CELERY_BEAT_SCHEDULER_TIME days and orphaned bodies."""
    from sqlalchemy import delete, select

    from stack.app import config, db, storage
    from stack.app.models import ERROR, Document, now

    cutoff = now() - timedelta(days=config.current().cleanup_days)
    with db.session() as sess:
        failed = sess.execute(
            delete(Document).where(Document.status == ERROR, Document.updated_at < cutoff)
        ).rowcount
        known = set(sess.execute(select(Document.id)).scalars())
    orphans = 0
    for dataset_id, document_id in storage.stored_keys():
        if document_id not in known:
            storage.delete(dataset_id, document_id)
            orphans += 1
    log.info("cleanup: %d failed documents, %d orphaned bodies removed", failed, orphans)
    return {"failed_documents": int(failed or 0), "orphaned_bodies": orphans}


def heartbeat(task_id: str | None) -> dict[str, Any]:
    """Record that beat's periodic run reached a worker (read by /health)."""
    from stack.app import kv

    return kv.record_heartbeat(task_id)


def register(app: Any) -> None:
    """Register the tasks on the Celery ``app`` under their fixed names."""

    # the document's state is its row; nothing reads a result, so none is stored
    @app.task(name="stack.index_document", bind=True, ignore_result=True)
    def index_document(self: Any, document_id: str) -> dict[str, Any]:
        return index(document_id)

    @app.task(name="stack.cleanup")
    def cleanup_task() -> dict[str, int]:
        return cleanup()

    @app.task(name="stack.heartbeat", bind=True, ignore_result=True)  # its record is in redis
    def heartbeat_task(self: Any) -> dict[str, Any]:
        return heartbeat(self.request.id)
