#!/bin/bash
# A host name of 60 characters still gives a working node: the node id
# keeps 20 of them (it is part of a NOTIFY channel name), the async engine
# starts and registers the node. It once refused to start and streamerd
# carried on without it, answering every async action SERVICE_UNAVAILABLE.
set -u
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
if ! unshare --uts true 2>/dev/null; then echo "1..0 # SKIP needs unshare --uts (root)"; exit 0; fi
host=$(printf 'h%.0s' $(seq 60))
log=$ST_TMP/streamerd.log
unshare --uts bash -c "hostname $host && exec env JWT_SECRET=s JWT_ALG=HS256 \
	STREAMER_LISTEN=127.0.0.1:0 ${ST_BUILD:-build}/streamerd" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '"msg":"started"' "$log" && break; sleep 0.1; done
grep -q '"msg":"started"' "$log"; ok $? "streamerd starts on a host with a long name"
node=$(psql -XAtq -c "SELECT node_id FROM streamer.nodes")
case "$node" in hhhhhhhhhhhhhhhhhhhh-*) r=0;; *) r=1;; esac
ok $r "the node is registered with 20 characters of the host name ($node)"
[ ${#node} -le 40 ]; ok $? "the node id stays short (${#node} characters)"
kill -TERM $pid; wait $pid; ok $? "and stops cleanly"
echo "1..$n"
exit $fail
