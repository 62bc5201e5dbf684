#!/bin/bash
# Entry point of the squid stand-in; like ubuntu/squid: arguments are passed to squid.
set -e

if [ "${1:0:1}" = '-' ]; then
	set -- /usr/sbin/squid "$@"
fi
if [ "$1" = 'squid' ]; then
	shift
	set -- /usr/sbin/squid "$@"
fi

if [ "$1" = '/usr/sbin/squid' ]; then
	mkdir -p /var/spool/squid /var/log/squid /run/squid
	chown -R proxy:proxy /var/spool/squid /var/log/squid /run/squid
	conf=/etc/squid/squid.conf
	prev=
	for a in "$@"; do
		if [ "$prev" = '-f' ]; then conf="$a"; fi
		prev="$a"
	done
	# Create missing swap directories (no-op without cache_dir), like upstream does.
	/usr/sbin/squid -f "$conf" -Nz >/dev/null 2>&1 || true
	rm -f /run/squid/squid.pid
	tail -F /var/log/squid/cache.log 2>/dev/null &
fi

exec "$@"
