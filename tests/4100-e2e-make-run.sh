#!/bin/bash
# scripts/run.sh (what `make run` runs after building): a private cluster
# when DATABASE_URL is unset, migrations, a development key and a token
# that the server accepts; Ctrl-C stops everything, leaving no process.
# With DATABASE_URL set it uses (and migrates) that database instead.
set -u
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
data=$ST_TMP/data
out=$ST_TMP/run.out

# Starts run.sh in its own process group; waits for the listening line.
start() {
	setsid env STREAMER_DATA="$data" STREAMER_LISTEN=127.0.0.1:0 "$@" scripts/run.sh >"$out" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q '"msg":"listening"' "$out" && break
		sleep 0.1
	done
	port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$out" | head -1)
}
stop() {
	kill -INT -- -"$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
trap 'kill -KILL -- -"${pid:-0}" 2>/dev/null; scripts/pg.sh stop "$data/pg" >/dev/null 2>&1' EXIT

start env -u DATABASE_URL -u JWT_SECRET -u JWT_PUBLIC_KEY
[ -n "$port" ]; ok $? "streamerd listens (port ${port:-none})"
[ -f "$data/pg/PG_VERSION" ]; ok $? "a private cluster was created in the data folder"
grep -q "applied 0001_init" "$out"; ok $? "migrations were applied"
[ -s "$data/dev-jwt-secret" ] && [ "$(stat -c %a "$data/dev-jwt-secret")" = 600 ]
ok $? "a development key was made, readable only by its owner"
token=$(sed -n 's/^streamer: token *//p' "$out")
[ -n "$token" ]; ok $? "a token is printed"
upgrade() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
		-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
		-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		"http://127.0.0.1:$port/?Authorization=Bearer%20$1"
}
[ "$(upgrade "$token")" = 101 ]; ok $? "the printed token opens a WebSocket"
[ "$(upgrade "x$token")" = 401 ]; ok $? "a spoiled one is refused"
[ "$(curl -s --max-time 3 "http://127.0.0.1:$port/healthz")" = ok ]; ok $? "/healthz is ok"
stop
! kill -0 "$pid" 2>/dev/null; ok $? "Ctrl-C stops run.sh"
left=$(pgrep -f -- "-D $data/pg" | wc -l)
[ "$left" = 0 ]; ok $? "no PostgreSQL process is left behind"
left=$(pgrep -g "$pid" | wc -l)
[ "$left" = 0 ]; ok $? "no streamerd process is left behind"

# Second run: the same key and cluster are reused.
secret=$(cat "$data/dev-jwt-secret")
start env -u DATABASE_URL -u JWT_SECRET -u JWT_PUBLIC_KEY
[ "$(cat "$data/dev-jwt-secret")" = "$secret" ]; ok $? "a second run keeps the key"
grep -q "schema is up to date" "$out"; ok $? "and finds the schema up to date"
stop

# With DATABASE_URL: that database, migrated; no private cluster.
rm -rf "$data"
psql -Xq -d postgres -c "CREATE DATABASE ${PGDATABASE}_run"
start env DATABASE_URL="host=$PGHOST user=postgres dbname=${PGDATABASE}_run" JWT_SECRET=s3cret
[ -n "$port" ]; ok $? "with DATABASE_URL, streamerd listens"
[ ! -e "$data/pg" ]; ok $? "no private cluster is made"
v=$(psql -XAtq -d "${PGDATABASE}_run" -c "SELECT count(*) FROM streamer.schema_migrations")
[ "$v" = "$(ls migrations/[0-9]*.sql | wc -l)" ]; ok $? "that database was migrated"
! grep -q "development key" "$out"; ok $? "JWT_SECRET given: no development key"
stop
psql -Xq -d postgres -c "DROP DATABASE ${PGDATABASE}_run WITH (FORCE)"

echo "1..$n"
exit $fail
