"""Image tasks: build offline stand-ins, list the catalog and what is present locally."""

from __future__ import annotations

from invoke import Collection, task

from stack.tasks._common import failures


@task(
    iterable=["only"],
    help={
        "only": "Build only this stand-in recipe (repeatable), e.g. --only postgres --only redis.",
        "jobs": "Parallel builds (default: up to the number of CPUs).",
    },
)
def build(c, only=None, jobs=None):
    """Build offline stand-in images (stack-standin/<recipe>:<hash>) from compose/images/.

    Builds the Debian base first if needed (debootstrap from the host's apt mirror).
    Cached by recipe hash: an unchanged recipe is skipped almost instantly.
    """
    import time

    from stack import argcheck as a
    from stack.images.build import available_recipes
    from stack.images.build import build as do_build

    with failures():
        recipes = available_recipes()
        a.raise_all(
            a.number("--jobs", jobs, low=1, high=64, integer=True),
            *(a.not_utf8("--only", n) or a.choice("--only", n, recipes) for n in only or ()),
        )
        t0 = time.monotonic()
        results = do_build(only or None, jobs=int(jobs) if jobs else None)
        width = max((len(r.name) for r in results), default=4)
        for r in results:
            state = "cached" if r.cached else f"built in {r.seconds:.1f} s"
            print(f"{r.name:<{width}}  {r.ref:<40}  {state}")
        print(f"{len(results)} stand-in(s) ready in {time.monotonic() - t0:.1f} s")


@task(help={"json": "Print JSON instead of a table."})
def list_(c, json=False):
    """List the pinned image catalog: ref, stand-in, its version, what is present locally.

    `present` is upstream / mirror / standin (a local copy exists) or missing;
    with STACK_OFFLINE=1 a missing image cannot be pulled: run the shown remedy.
    """
    import os

    from stack.images.build import image_labels
    from stack.images.catalog import IMAGES
    from stack.images.mirror import mirrors_from_env
    from stack.images.resolve import local_images, offline, present_checker, resolve

    with failures():
        present = present_checker(local_images())
        mirrors = mirrors_from_env(os.environ)
        rows = []
        resolutions = {
            e.name: resolve(e, offline=True, mirrors=mirrors, present=present)
            for e in IMAGES.values()
        }
        built = [r.ref_to_use for r in resolutions.values() if r.kind == "standin"]
        actual = {ref: lab.get("org.stack.version", "") for ref, lab in image_labels(built).items()}
        for entry in IMAGES.values():
            res = resolutions[entry.name]
            version = actual.get(res.ref_to_use) or entry.standin_version or "-"
            rows.append(
                {
                    "name": entry.name,
                    "ref": entry.ref,
                    "standin": entry.standin or "-",
                    "standin_version": version if entry.standin else "-",
                    "present": res.kind,
                    "use": res.ref_to_use if res.kind != "missing" else "-",
                }
            )
        if json:
            import json as jsonlib

            print(jsonlib.dumps(rows, indent=2))
            return
        cols = ["name", "ref", "standin", "standin_version", "present"]
        widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in cols}
        print("  ".join(k.upper().ljust(widths[k]) for k in cols))
        for r in rows:
            print("  ".join(r[k].ljust(widths[k]) for k in cols))
        missing = [r for r in rows if r["present"] == "missing"]
        mode = "offline" if offline() else "online (missing images would be pulled)"
        print(f"\n{len(rows) - len(missing)}/{len(rows)} present locally; mode: {mode}")
        buildable = [r["standin"] for r in missing if r["standin"] != "-"]
        if buildable:
            print(
                "build the missing stand-ins: invoke images.build "
                + " ".join(f"--only {n}" for n in dict.fromkeys(buildable))
            )


ns = Collection("images")
ns.add_task(build)
ns.add_task(list_, name="list")
