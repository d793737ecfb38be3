#!/bin/bash
# streamc's diagnostics, rule by rule. Each case under tests/codegen/diag/
# (a .stream file, or a folder of them compiled together) carries the exact
# diagnostics it must produce as comment lines
#     //! LINE:COL: error: message
# where LINE may be relative to the comment's own line (-1: the line above).
# streamc must print exactly those (as FILE:LINE:COL: ...), exit 1, and
# leave its output folders untouched (here: not even created).
set -u
build=${ST_BUILD:-build}
streamc=$(cd "$build" && pwd)/streamc
tmp=$(mktemp -d "${ST_TMP:-/tmp}/diag.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

shopt -s nullglob
cases=(tests/codegen/diag/*)
echo "1..$((${#cases[@]} * 2))"
n=0
for c in "${cases[@]}"; do
	if [ -d "$c" ]; then
		dir=$c
		files=$(cd "$c" && ls *.stream)
	else
		dir=$(dirname "$c")
		files=$(basename "$c")
	fi
	for f in $files; do
		awk -v f="$f" '
			/^\/\/! / {
				split(substr($0, 5), p, ":")
				l = p[1]
				if (l ~ /^[-+]/) l = NR + l
				rest = substr($0, 5 + length(p[1]) + 1)
				print f ":" l ":" rest
			}' "$dir/$f"
	done | LC_ALL=C sort > "$tmp/want"
	(cd "$dir" && "$streamc" -o "$tmp/out" --handlers "$tmp/h" $files) \
		2> "$tmp/got.raw" > /dev/null
	rc=$?
	LC_ALL=C sort "$tmp/got.raw" > "$tmp/got"
	n=$((n + 1))
	if cmp -s "$tmp/want" "$tmp/got"; then
		echo "ok $n - $c: diagnostics"
	else
		echo "not ok $n - $c: diagnostics"
		diff "$tmp/want" "$tmp/got" | sed 's/^/# /'
	fi
	n=$((n + 1))
	if [ $rc -eq 1 ] && [ ! -e "$tmp/out" ] && [ ! -e "$tmp/h" ]; then
		echo "ok $n - $c: exit 1, nothing written"
	else
		echo "not ok $n - $c: exit 1, nothing written (rc=$rc)"
	fi
	rm -rf "$tmp/out" "$tmp/h"
done
