#!/bin/bash
# `streamerd migrate` on an empty database applies 0001 once; a second run
# (and two at once) change nothing; errors are clear.
set -u
bin=${ST_BUILD:-build}/streamerd
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

empty=${PGDATABASE}_empty
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $empty" -c "CREATE DATABASE $empty"
url="host=$PGHOST user=postgres dbname=$empty"

want=$(for f in migrations/[0-9]*.sql; do echo "applied $(basename "$f" .sql)"; done)
nfiles=$(ls migrations/[0-9]*.sql | wc -l)
out=$(DATABASE_URL=$url "$bin" migrate 2>&1); ok $? "migrate succeeds on an empty database"
[ "$out" = "$want" ]; ok $? "it names each file it applied, in order"
out=$(DATABASE_URL=$url "$bin" migrate 2>&1); ok $? "a second run succeeds"
[ "$out" = "schema is up to date" ]; ok $? "and applies nothing ($out)"
count=$(psql -XAtq "$url" -c "SELECT count(*) FROM streamer.schema_migrations")
[ "$count" = "$nfiles" ]; ok $? "one row per file in schema_migrations"

psql -Xq -d postgres -c "DROP DATABASE $empty WITH (FORCE)" -c "CREATE DATABASE $empty"
DATABASE_URL=$url "$bin" migrate >/dev/null 2>&1 & a=$!
DATABASE_URL=$url "$bin" migrate >/dev/null 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
[ $ra = 0 ] && [ $rb = 0 ]; ok $? "two runners at once both succeed"
count=$(psql -XAtq "$url" -c "SELECT count(*) FROM streamer.schema_migrations")
[ "$count" = "$nfiles" ]; ok $? "and each migration is applied once"

out=$(DATABASE_URL="host=$PGHOST user=postgres dbname=no_such_db" "$bin" migrate 2>&1)
[ $? = 1 ]; ok $? "an unreachable database fails with status 1"
case "$out" in *"cannot connect"*) r=0;; *) r=1;; esac; ok $r "with a clear message"
out=$(env -u DATABASE_URL "$bin" migrate 2>&1)
case "$out" in *"DATABASE_URL is not set"*) r=0;; *) r=1;; esac; ok $r "no DATABASE_URL is a clear error"

psql -Xq -d postgres -c "DROP DATABASE $empty WITH (FORCE)"
echo "1..$n"
exit $fail
