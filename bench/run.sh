#!/bin/bash
# `make bench`: streamerd side by side with its peers, in one run on one
# machine (shared and noisy: read the ratios, not the absolute numbers).
#
#   sync: bench/lws_echo (bare libwebsockets, the ceiling), a Node `ws`
#   echo server (bench/node/ws_echo.mjs) and streamerd's `echo` action:
#   memory per idle connection and connect p50/p99, closed-loop echo at
#   100 and 1,000 connections (each also with bench/lws_load, the
#   libwebsockets client; at 100 also with bench/node/ws_load.mjs, the
#   Node `ws` client of issue 4's reference figures), latency at a fixed
#   rate, server CPU time per request (utime+stime from /proc/PID/stat).
#
#   The three servers run side by side (an idle one costs no CPU, and CPU
#   is read per server PID). The idle step runs once per server, before
#   any load. The load steps run in BENCH_ROUNDS interleaved rounds: in
#   each, every step once per server (lws, node, streamerd; the order
#   rotated by one each round), so a noisy minute of the machine falls on
#   all servers alike. The table gives each server's median over the
#   rounds, and for the ratio columns the median of the per-round ratios
#   (each within one round); a line under it lists the per-round CPU
#   ratios streamerd/lws.
#
#   async: streamerd's `delay` action ({"ms":0,"steps":1}) end to end
#   versus graphile-worker (bench/node/gw_bench.mjs) with a no-op task, on
#   one private PostgreSQL cluster with fsync and synchronous_commit on.
#
# Any server that does not start or answer is reported as "not measured
# (why)" and the others go on. The tables are printed and appended to
# bench/results.md with the date, the machine and the command. Everything
# started here listens on 127.0.0.1 only and is stopped on exit.
#
# Knobs (environment): BENCH_ROUNDS (5 interleaved rounds of the sync load
# steps), BENCH_DURATION (seconds per step: 3 for each sync load step of
# each round, 5 for the async steps; when set, both), BENCH_WARMUP (1 s
# before each step), BENCH_CONNS (100), BENCH_MANY (1000 connections),
# BENCH_RATE (10000 req/s), BENCH_IDLE (1000 idle connections),
# BENCH_ASYNC_RATE (2000 req/s), BENCH_ASYNC_CONNS (100),
# BENCH_ASYNC_INFLIGHT (10 per connection), BENCH_GW_JOBS (20000),
# BENCH_STREAMERD (another streamerd binary to measure instead of building
# $ST_BUILD/streamerd), BENCH_RESULTS (bench/results.md; "-" records
# nothing), BENCH_ONLY (space-separated subset of: lws node streamerd
# async).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

build=${ST_BUILD:-build}
dur=${BENCH_DURATION:-3}
adur=${BENCH_DURATION:-5}
warm=${BENCH_WARMUP:-1}
rounds=${BENCH_ROUNDS:-5}
conns=${BENCH_CONNS:-100}
many=${BENCH_MANY:-1000}
rate=${BENCH_RATE:-10000}
idle=${BENCH_IDLE:-1000}
arate=${BENCH_ASYNC_RATE:-2000}
aconns=${BENCH_ASYNC_CONNS:-100}
ainflight=${BENCH_ASYNC_INFLIGHT:-10}
gwjobs=${BENCH_GW_JOBS:-20000}
results=${BENCH_RESULTS:-bench/results.md}
only=${BENCH_ONLY:-lws node streamerd async}
cmdline=${BENCH_CMD:-bench/run.sh}
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
	echo "bench: BENCH_ROUNDS must be a positive integer, not '$rounds'" >&2
	exit 2
fi

loadgen=$build/bench/loadgen
lws_load=$build/bench/lws_load
ws_load=bench/node/ws_load.mjs
tmp=$(mktemp -d /tmp/streamer-bench.XXXXXX)
chmod 755 "$tmp"
pids=()
pg_started=0
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# What is measured: read now, before the results file is appended to.
commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- . \
	':(exclude)bench/results.md' 2>/dev/null || echo ' (with local changes)')
notes=()

say() { printf 'bench: %s\n' "$*" >&2; }
note() { notes+=("$*"); say "$*"; }
wants() { [[ " $only " == *" $1 "* ]]; }

