#!/bin/bash
# /metrics read by an independent parser: the Prometheus project's own
# Python client (Debian's python3-prometheus-client), after real traffic:
# an accepted and a refused handshake, a request over WebSocket.
set -u
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
py=/usr/bin/python3
if ! $py -c 'import prometheus_client' 2>/dev/null; then
	echo "1..0 # SKIP python3-prometheus-client is not installed (make deps)"; exit 0
fi
build=${ST_BUILD:-build}
log=$ST_TMP/streamerd.log
JWT_SECRET=s3cret JWT_ALG=HS256 STREAMER_LISTEN=127.0.0.1:0 "$build/streamerd" >"$log" 2>&1 &
pid=$!
trap 'kill -KILL $pid 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q '"msg":"listening"' "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$log" | head -1)
token=$("$build/streamer-cli" token --secret s3cret --alg HS256 --sub u1 --tenant t1)
upgrade() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
		-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
		-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		"http://127.0.0.1:$port/?Authorization=Bearer%20$1"
}
[ "$(upgrade "$token")" = 101 ]; ok $? "a good token is accepted"
[ "$(upgrade bogus)" = 401 ]; ok $? "a bad one is refused"
node --experimental-websocket --no-warnings --input-type=module -e "
import { StreamerClient } from '$PWD/clients/js/streamer.mjs';
const c = new StreamerClient('ws://127.0.0.1:$port/', { token: '$token', reconnect: false });
await c.connect();
const r = await c.request('echo', { message: 'hi' });
await c.close();
if (r.message !== 'hi') process.exit(1);
"
ok $? "an echo request over WebSocket (the JS client) is answered"
curl -s --max-time 3 "http://127.0.0.1:$port/metrics" > "$ST_TMP/metrics.txt"
ok $? "/metrics answers"

$py - "$ST_TMP/metrics.txt" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
n = 0
def ok(cond, name):
    global n
    n += 1
    print(("ok" if cond else "not ok"), n + 4, "-", name)
text = open(sys.argv[1]).read()
try:
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    ok(True, "the Prometheus parser reads every line")
except Exception as e:
    ok(False, "the Prometheus parser reads every line: %s" % e)
    fams = {}
def has(name, kind):
    f = fams.get(name)
    ok(f is not None and f.type == kind, "%s is a %s" % (name, kind))
    return f
has("streamer_connections_open", "gauge")
has("streamer_messages_in", "counter")
has("streamer_messages_out", "counter")
has("streamer_requests", "counter")
has("streamer_queue_depth", "gauge")
rej = has("streamer_handshakes_rejected", "counter")
total = sum(s.value for s in rej.samples if s.name.endswith("_total")) if rej else 0
ok(total >= 1, "the refused handshake is counted (%s)" % total)
req = fams.get("streamer_requests")
ok(req is not None and any(s.labels.get("action") == "echo" and s.value >= 1
                           for s in req.samples), "the echo request is counted by action")
ok(rej is not None and all("reason" in s.labels for s in rej.samples), "by reason")
for h in ("streamer_handler_duration_seconds", "streamer_request_duration_seconds"):
    f = has(h, "histogram")
    if f:
        names = {s.name for s in f.samples}
        ok({h + "_bucket", h + "_sum", h + "_count"} <= names, h + " has buckets, sum and count")
        inf = [s for s in f.samples if s.name == h + "_bucket" and s.labels.get("le") == "+Inf"]
        cnt = [s for s in f.samples if s.name == h + "_count"]
        ok(len(inf) == len(cnt), h + ": one +Inf bucket per series")
print("1..%d" % (n + 4))
sys.exit(0)
PY
rc=$?
kill -TERM $pid; wait $pid
exit $((fail || rc))
