"""invoke task modules: the thin face of the toolkit.

Each module builds its own ``Collection``; the root ``tasks.py`` assembles them.
Task bodies only wire arguments into ``stack.<layer>`` calls and turn
:class:`stack.errors.StackError` into ``invoke.Exit``.  Nothing here imports
heavy modules at import time, so ``invoke --list`` stays fast.
"""
