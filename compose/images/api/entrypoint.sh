#!/bin/sh
# Entry point of the api stand-in (in place of langgenius/dify-api's /entrypoint.sh):
# MODE=api|worker|beat|migration picks the command from the one MODE table
# (stack/run/modes.py), the same table `invoke run.*` uses on the host.
set -e
exec python -m stack.run.entrypoint "$@"
