"""Render the manifests: pure ``render(inputs, options) -> {relative path: text}``.

One file per workload (its Deployment/StatefulSet, Service, PersistentVolumeClaims and
file ConfigMap), ``env.yaml`` (the shared ConfigMap), ``secrets.yaml`` (the Secrets;
``secrets.env.example`` instead with ``strict``), ``migrate.yaml``, ``ingress.yaml``,
``networkpolicy.yaml``, ``namespace.yaml`` and ``kustomization.yaml`` listing them all.
Every file carries the generated-file header of :mod:`stack.generated`; the output is the
same bytes for the same inputs (keys in a fixed order, no timestamps, no checkout paths).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from stack import generated
from stack.errors import ImageError, StackError
from stack.k8s import env as e
from stack.k8s import network as net
from stack.k8s import workloads as w
from stack.k8s.model import Inputs
from stack.k8s.names import k8s_name, renames

COMMAND = "invoke release.k8s"
SOURCES = ("compose/docker-compose-template.yaml", "env/", "stack/images/catalog.py")


@dataclass(frozen=True)
class Options:
    namespace: str = "stack"
    strict: bool = False
    command: str = COMMAND


def dump(objs: list[dict[str, Any]]) -> str:
    """Block YAML, keys in insertion order, no anchors/aliases, multi-line strings as ``|``."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, text)
    return "---\n".join(
        yaml.dump(
            o,
            Dumper=Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=100,
        )
        for o in objs
    )


def image_of(ref: str, mirrors: dict[str, str]) -> str:
    """The catalog's upstream pin for ``ref``, through the mirror; never a stand-in."""
    from stack.images import catalog
    from stack.images.mirror import rewrite

    if ref.startswith("stack-standin/"):
        raise ImageError(f"{ref}: a local stand-in image cannot go into a manifest")
    return rewrite(catalog.by_ref(ref).ref, mirrors)


def _mounts(name: str, svc: dict[str, Any], files: dict[str, str]):
    mounts: list[dict] = []
    volumes: list[dict] = []
    claims: list[dict] = []
    pvcs: list[str] = []
    items: list[dict] = []
    data: dict[str, str] = {}
    for vol in svc.get("volumes") or []:
        src, target = str(vol.get("source", "")), vol["target"]
        ro = bool(vol.get("read_only"))
        if vol.get("type") == "bind" and not src.startswith("./volumes/") and src.startswith("./"):
            rel = src[2:]
            inside = sorted(k for k in files if k == rel or k.startswith(rel.rstrip("/") + "/"))
            for key in inside:
                data[w.file_key(key)] = files[key]
            if inside == [rel]:
                mount = {"name": "files", "mountPath": target, "subPath": w.file_key(rel)}
            else:
                sub = k8s_name(w.volume_name(src))
                items_for = [
                    {"key": w.file_key(k), "path": k[len(rel) :].lstrip("/")} for k in inside
                ]
                source: dict[str, Any] = (
                    {"configMap": {"name": f"{k8s_name(name)}-files", "items": items_for}}
                    if inside
                    else {"emptyDir": {}}  # a missing directory: compose mounts it empty
                )
                volumes.append({"name": sub, **source})
                mounts.append({"name": sub, "mountPath": target, "readOnly": True})
                continue
            items.append(mount)
            continue
        vname = w.volume_name(src) if src else k8s_name(target.replace("/", "-"))
        mounts.append({"name": vname, "mountPath": target, **({"readOnly": True} if ro else {})})
        if w.kind_of(name) == "StatefulSet":
            claims.append(
                {
                    "metadata": {"name": vname},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "SIZE"}},
                    },
                }
            )
        else:
            volumes.append({"name": vname, "persistentVolumeClaim": {"claimName": vname}})
            pvcs.append(vname)
    if items:
        for m in items:
            m["readOnly"] = True
        mounts = items + mounts
        volumes.insert(0, {"name": "files", "configMap": {"name": f"{k8s_name(name)}-files"}})
    return mounts, volumes, claims, pvcs, data


