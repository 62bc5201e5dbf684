#!/bin/bash
# Entry point of the mysql stand-in (MariaDB); mirrors the upstream image's behaviour.
set -Eeo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

if [ "${1:0:1}" = '-' ]; then
	set -- mysqld "$@"
fi

if [ "$1" = 'mysqld' ] || [ "$1" = 'mariadbd' ]; then
	# MySQL-only options MariaDB would refuse to start with.
	args=()
	for a in "${@:2}"; do
		case "$a" in
			--default-authentication-plugin*|--default_authentication_plugin*|--mysqlx*|--skip-mysqlx|--mysql-native-password*|--mysql_native_password*)
				echo "[stand-in] ignoring MySQL-only option $a" >&2 ;;
			*) args+=("$a") ;;
		esac
	done
	set -- mariadbd "${args[@]}"
fi

if [ "$1" = 'mariadbd' ] && [ "$(id -u)" = '0' ]; then
	mkdir -p "$DATADIR" /run/mysqld
	chown -R mysql:mysql "$DATADIR" /run/mysqld
	exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi

sql_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }

if [ "$1" = 'mariadbd' ] && [ ! -d "$DATADIR/mysql" ]; then
	if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] \
		&& [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		echo >&2 'error: database is uninitialized and password option is not specified'
		echo >&2 '  You need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD'
		exit 1
	fi
	if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
		MYSQL_ROOT_PASSWORD="$(head -c 18 /dev/urandom | base64)"
		echo "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
	fi
	echo "[stand-in] initialising database in $DATADIR"
	mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
		--auth-root-authentication-method=normal --skip-name-resolve >/dev/null
	"$@" --skip-networking --socket="$SOCKET" &
	pid=$!
	for _ in $(seq 1 300); do
		if mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1; then break; fi
		sleep 0.1
	done
	rootpw="$(sql_escape "${MYSQL_ROOT_PASSWORD:-}")"
	{
		echo "SET @@SESSION.SQL_LOG_BIN=0;"
		echo "DELETE FROM mysql.user WHERE user NOT IN ('mysql.sys', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '${rootpw}';"
		echo "CREATE USER 'root'@'%' IDENTIFIED BY '${rootpw}';"
		echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
		if [ -n "${MYSQL_DATABASE:-}" ]; then
			echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;"
		fi
		if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ] && [ "$MYSQL_USER" != root ]; then
			echo "CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
			if [ -n "${MYSQL_DATABASE:-}" ]; then
				echo "GRANT ALL ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';"
			fi
		fi
		echo "FLUSH PRIVILEGES;"
	} | mariadb --socket="$SOCKET" -uroot
	mysql=(mariadb --socket="$SOCKET" -uroot --password="${MYSQL_ROOT_PASSWORD:-}")
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) echo "running $f"; . "$f" ;;
			*.sql) echo "running $f"; "${mysql[@]}" ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} < "$f" ;;
			*.sql.gz) echo "running $f"; gunzip -c "$f" | "${mysql[@]}" ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} ;;
			*) : ;;
		esac
	done
	kill -TERM "$pid"
	wait "$pid" || true
	{
		echo "image=stack-standin/mysql"
		echo "substitutes=mysql:8.0.40"
		echo "software=$(cat /etc/stack-standin.version 2>/dev/null || echo mariadb)"
		echo "created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} > "$DATADIR/.stack-image"
	echo "[stand-in] init complete; ready for start up."
fi

exec "$@"
