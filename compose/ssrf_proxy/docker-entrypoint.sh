#!/bin/sh
# Entry point of the ssrf_proxy service (mounted as /docker-entrypoint-mount.sh).
# Fills /etc/squid/squid.conf from squid.conf.template with the service's environment
# (HTTP_PORT, COREDUMP_DIR, REVERSE_PROXY_PORT, SANDBOX_HOST, SANDBOX_PORT), then runs
# squid in the foreground. POSIX sh + sed only, so it works on the upstream image and on
# the offline stand-in alike.
set -e

escape() { printf '%s' "$1" | sed -e 's/[\/&|]/\\&/g'; }

sed \
  -e "s|\${HTTP_PORT}|$(escape "${HTTP_PORT:-3128}")|g" \
  -e "s|\${COREDUMP_DIR}|$(escape "${COREDUMP_DIR:-/var/spool/squid}")|g" \
  -e "s|\${REVERSE_PROXY_PORT}|$(escape "${REVERSE_PROXY_PORT:-8194}")|g" \
  -e "s|\${SANDBOX_HOST}|$(escape "${SANDBOX_HOST:-sandbox}")|g" \
  -e "s|\${SANDBOX_PORT}|$(escape "${SANDBOX_PORT:-8194}")|g" \
  /etc/squid/squid.conf.template > /etc/squid/squid.conf

for dir in /var/spool/squid /var/log/squid /run/squid; do
  mkdir -p "$dir"
  chown -R proxy:proxy "$dir" 2>/dev/null || true
done
rm -f /run/squid.pid /run/squid/squid.pid
/usr/sbin/squid -f /etc/squid/squid.conf -Nz >/dev/null 2>&1 || true
exec /usr/sbin/squid -f /etc/squid/squid.conf -NYC
