#!/bin/sh
# Entry point of the nginx service (mounted read-only as /docker-entrypoint-mount.sh).
#
# 1. Picks the optional parts of the server from the NGINX_* variables and exports them for the
#    templates: HTTPS_CONFIG (NGINX_HTTPS_ENABLED) and ACME_CHALLENGE_LOCATION
#    (NGINX_ENABLE_CERTBOT_CHALLENGE) are an include of a snippet or empty; SSL_CERTIFICATE_PATH
#    and SSL_CERTIFICATE_KEY_PATH name the certbot certificate of CERTBOT_DOMAIN when it
#    exists, else NGINX_SSL_CERT_FILENAME / NGINX_SSL_CERT_KEY_FILENAME in /etc/ssl.
# 2. Renders /etc/nginx/nginx.conf.template into /etc/nginx/nginx.conf.
# 3. Execs the image's own entrypoint with the command: its 20-envsubst-on-templates.sh renders
#    /etc/nginx/templates/**/*.template into /etc/nginx/conf.d/, then nginx starts.
# Both renderings substitute only variables defined in the environment, as the image does.
# POSIX sh (no bash in the upstream image's contract), for the upstream image and the stand-in.
set -eu

fail() {
	echo "nginx entrypoint: error: $*" >&2
	exit 1
}

# The boolean value (true/false) of variable $1, default false; anything else is an error.
boolean() {
	eval "value=\${$1:-false}"
	case "$value" in
		[Tt][Rr][Uu][Ee] | 1 | [Yy][Ee][Ss] | [Oo][Nn]) flag=true ;;
		[Ff][Aa][Ll][Ss][Ee] | 0 | [Nn][Oo] | [Oo][Ff][Ff] | '') flag=false ;;
		*) fail "$1='$value' is not a boolean: set it to true or false in .env" ;;
	esac
}

snippets=/etc/nginx/conf.d/snippets
: "${NGINX_SSL_CERT_FILENAME:=dify.crt}"
: "${NGINX_SSL_CERT_KEY_FILENAME:=dify.key}"
export NGINX_SSL_CERT_FILENAME NGINX_SSL_CERT_KEY_FILENAME

live="/etc/letsencrypt/live/${CERTBOT_DOMAIN:-}"
if [ -n "${CERTBOT_DOMAIN:-}" ] && [ -f "$live/$NGINX_SSL_CERT_FILENAME" ] \
	&& [ -f "$live/$NGINX_SSL_CERT_KEY_FILENAME" ]; then
	certs=$live
else
	certs=/etc/ssl
fi
SSL_CERTIFICATE_PATH="$certs/$NGINX_SSL_CERT_FILENAME"
SSL_CERTIFICATE_KEY_PATH="$certs/$NGINX_SSL_CERT_KEY_FILENAME"
export SSL_CERTIFICATE_PATH SSL_CERTIFICATE_KEY_PATH

boolean NGINX_HTTPS_ENABLED
HTTPS_CONFIG=''
if [ "$flag" = true ]; then
	for file in "$SSL_CERTIFICATE_PATH" "$SSL_CERTIFICATE_KEY_PATH"; do
		[ -r "$file" ] || fail "NGINX_HTTPS_ENABLED=true but $file does not exist: put" \
			"$NGINX_SSL_CERT_FILENAME and $NGINX_SSL_CERT_KEY_FILENAME into nginx/ssl/ beside" \
			"docker-compose.yaml (mounted at /etc/ssl), obtain a certificate for CERTBOT_DOMAIN" \
			"with the certbot service, or set NGINX_HTTPS_ENABLED=false"
	done
	HTTPS_CONFIG="include $snippets/https.conf;"
fi
export HTTPS_CONFIG

boolean NGINX_ENABLE_CERTBOT_CHALLENGE
ACME_CHALLENGE_LOCATION=''
if [ "$flag" = true ]; then
	ACME_CHALLENGE_LOCATION="include $snippets/acme-challenge.conf;"
fi
export ACME_CHALLENGE_LOCATION

# Only variables defined in the environment are substituted (like the image's templates).
defined=$(printf '${%s} ' $(awk 'END { for (name in ENVIRON) print name }' </dev/null))
envsubst "$defined" </etc/nginx/nginx.conf.template >/etc/nginx/nginx.conf

exec /docker-entrypoint.sh "$@"
