#!/bin/sh
# Entry point of the redis stand-in; mirrors the upstream image's behaviour.
set -e

# first arg is `-f` or `--some-option`, or a .conf file
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	# Upstream builds redis with protected mode off (useless behind docker networking);
	# keep that default but let a config file or later options override it.
	shift
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
		conf="$1"; shift
		set -- redis-server "$conf" --protected-mode no "$@"
	else
		set -- redis-server --protected-mode no "$@"
	fi
fi

umask 0077
exec "$@"
