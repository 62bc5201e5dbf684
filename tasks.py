"""invoke entry point: assembles each task module's own Collection.

Run `invoke --list` for the tasks; the logic lives in the `stack` package.
"""

from invoke import Collection

from stack.tasks import release

ns = Collection()
ns.add_collection(release.ns)
