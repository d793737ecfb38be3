#!/bin/bash
# bench/profile.sh: where a server's CPU goes per sync echo, deterministically.
#
#   bench/profile.sh [streamerd|lws] [callgrind|sys]
#
# callgrind (the default; PROFILE_KEEP=dir keeps its files): the server
# runs under valgrind --tool=callgrind;
# after a warm-up, two closed loops of PROFILE_CONNS (100) connections (PROFILE_N1 and
# PROFILE_N2 requests, default 2,000 and 22,000) are each bracketed by a
# zero and a dump of the counters, so that connecting, the handshakes and
# closing cancel out: (Ir of the long run - Ir of the short one) / (N2 -
# N1) is user-space instructions per request, then the functions that
# differ most (inclusive and self) with callgrind_annotate.
#
# sys: the server at full speed, PROFILE_SYS_N (200,000) requests over PROFILE_CONNS
# connections (or, with PROFILE_RATE set, sent at that many per second;
# or, with PROFILE_CLIENT=lws|node, a closed loop of PROFILE_SECONDS on
# bench/lws_load, the libwebsockets client, or bench/node/ws_load.mjs): its utime and stime per request from /proc (also per
# thread name: the loop is the process's own name, st-pool the handlers), and system
# calls and context switches per request from `perf stat` (tracepoints;
# skipped when perf cannot read them); with PROFILE_RECORD=file, also
# `perf record -g` samples of the server into that file (of PROFILE_EVENTS
# when set, e.g. syscalls:sys_enter_futex to see who calls it). Times are only comparable within
# one run on this shared machine; the counts are steadier.
#
# streamerd runs against a private throwaway PostgreSQL cluster with an
# HS256 token, LOG_LEVEL=warn and the rate limit lifted, as in run.sh.
# Binaries come from $ST_BUILD (build); PROFILE_BIN overrides the server,
# LWS_ECHO_ARGS adds arguments to lws_echo (--libev: its loop on epoll).
set -uo pipefail
cd "$(dirname "$0")/.."

who=${1:-streamerd}
mode=${2:-callgrind}
build=${ST_BUILD:-build}
n1=${PROFILE_N1:-2000}
n2=${PROFILE_N2:-22000}
nsys=${PROFILE_SYS_N:-200000}
conns=${PROFILE_CONNS:-100}
loadgen=$build/bench/loadgen
tmp=$(mktemp -d /tmp/streamer-profile.XXXXXX)
chmod 755 "$tmp"
spid=
pg=0

cleanup() {
	[ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	[ $pg = 1 ] && scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1
	[ -n "${PROFILE_KEEP:-}" ] && cp -r "$tmp" "$PROFILE_KEEP"; rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "profile: $*" >&2; exit 1; }

make --no-print-directory -s "BUILD=$build" "$loadgen" "$build/bench/lws_echo" \
	"$build/streamerd" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log" >&2; die "build failed"; }
[ "$mode" = callgrind ] && ! command -v valgrind >/dev/null && die "valgrind is not installed"

port=$("$loadgen" --free-port)
tmpl='{"type":"request","id":"p{id}","action":"echo","payload":{"message":"hello, streamer"}}'
wrap=()
[ "$mode" = callgrind ] && wrap=(valgrind --tool=callgrind "--callgrind-out-file=$tmp/cg.%p.out")

case "$who" in
lws)
	bin=${PROFILE_BIN:-$build/bench/lws_echo}
	# shellcheck disable=SC2086 # LWS_ECHO_ARGS: e.g. --libev
	"${wrap[@]}" "$bin" "$port" ${LWS_ECHO_ARGS:-} >"$tmp/server.log" 2>&1 &
	spid=$!
	url="ws://127.0.0.1:$port/"
	;;
streamerd)
	bin=${PROFILE_BIN:-$build/streamerd}
	scripts/pg.sh start "$tmp/pg" --fast >"$tmp/pg.log" 2>&1 || die "PostgreSQL did not start"
	pg=1
	psql "$(scripts/pg.sh url "$tmp/pg" postgres)" -XAtq -c 'CREATE DATABASE streamer' >/dev/null
	export DATABASE_URL
	DATABASE_URL=$(scripts/pg.sh url "$tmp/pg" streamer)
	"$bin" migrate >"$tmp/migrate.log" 2>&1 || die "migrate failed"
	secret=$(openssl rand -hex 32)
	b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '{"sub":"profile","tenant_id":"profile","exp":%d}' $(($(date +%s) + 3600)) | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt "key:$secret" -binary | b64url)
	env JWT_SECRET="$secret" JWT_ALG=HS256 STREAMER_LISTEN="127.0.0.1:$port" \
		LOG_LEVEL=warn STREAMER_RATE_LIMIT=10000000 STREAMER_RATE_BURST=10000000 \
		"${wrap[@]}" "$bin" >"$tmp/server.log" 2>&1 &
	spid=$!
	url="ws://127.0.0.1:$port/?Authorization=Bearer%20$h.$p.$s"
	;;
*)
	die "usage: bench/profile.sh [streamerd|lws] [callgrind|sys]"
	;;
esac
for _ in $(seq 600); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$spid" 2>/dev/null || { cat "$tmp/server.log" >&2; die "$who did not start"; }
	sleep 0.1
