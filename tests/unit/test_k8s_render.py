"""`invoke release.k8s`: the manifests, their protocol, schemas, ports, probes and secrets.

Uses the real compose binary for `docker compose config` (no engine).
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from stack import generated, paths
from stack.env.parse import load_definitions
from stack.k8s import network, schema
from stack.k8s import release as k
from stack.k8s.names import is_label, k8s_name
from stack.k8s.render import objects
from stack.k8s.workloads import REPLACED


@functools.cache
def rendered(vector_store: str | None = None, db: str | None = None, strict: bool = False):
    return k.build(k.Request(vector_store=vector_store, db=db, strict=strict))


def kinds(objs, kind):
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def test_rendering_is_deterministic_and_carries_the_header() -> None:
    first = k.build(k.Request())
    assert first == rendered()
    for rel, text in first.items():
        assert generated.state(text.encode()) is generated.State.OURS, rel
        assert "invoke release.k8s" in text.split("\n\n", 1)[0]
    assert str(paths.ROOT) not in "".join(first.values())  # no checkout path leaks


def test_committed_rendering_is_up_to_date() -> None:
    req = k.Request()
    targets, owned = k.targets(req, rendered())
    assert generated.check_many(targets, owned).up_to_date


def test_check_reports_a_hand_edit_and_an_extra_file(tmp_path: Path) -> None:
    req = k.Request(output=tmp_path / "out")
    req.output.mkdir()
    targets, owned = k.targets(req, rendered())
    generated.write_many(targets, owned)
    assert generated.check_many(targets, owned).up_to_date
    api = req.output / "api.yaml"
    api.write_text(api.read_text().replace("replicas: 1", "replicas: 3"))
    (req.output / "mine.yaml").write_text("kind: ConfigMap\n")
    result = generated.check_many(targets, owned)
    assert not result.up_to_date
    assert "-  replicas: 3" in result.diff and "+  replicas: 1" in result.diff
    assert any("edited by hand" in p for p in result.problems())
    assert any("mine.yaml" in p and "extra" in p for p in result.problems())


def test_cli_check_fails_with_a_diff_after_a_hand_edit(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    invoke = [sys.executable, "-m", "invoke", "release.k8s", "--output", str(out)]
    subprocess.run(invoke, check=True, cwd=paths.ROOT, capture_output=True)
    ok = subprocess.run([*invoke, "--check"], cwd=paths.ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    web = out / "web.yaml"
    web.write_text(web.read_text().replace("image: ", "image: x"))
    bad = subprocess.run([*invoke, "--check"], cwd=paths.ROOT, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "+        image: langgenius/dify-web" in bad.stdout
    assert "web.yaml was edited by hand" in bad.stdout


@pytest.mark.parametrize(
    "flags",
    [
        ["--namespace", "Bad_NS"],
        ["--vector-store", "nope"],
        ["--db", "oracle9"],
        ["--env-file", "/nonexistent/.env"],
        ["--output", "/nonexistent/dir/k8s"],
    ],
)
def test_bad_flags_fail_before_any_work(flags: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "release.k8s", "--check", *flags],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert flags[0] in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


COMBOS = [
    (None, None),
    ("qdrant", "mysql"),
    ("milvus", None),
    ("opensearch", None),
    ("weaviate", None),
    ("chroma", None),
    ("elasticsearch", None),
    ("oracle", None),
    ("pgvecto-rs", "mysql"),
]


@pytest.mark.parametrize(("store", "db"), COMBOS)
def test_schema_valid_in_strict_mode(store: str | None, db: str | None) -> None:
    objs = objects(rendered(store, db))
    assert schema.validate(objs) == ["1.30", schema.versions()[-1]]
    assert schema.versions()[-1] >= "1.37"


def test_schema_validation_catches_unknown_fields() -> None:
    objs = objects(rendered())
    bad = dict(objs[0], spec={**objs[0]["spec"], "replica": 2})
    assert schema.problems([bad], "1.30")


@pytest.mark.parametrize(("store", "db"), COMBOS)
def test_every_name_is_a_dns_label_and_every_image_service_has_a_workload(store, db) -> None:
    from stack.k8s.model import gather  # noqa: F401  (same inputs as the renderer)

    objs = objects(rendered(store, db))
    for o in objs:
        assert is_label(o["metadata"]["name"].replace(".", "-")), o["metadata"]["name"]
    workloads = {o["metadata"]["name"] for o in objs if o["kind"] in ("Deployment", "StatefulSet")}
    services = compose_services(store, db)
    for name, svc in services.items():
        if svc.get("image") and name not in REPLACED:
            assert k8s_name(name) in workloads, name
    # hosts in the environment use the mapped names
    config = kinds(objs, "ConfigMap")["stack-env"]["data"]
    assert config["DB_HOST"] == ("db-mysql" if db == "mysql" else "db-postgres") or db == "mysql"
    assert config["PLUGIN_DAEMON_URL"].startswith("http://plugin-daemon:")


@functools.cache
def compose_services(store, db):
    from stack.compose import production
    from stack.compose.validate import config

    defs = load_definitions()
    env = {
        "VECTOR_STORE": store or defs["VECTOR_STORE"].default,
        "DB_TYPE": db or defs["DB_TYPE"].default,
    }
    data = config(
        production.build().text,
        project_dir=paths.COMPOSE_DIR,
        profiles=[env["VECTOR_STORE"], env["DB_TYPE"]],
        env=env,
    )
    return data["services"]


@pytest.mark.parametrize(("store", "db"), COMBOS)
def test_every_health_check_becomes_probes(store, db) -> None:
    objs = objects(rendered(store, db))
    boxes = {}
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet"):
            boxes[o["metadata"]["name"]] = o["spec"]["template"]["spec"]["containers"][0]
    for name, svc in compose_services(store, db).items():
        test = (svc.get("healthcheck") or {}).get("test")
        if not test or name in REPLACED:
            continue
        box = boxes[k8s_name(name)]
        argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        for probe in ("readinessProbe", "livenessProbe"):
            assert box[probe]["exec"]["command"] == argv, (name, probe)
            assert box[probe]["failureThreshold"] == svc["healthcheck"]["retries"]


@pytest.mark.parametrize(("store", "db"), COMBOS)
def test_every_port_used_internally_has_a_service(store, db) -> None:
    objs = objects(rendered(store, db))
    ports = {n: {p["port"] for p in s["spec"]["ports"]} for n, s in kinds(objs, "Service").items()}
    services = compose_services(store, db)
    conf = (paths.COMPOSE_DIR / network.NGINX_CONF).read_text()
    for path, svc, port in network.routes(conf):
        if svc in services:
            assert port in ports[k8s_name(svc)], path
    from stack.compose.hints import template_hints

    for name, hint in template_hints().items():
        if name in services and hint.port:
            assert hint.port in ports[k8s_name(name)], name
    assert 5432 in ports.get("db-postgres", ports.get("db-mysql", {5432})) or db == "mysql"
    for rule in kinds(objs, "Ingress")["stack"]["spec"]["rules"][0]["http"]["paths"]:
        backend = rule["backend"]["service"]
        assert backend["port"]["number"] in ports[backend["name"]]


def test_workload_details() -> None:
    objs = objects(rendered())
    deps = kinds(objs, "Deployment")
    beat = deps["worker-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    for name, mode in (("api", "api"), ("worker", "worker"), ("worker-beat", "beat")):
        pod = deps[name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 1001
        assert pod["securityContext"]["fsGroup"] == 1001
        box = pod["containers"][0]
        assert {"name": "MODE", "value": mode} in box["env"]
        assert [next(iter(r)) for r in box["envFrom"]] == ["configMapRef", "secretRef"]
    assert "nginx" not in deps and "init-permissions" not in deps
    job = next(iter(kinds(objs, "Job").values()))
    assert {"name": "MODE", "value": "migration"} in job["spec"]["template"]["spec"]["containers"][
        0
    ]["env"]
    init = deps["api"]["spec"]["template"]["spec"]["initContainers"][0]
    assert {"name": "JOB", "value": job["metadata"]["name"]} in init["env"]
    assert set(kinds(objs, "StatefulSet")) == {"db-postgres", "redis", "pgvector"}
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            for box in o["spec"]["template"]["spec"]["containers"]:
                assert box["resources"]["requests"] and box["resources"]["limits"]
                assert not box["image"].startswith("stack-standin/")
    policy = kinds(objs, "NetworkPolicy")["sandbox-egress"]["spec"]
    assert policy["policyTypes"] == ["Egress"]
    assert (
        policy["egress"][0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        == "ssrf-proxy"
    )


def test_images_are_catalog_pins_through_the_mirror(monkeypatch) -> None:
    from stack.images import catalog

    refs = {e.ref for e in catalog.IMAGES.values()}
    objs = objects(rendered())
    images = {
        b["image"]
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
        for b in o["spec"]["template"]["spec"]["containers"]
    }
    assert images and images <= refs
    monkeypatch.setenv("STACK_REGISTRY_MIRRORS", "docker.io=mirror.test/hub")
    mirrored = k.build(k.Request())
    assert "image: mirror.test/hub/langgenius/dify-api:" in mirrored["api.yaml"]
    assert "image: mirror.test/hub/library/redis:6.2.16-alpine" in mirrored["redis.yaml"]


# milvus is left out: minio's non-secret MINIO_ACCESS_KEY ships the same "minioadmin"
@pytest.mark.parametrize(("store", "db"), [c for c in COMBOS if c[0] != "milvus"])
def test_strict_secrets_render_no_secret_value(store, db) -> None:
    defs = load_definitions()
    texts = rendered(store, db, strict=True)
    assert "secrets.yaml" not in texts and "secrets.env.example" in texts
    assert not [o for o in objects(texts) if o["kind"] == "Secret"]
    strings = list(_strings(objects(texts)))
    assert len(strings) > 500
    # shorter shipped defaults ("dify", "elastic") are ordinary words elsewhere (DB_DATABASE)
    for var in defs.secrets():
        if len(var.default) >= 8:
            assert not [s for s in strings if var.default in s], var.name
    assert "SANDBOX_API_KEY=" in texts["secrets.env.example"]
    # the default rendering keeps the definitions' defaults, like the compose file
    assert "difyai123456" in rendered()["secrets.yaml"]
    assert "difyai123456" not in rendered()["redis.yaml"]  # the command takes $(REDISCLI_AUTH)


def _strings(node, key=""):
    """Every string value of the objects, except image references."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str) and key != "image":
        yield node


