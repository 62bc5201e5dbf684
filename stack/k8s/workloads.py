"""Deployments, StatefulSets, the migration Job and what each container carries over.

* api, worker, worker_beat: Deployments of the backend image, ``envFrom`` the shared
  ConfigMap/Secret, ``MODE`` in ``env``, ``runAsUser: 1001`` with ``fsGroup: 1001`` (which
  replaces compose's ``init_permissions`` chown); worker_beat ``replicas: 1`` and
  ``strategy: Recreate`` (two schedulers would run every periodic task twice).
* web, ssrf_proxy, sandbox, plugin_daemon: Deployments.
* every other service the profiles select (database, redis, vector store): a StatefulSet
  whose data mounts become ``volumeClaimTemplates``.
* a Deployment's data mount (``./volumes/...``) becomes a PersistentVolumeClaim
  (``ReadWriteMany`` when two workloads share it, as api and worker share the storage);
  a mounted project file (``./ssrf_proxy/...``) comes from a ConfigMap ``<name>-files``.
* health checks become readiness and liveness probes (``CMD`` -> exec argv, ``CMD-SHELL``
  -> ``sh -c``; interval, timeout, retries and start_period carried over).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from stack.k8s import env as e
from stack.k8s.names import is_label, k8s_name
from stack.k8s.network import labels

BACKEND = ("api", "worker", "worker_beat")
DEPLOYMENTS = (*BACKEND, "web", "ssrf_proxy", "sandbox", "plugin_daemon")
#: Compose services with no workload, and what replaces them (documented in CONTRIBUTING.md).
REPLACED = {
    "init_permissions": "fsGroup: 1001 on the backend pods",
    "nginx": "the Ingress (ingress-nginx annotations)",
    "certbot": "the cluster's certificate tooling (cert-manager)",
}
BACKEND_UID = 1001
MIGRATION_JOB = "migrate"

# The api's init container: wait until this rendering's migration Job has succeeded.
WAIT_SCRIPT = """\
import json, os, ssl, time, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
ns = open(sa + "namespace").read().strip()
url = f"https://kubernetes.default.svc/apis/batch/v1/namespaces/{ns}/jobs/" + os.environ["JOB"]
ctx = ssl.create_default_context(cafile=sa + "ca.crt")
while True:
    auth = {"Authorization": "Bearer " + open(sa + "token").read()}
    req = urllib.request.Request(url, headers=auth)
    try:
        status = json.load(urllib.request.urlopen(req, context=ctx, timeout=10)).get("status", {})
    except Exception as exc:
        status = {}
        print("waiting for the migration job:", exc, flush=True)
    if status.get("succeeded"):
        break
    time.sleep(5)