stop_all() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=()
	[ $pg_started = 1 ] && scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# --- helpers -----------------------------------------------------------------

# jget JSON KEY: a field of loadgen's flat JSON line (first_error, the
# last and only free-text one, unescaped).
jget() {
	if [ "$2" = first_error ]; then
		sed -n 's/.*"first_error":"\(.*\)"}$/\1/p' <<<"$1" | sed 's/\\\(.\)/\1/g' | cut -c1-240
	else
		sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1"
	fi
}

# calc EXPR: floating-point arithmetic; "n/a" when an operand is missing
# or the expression is otherwise not computable (a division by zero).
calc() {
	case "$*" in *n/a*) echo n/a; return;; esac
	awk "BEGIN { v = $*; if (v >= 100 || v <= -100) printf \"%.0f\", v; else printf \"%.3g\", v }" \
		2>/dev/null || echo n/a
}

# num EXPR: like calc, but with the precision kept for medians and ratios
# (calc formats for the tables).
num() {
	case "$*" in *n/a*) echo n/a; return;; esac
	awk "BEGIN { printf \"%.9g\", $* }" 2>/dev/null || echo n/a
}

# div A B: A / B, "n/a" when either is missing or B is zero.
div() {
	case "$1 $2" in *n/a*) echo n/a; return;; esac
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) printf "n/a"; else printf "%.9g", a / b }'
}

# median VALUE...: the median of the values that are not "n/a" (the mean
# of the middle two for an even count); "n/a" when there are none.
median() {
	printf '%s\n' "$@" | grep -v -e '^n/a$' -e '^$' | sort -g |
		awk '{ a[NR] = $1 } END {
			if (NR == 0) printf "n/a"
			else if (NR % 2) printf "%.9g", a[(NR + 1) / 2]
			else printf "%.9g", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

cpu_ticks() { # utime+stime of PID, all threads, in clock ticks
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	awk '{ print $12 + $13 }' <<<"$s"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

# wait_port PID PORT: 0 once 127.0.0.1:PORT accepts, 1 if PID died, 2 on timeout.
wait_port() {
	for _ in $(seq 150); do
		kill -0 "$1" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	return 2
}

# why_dead NAME PID LOG: a one-line reason for a server that did not come up.
why_dead() {
	local st=
	if ! kill -0 "$2" 2>/dev/null; then
		wait "$2" 2>/dev/null
		st="exited with status $?"
	else
		st="not listening after 15 s"
	fi
	local last
	last=$(grep -v '^\s*$' "$3" 2>/dev/null | tail -1 | cut -c1-200)
	echo "$st${last:+: $last}"
}

# HS256 JWT with sub, tenant_id and exp, signed with openssl.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_hs256() { # SECRET SUB TENANT TTL
	local h p s
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '{"sub":"%s","tenant_id":"%s","iat":%d,"exp":%d}' "$2" "$3" \
		"$(date +%s)" $(($(date +%s) + $4)) | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC \
		-macopt "key:$1" -binary | b64url)
	printf '%s.%s.%s' "$h" "$p" "$s"
}

declare -A R	# R[server.metric] (idle step), R[server.step.metric.round] (load steps)
measured=()	# servers measured, in order
declare -A NOT	# NOT[server] = why it was not measured
servers=()	# servers up and answering, in the order lws node streamerd
declare -A SPID SURL SLOG	# per server: PID, URL, log file
declare -A GONE	# GONE[server] = 1 once it died during the load steps
declare -A LATE	# LATE[server/step] = rounds where the generator fell behind

# --- the sync steps -----------------------------------------------------------

# up NAME PID URL LOG: a server that answers joins the sync steps.
up() {
	servers+=("$1")
	SPID[$1]=$2 SURL[$1]=$3 SLOG[$1]=$4
}

