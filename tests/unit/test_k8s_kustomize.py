"""`kubectl kustomize` builds the committed manifests and the documented overlay (offline)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stack.k8s import release as k
from stack.k8s.render import objects

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) not installed")


def build(directory: Path) -> list[dict]:
    proc = subprocess.run(
        [KUBECTL or "kubectl", "kustomize", str(directory)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def test_committed_rendering_builds_with_kustomize() -> None:
    built = build(k.DEFAULT_OUTPUT)
    committed = {p.name: p.read_text() for p in k.DEFAULT_OUTPUT.iterdir()}
    assert len(built) == len(objects(committed))
    for obj in built:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "stack", obj["metadata"]["name"]


# The overlay CONTRIBUTING.md shows: another namespace, an external managed PostgreSQL.
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: prod
resources:
  - {base}
patches:
  - patch: |
      $patch: delete
      apiVersion: apps/v1
      kind: StatefulSet
      metadata:
        name: db-postgres
  - patch: |
      $patch: delete
      apiVersion: v1
      kind: Service
      metadata:
        name: db-postgres
  - patch: |
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: stack-env
      data:
        DB_HOST: postgres.example.internal
"""


def test_documented_overlay_switches_to_an_external_database(tmp_path: Path) -> None:
    base = os.path.relpath(k.DEFAULT_OUTPUT, tmp_path)  # kustomize wants a relative base
    (tmp_path / "kustomization.yaml").write_text(OVERLAY.format(base=base))
    built = build(tmp_path)
    names = {(o["kind"], o["metadata"]["name"]) for o in built}
    assert ("StatefulSet", "db-postgres") not in names
    assert ("Deployment", "api") in names
    env = next(
        o for o in built if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "stack-env"
    )
    assert env["data"]["DB_HOST"] == "postgres.example.internal"
    assert env["metadata"]["namespace"] == "prod"
    daemon = next(
        o for o in built if o["kind"] == "Deployment" and o["metadata"]["name"] == "plugin-daemon"
    )
    box = daemon["spec"]["template"]["spec"]["containers"][0]
    host = next(e for e in box["env"] if e["name"] == "DB_HOST")
    assert host["valueFrom"]["configMapKeyRef"] == {"name": "stack-env", "key": "DB_HOST"}
