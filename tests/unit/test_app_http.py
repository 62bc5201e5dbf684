"""The Flask app's error contract without any backing service: every error is JSON."""

from __future__ import annotations

from typing import Any

import pytest

from stack.app import config
from stack.app.factory import create_app


@pytest.fixture
def client() -> Any:
    settings = config.load({"UPLOAD_FILE_SIZE_LIMIT": "1"}, config.definition_defaults())
    app = create_app(celery=None, settings=settings)

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("secret internals")

    return app.test_client()


def test_unexpected_errors_are_json_500_without_details(client: Any) -> None:
    resp = client.get("/boom")
    assert resp.status_code == 500 and resp.is_json
    assert resp.get_json()["error"] == "internal"
    assert "secret internals" not in resp.get_data(as_text=True)
    assert "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/nowhere", {}, 404, "not_found"),
        ("delete", "/v1/datasets/kb/documents", {}, 405, "method_not_allowed"),
        ("post", "/v1/datasets/kb/documents", {"json": {"text": ""}}, 400, "empty_text"),
        ("post", "/v1/datasets/kb/documents", {"data": "x"}, 415, "unsupported_media_type"),
        ("post", "/v1/datasets/b%20d/documents", {"json": {"text": "x"}}, 400, "invalid_dataset"),
        ("get", "/v1/datasets/kb/search?top_k=3", {}, 400, "missing_query"),
    ],
)
def test_client_errors_before_any_service_is_touched(
    client: Any, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == status and resp.is_json, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"] == code and body["status"] == status and body["message"]


def test_oversized_body_is_413_naming_the_limit(client: Any) -> None:
    resp = client.post(
        "/v1/datasets/kb/documents",
        data=b"x" * (2**20 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert "UPLOAD_FILE_SIZE_LIMIT" in resp.get_json()["message"]