# idle_step NAME: memory per idle connection and connect times, once per
# server, before any load (on any server) leaves allocator caches behind.
idle_step() {
	local name=$1 pid=${SPID[$1]} url=${SURL[$1]} j before after lg open
	before=$(rss_kib "$pid")
	"$loadgen" -l "$name/idle" --idle -c "$idle" -d 2 --connect-concurrency 1 \
		"$url" >"$tmp/idle.out" 2>"$tmp/idle.err" &
	lg=$!
	for _ in $(seq 600); do
		grep -q '"event":"connected"' "$tmp/idle.out" 2>/dev/null && break
		kill -0 $lg 2>/dev/null || break
		sleep 0.05
	done
	sleep 0.5
	after=$(rss_kib "$pid")
	wait $lg
	j=$(grep '"label"' "$tmp/idle.out")
	cat "$tmp/idle.err" >&2
	open=$(jget "$j" open)
	if [ "${open:-0}" -gt 0 ]; then
		R[$name.kib_conn]=$(num "($after - $before) / $open")
		R[$name.conn_p50]=$(num "$(jget "$j" conn_p50_us) / 1000")
		R[$name.conn_p99]=$(num "$(jget "$j" conn_p99_us) / 1000")
	fi
	[ "${open:-0}" = "$idle" ] || note "$name: only ${open:-0} of $idle idle connections opened ($(jget "$j" first_error))"
}

# load_step NAME STEP ROUND LOADGEN-ARGS...: one loadgen run against NAME
# with the server's CPU time over it; R[NAME.STEP.METRIC.ROUND].
load_step() {
	local name=$1 key=$2 r=$3 pid=${SPID[$1]} url=${SURL[$1]} j t0 t1 fin e late
	shift 3
	[ -n "${GONE[$name]:-}" ] && return
	if ! kill -0 "$pid" 2>/dev/null; then
		GONE[$name]=1
		note "$name: gone before $key of round $r, later steps skipped ($(why_dead "$name" "$pid" "${SLOG[$name]}"))"
		return
	fi
	t0=$(cpu_ticks "$pid")
	j=$("${GEN:-$loadgen}" -l "$name/$key/$r" -w "$warm" -d "$dur" -m "$echo_tmpl" "$@" "$url")
	t1=$(cpu_ticks "$pid")
	R[$name.$key.rps.$r]=$(num "$(jget "$j" rps)")
	R[$name.$key.p50.$r]=$(num "$(jget "$j" lat_p50_us) / 1000")
	R[$name.$key.p99.$r]=$(num "$(jget "$j" lat_p99_us) / 1000")
	R[$name.$key.max.$r]=$(num "$(jget "$j" lat_max_us) / 1000")
	fin=$(jget "$j" finals)
	[ "${fin:-0}" -gt 0 ] &&
		R[$name.$key.cpu.$r]=$(num "($t1 - $t0) * 1000000 / $hz / $fin")
	e=$(jget "$j" errors)
	[ "${e:-1}" = 0 ] || note "$name/$key, round $r: ${e:-no report,} errors ($(jget "$j" first_error))"
	late=$(jget "$j" late_sends)
	[ -z "$late" ] || [ "$late" = 0 ] ||
		LATE[$name/$key]+="${LATE[$name/$key]:+; }round $r: $late sends over 1 ms late, max $(calc "$(jget "$j" max_lag_us) / 1000") ms, p99 from the real send $(calc "$(jget "$j" sent_p99_us) / 1000") ms"
}

