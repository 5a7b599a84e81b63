#!/usr/bin/env bash
# Health check of the MariaDB containers: `bash healthcheck.sh primary|replica`.
#
# Connects over TCP on purpose: during first-run initialisation the image's temporary
# server listens on the socket only, so a TCP answer means init has finished.
#   primary: the `paystream` database exists.
#   replica: the `paystream` database has arrived through replication and both replication
#            threads (Slave_IO_Running, Slave_SQL_Running) run.
# The port is the client's default (3306), or MYSQL_TCP_PORT when set.
set -euo pipefail

role=${1:?usage: healthcheck.sh primary|replica}
sql() {
	mariadb --protocol=tcp -h 127.0.0.1 -uroot --password="${MARIADB_ROOT_PASSWORD}" \
		--connect-timeout=3 -B "$@"
}

[ "$(sql -N -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'paystream'")" = 1 ]

if [ "$role" = replica ]; then
	# Header line, then one line of values; look both threads up by column name.
	sql -e 'SHOW SLAVE STATUS' | awk -F '\t' '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
		NR == 2 { ok = ($col["Slave_IO_Running"] == "Yes" && $col["Slave_SQL_Running"] == "Yes") }
		END { exit !ok }'
fi
