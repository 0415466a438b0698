#!/usr/bin/env bash
# The live event stream and the flow commands, end to end: the real
# glassnat as the gateway of the namespace topology (tests/e2e/topology.sh)
# with a JSON events file, `glassnat watch` on its control socket, `flows`
# filters, `flow delete`, and a control socket that stays quick and open
# (idle clients, pipelined requests).
#
# - watch --json during live traffic prints exactly the flow events the
#   events file gets, byte for byte, in the same order;
# - a SIGSTOPped watcher neither stops nor slows the gateway (new TCP
#   connections per second with it stalled vs without), loses lines, and
#   is told so (watch.loss) when it reads again;
# - 20 idle connections do not lock `glassnat stats` out; 2,000 pipelined
#   requests on one connection are answered in well under 30 s.
#
# Each check prints "ok - ..." or "not ok - ..."; the last line is
# "N passed, M failed, K skipped". Needs root; traffic stays inside
# namespaces gn-<pid>-* (removed on exit, trap).
#
#   BUILD=build tests/e2e/watch_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$(pwd)/$BUILD/glassnat
PEER=tests/e2e/live_peer.py

. tests/e2e/live_lib.sh
live_preconditions watch

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-watch.XXXXXX")
chmod 0755 "$TMP"
SOCK=$TMP/ctl.sock
CONF=$TMP/gw.yaml
EV=$TMP/events.json
GPID=
WPIDS=()
cleanup_watchers() {
	for p in "${WPIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
}
trap 'cleanup_watchers' EXIT
live_topology_up
trap 'cleanup_watchers; topo_down' EXIT

ctl() { timeout 20 "$GLASSNAT" "$@" -s "$SOCK"; }

sed -e '/^logging:/,$d' configs/e2e.yaml >"$CONF"
cat >>"$CONF" <<EOF
logging:
  events: ""
control_socket: "$SOCK"
state_file: "$TMP/forwards.json"
EOF

in_ns "$NS_SRV" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
for port in 7000 7001 7002 7003 7004 7005; do
	in_ns "$NS_SRV" timeout 300 python3 "$PEER" tcp-serve $port >/dev/null 2>&1 &
done
in_ns "$NS_IN1" timeout 300 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &

LOG=$TMP/glassnat.log
ip netns exec "$NS_GW" timeout 300 "$GLASSNAT" run -c "$CONF" \
	--events "$EV" --log-format json >"$LOG" 2>&1 &
GPID=$!
for _ in $(seq 1 50); do
	[ -S "$SOCK" ] && grep -q 'Control socket' "$LOG" && break
	sleep 0.1
done
if grep -q 'Control socket' "$LOG"; then
	ok "glassnat run started with its control socket"
else
	notok "glassnat run started with its control socket"
	sed 's/^/# /' "$LOG"
	finish
fi