def test_https_settings_become_ingress_tls(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "NGINX_HTTPS_ENABLED=true\nNGINX_SERVER_NAME=dify.example.com\n"
        "NGINX_CLIENT_MAX_BODY_SIZE=15M\nNGINX_PROXY_READ_TIMEOUT=2m\n"
    )
    texts = k.build(k.Request(env_file=env_file, namespace="prod"))
    ing = kinds(objects(texts), "Ingress")["stack"]
    assert ing["spec"]["tls"] == [{"hosts": ["dify.example.com"], "secretName": "stack-tls"}]
    assert ing["spec"]["rules"][0]["host"] == "dify.example.com"
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "15M"
    assert notes["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "120"
    assert "namespace: prod" in texts["kustomization.yaml"]
    assert "--namespace prod" in texts["api.yaml"].split("\n\n", 1)[0]
    assert "tls" not in kinds(objects(rendered()), "Ingress")["stack"]["spec"]


def test_output_must_be_new_or_made_by_release_k8s(tmp_path: Path) -> None:
    """The directory is owned (extra files are removed), so a foreign one is refused."""
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes\n")
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "release.k8s", "--output", str(tmp_path)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "--output" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert k.output_problem("--output", tmp_path / "new") is None
    targets, owned = k.targets(k.Request(output=tmp_path), rendered())
    generated.write_many(targets, owned)  # now it is ours (notes.txt backed up, removed)
    assert k.output_problem("--output", tmp_path) is None
    assert (tmp_path / "notes.txt.bak").read_text() == "my notes\n"