# sync_rounds: the idle step once per server, then $rounds rounds of the
# load steps, each step once per server, the order rotated by one per round.
sync_rounds() {
	local n=${#servers[@]} r i k name order
	[ "$n" -gt 0 ] || return 0
	for name in "${servers[@]}"; do
		say "$name: $idle idle connections"
		idle_step "$name"
	done
	for ((r = 1; r <= rounds; r++)); do
		order=()
		for ((i = 0; i < n; i++)); do
			order+=("${servers[(i + r - 1) % n]}")
		done
		say "sync round $r of $rounds: ${order[*]}"
		for name in "${order[@]}"; do load_step "$name" c1 "$r" -c "$conns"; done
		for name in "${order[@]}"; do GEN=$lws_load load_step "$name" lc "$r" -c "$conns"; done
		if [ $node_client = 1 ]; then
			for name in "${order[@]}"; do GEN=$ws_load load_step "$name" nc "$r" -c "$conns"; done
		fi
		for name in "${order[@]}"; do load_step "$name" cN "$r" -c "$many"; done
		for name in "${order[@]}"; do GEN=$lws_load load_step "$name" lN "$r" -c "$many"; done
		for name in "${order[@]}"; do load_step "$name" rate "$r" -c "$conns" -r "$rate"; done
	done
	for name in "${servers[@]}"; do
		measured+=("$name")
		for k in c1 cN rate; do
			[ -n "${LATE[$name/$k]:-}" ] &&
				note "$name/$k: generator fell behind (${LATE[$name/$k]})"
		done
	done
	return 0
}

# start NAME LOG CMD...: starts a server in the background; sets $spid.
start() {
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 &
	spid=$!
	pids+=("$spid")
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	local p keep=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}

echo_tmpl='{"type":"request","id":"b'$$'-{id}","action":"echo","payload":{"message":"hello, streamer"}}'

# --- build -------------------------------------------------------------------

ulimit -n "$(ulimit -Hn)" 2>/dev/null
if ! make --no-print-directory -s "BUILD=$build" "$build/bench/loadgen" \
	"$build/bench/lws_echo" >"$tmp/make.log" 2>&1; then
	cat "$tmp/make.log" >&2
	say "cannot build the load generator"
	exit 1
fi
streamerd=${BENCH_STREAMERD:-$build/streamerd}
streamerd_ok=1
if [ -z "${BENCH_STREAMERD:-}" ] && { wants streamerd || wants async; }; then
	if ! make --no-print-directory -s "BUILD=$build" "$build/streamerd" \
		>"$tmp/make.log" 2>&1; then
		streamerd_ok=0
		NOT[streamerd]="did not build: $(grep -m1 -i 'error' "$tmp/make.log" | cut -c1-160)"
	fi
fi

node_ok=1
if wants node || wants async; then
	if ! command -v node >/dev/null; then
		node_ok=0
		NOT[node]="node is not installed"
	elif [ ! -d bench/node/node_modules/ws ] ||
	     [ ! -d bench/node/node_modules/graphile-worker ]; then
		say "npm ci in bench/node (first run)"
		if ! (cd bench/node && npm ci --no-audit --no-fund --loglevel=error) \
			>"$tmp/npm.log" 2>&1; then
			node_ok=0
			NOT[node]="npm ci failed: $(tail -1 "$tmp/npm.log")"
		fi
	fi
fi
# The Node client step (bench/node/ws_load.mjs) runs whenever it can.
node_client=0
command -v node >/dev/null && [ -d bench/node/node_modules/ws ] && node_client=1
[ $node_client = 1 ] || note "the Node client step is skipped: node or bench/node/node_modules/ws is missing"

# --- sync: the servers, started side by side ------------------------------------

if wants lws; then
	port=$("$loadgen" --free-port)
	start lws "$tmp/lws.log" "$build/bench/lws_echo" "$port"
	if wait_port "$spid" "$port"; then
		say "lws_echo on 127.0.0.1:$port"
		up lws "$spid" "ws://127.0.0.1:$port/" "$tmp/lws.log"
	else
		NOT[lws]=$(why_dead lws "$spid" "$tmp/lws.log")
		stop_pid "$spid"
	fi
fi

if wants node && [ $node_ok = 1 ]; then
	port=$("$loadgen" --free-port)
	start node "$tmp/node.log" node bench/node/ws_echo.mjs "$port"
	if wait_port "$spid" "$port"; then
		say "node ws_echo on 127.0.0.1:$port ($(node --version))"
		up node "$spid" "ws://127.0.0.1:$port/" "$tmp/node.log"
	else
		NOT[node]=$(why_dead node "$spid" "$tmp/node.log")
		stop_pid "$spid"
	fi
fi

# --- PostgreSQL, durable: fsync and synchronous_commit on -----------------------

if { wants streamerd && [ $streamerd_ok = 1 ]; } || wants async; then
	if scripts/pg.sh start "$tmp/pg" >"$tmp/pg.log" 2>&1; then
		pg_started=1
		admin=$(scripts/pg.sh url "$tmp/pg" postgres)
		psql "$admin" -XAtq -c 'CREATE DATABASE streamer' -c 'CREATE DATABASE gw' \
			>/dev/null
		say "PostgreSQL: fsync $(psql "$admin" -XAtc 'SHOW fsync'), synchronous_commit $(psql "$admin" -XAtc 'SHOW synchronous_commit')"
	else
		NOT[pg]="PostgreSQL did not start: $(tail -1 "$tmp/pg.log")"
		say "${NOT[pg]}"
	fi
fi

# --- streamerd -----------------------------------------------------------------------

sd_pid=
sd_url=
if [ $streamerd_ok = 1 ] && [ $pg_started = 1 ] && { wants streamerd || wants async; }; then
	export DATABASE_URL
	DATABASE_URL=$(scripts/pg.sh url "$tmp/pg" streamer)
	if ! "$streamerd" migrate >"$tmp/migrate.log" 2>&1; then
		NOT[streamerd]="migrate failed: $(tail -1 "$tmp/migrate.log" | cut -c1-160)"
	else
		secret=$(openssl rand -hex 32)
		token=$(jwt_hs256 "$secret" bench bench 3600)
		port=$("$loadgen" --free-port)
		# The per-connection rate limit guards against abuse; a closed
		# loop is not abuse, so it is lifted here.
		start streamerd "$tmp/streamerd.log" env JWT_SECRET="$secret" \
			JWT_ALG=HS256 STREAMER_LISTEN="127.0.0.1:$port" LOG_LEVEL=warn \
			STREAMER_RATE_LIMIT=10000000 STREAMER_RATE_BURST=10000000 \
			"$streamerd"
		sd_pid=$spid
		sd_url="ws://127.0.0.1:$port/?Authorization=Bearer%20$token"
		if ! wait_port "$sd_pid" "$port"; then
			NOT[streamerd]=$(why_dead streamerd "$sd_pid" "$tmp/streamerd.log")
			sd_pid=
		else
			# One echo must come back as a response before anything is measured.
			j=$("$loadgen" -l streamerd/probe -c 1 -n 1 -d 5 -m "$echo_tmpl" \
				"$sd_url" 2>"$tmp/probe.err")
			if [ "$(jget "$j" "done")" != 1 ] || [ "$(jget "$j" errors)" != 0 ]; then
				NOT[streamerd]="echo probe failed: $(jget "$j" first_error)"
				[ -n "$(jget "$j" http_status)" ] && [ "$(jget "$j" http_status)" != 0 ] &&
					NOT[streamerd]+=" (HTTP $(jget "$j" http_status))"
			elif wants streamerd; then
				say "streamerd on 127.0.0.1:$port"
				up streamerd "$sd_pid" "$sd_url" "$tmp/streamerd.log"
			fi
		fi
	fi
fi

# --- sync: idle step, then the interleaved rounds of load steps -------------------

sync_rounds

# The peers are done; the async section runs as before, without them.
for name in lws node; do
	[ -n "${SPID[$name]:-}" ] && stop_pid "${SPID[$name]}"
done

# --- async: streamerd delay vs graphile-worker ---------------------------------------

declare -A A	# A[who.metric]
if wants async && [ $pg_started = 1 ]; then
	if [ -n "$sd_pid" ] && [ -z "${NOT[streamerd]:-}" ] && kill -0 "$sd_pid" 2>/dev/null; then
		delay_tmpl='{"type":"request","id":"a'$$'-{id}","action":"delay","payload":{"ms":0,"steps":1}}'
		j=$("$loadgen" -l streamerd/async-probe -c 1 -n 1 -d 10 -m "$delay_tmpl" \
			"$sd_url" 2>"$tmp/aprobe.err")
		if [ "$(jget "$j" "done")" != 1 ] || [ "$(jget "$j" errors)" != 0 ] ||
		   [ "$(jget "$j" acks)" = 0 ]; then
			NOT[async]="delay probe failed: $(jget "$j" first_error)"
			[ "$(jget "$j" acks)" = 0 ] && [ "$(jget "$j" "done")" = 1 ] &&
				NOT[async]="delay answered without acknowledgment (not async yet)"
		else
			delay_tmpl=${delay_tmpl/a$$-/a$$t-}
			j=$("$loadgen" -l streamerd/async-closed -w "$warm" -d "$adur" \
				-c "$aconns" -p "$ainflight" -m "$delay_tmpl" --drain 10 "$sd_url")
			A[sd.rps]=$(calc "$(jget "$j" rps)")
			A[sd.cp50]=$(calc "$(jget "$j" lat_p50_us) / 1000")
			A[sd.cp99]=$(calc "$(jget "$j" lat_p99_us) / 1000")
			[ "$(jget "$j" errors)" = 0 ] || note "streamerd/async-closed: $(jget "$j" errors) errors ($(jget "$j" first_error))"
			delay_tmpl=${delay_tmpl/a$$t-/a$$r-}
			j=$("$loadgen" -l streamerd/async-rate -w "$warm" -d "$adur" \
				-c "$aconns" -r "$arate" -m "$delay_tmpl" --drain 10 "$sd_url")
			A[sd.ap50]=$(calc "$(jget "$j" ack_p50_us) / 1000")
			A[sd.ap99]=$(calc "$(jget "$j" ack_p99_us) / 1000")
			A[sd.pp50]=$(calc "$(jget "$j" prog_p50_us) / 1000")
			A[sd.pp99]=$(calc "$(jget "$j" prog_p99_us) / 1000")
			A[sd.rp50]=$(calc "$(jget "$j" lat_p50_us) / 1000")
			A[sd.rp99]=$(calc "$(jget "$j" lat_p99_us) / 1000")
			[ "$(jget "$j" errors)" = 0 ] || note "streamerd/async-rate: $(jget "$j" errors) errors ($(jget "$j" first_error))"
		fi
	else
		NOT[async]=${NOT[streamerd]:-streamerd is not running}
	fi
	if [ $node_ok = 1 ]; then
		gwurl=$(scripts/pg.sh url "$tmp/pg" gw)
		for variant in "" --tuned; do
			key=gw${variant:+t}
			if j=$(cd bench/node && DATABASE_URL=$gwurl timeout 180 node gw_bench.mjs \
				--jobs "$gwjobs" --concurrency $((2 * $(nproc))) $variant \
				2>"$tmp/gw.err"); then
				say "graphile-worker${variant:+ (tuned)}: $j"
				A[$key.rps]=$(calc "$(jget "$j" jobs_per_s)")
			else
				A[$key.rps]=n/a
				note "graphile-worker${variant:+ (tuned)} failed: $(tail -1 "$tmp/gw.err" | cut -c1-200)"
			fi
		done
	fi
fi

# --- the tables ------------------------------------------------------------------------

a() { echo "${A[$1]:-n/a}"; }
ratio() { [ "$1" = n/a ] || [ "$2" = n/a ] && { echo n/a; return; }; calc "$1 / $2"; }

# per_round KEY: true for the load steps' keys (measured once per round).
per_round() { case "$1" in c1.* | lc.* | nc.* | cN.* | lN.* | rate.*) return 0;; esac; return 1; }

