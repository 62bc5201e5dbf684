#!/bin/sh
# Entry point of the web stand-in: serve /app/web/public on PORT (3000, as upstream), logging
# requests to stderr. busybox httpd has no TERM handler of its own (as PID 1 it would ignore
# `docker stop` for 10 s), so this shell forwards TERM/INT to it. Extra arguments are run
# instead (e.g. `sh`).
set -e
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
busybox httpd -f -vv -p "0.0.0.0:${PORT:-3000}" -h /app/web/public -c /app/web/httpd.conf &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
wait "$pid" || true
