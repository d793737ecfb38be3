#!/bin/bash
# `make run`: the private database (unless DATABASE_URL is set), migrations,
# a development key (unless a JWT setting is given), then streamerd in the
# foreground. Ctrl-C stops streamerd and the database; nothing is left.
#   scripts/run.sh           serve
#   scripts/run.sh migrate   only bring the schema up to date
set -euo pipefail

build=${ST_BUILD:-build}
data=${STREAMER_DATA:-.data}
mkdir -p "$data"
chmod 755 "$data"
data=$(cd "$data" && pwd)
started_pg=0

stop_all() {
	if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ $started_pg = 1 ]; then
		scripts/pg.sh stop "$data/pg" || true
	fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
	scripts/pg.sh start "$data/pg"
	started_pg=1
	admin=$(scripts/pg.sh url "$data/pg" postgres)
	if [ -z "$(psql "$admin" -XAtq -c "SELECT 1 FROM pg_database WHERE datname = 'streamer'")" ]; then
		psql "$admin" -Xq -c 'CREATE DATABASE streamer'
	fi
	export DATABASE_URL=$(scripts/pg.sh url "$data/pg" streamer)
	echo "streamer: database  psql \"$DATABASE_URL\""
fi

"$build/streamerd" migrate
[ "${1:-}" = migrate ] && exit 0

if [ -z "${JWT_SECRET:-}" ] && [ -z "${JWT_PUBLIC_KEY:-}" ]; then
	key=$data/dev-jwt-secret
	if [ ! -s "$key" ]; then
		(umask 077 && openssl rand -hex 32 > "$key")
	fi
	export JWT_SECRET=$(cat "$key") JWT_ALG=HS256
	echo "streamer: development key in $key (set JWT_SECRET or JWT_PUBLIC_KEY to use your own)"
	if [ -x "$build/streamer-cli" ]; then
		token=$("$build/streamer-cli" token --secret "$JWT_SECRET" --alg HS256 \
			--sub dev --tenant dev --exp 86400)
		listen=${STREAMER_LISTEN:-127.0.0.1:8080}
		echo "streamer: token     $token"
		echo "streamer: connect   ws://$listen/?Authorization=Bearer%20$token"
		echo "streamer: demo      http://$listen/"
	fi
fi

"$build/streamerd" "$@" &
pid=$!
wait "$pid"