# v SERVER KEY: the value (unformatted), the median over the rounds for
# the load steps.
v() {
	local r vals=()
	per_round "$2" || { echo "${R[$1.$2]:-n/a}"; return; }
	for ((r = 1; r <= rounds; r++)); do vals+=("${R[$1.$2.$r]:-n/a}"); done
	median "${vals[@]}"
}

# rounds_ratio NUM DEN KEY: NUM/DEN within each round, in round order.
rounds_ratio() {
	local r
	for ((r = 1; r <= rounds; r++)); do
		div "${R[$1.$3.$r]:-n/a}" "${R[$2.$3.$r]:-n/a}"
		echo
	done
}

# vr NUM DEN KEY: the ratio NUM/DEN (unformatted); for the load steps the
# median of the per-round ratios.
vr() {
	if per_round "$3"; then
		# shellcheck disable=SC2046 # one number or n/a per line
		median $(rounds_ratio "$1" "$2" "$3")
	else
		div "$(v "$1" "$3")" "$(v "$2" "$3")"
	fi
}

sync_row() { # LABEL KEY
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(calc "$(v lws "$2")")" \
		"$(calc "$(v node "$2")")" "$(calc "$(v streamerd "$2")")" \
		"$(calc "$(vr streamerd lws "$2")")" "$(calc "$(vr streamerd node "$2")")"
}

