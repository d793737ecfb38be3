#!/bin/sh
# A private PostgreSQL cluster in a folder, its Unix socket in that folder,
# no TCP port. PostgreSQL refuses to run as root, so as root the cluster
# belongs to (and runs as) the `postgres` user.
#
#   scripts/pg.sh start DIR [--fast]   create if needed, then start
#   scripts/pg.sh stop DIR             fast shutdown; no process left behind
#   scripts/pg.sh url DIR [DBNAME]     the libpq connection string
#
# --fast turns fsync off: for throwaway test clusters only.
set -eu

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/pg_ctl" ] || bindir=/usr/lib/postgresql/15/bin

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

case "$cmd" in
start)
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		chmod 700 "$dir"
		runuser -u postgres -- test -x "$dir" || {
			echo "$0: the postgres user cannot reach $dir (check the modes of its parents)" >&2
			exit 1; }
	fi
	if [ ! -f "$dir/PG_VERSION" ]; then
		as_pg "$bindir/initdb" -D "$dir" --no-sync -U postgres -A trust \
			-E UTF8 --locale=C >"$dir/../.initdb.log" 2>&1 || {
			cat "$dir/../.initdb.log" >&2; exit 1; }
		rm -f "$dir/../.initdb.log"
		cat >>"$dir/postgresql.conf" <<CONF
# streamer: a private cluster, reachable only through its Unix socket.
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 200
CONF
		[ "${3:-}" = "--fast" ] && cat >>"$dir/postgresql.conf" <<CONF
fsync = off
full_page_writes = off
CONF
	fi
	if as_pg "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		exit 0
	fi
	as_pg "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -s start
	;;
stop)
	[ -f "$dir/PG_VERSION" ] || exit 0
	if as_pg "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		as_pg "$bindir/pg_ctl" -D "$dir" -m fast -w -s stop
	fi
	;;
url)
	echo "host=$dir user=postgres dbname=${3:-postgres}"
	;;
*)
	echo "usage: $0 start|stop|url DIR" >&2
	exit 2
	;;
esac