def render(inputs: Inputs, options: Options = Options()) -> dict[str, str]:
    """Every manifest file, relative path -> full text (header included)."""
    defs, values, services = inputs.defs, inputs.values, inputs.services
    if not w.k8s_name_ok(options.namespace):
        raise StackError(f"--namespace {options.namespace!r} is not a DNS-1123 label")
    mapping = renames(services)
    selected = [s for s in services if s not in w.REPLACED and services[s].get("image")]
    envs = {
        s: {
            k: "" if v is None else str(v)
            for k, v in (services[s].get("environment") or {}).items()
        }
        for s in services
    }
    conf = inputs.files.get(net.NGINX_CONF, "")
    ports = net.used_ports(envs, selected, conf, inputs.hint_ports)
    size = values.get("K8S_VOLUME_SIZE", "10Gi")
    users: Counter[str] = Counter()
    for s in selected:
        for vol in services[s].get("volumes") or []:
            if str(vol.get("source", "")).startswith("./volumes/"):
                users[w.volume_name(vol["source"])] += 1
    files: dict[str, list[dict]] = {}
    backend_image = ""
    made_pvcs: set[str] = set()
    for s in selected:
        svc = services[s]
        image = image_of(svc["image"], inputs.mirrors)
        if s in w.BACKEND:
            backend_image = image
        env = e.container_env(s, envs[s], inputs.sources.get(s, {}), defs, values, mapping)
        mounts, volumes, claims, pvcs, data = _mounts(s, svc, inputs.files)
        for c in claims:
            c["spec"]["resources"]["requests"]["storage"] = size
        box = w.container(s, svc, env, image, ports.get(s, []), values, mounts)
        pod = w.pod_spec(s, [box], volumes)
        objs: list[dict] = [w.workload(s, pod, claims)]
        if s in ports:
            objs.append(net.service(s, ports[s]))
        for p in pvcs:
            if p not in made_pvcs:
                made_pvcs.add(p)
                objs.append(w.claim(p, size, users[p] > 1))
        if data:
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"{k8s_name(s)}-files", "labels": net.labels(s)},
                    "data": data,
                }
            )
        files[f"{k8s_name(s)}.yaml"] = objs
    if backend_image and "api" in selected:
        job, job_name = w.migration(backend_image, values)
        files["migrate.yaml"] = [job, *w.wait_rbac(job_name)]
        api = files["api.yaml"][0]["spec"]["template"]["spec"]
        api["serviceAccountName"] = "api"
        api["initContainers"] = [w.wait_container(backend_image, job_name)]
    files["env.yaml"] = e.objects(defs, values, mapping, strict=True)
    if not options.strict:
        files["secrets.yaml"] = e.objects(defs, values, mapping, strict=False)[1:]
    files["ingress.yaml"] = [net.ingress(conf, values, selected)]
    if "sandbox" in selected and "ssrf_proxy" in ports:
        files["networkpolicy.yaml"] = [net.sandbox_policy(ports["ssrf_proxy"])]
    files["namespace.yaml"] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": options.namespace}}
    ]
    texts = {path: dump(objs) for path, objs in files.items()}
    kust = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": options.namespace,
        "resources": sorted(texts),
    }
    texts["kustomization.yaml"] = dump([kust])
    if options.strict:
        texts["secrets.env.example"] = e.secrets_example(defs, options.namespace)
    return {
        p: generated.render(t, command=options.command, sources=SOURCES)
        for p, t in sorted(texts.items())
    }


def objects(texts: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of a rendering (the kustomization excluded)."""
    import yaml

    out: list[dict[str, Any]] = []
    for path, text in sorted(texts.items()):
        if path.endswith(".yaml") and path != "kustomization.yaml":
            out += [d for d in yaml.safe_load_all(text) if d]
    return out
