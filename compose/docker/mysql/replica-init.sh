#!/usr/bin/env bash
# Init script for mysql-replica, run once by the mariadb image's entrypoint (mounted into
# /docker-entrypoint-initdb.d/) while the temporary, socket-only server is up.
#
# Waits until mysql-primary accepts the replication user, then points this server at it
# with GTID-based replication and starts the replica threads. The replica starts from an
# empty gtid_slave_pos, so it replays the primary's whole binary log, including the
# CREATE DATABASE / CREATE USER statements of primary-init.sh: nothing is created locally,
# which keeps the replica's own binary log free of server-id 2 GTIDs that gtid_strict_mode
# would reject later.
#
# The replica settings are persisted (master.info, relay-log.info), so the real server
# started after init resumes replication on its own.
#
# Works whether the entrypoint sources this file (mode 0644, the usual case) or runs it
# (mode 0755): it touches no entrypoint state and only defines underscore-prefixed names.

_paystream_sql_literal() {
	local value=${1//\\/\\\\}
	printf '%s' "${value//\'/\'\'}"
}

_paystream_replica_init() {
	local host=${PAYSTREAM_MYSQL_PRIMARY_HOST:-mysql-primary}
	local port=${PAYSTREAM_MYSQL_PRIMARY_PORT:-3306}
	local password=${PAYSTREAM_MYSQL_REPL_PASSWORD:?PAYSTREAM_MYSQL_REPL_PASSWORD is not set}
	local waited=0 limit=${PAYSTREAM_MYSQL_PRIMARY_WAIT_S:-180}

	echo "paystream: waiting for the primary at ${host}:${port} (up to ${limit}s)"
	until mariadb --protocol=tcp -h "$host" -P "$port" -urepl --password="$password" \
		--connect-timeout=3 -e 'SELECT 1' >/dev/null 2>&1; do
		if [ "$waited" -ge "$limit" ]; then
			echo >&2 "paystream: primary ${host}:${port} did not accept user repl within ${limit}s"
			return 1
		fi
		sleep 2
		waited=$((waited + 2))
	done

	mariadb --protocol=socket --socket="${SOCKET:-/run/mysqld/mysqld.sock}" \
		-uroot --password="${MARIADB_ROOT_PASSWORD}" <<-SQL
		STOP SLAVE;
		CHANGE MASTER TO
		  MASTER_HOST='$(_paystream_sql_literal "$host")',
		  MASTER_PORT=${port},
		  MASTER_USER='repl',
		  MASTER_PASSWORD='$(_paystream_sql_literal "$password")',
		  MASTER_USE_GTID=slave_pos,
		  MASTER_CONNECT_RETRY=5;
		START SLAVE;
	SQL
}

_paystream_replica_init || { echo >&2 "paystream: replica init failed"; exit 1; }
echo "paystream: replication from the primary configured and started"
