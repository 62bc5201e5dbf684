"""The single list of pinned upstream images the stack uses, with their offline stand-ins.

Every ``ref`` carries an explicit version tag (``latest`` is not a pin).  ``standin`` names a
recipe under ``compose/images/<standin>/`` built as ``stack-standin/<standin>:<hash12>``;
``standin_version`` is the version of the software that stand-in really runs.  ``folds``
lists other catalog entries a stand-in replaces in the same container (milvus folds etcd
and minio).
"""

from __future__ import annotations

from dataclasses import dataclass

from stack.errors import ImageError


@dataclass(frozen=True)
class ImageEntry:
    """One pinned upstream image and its offline substitute, if any."""

    name: str
    ref: str
    standin: str | None
    standin_version: str | None
    folds: tuple[str, ...] = ()
    notes: str = ""


DIFY_VERSION = "1.11.4"

_ENTRIES = [
    ImageEntry(
        "busybox",
        "busybox:1.36.1",
        "busybox",
        "Debian busybox-static 1.35.0",
        notes="init_permissions one-shot (sh, chown, touch, echo)",
    ),
    ImageEntry(
        "api",
        f"langgenius/dify-api:{DIFY_VERSION}",
        "api",
        "stack reference backend (stack/app: Flask/gunicorn, Celery)",
        notes="api/worker/beat image; the stand-in runs the reference backend by MODE",
    ),
    ImageEntry(
        "web",
        f"langgenius/dify-web:{DIFY_VERSION}",
        "web",
        "Debian busybox-static 1.35.0 httpd (the page in compose/images/web)",
        notes="a small page of the platform (dataset, ingest, search) on 3000",
    ),
    ImageEntry("nginx", "nginx:1.27.3", "nginx", "Debian nginx-light 1.22.1"),
    ImageEntry("sandbox", "langgenius/dify-sandbox:0.2.12", None, None),
    ImageEntry("plugin_daemon", "langgenius/dify-plugin-daemon:0.5.2-local", None, None),
    ImageEntry(
        "squid", "ubuntu/squid:6.6-24.04_edge", "squid", "Debian squid 5.7", notes="ssrf_proxy"
    ),
    ImageEntry("postgres", "postgres:15-alpine", "postgres", "Debian postgresql-15 15.x"),
    ImageEntry(
        "mysql",
        "mysql:8.0.40",
        "mysql",
        "Debian mariadb-server 10.11",
        notes="MariaDB speaks the MySQL protocol; data dirs are not interchangeable",
    ),
    ImageEntry("redis", "redis:6.2.16-alpine", "redis", "Debian redis-server 7.0"),
    ImageEntry("certbot", "certbot/certbot:v3.0.1", None, None),
    ImageEntry(
        "weaviate",
        "semitechnologies/weaviate:1.28.5",
        None,
        None,
        notes="no offline server package",
    ),
    ImageEntry("qdrant", "qdrant/qdrant:v1.7.3", None, None, notes="no offline server package"),
    ImageEntry(
        "etcd", "quay.io/coreos/etcd:v3.5.5", None, None, notes="folded into the milvus stand-in"
    ),
    ImageEntry(
        "minio",
        "minio/minio:RELEASE.2023-03-20T20-16-18Z",
        None,
        None,
        notes="folded into the milvus stand-in",
    ),
    ImageEntry(
        "milvus",
        "milvusdb/milvus:v2.3.5",
        "milvus",
        "milvus 2.3.5 (PyPI milvus server)",
        folds=("etcd", "minio"),
    ),
    ImageEntry("chroma", "chromadb/chroma:1.5.9", "chroma", "chromadb 1.5.9"),
    ImageEntry(
        "pgvector",
        "pgvector/pgvector:0.8.0-pg16",
        "pgvector",
        "PostgreSQL 16 + pgvector 0.8.x (PyPI pgserver wheel)",
    ),
    ImageEntry("pgvecto-rs", "tensorchord/pgvecto-rs:pg16-v0.2.1", None, None),
    ImageEntry(
        "opensearch",
        "opensearchproject/opensearch:2.18.0",
        None,
        None,
        notes="no offline server package",
    ),
    ImageEntry(
        "elasticsearch",
        "docker.elastic.co/elasticsearch/elasticsearch:8.14.3",
        None,
        None,
        notes="no offline server package",
    ),
    ImageEntry("oracle", "container-registry.oracle.com/database/free:23.5.0.0", None, None),
]

IMAGES: dict[str, ImageEntry] = {e.name: e for e in _ENTRIES}

STANDIN_RECIPES: tuple[str, ...] = (
    "postgres",
    "redis",
    "mysql",
    "nginx",
    "squid",
    "busybox",
    "pgvector",
    "chroma",
    "milvus",
    "api",
    "web",
)


def get(name: str) -> ImageEntry:
    """Catalog entry by name; ImageError listing the known names otherwise."""
    try:
        return IMAGES[name]
    except KeyError:
        raise ImageError(
            f"unknown image {name!r}", hint="known: " + ", ".join(sorted(IMAGES))
        ) from None


def by_ref(ref: str) -> ImageEntry:
    """Catalog entry whose pinned ``ref`` equals ``ref`` (Docker Hub forms normalised)."""
    from stack.images.mirror import parse_ref

    want = parse_ref(ref)
    for entry in IMAGES.values():
        if entry.ref == ref or parse_ref(entry.ref) == want:
            return entry
    raise ImageError(
        f"image {ref!r} is not in the catalog (stack/images/catalog.py)",
        hint="add a pinned entry to stack/images/catalog.py",
    )


def by_standin(recipe: str) -> list[ImageEntry]:
    """Catalog entries substituted by stand-in ``recipe``."""
    return [e for e in IMAGES.values() if e.standin == recipe]


def validate() -> list[str]:
    """Problems with the catalog itself (unpinned refs, unknown folds/recipes)."""
    from stack.images.mirror import parse_ref

    problems: list[str] = []
    for e in IMAGES.values():
        r = parse_ref(e.ref)
        if not r.tag or r.tag == "latest":
            problems.append(f"{e.name}: {e.ref!r} has no version tag (latest is not a pin)")
        for f in e.folds:
            if f not in IMAGES:
                problems.append(f"{e.name}: folds unknown entry {f!r}")
        if e.standin and e.standin not in STANDIN_RECIPES:
            problems.append(f"{e.name}: unknown stand-in recipe {e.standin!r}")
        if bool(e.standin) != bool(e.standin_version):
            problems.append(f"{e.name}: standin and standin_version must be set together")
    return problems
