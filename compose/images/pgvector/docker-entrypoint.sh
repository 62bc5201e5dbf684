#!/bin/sh
# Minimal stand-in for the upstream postgres docker-entrypoint.sh.
# Honours POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
# POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default = user), PGDATA,
# POSTGRES_INITDB_ARGS and *.sql / *.sh files in /docker-entrypoint-initdb.d.
set -eu

if [ "${1:-}" != "" ] && [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi

if [ "${1:-}" != "postgres" ]; then
    exec "$@"
fi

if [ "$(id -u)" = "0" ]; then
    mkdir -p "$PGDATA"
    chown -R postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
AUTH="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
# The wheel's client tools (psql, pg_isready, ...) were built with /tmp as their default
# socket directory; upstream's use /var/run/postgresql. The server listens in both, so
# `psql -U postgres` (and init scripts calling psql without -h) work as with upstream.
SOCKETS=/var/run/postgresql,/tmp

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$AUTH" != "trust" ]; then
        echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
        echo "  set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
        exit 1
    fi
    pwfile="$(mktemp)"
    printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
    # shellcheck disable=SC2086
    initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host="$AUTH" \
        ${POSTGRES_INITDB_ARGS:-} > /dev/null
    rm -f "$pwfile"
    printf 'host all all all %s\n' "$AUTH" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$SOCKETS" \
        -w -s start
    if [ "$POSTGRES_DB" != "postgres" ]; then
        psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres -q \
            -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" \
                       -d "$POSTGRES_DB" -q -f "$f" ;;
            *.sh) . "$f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w -s stop
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@" -c listen_addresses='*' -c unix_socket_directories="$SOCKETS"
