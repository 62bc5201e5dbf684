"""invoke entry point: assembles each task module's own Collection.

Run `invoke --list` for the tasks; the logic lives in the `stack` package.
"""

from invoke import Collection

from stack.tasks import dev, engine, env, images, release, run
from stack.tasks.doctor import doctor

ns = Collection()
for module in (engine, images, dev, run, env, release):
    ns.add_collection(module.ns)
ns.add_task(doctor)
