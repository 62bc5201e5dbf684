"""Offline validation of rendered manifests against the Kubernetes OpenAPI schemas.

The schemas are those shipped by the PyPI package ``kubernetes-validate`` (pinned in the
``dev`` extra), in strict mode: an unknown field is an error, not silently dropped by the
apiserver.  Checked against :data:`OLDEST` and the newest version the package ships.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stack.errors import Problem, ProblemsError

OLDEST = "1.30"


def versions() -> list[str]:
    """The Kubernetes versions every rendering is validated against."""
    from kubernetes_validate import utils

    return [OLDEST, utils.latest_version()]


def problems(objects: Iterable[dict[str, Any]], version: str) -> list[Problem]:
    from kubernetes_validate import utils

    out = []
    for obj in objects:
        where = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        try:
            utils.validate(obj, version, strict=True)
        except utils.ValidationError as exc:
            path = "/".join(str(p) for p in exc.absolute_path)
            out.append(Problem(where, f"Kubernetes {version}: {path}: {exc.message}"))
        except utils.SchemaNotFoundError as exc:
            out.append(Problem(where, f"Kubernetes {version}: {exc.message}"))
    return out


def validate(objects: list[dict[str, Any]]) -> list[str]:
    """Validate against every version of :func:`versions`; returns them, raises on problems."""
    found: list[Problem] = []
    checked = versions()
    for version in checked:
        found += problems(objects, version)
    if found:
        raise ProblemsError("manifests rejected by the Kubernetes schemas", found)
    return checked
