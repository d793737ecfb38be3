#!/bin/bash
# The README's five-minute tour, taken from the README itself and run on a
# copy of the tree: the .stream file dropped into idl/ is compiled in by
# `make`, the stub answers NOT_IMPLEMENTED until the README's handler
# replaces it, then streamer-cli gets acknowledgment, progress and the
# result, and the declared error. (Objects are copied along, so only what
# the new service changes is rebuilt.)
set -u
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
build=${ST_BUILD:-build}
src=$ST_TMP/src
mkdir -p "$src"
git ls-files -z | xargs -0 cp --parents -a -t "$src" 2>/dev/null ||
	tar cf - $(git ls-files) | tar xf - -C "$src"
mkdir -p "$src/$(dirname "$build")" && cp -a "$build" "$src/$build"
rm -rf "$src/$build/gen.mk" "$src/$build/test-gen.mk"
san=; [ "$build" = build/san ] && san="SAN=1"
cd "$src"

# Step 1: the .stream file is the README's first ``` block after "1. Declare".
awk '/^\*\*1\. Declare/{f=1} f&&/^```$/{if(in_){exit} in_=1; next} in_' README.md > idl/words.stream
grep -q "action count_words" idl/words.stream; ok $? "the README's .stream file is extracted"

# Step 2: make gen writes the stub.
make -s gen $san >/dev/null 2>&1; ok $? "make gen compiles it"
grep -q "ST_E_NOT_IMPLEMENTED" handlers/words.c; ok $? "and writes a stub answering NOT_IMPLEMENTED"

start() {
	log=$ST_TMP/streamerd.$1.log
	JWT_SECRET=tour JWT_ALG=HS256 STREAMER_LISTEN=127.0.0.1:0 STREAMER_STATIC= \
		"$build/streamerd" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q '"msg":"listening"' "$log" && break; sleep 0.1; done
	port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$log" | head -1)
	export STREAMER_URL=ws://127.0.0.1:$port/
}
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
trap 'kill -KILL ${pid:-0} 2>/dev/null' EXIT
export STREAMER_TOKEN=$("$build/streamer-cli" token --secret tour --alg HS256 --sub u --tenant t)

make -s all $san >/dev/null 2>&1; ok $? "make builds streamerd with the new service"
start stub
out=$("$build/streamer-cli" request count_words '{"text":"a b"}' 2>/dev/null)
echo "$out" | grep -q '"code":"NOT_IMPLEMENTED"'; ok $? "the stub answers NOT_IMPLEMENTED"
stop

# Step 3: the handler is the README's ```c block, with <unistd.h>.
awk '/^```c$/{f=1; next} f&&/^```$/{exit} f' README.md > "$ST_TMP/handler.c"
{ printf '#include <unistd.h>\n\n#include "words.h"\n\n'; cat "$ST_TMP/handler.c"; } > handlers/words.c
make -s all $san >/dev/null 2>&1; ok $? "the README's handler compiles with -Werror"

# Step 5: call it and watch progress.
start impl
text=$(yes lorem ipsum | head -c 20000 | tr '\n' ' ')
out=$("$build/streamer-cli" request count_words "{\"text\":\"$text\"}" 2>/dev/null); rc=$?
[ $rc = 0 ]; ok $? "count_words completes (exit $rc)"
[ "$(echo "$out" | head -1 | grep -c '"type":"acknowledgment"')" = 1 ]; ok $? "acknowledged first"
p=$(echo "$out" | grep -c '"type":"progress"')
[ "$p" -ge 2 ]; ok $? "with progress messages ($p)"
echo "$out" | tail -1 | grep -q '"type":"complete".*"data":{"words":3334}'
ok $? "and the word count (3334) last"
out=$("$build/streamer-cli" request count_words '{"text":"   "}' 2>/dev/null)
echo "$out" | grep -q '"code":"TEXT_EMPTY"'; ok $? "the declared error TEXT_EMPTY comes back"
out=$("$build/streamer-cli" request count_words '{"text":""}' 2>/dev/null)
echo "$out" | grep -q '"field":"payload.text"'; ok $? "an empty text is a VALIDATION_ERROR on payload.text"

# Step 6: what psql shows.
v=$(psql -XAtq -c "SELECT status || ' ' || (result->>'words') FROM streamer.requests
	WHERE action = 'count_words' AND status = 'completed'")
[ "$v" = "completed 3334" ]; ok $? "psql shows the completed request and its result ($v)"
stop
echo "1..$n"
exit $fail
