#!/bin/bash
# The libFuzzer targets of streamc (make fuzz), each run for a few seconds
# from a seed corpus: the parser/checker on .stream text, the generated
# decoders on JSON and FlatBuffers bytes. A crash, hang or sanitizer report
# fails the test.
set -u
build=${ST_BUILD:-build}
tmp=$(mktemp -d "${ST_TMP:-/tmp}/fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "1..2"
n=0
run() { # run NAME BINARY SEEDS...
	local name=$1 bin=$2; shift 2
	n=$((n + 1))
	if [ ! -x "$bin" ]; then
		echo "ok $n - $name # SKIP $bin not built (make fuzz needs clang)"
		return
	fi
	mkdir -p "$tmp/$name" "$tmp/seeds-$name"
	cp "$@" "$tmp/seeds-$name/"
	if "$bin" -max_total_time=3 -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$tmp/" "$tmp/$name" "$tmp/seeds-$name" > "$tmp/log" 2>&1; then
		echo "ok $n - $name: $(grep -o 'Done [0-9]* runs' "$tmp/log")"
	else
		echo "not ok $n - $name"
		tail -40 "$tmp/log" | sed 's/^/# /'
	fi
}
run parse "$build/fuzz/parse" tests/codegen/diag/*.stream tests/codegen/spec/*.stream \
	idl/*.stream tests/idl/*.stream
run decode "$build/fuzz/decode" tests/codegen/corpus/*
