#!/usr/bin/env bash
# Init script for mysql-primary, run once by the mariadb image's entrypoint (mounted into
# /docker-entrypoint-initdb.d/) while the temporary, socket-only server is up.
#
# Creates the `paystream` database, the application user `paystream` (password from
# PAYSTREAM_MYSQL_APP_PASSWORD) and the replication user `repl` (PAYSTREAM_MYSQL_REPL_PASSWORD).
# docker-compose.yml sets both from the environment and has no defaults: none ship.
#
# Works whether the entrypoint sources this file (mode 0644, the usual case) or runs it
# (mode 0755): it touches no entrypoint state and only defines underscore-prefixed names.
#
# These statements are written to the binary log on purpose: the replica starts from an
# empty GTID position and replays them, so it gets the same database and users.

_paystream_sql_literal() {
	# Escape a value for a single-quoted SQL string literal.
	local value=${1//\\/\\\\}
	printf '%s' "${value//\'/\'\'}"
}

_paystream_primary_init() {
	local app_password repl_password
	app_password=$(_paystream_sql_literal "${PAYSTREAM_MYSQL_APP_PASSWORD:?PAYSTREAM_MYSQL_APP_PASSWORD is not set}")
	repl_password=$(_paystream_sql_literal "${PAYSTREAM_MYSQL_REPL_PASSWORD:?PAYSTREAM_MYSQL_REPL_PASSWORD is not set}")
	mariadb --protocol=socket --socket="${SOCKET:-/run/mysqld/mysqld.sock}" \
		-uroot --password="${MARIADB_ROOT_PASSWORD}" <<-SQL
		CREATE DATABASE IF NOT EXISTS paystream CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
		CREATE USER IF NOT EXISTS 'paystream'@'%' IDENTIFIED BY '${app_password}';
		CREATE USER IF NOT EXISTS 'paystream'@'localhost' IDENTIFIED BY '${app_password}';
		GRANT ALL PRIVILEGES ON paystream.* TO 'paystream'@'%';
		GRANT ALL PRIVILEGES ON paystream.* TO 'paystream'@'localhost';
		CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '${repl_password}';
		GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
		FLUSH PRIVILEGES;
	SQL
}

_paystream_primary_init || { echo >&2 "paystream: primary init failed"; exit 1; }
echo "paystream: database paystream and users paystream, repl created"