done
rate=${PROFILE_RATE:-}
if [ -n "${PROFILE_CLIENT:-}" ] && [ "$mode" = sys ]; then
	# Closed loop on the libwebsockets client (lws) or the Node `ws` one
	# (node) for PROFILE_SECONDS (5); per request is then per answer it
	# counted (finals).
	case $PROFILE_CLIENT in
	lws) client=("$build/bench/lws_load");;
	node) client=(bench/node/ws_load.mjs);;
	*) die "PROFILE_CLIENT is lws or node, not '$PROFILE_CLIENT'";;
	esac
	load() { "${client[@]}" -l "$who" -c "$conns" -w 0 -d "${PROFILE_SECONDS:-5}" -m "$tmpl" "$url" 2>/dev/null | tail -1; }
elif [ -n "$rate" ] && [ "$mode" = sys ]; then
	# Open loop: PROFILE_SYS_N requests sent at PROFILE_RATE per second.
	load() { "$loadgen" -l "$who" -c "$conns" -r "$rate" -d $((($1 + rate - 1) / rate)) -m "$tmpl" "$url" 2>/dev/null | tail -1; }
else
	load() { "$loadgen" -l "$who" -c "$conns" -n "$1" -d 600 -m "$tmpl" "$url" 2>/dev/null | tail -1; }
fi
load 500 >/dev/null # warm-up: allocator caches, lazy binding

if [ "$mode" = sys ]; then
	ticks() { awk '{ print $14, $15 }' "/proc/$spid/stat"; }
	perf_ok=0
	events=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_poll,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_writev,syscalls:sys_enter_ioctl
	if perf stat -x, -e "$events" true >/dev/null 2>&1; then
		perf stat -x, -p "$spid" -e "$events" -o "$tmp/perf.csv" &
		ppid=$!
		perf_ok=1
		sleep 0.3
	fi
	rec=
	if [ -n "${PROFILE_RECORD:-}" ]; then # samples for perf report, kernel included
		perf record -q ${PROFILE_EVENTS:+-e "$PROFILE_EVENTS"} -F 4000 -g -p "$spid" -o "$PROFILE_RECORD" 2>/dev/null &
		rec=$!
		sleep 0.3
	fi
	# Per thread name: utime+stime ticks (the loop is the main thread).
	tticks() { cat /proc/"$spid"/task/*/stat 2>/dev/null | awk '{ gsub(/[()]/, "", $2); t[$2] += $14 + $15 } END { for (k in t) print k, t[k] }'; }
	tticks >"$tmp/t0"
	read -r u0 s0 < <(ticks)
	j=$(load "$nsys")
	read -r u1 s1 < <(ticks)
	tticks >"$tmp/t1"
	if [ -n "${PROFILE_CLIENT:-}" ]; then
		nsys=$(sed -n 's/.*"finals":\([0-9]*\).*/\1/p' <<<"$j")
		[ -n "$nsys" ] && [ "$nsys" -gt 0 ] || die "$PROFILE_CLIENT client: $j"
	fi
	[ $perf_ok = 1 ] && kill -INT $ppid && wait $ppid
	[ -n "$rec" ] && kill -INT $rec && wait $rec
	hz=$(getconf CLK_TCK)
	echo "$who: $(sed -n 's/.*"rps":\([0-9.]*\).*/\1/p' <<<"$j") req/s; per request:" \
		"user $(awk -v a="$u0" -v b="$u1" -v n="$nsys" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }') us," \
		"system $(awk -v a="$s0" -v b="$s1" -v n="$nsys" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }') us"
	awk -v n="$nsys" -v hz="$(getconf CLK_TCK)" 'FNR == NR { a[$1] = $2; next }
		$2 - a[$1] > 0 { printf "  thread %-26s %7.2f us\n", $1, ($2 - a[$1]) * 1e6 / hz / n }' "$tmp/t0" "$tmp/t1"
	[ $perf_ok = 1 ] && awk -F, -v n="$nsys" '/^[0-9]/ && $3 != "task-clock" { printf "  %-32s %7.3f\n", $3, $1 / n }' "$tmp/perf.csv"
	exit 0
fi

zero() { callgrind_control -z "$spid" >/dev/null 2>&1; }
dump() { sleep 1; callgrind_control -d "$1" "$spid" >/dev/null 2>&1; } # closes settle first
zero; load "$n1" >/dev/null; dump short
zero; load "$n2" >/dev/null; dump long
f1=$(ls "$tmp"/cg.*.out.1) f2=$(ls "$tmp"/cg.*.out.2)
total() { sed -n 's/^summary: //p' "$1"; }
echo "$who: $(( ($(total "$f2") - $(total "$f1")) / (n2 - n1) )) instructions per request (callgrind, $n2 - $n1 requests)"
for incl in yes no; do
	echo
	[ $incl = yes ] && echo "inclusive, per request:" || echo "self, per request:"
	for f in "$f1" "$f2"; do
		callgrind_annotate --auto=no --threshold=100 --inclusive=$incl "$f" 2>/dev/null |
			sed -n '/file:function/,$p' | tail -n +3 >"$f.$incl"
	done
	awk -v n=$((n2 - n1)) '
		{ v = $1; gsub(",", "", v); $1 = ""; $2 = ""; sub(/^ +/, ""); sub(/ \[.*$/, "") }
		FNR == NR { a[$0] += v; next }
		{ b[$0] += v }
		END { for (k in b) if ((b[k] - a[k]) / n >= 100 && k !~ /below main|libc-start|clone|ld-linux/)
			printf "%7.0f  %s\n", (b[k] - a[k]) / n, k }' "$f1.$incl" "$f2.$incl" |
		sort -rn | head -40
done
