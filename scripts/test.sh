#!/bin/bash
# The suite: a throwaway PostgreSQL cluster with a migrated template
# database, then every test file under prove (tests/lib/run-test gives each
# its own database). Arguments: test files to run instead of all of them.
set -euo pipefail

build=${ST_BUILD:-build}
root=$(mktemp -d /tmp/streamer-test.XXXXXX)
chmod 755 "$root"
cleanup() {
	scripts/pg.sh stop "$root/pg" >/dev/null 2>&1 || true
	rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/pg.sh start "$root/pg" --fast
admin=$(scripts/pg.sh url "$root/pg" postgres)
psql "$admin" -Xq -v ON_ERROR_STOP=1 -c 'CREATE DATABASE streamer_template'
template=$(scripts/pg.sh url "$root/pg" streamer_template)
DATABASE_URL=$template "$build/streamerd" migrate >/dev/null
psql "$template" -Xq -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION pgtap' 2>&1 \
	| grep -v NOTICE || true

export ST_BUILD=$build ST_PG_DIR=$root/pg ST_TMP=$root
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ $# -gt 0 ]; then
	tests=("$@")
else
	shopt -s nullglob
	tests=(tests/[0-9][0-9][0-9][0-9]-*.{c,sql,sh,mjs})
fi
prove ${PROVE_FLAGS:-} -j"${ST_JOBS:-2}" --exec tests/lib/run-test "${tests[@]}"