"""


def k8s_name_ok(name: str) -> bool:
    return is_label(name)


def kind_of(service: str) -> str:
    return "Deployment" if service in DEPLOYMENTS else "StatefulSet"


def seconds(duration: Any, default: int) -> int:
    """Compose's ``1m30s`` / ``500ms`` / ``30s`` in whole seconds (at least 1)."""
    if duration in (None, ""):
        return default
    total = 0.0
    for amount, unit in re.findall(r"([\d.]+)(ms|us|ns|h|m|s)", str(duration)):
        total += (
            float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
        )
    return max(1, int(-(-total // 1)))


def probes(health: Mapping[str, Any] | None) -> dict[str, Any]:
    """``readinessProbe`` and ``livenessProbe`` from a compose healthcheck (or nothing)."""
    if not health or health.get("disable"):
        return {}
    test = list(health.get("test") or [])
    if not test or test[0] == "NONE":
        return {}
    argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    base = {
        "exec": {"command": [str(a) for a in argv]},
        "periodSeconds": seconds(health.get("interval"), 30),
        "timeoutSeconds": seconds(health.get("timeout"), 30),
        "failureThreshold": int(health.get("retries") or 3),
    }
    live = (
        {**base, "initialDelaySeconds": seconds(health.get("start_period"), 0)}
        if health.get("start_period")
        else dict(base)
    )
    return {"readinessProbe": dict(base), "livenessProbe": live}


def resources(values: Mapping[str, str], service: str) -> dict[str, Any]:
    cls = "BACKEND" if service in BACKEND else "SERVICE" if service in DEPLOYMENTS else "STATEFUL"
    get = lambda k: values.get(f"K8S_{cls}_{k}", "")  # noqa: E731
    return {
        "requests": {"cpu": get("CPU_REQUEST"), "memory": get("MEMORY_REQUEST")},
        "limits": {"cpu": get("CPU_LIMIT"), "memory": get("MEMORY_LIMIT")},
    }


def _args(items: Any, secret_env: Mapping[str, str], values: Mapping[str, str]) -> list[str] | None:
    """Compose's command/entrypoint as Kubernetes argv: ``$(`` escaped, secrets by reference."""
    if not items:
        return None
    out = []
    for item in items:
        text = str(item).replace("$(", "$$(")
        for name, key in secret_env.items():
            secret = values.get(key, "")
            if secret:
                text = text.replace(secret, f"$({name})")
        out.append(text)
    return out


def volume_name(source: str) -> str:
    return k8s_name(
        re.sub(r"^\./(volumes/)?", "", source).strip("/").replace("/", "-").replace(".", "-")
    )


def file_key(path: str) -> str:
    return re.sub(r"[^-._a-zA-Z0-9]", "-", path.lstrip("./"))


def container(
    name: str,
    svc: Mapping[str, Any],
    env: list[dict],
    image: str,
    ports: list[int],
    values: Mapping[str, str],
    mounts: list[dict],
) -> dict[str, Any]:
    secret_env = e.secret_env_names(env)
    out: dict[str, Any] = {"name": k8s_name(name), "image": image}
    command = _args(svc.get("entrypoint"), secret_env, values)
    args = _args(svc.get("command"), secret_env, values)
    if command:
        out["command"] = command
    if args:
        out["args"] = args
    if name in BACKEND:
        out["envFrom"] = e.env_from()
    if env:
        out["env"] = env
    if ports:
        out["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    out.update(probes(svc.get("healthcheck")))
    out["resources"] = resources(values, name)
    if mounts:
        out["volumeMounts"] = mounts
    return out


def pod_spec(name: str, containers: list[dict], volumes: list[dict]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers}
    if name in BACKEND or name == MIGRATION_JOB:
        spec["securityContext"] = {
            "runAsUser": BACKEND_UID,
            "runAsGroup": BACKEND_UID,
            "fsGroup": BACKEND_UID,
        }
    if volumes:
        spec["volumes"] = volumes
    return spec


def workload(name: str, pod: dict[str, Any], claims: list[dict]) -> dict[str, Any]:
    meta = {"name": k8s_name(name), "labels": labels(name)}
    template = {"metadata": {"labels": labels(name)}, "spec": pod}
    spec: dict[str, Any] = {"replicas": 1, "selector": {"matchLabels": labels(name)}}
    if kind_of(name) == "StatefulSet":
        spec["serviceName"] = k8s_name(name)
        spec["template"] = template
        if claims:
            spec["volumeClaimTemplates"] = claims
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": spec}
    if name == "worker_beat":
        spec["strategy"] = {"type": "Recreate"}
    spec["template"] = template
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def claim(name: str, size: str, shared: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "stack"}},
        "spec": {
            "accessModes": ["ReadWriteMany" if shared else "ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
        },
    }


def job_name(pod: Mapping[str, Any]) -> str:
    """``migrate-<hash>``: a new image or environment is a new Job (Jobs are immutable)."""
    text = json.dumps(pod, sort_keys=True)
    return f"{MIGRATION_JOB}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def migration(image: str, values: Mapping[str, str]) -> tuple[dict, str]:
    """The migration Job (MODE=migration), and its name for api's init container."""
    box = {
        "name": MIGRATION_JOB,
        "image": image,
        "envFrom": e.env_from(),
        "env": [{"name": "MODE", "value": "migration"}],
        "resources": resources(values, "api"),
    }
    pod = pod_spec(MIGRATION_JOB, [box], [])
    pod["restartPolicy"] = "OnFailure"
    name = job_name(pod)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {**labels(MIGRATION_JOB)}},
        "spec": {
            "backoffLimit": 6,
            "template": {"metadata": {"labels": labels(MIGRATION_JOB)}, "spec": pod},
        },
    }
    return job, name


def wait_rbac(job: str) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding that let api's init container read the Job."""
    meta = {"labels": {"app.kubernetes.io/part-of": "stack"}}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "api", **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "migration-reader", **meta},
            "rules": [
                {
                    "apiGroups": ["batch"],
                    "resources": ["jobs"],
                    "resourceNames": [job],
                    "verbs": ["get"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "api-migration-reader", **meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "migration-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "api"}],
        },
    ]


def wait_container(image: str, job: str) -> dict[str, Any]:
    return {
        "name": "wait-for-migration",
        "image": image,
        "command": ["python", "-c", WAIT_SCRIPT],
        "env": [{"name": "JOB", "value": job}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "100m", "memory": "128Mi"},
        },
    }