plural() { [ "$rounds" = 1 ] || echo s; }

# sync_spread: the line under the sync table (rounds, per-round CPU ratios).
sync_spread() {
	local line k x list
	line="sync steps: median of $rounds interleaved round$(plural) of $dur s (+$warm s warm-up)"
	if [ -n "${SPID[lws]:-}" ] && [ -n "${SPID[streamerd]:-}" ]; then
		line+="; CPU ratio streamerd/lws per round:"
		for k in c1:"$conns" cN:"$many" lc:"$conns (lws client)" nc:"$conns (Node client)" lN:"$many (lws client)"; do
			list=
			for x in $(rounds_ratio streamerd lws "${k%%:*}.cpu"); do
				list+="${list:+, }$(calc "$x")"
			done
			line+="${list:+ $list at ${k#*:} conns;}"
		done
		line=${line%;}
	fi
	echo "$line"
}

table() {
	echo "| sync echo | lws_echo | node ws | streamerd | streamer/lws | streamer/node |"
	echo "|---|---:|---:|---:|---:|---:|"
	sync_row "closed loop, $conns conns: req/s" c1.rps
	sync_row "  latency p50 ms" c1.p50
	sync_row "  latency p99 ms" c1.p99
	sync_row "  server CPU us/req" c1.cpu
	sync_row "same, lws client: req/s" lc.rps
	sync_row "  server CPU us/req" lc.cpu
	if [ $node_client = 1 ]; then
		sync_row "same, Node ws client: req/s" nc.rps
		sync_row "  server CPU us/req" nc.cpu
	fi
	sync_row "closed loop, $many conns: req/s" cN.rps
	sync_row "  latency p99 ms" cN.p99
	sync_row "  server CPU us/req" cN.cpu
	sync_row "same, lws client: req/s" lN.rps
	sync_row "  server CPU us/req" lN.cpu
	sync_row "fixed $rate req/s, $conns conns: p50 ms" rate.p50
	sync_row "  p99 ms" rate.p99
	sync_row "  max ms" rate.max
	sync_row "  server CPU us/req" rate.cpu
	sync_row "idle conns ($idle): KiB each (RSS)" kib_conn
	sync_row "connect p50 ms (one at a time)" conn_p50
	sync_row "connect p99 ms" conn_p99
	echo
	if [ ${#servers[@]} -gt 0 ]; then
		sync_spread
		echo
	fi
	if wants async; then
		local s g t
		s=$(a sd.rps) g=$(a gw.rps) t=$(a gwt.rps)
		echo "| async, durable | streamerd | graphile-worker | graphile-worker tuned | streamer/gw | streamer/gw-tuned |"
		echo "|---|---:|---:|---:|---:|---:|"
		printf '| end to end req/s (jobs/s) | %s | %s | %s | %s | %s |\n' \
			"$s" "$g" "$t" "$(ratio "$s" "$g")" "$(ratio "$s" "$t")"
		printf '| closed loop (%sx%s in flight): complete p50 / p99 ms | %s / %s | | | | |\n' \
			"$aconns" "$ainflight" "$(a sd.cp50)" "$(a sd.cp99)"
		printf '| fixed %s req/s: ack p50 / p99 ms | %s / %s | | | | |\n' \
			"$arate" "$(a sd.ap50)" "$(a sd.ap99)"
		printf '| first progress p50 / p99 ms | %s / %s | | | | |\n' \
			"$(a sd.pp50)" "$(a sd.pp99)"
		printf '| complete p50 / p99 ms | %s / %s | | | | |\n' \
			"$(a sd.rp50)" "$(a sd.rp99)"
		echo
	fi
	local k
	for k in lws node streamerd async pg; do
		[ -n "${NOT[$k]:-}" ] && echo "- $k: not measured (${NOT[$k]})"
	done
	for k in "${notes[@]}"; do
		echo "- $k"
	done
	return 0
}

out=$(table)
echo
echo "$out"

if [ "$results" != - ]; then
	[ -s "$results" ] || printf '%s\n' "# make bench: recorded results" "" \
		"One section per run of bench/run.sh, newest last. The machine is shared:" \
		"compare the columns of one run (the ratios), not runs with each other." \
		>"$results"
	{
		echo
		echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		echo "- machine: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
		echo "- commit: $commit"
		echo "- command: \`$cmdline\` (${BUILD_DESC:-$build}; sync: $rounds interleaved round$(plural), ${dur} s per step after ${warm} s warm-up; async: ${adur} s per step; graphile-worker $gwjobs jobs, concurrency $((2 * $(nproc))))"
		echo
		echo "$out"
	} >>"$results"
	say "appended to $results"
fi
