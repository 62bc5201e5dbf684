"""The environment of every container: the shared ConfigMap and Secret, and per-service env.

* ``ConfigMap/stack-env``: every non-secret variable of the ``x-shared-env`` block (the
  variables api, worker or worker_beat receive), with the value compose gives it.
* ``Secret/stack-secrets``: every ``@secret`` variable of that block.  api, worker,
  worker_beat and the migration Job read both with ``envFrom``, so they see exactly the
  shared block, as in compose.
* ``Secret/stack-service-secrets``: the ``@secret`` variables that only other services
  receive (``SANDBOX_API_KEY``, ``MINIO_SECRET_KEY``...).  They cannot sit in
  ``stack-secrets``: ``envFrom`` would hand them to the backend, which compose does not.
* Every other container gets exactly its compose variables: a secret through
  ``secretKeyRef``, a variable taken from a shared one through ``configMapKeyRef`` (also
  where compose renames it: ``SERVER_PORT`` from ``PLUGIN_DAEMON_PORT``), so an overlay that
  patches the ConfigMap reaches every service; anything else as a literal.

All values are strings and carry the service-name mapping of :mod:`stack.k8s.names`.
With ``strict`` the Secrets are not rendered (their names are those of Secrets supplied
from outside, see ``secrets.env.example``), so no secret value reaches a manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stack.env.model import BACKEND_SERVICES, Definitions
from stack.k8s.names import map_value

CONFIGMAP = "stack-env"
SECRET = "stack-secrets"
SERVICE_SECRET = "stack-service-secrets"
#: The one documented difference from the compose environment (see CONTRIBUTING.md).
API_OVERRIDES = {"MIGRATION_ENABLED": "false"}


def shared_plain(defs: Definitions) -> list[str]:
    return [v.name for v in defs.shared() if not v.secret]


def shared_secret(defs: Definitions) -> list[str]:
    return [v.name for v in defs.shared() if v.secret]


def service_secret(defs: Definitions) -> list[str]:
    return [v.name for v in defs.secrets() if not v.shared and not v.interpolated]


def _data(names: list[str], values: Mapping[str, str], mapping: Mapping[str, str]) -> dict:
    return {n: map_value(values.get(n, ""), mapping) for n in names}


def objects(
    defs: Definitions, values: Mapping[str, str], mapping: Mapping[str, str], *, strict: bool
) -> list[dict]:
    """The ConfigMap and (unless ``strict``) the two Secrets."""
    meta = {"labels": {"app.kubernetes.io/part-of": "stack"}}
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP, **meta},
            "data": _data(shared_plain(defs), values, mapping),
        }
    ]
    if strict:
        return out
    for name, keys in ((SECRET, shared_secret(defs)), (SERVICE_SECRET, service_secret(defs))):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, **meta},
                "type": "Opaque",
                "stringData": _data(keys, values, mapping),
            }
        )
    return out


def secrets_example(defs: Definitions, namespace: str) -> str:
    """``secrets.env.example`` of a strict rendering: the keys each Secret must hold."""
    create = f"#   kubectl -n {namespace} create secret generic"
    lines = [
        "# The Secrets a --strict-secrets rendering expects to exist (values are not rendered).",
        "# Copy each block into its own file, fill in the values, then:",
        f"#   kubectl create namespace {namespace}",
        f"{create} {SECRET} --from-env-file=stack-secrets.env",
        f"{create} {SERVICE_SECRET} --from-env-file=service-secrets.env",
        f"# [{SECRET}]",
        *(f"{n}=" for n in shared_secret(defs)),
        f"# [{SERVICE_SECRET}]",
        *(f"{n}=" for n in service_secret(defs)),
    ]
    return "\n".join(lines) + "\n"


def env_from() -> list[dict]:
    """The backend's ``envFrom``: the shared ConfigMap, then the shared Secret."""
    return [{"configMapRef": {"name": CONFIGMAP}}, {"secretRef": {"name": SECRET}}]


def _is_backend(service: str) -> bool:
    return service in BACKEND_SERVICES


def container_env(
    service: str,
    environment: Mapping[str, Any],
    sources: Mapping[str, str],
    defs: Definitions,
    values: Mapping[str, str],
    mapping: Mapping[str, str],
) -> list[dict]:
    """The ``env`` list of ``service``'s container (the backend: only what is not shared)."""
    shared = {v.name for v in defs.shared()}
    out: list[dict[str, Any]] = []
    for key in sorted(environment):
        raw = environment[key]
        value = map_value("" if raw is None else str(raw), mapping)
        source = sources.get(key)
        var = defs.by_name.get(source) if source else None
        if _is_backend(service):
            if key in shared:
                continue
            out.append({"name": key, "value": value})
            continue
        if var is not None and map_value(values.get(var.name, ""), mapping) != value:
            var = None  # the template's default drifted from the definitions: keep the literal
        if var is not None and var.secret:
            secret = SECRET if var.shared else SERVICE_SECRET
            ref = {"secretKeyRef": {"name": secret, "key": var.name}}
            out.append({"name": key, "valueFrom": ref})
        elif var is not None and var.name in shared:
            ref = {"configMapKeyRef": {"name": CONFIGMAP, "key": var.name}}
            out.append({"name": key, "valueFrom": ref})
        else:
            out.append({"name": key, "value": value})
    if _is_backend(service):
        present = {e["name"] for e in out}
        out += [
            {"name": k, "value": v}
            for k, v in API_OVERRIDES.items()
            if service == "api" and k not in present
        ]
    return out


def secret_env_names(env: list[dict]) -> dict[str, str]:
    """container variable -> secret key, for the entries taken from a Secret."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for e in env
        if "secretKeyRef" in e.get("valueFrom", {})
    }
