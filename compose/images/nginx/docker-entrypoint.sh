#!/bin/sh
# Entry point of the nginx stand-in: upstream's /docker-entrypoint.d and template handling.
set -e

if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
	if [ "$1" = "nginx-debug" ]; then shift; set -- nginx "$@"; fi
	# Render /etc/nginx/templates/*.template into conf.d, substituting defined env vars only.
	if [ -d /etc/nginx/templates ]; then
		vars=$(printf '${%s} ' $(env | cut -d= -f1))
		for t in /etc/nginx/templates/*.template; do
			[ -f "$t" ] || continue
			out="/etc/nginx/conf.d/$(basename "$t" .template)"
			envsubst "$vars" < "$t" > "$out"
		done
	fi
	for f in /docker-entrypoint.d/*.sh; do
		[ -f "$f" ] || continue
		if [ -x "$f" ]; then "$f"; else echo "ignoring $f, not executable"; fi
	done
fi

exec "$@"