# start_watch OUT ERR ARGS...: a watcher in the background, once it is
# subscribed (it says so on stderr). Its pid is in WPID.
start_watch() {
	local out=$1 err=$2
	shift 2
	"$GLASSNAT" watch -s "$SOCK" "$@" >"$out" 2>"$err" &
	WPID=$!
	WPIDS+=("$WPID")
	for _ in $(seq 1 50); do
		grep -q 'watching' "$err" && return 0
		kill -0 "$WPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- 1. watch --json: every flow event of the file, in the same order -------
if start_watch "$TMP/w.json" "$TMP/w.err" --json &&
	start_watch "$TMP/w.txt" "$TMP/wt.err" proto=udp; then
	ok "two watchers subscribed (--json; text with proto=udp)"
else
	notok "two watchers subscribed ($(cat "$TMP/w.err" "$TMP/wt.err"))"
fi
JPID=${WPIDS[0]}
TPID=${WPIDS[1]}
for i in 1 2 3 4 5; do
	peer "$NS_IN1" udp-ask $IP_SRV 5353 "watch-$i" >/dev/null
	peer "$NS_IN2" tcp-send $IP_SRV 7000 2000 >/dev/null
done
peer "$NS_SRV" tcp-send $IP_NAT 8080 5000 >/dev/null
peer "$NS_IN1" ping $IP_SRV >/dev/null
n=$(ctl flows --proto udp --count)
out=$(ctl flow delete --proto udp)
check "flow delete --proto udp deletes the $n UDP flows ($out)" \
	bash -c "[ '$n' -ge 5 ] && [ \"\$0\" = '$n flows deleted' ]" "$out"
check "flows --proto udp --count is 0 after the delete" \
	test "$(ctl flows --proto udp --count)" = 0
sleep 1.5 # both writers poll at most every 10 ms; the file is flushed
kill -TERM "$JPID" "$TPID" 2>/dev/null
wait "$JPID" "$TPID" 2>/dev/null
grep '"ev":"flow\.' "$EV" >"$TMP/file.flow"
grep '"ev":"flow\.' "$TMP/w.json" >"$TMP/watch.flow"
nf=$(wc -l <"$TMP/file.flow")
check "the events file has the run's flow events (open, state, close: $nf lines)" \
	bash -c "[ $nf -ge 30 ] && grep -q '\"end\":\"deleted\"' '$TMP/file.flow'"
check "watch --json printed every flow event of the file, same bytes, same order ($(wc -l <"$TMP/watch.flow") of $nf)" \
	cmp -s "$TMP/file.flow" "$TMP/watch.flow"
check "watch --json: every line is a JSON object" \
	bash -c "jq -e . '$TMP/w.json' >/dev/null"
nu=$(grep -c '"ev":"flow\.[a-z]*".*"proto":"udp"' "$TMP/file.flow")
check "watch proto=udp (text): one line per UDP flow event ($nu), [NEW] and [DESTROY] end=deleted" \
	bash -c "[ \$(wc -l <'$TMP/w.txt') -eq $nu ] && grep -q '^\[NEW\] .* flow.open flow=[0-9]* udp $IP_IN1:[0-9]* -> $IP_SRV:5353 mapped=$IP_NAT:' '$TMP/w.txt' &&
		grep -q '^\[DESTROY\] .* end=deleted' '$TMP/w.txt' && ! grep -q ' tcp ' '$TMP/w.txt'"

# ---- 2. flows filters and flow delete ID --------------------------------------------------
peer "$NS_IN2" udp-ask $IP_SRV 5353 one-more >/dev/null
fl=$(ctl flows --json)
check "flows --count equals the matched count of the listing" \
	test "$(ctl flows --count)" = "$(jq .matched <<<"$fl")"
check "flows --kind forward: only forward flows, the web one there" \
	bash -c "jq -e '.matched>=1 and all(.flows[]; .kind==\"forward\" and .rule==\"web\")' <<<\"\$0\" >/dev/null" "$(ctl flows --kind forward --json)"
check "flows --rule 인터넷: only that rule's flows" \
	bash -c "jq -e '.matched>=6 and all(.flows[]; .rule==\"인터넷\")' <<<\"\$0\" >/dev/null" "$(ctl flows --rule 인터넷 --json)"
st=$(jq -r '[.flows[]|select(.proto=="tcp")][0].state' <<<"$fl")
check "flows --state $st: only TCP flows in $st" \
	bash -c "jq -e '.matched>=1 and all(.flows[]; .proto==\"tcp\" and .state==\"$st\")' <<<\"\$0\" >/dev/null" "$(ctl flows --state "$st" --json)"
out=$(ctl flows --state BOGUS 2>&1)
check "flows --state BOGUS is refused, naming the states ($out)" \
	bash -c "grep -q 'is not a TCP state' <<<\"\$0\"" "$out"
id=$(ctl flows --proto udp --json | jq '.flows[0].id')
out=$(ctl flow delete "$id")
check "flow delete $id ($out)" test "$out" = "1 flow deleted"
check "flow $id is gone (flows --flow $id --count)" test "$(ctl flows --flow "$id" --count)" = 0
sleep 0.3
check "its flow.close has end deleted in the events file" \
	bash -c "grep '\"ev\":\"flow.close\"' '$EV' | grep -q '\"flow\":$id,.*\"end\":\"deleted\"'"
out=$(ctl flow delete 2>&1)
rc=$?
check "flow delete without an ID or filter is a usage error ($rc)" \
	bash -c "[ $rc -eq 2 ] && grep -q 'needs an ID, a filter or --all' <<<\"\$0\"" "$out"

# ---- 3. a stalled watcher does not slow the gateway ----------------------------------------
# New TCP connections per second for 2 s, each run from an empty table
# (flow delete --all: the ports of the last run's flows are free again)
# and to its own server port (the server's TIME_WAIT sockets of one run
# would otherwise meet the next run's reused client ports). Runs
# alternate, none / stalled, three of each, each stalled run with a new
# watcher stopped (SIGSTOP) before it; the best of each kind is compared:
# this machine is shared, single runs are noisy.
rate() { # rate PORT
	ctl flow delete --all >/dev/null
	peer "$NS_IN1" conn-rate $IP_SRV "$1" --seconds 2 | sed -n 's/^conn_per_s=//p'
}
none=()
stalled=()
lost=0
evA=$(grep -c '"ev":"flow.open"' "$EV")
for round in 0 1 2; do
	none+=("$(rate $((7000 + 2 * round)))")
	start_watch "$TMP/stalled$round.json" "$TMP/stalled$round.err" --json
	SPID=$WPID
	kill -STOP "$SPID"
	stalled+=("$(rate $((7001 + 2 * round)))")
	if [ "$round" -eq 2 ]; then
		evB=$(grep -c '"ev":"flow.open"' "$EV")
		t0=$(date +%s%N)
		s=$(ctl stats --json | jq .success)
		t1=$(date +%s%N)
	fi
	kill -CONT "$SPID"
	peer "$NS_IN2" udp-ask $IP_SRV 5353 "after-stall-$round" >/dev/null
	sleep 1
	kill -TERM "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	l=$(jq -s '[.[]|select(.ev=="watch.loss")|.lost_since_last]|add // 0' "$TMP/stalled$round.json")
	grep -q '"proto":"udp"' "$TMP/stalled$round.json" || l=-1000000000
	lost=$((lost + l))
done
best0=$(printf '%s\n' "${none[@]}" | sort -n | tail -n 1)
best1=$(printf '%s\n' "${stalled[@]}" | sort -n | tail -n 1)
check "the stalled watchers lost lines, were told so (watch.loss: $lost lost) and got the next events" \
	test "$lost" -gt 0
check "a stalled watcher does not slow the gateway: new TCP connections/s, best of 3, stalled ${best1:-?} (${stalled[*]}) vs none ${best0:-?} (${none[*]})" \
	bash -c "[ -n '$best0' ] && [ -n '$best1' ] && [ $best0 -gt 50 ] && [ \$(( $best1 * 10 )) -ge \$(( $best0 * 7 )) ]"
check "the events file kept getting the new flows meanwhile ($((evB - evA)) flow.open)" \
	test $((evB - evA)) -gt 100
check "stats answered at once during a stall ($(( (t1 - t0) / 1000000 )) ms)" \
	bash -c "[ '$s' = true ] && [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]"

# ---- 4. the control socket: never locked out, answers at once ---------------------------------
python3 - "$SOCK" >"$TMP/idle.out" 2>&1 <<'PY' &
import socket, sys, time
conns = []
for _ in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    conns.append(s)
print("open", len(conns), flush=True)
time.sleep(4)
PY
IPID=$!
for _ in $(seq 1 30); do grep -q open "$TMP/idle.out" && break; sleep 0.1; done
t0=$(date +%s%N)
out=$(ctl stats --json | jq -r .success)
t1=$(date +%s%N)
check "20 idle connections, then glassnat stats answers ($out in $(( (t1 - t0) / 1000000 )) ms)" \
	bash -c "[ '$out' = true ] && [ $(( (t1 - t0) / 1000000 )) -lt 2000 ]"
wait "$IPID"
out=$(timeout 60 python3 - "$SOCK" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
t = time.time()
s.sendall(b'{"action":"stats"}\n' * 2000)
n, buf = 0, b""
s.settimeout(30)
while n < 2000:
    c = s.recv(1 << 20)
    if not c:
        break
    n += c.count(b"\n")
print(n, "%.2f" % (time.time() - t))
PY
)
read -r answered secs <<<"$out"
check "2,000 pipelined requests: every one answered in well under 30 s ($answered in ${secs:-?} s)" \
	bash -c "[ '${answered:-0}' -eq 2000 ] && awk 'BEGIN { exit !(${secs:-99} < 10) }'"

# ---- 5. nothing left --------------------------------------------------------------------------
kill -TERM "$GPID" 2>/dev/null
wait "$GPID"
check "SIGTERM: glassnat exits 0 with watchers gone" test $? -eq 0
GPID=
cleanup_watchers
topo_down
trap - EXIT
left=$(topo_left)
check "no namespace of this run is left (${left:-none})" test -z "$left"
finish
