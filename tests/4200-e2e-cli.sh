#!/bin/bash
# streamer-cli request/status/list/cancel against a real streamerd (the
# demo service: echo is sync, delay async with progress): one JSON line per
# message on stdout, the exit statuses (0 done, 1 error, 2 usage, 3
# connection), progress on stderr, resume with status --follow, cancel,
# Ctrl-C. JSON is read with Perl's core JSON::PP (prove brings Perl).
set -u
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; return "$1"; }
diag() { sed 's/^/# /' "$@" >&2; }
if [ -z "${ST_TMP:-}" ] || [ -z "${DATABASE_URL:-}" ]; then
	echo "1..0 # SKIP needs ST_TMP and DATABASE_URL (run under make test)"
	exit 0
fi
build=${ST_BUILD:-build}
cli=$build/streamer-cli
t=$ST_TMP
secret=cli-e2e-secret
bg=()   # background clients, checked at the end

# The value at a dotted path ("data.result.slept_ms", "data.0.status") of
# one JSON text; objects and arrays come back as JSON.
jget() {
	perl -MJSON::PP -e 'my $j = eval { JSON::PP->new->allow_nonref->decode($ARGV[0]) };
		for my $k (split /\./, $ARGV[1]) {
			$j = ref $j eq "ARRAY" ? $j->[$k] : ref $j eq "HASH" ? $j->{$k} : undef }
		print ref $j ? JSON::PP->new->canonical->encode($j) : $j // ""' "$1" "$2"
}
# Runs the CLI (stdout, stderr to $t/NAME.out/.err); its status in $rc.
run() {
	local name=$1; shift
	"$cli" "$@" >"$t/$name.out" 2>"$t/$name.err"
	rc=$?
}
# Waits (at most 10 s) until FILE has a line containing TEXT.
wait_for() {
	for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
# Waits (at most 10 s) for background PID; its status in $rc (255: still running).
wait_pid() {
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$1" 2>/dev/null; then rc=255; else wait "$1"; rc=$?; fi
}

cleanup() {
	for p in "${bg[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -n "${srv:-}" ] && kill -KILL "$srv" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

JWT_SECRET=$secret JWT_ALG=HS256 STREAMER_LISTEN=127.0.0.1:0 STREAMER_STATIC= \
	"$build/streamerd" >"$t/server.log" 2>&1 &
srv=$!
wait_for "$t/server.log" '"msg":"listening"'
port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$t/server.log" | head -1)
[ -n "$port" ]; ok $? "streamerd listens (port ${port:-none})"
if [ -z "$port" ]; then diag "$t/server.log"; echo "Bail out! streamerd did not start"; exit 1; fi

export STREAMER_URL=ws://127.0.0.1:$port/
STREAMER_TOKEN=$("$cli" token --secret "$secret" --alg HS256 --sub u --tenant t)
export STREAMER_TOKEN
[ -n "$STREAMER_TOKEN" ]; ok $? "streamer-cli token makes a token"

# --- request: sync ---------------------------------------------------------
run echo request echo '{"message":"hello"}'
line=$(cat "$t/echo.out")
[ $rc = 0 ] && [ "$(wc -l <"$t/echo.out")" = 1 ] && [ "$(jget "$line" type)" = response ]
ok $? "echo: one response line, exit 0"
[ "$(jget "$line" data.message)" = hello ]; ok $? "echo: with the message"
[ ! -s "$t/echo.err" ]; ok $? "echo: nothing on stderr (not a terminal)"

run echo_h request --header --id e-1 echo '{"message":"by header"}'
[ $rc = 0 ] && [ "$(jget "$(cat "$t/echo_h.out")" data.message)" = "by header" ] &&
	[ "$(jget "$(cat "$t/echo_h.out")" id)" = e-1 ]
ok $? "--header sends the token as a header; --id is echoed"

long_tok=$("$cli" token --secret "$secret" --alg HS256 --sub u --tenant t --pad 4000)
run longtok list --token "$long_tok"
[ $rc = 0 ]; ok $? "a ${#long_tok}-byte token works (too long for lws' request line: sent as a header)" ||
	diag "$t/longtok.err"

printf '{"message":"from stdin"}' | "$cli" request echo - >"$t/stdin.out" 2>&1
[ $? = 0 ] && grep -q '"from stdin"' "$t/stdin.out"; ok $? "PAYLOAD_JSON - reads stdin"

# --- request: async, with progress ------------------------------------------
run delay request --progress delay '{"ms":300,"steps":3}'
[ $rc = 0 ]; ok $? "delay: exit 0"
perl -MJSON::PP -e '
	my @m = map { decode_json($_) } <STDIN>;
	my @t = map { $_->{type} } @m;
	my $rid = $m[0]{request_id};
	my $last = -1; my $mono = 1;
	for (grep { $_->{type} eq "progress" } @m) {
		$mono = 0 if $_->{percentage} < $last || $_->{percentage} > 100;
		$last = $_->{percentage};
	}
	my @bad;
	push @bad, "first is not the acknowledgment" unless $t[0] eq "acknowledgment";
	push @bad, "no progress" unless grep { $_ eq "progress" } @t;
	push @bad, "percentages decrease" unless $mono;
	push @bad, "not exactly one complete, last" unless $t[-1] eq "complete" && 1 == grep { $_ eq "complete" } @t;
	push @bad, "slept_ms is not 300" unless $m[-1]{data}{slept_ms} == 300;
	push @bad, "unexpected type" if grep { !/^(acknowledgment|progress|complete)$/ } @t;
	push @bad, "request_id differs" if grep { $_->{request_id} ne $rid } @m;
	print join("; ", @bad), "\n" if @bad; exit !!@bad' <"$t/delay.out" >"$t/delay.check"
ok $? "delay: acknowledgment, progress non-decreasing, one complete with slept_ms 300 $(cat "$t/delay.check")" ||
	diag "$t/delay.out"
delay_rid=$(jget "$(head -1 "$t/delay.out")" request_id)
grep -Eq '^\[ *[0-9]+%\] step [123] of 3$' "$t/delay.err"; ok $? "--progress: '[ NN%] step N of 3' on stderr"
grep -q "request $delay_rid: completed" "$t/delay.err"; ok $? "--progress: and the end"

# --- errors -----------------------------------------------------------------
run invalid request echo '{"message":""}'
[ $rc = 1 ] && [ "$(jget "$(cat "$t/invalid.out")" error.field)" = payload.message ] &&
	[ "$(jget "$(cat "$t/invalid.out")" error.code)" = VALIDATION_ERROR ]
ok $? "validation error: exit 1, the error line names payload.message"
grep -q "VALIDATION_ERROR.*payload.message" "$t/invalid.err"; ok $? "and stderr says so"

run unknown request no_such_action
[ $rc = 1 ] && grep -q INVALID_ACTION "$t/unknown.out"; ok $? "unknown action: INVALID_ACTION, exit 1"

run badtok request --token "x$STREAMER_TOKEN" echo '{"message":"x"}'
[ $rc = 3 ] && grep -q "token refused (HTTP 401)" "$t/badtok.err" && [ ! -s "$t/badtok.out" ]
ok $? "a wrong token: exit 3, 'token refused (HTTP 401)'" || diag "$t/badtok.err"

other=$("$cli" token --secret not-the-secret --alg HS256 --sub u --tenant t)
run badtok2 list --token "$other"
[ $rc = 3 ] && grep -q "401" "$t/badtok2.err"; ok $? "a token signed with another key: exit 3"

run refused list --url "ws://127.0.0.1:1/"
[ $rc = 3 ] && grep -q "cannot connect" "$t/refused.err"; ok $? "nothing listening: exit 3"

run u1 request
[ $rc = 2 ]; ok $? "request without ACTION: exit 2"
run u2 request echo '{"message":'
[ $rc = 2 ] && grep -q "not JSON" "$t/u2.err"; ok $? "a payload that is not JSON: exit 2, nothing sent"
STREAMER_TOKEN= "$cli" list >/dev/null 2>"$t/u3.err"
[ $? = 2 ] && grep -q STREAMER_TOKEN "$t/u3.err"; ok $? "no token: exit 2, naming STREAMER_TOKEN"
run u4 status
[ $rc = 2 ]; ok $? "status without REQUEST_ID: exit 2"

# --- status -----------------------------------------------------------------
run status status "$delay_rid"
s=$(cat "$t/status.out")
[ $rc = 0 ] && [ "$(jget "$s" type)" = status ] && [ "$(jget "$s" data.status)" = completed ] &&
	[ "$(jget "$s" data.result.slept_ms)" = 300 ]
ok $? "status of the finished delay: completed, its result"
run status_f status --follow "$delay_rid"
[ $rc = 0 ] && [ "$(jget "$(cat "$t/status_f.out")" data.result.slept_ms)" = 300 ]
ok $? "status --follow of a finished request: its result at once, exit 0"
run status_nf status 00000000-0000-0000-0000-000000000000
[ $rc = 1 ] && grep -q NOT_FOUND "$t/status_nf.out"; ok $? "status of an unknown request: NOT_FOUND, exit 1"

# --- cancel -----------------------------------------------------------------
"$cli" request delay '{"ms":60000,"steps":600}' >"$t/long.out" 2>"$t/long.err" &
long=$!; bg+=("$long")
wait_for "$t/long.out" acknowledgment
long_rid=$(jget "$(head -1 "$t/long.out")" request_id)
[ -n "$long_rid" ]; ok $? "a long delay is acknowledged"
run cancel cancel "$long_rid"
c=$(cat "$t/cancel.out")
[ $rc = 0 ] && [ "$(jget "$c" data.status)" = cancelled ] && [ "$(jget "$c" data.error.code)" = CANCELLED ]
ok $? "cancel: CANCELLED, exit 0" || diag "$t/cancel.out"
wait_pid "$long"
[ $rc = 1 ] && [ "$(jget "$(tail -1 "$t/long.out")" error.code)" = CANCELLED ]
ok $? "the requester gets error CANCELLED and exits 1 (exit $rc)" || diag "$t/long.out" "$t/long.err"
run cancel_nf cancel 00000000-0000-0000-0000-000000000000
[ $rc = 1 ]; ok $? "cancel of an unknown request: exit 1"

# --- Ctrl-C, then resume with status --follow ------------------------------
"$cli" request --id resume-1 delay '{"ms":1500,"steps":5}' >"$t/int.out" 2>"$t/int.err" &
p=$!; bg+=("$p")
wait_for "$t/int.out" acknowledgment
kill -INT "$p"
wait_pid "$p"
[ $rc = 130 ] && grep -q "status .* --follow" "$t/int.err"
ok $? "Ctrl-C: exit 130, says how to resume (exit $rc)"
int_rid=$(jget "$(head -1 "$t/int.out")" request_id)
run follow status --follow --progress "$int_rid"
[ $rc = 0 ] && [ "$(jget "$(tail -1 "$t/follow.out")" type)" = complete ] &&
	[ "$(jget "$(tail -1 "$t/follow.out")" data.slept_ms)" = 1500 ]
ok $? "status --follow: the remaining progress and complete (exit $rc)" ||
	diag "$t/follow.out" "$t/follow.err"
run again request --id resume-1 delay '{"ms":1500,"steps":5}'
[ $rc = 0 ] && [ "$(jget "$(head -1 "$t/again.out")" request_id)" = "$int_rid" ] &&
	grep -q '"slept_ms": *1500' "$t/again.out"
ok $? "the same --id again: the first request's result, exit 0"

run timeout request --timeout 0.3 delay '{"ms":3000,"steps":3}'
[ $rc = 1 ] && grep -q "timed out" "$t/timeout.err"; ok $? "--timeout: exit 1, says so"

# --- list -------------------------------------------------------------------
run list list
l=$(cat "$t/list.out")
ids=$(perl -MJSON::PP -e 'print join(" ", map { $_->{request_id} } @{decode_json($ARGV[0])->{data}})' "$l")
[ $rc = 0 ] && [ "$(jget "$l" type)" = list ]; ok $? "list: one list line, exit 0"
has() { case " $ids " in *" $1 "*) return 0 ;; esac; return 1; }
has "$delay_rid" && has "$long_rid" && has "$int_rid"
ok $? "list includes the delay, cancelled and resumed requests"
run list_p list --progress
grep -q "$long_rid .*cancelled" "$t/list_p.err"; ok $? "list --progress: a table on stderr"

# --- the server going away ---------------------------------------------------
"$cli" request delay '{"ms":30000,"steps":300}' >"$t/lost.out" 2>"$t/lost.err" &
p=$!; bg+=("$p")
wait_for "$t/lost.out" acknowledgment
kill -TERM "$srv"
wait_pid "$srv"
srv_rc=$rc; srv=
[ "$srv_rc" = 0 ]; ok $? "streamerd stops cleanly (exit $srv_rc)"
wait_pid "$p"
[ $rc = 3 ] && grep -q "closed the connection" "$t/lost.err"; ok $? "a client whose server stops: exit 3" || diag "$t/lost.err"

left=0
for p in "${bg[@]}"; do kill -0 "$p" 2>/dev/null && left=$((left+1)); done
[ $left = 0 ]; ok $? "no streamer-cli process is left"
! grep -l "Sanitizer\|runtime error" "$t"/*.err >/dev/null 2>&1; ok $? "no sanitizer report from streamer-cli"

echo "1..$n"
exit $fail
