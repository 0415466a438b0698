#!/usr/bin/env bash
# /metrics and the counter registry, live: the real gateway in namespaces
# (tests/e2e/topology.sh) with metrics.listen set. curl scrapes /metrics
# during traffic, promtool checks it, the packet, drop and queue counters
# move; then a real queue overflow (the gateway stopped with SIGSTOP while
# a UDP flood is queued for it) and every output of the registry compared:
# /metrics, `glassnat stats` (text, --json, --prometheus), the final
# statistics at Ctrl+C and the final stats event.
#
#   BUILD=build tests/e2e/metrics_test.sh      (root)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
PEER=tests/e2e/live_peer.py

. tests/e2e/live_lib.sh
live_preconditions metrics
for t in curl promtool jq; do
	command -v "$t" >/dev/null || { notok "$t is not installed (make deps)"; finish; }
done

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-metrics.XXXXXX")
GPID=
live_topology_up

PORT=9469
CONFIG=$TMP/metrics.yaml
SOCK=$TMP/ctl.sock
{
	cat configs/e2e.yaml
	printf 'control_socket: "%s"\nstate_file: ""\n' "$SOCK"
	printf 'metrics:\n  listen: "127.0.0.1:%s"\n' "$PORT"
} >"$CONFIG"
LOG=$TMP/glassnat.log
EV=$TMP/events.json

ip netns exec "$NS_GW" timeout 300 "$GLASSNAT" run -c "$CONFIG" \
	--events "$EV" --log-format json >"$LOG" 2>&1 &
GPID=$!
for _ in $(seq 1 50); do
	grep -q 'Serving http' "$LOG" && break
	kill -0 "$GPID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "Serving http://127.0.0.1:$PORT/metrics" "$LOG"; then
	notok "glassnat run started serving /metrics"
	sed 's/^/# /' "$LOG"
	finish
fi
ok "glassnat run started serving /metrics on 127.0.0.1:$PORT"

scrape() { # scrape FILE: curl /metrics in the gateway namespace
	in_ns "$NS_GW" curl -sS -m 5 -o "$1" -w '%{http_code} %{content_type}' \
		"http://127.0.0.1:$PORT/metrics"
}
# metric FILE NAME_WITH_LABELS -> its value ("" when missing)
metric() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

in_ns "$NS_SRV" timeout 300 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
sleep 0.3

# ---- 1. a scrape before traffic ---------------------------------------------
r=$(scrape "$TMP/m0")
check "curl GET /metrics: 200, text/plain version 0.0.4 ($r)" \
	test "$r" = "200 text/plain; version=0.0.4; charset=utf-8"
out=$(promtool check metrics <"$TMP/m0" 2>&1)
check "promtool check metrics accepts the scrape (${out:-no complaints})" \
	test -z "$out"
check "HELP and TYPE for the queue overflow, ENOBUFS, port exhaustion, table full, fragment and loss counters" \
	bash -c 'for n in glassnat_queue_overflow_total glassnat_queue_enobufs_total \
		glassnat_port_exhausted_events_total glassnat_table_full_events_total \
		glassnat_frag_dropped_overlap_total glassnat_trace_failed_total \
		glassnat_log_lost_total glassnat_flow_duration_seconds; do
		grep -q "^# HELP $n " "$0" && grep -q "^# TYPE $n " "$0" || { echo "missing $n"; exit 1; }
	done' "$TMP/m0"
r=$(in_ns "$NS_GW" curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")
check "another path answers 404 ($r)" test "$r" = 404
r=$(in_ns "$NS_GW" curl -sS -m 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/metrics")
check "POST /metrics answers 405 ($r)" test "$r" = 405

# ---- 2. traffic moves the counters -------------------------------------------
r=$(peer "$NS_IN1" tcp-send $IP_SRV 5001 2000000)
check "TCP 2 MB inside -> internet through the gateway ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
r=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 hello)
check "UDP question answered through the gateway ($r)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'* ]]" "$r"
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 45000 --timeout 1)
check "an unsolicited SYN to a port_range port goes unanswered ($r)" test "$r" != connected
sleep 1.5 # the engine publishes a snapshot each second
scrape "$TMP/m1" >/dev/null
# Translated by the engine or (fast path) by the kernel: both count.
n0=$(metric "$TMP/m0" 'glassnat_packets_total{verdict="natted"}')
n1=$(metric "$TMP/m1" 'glassnat_packets_total{verdict="natted"}')
k1=$(metric "$TMP/m1" glassnat_fastpath_packets_total)
check "natted packets moved during traffic ($n0 -> $n1, +${k1:-0} in the kernel)" \
	test $((${n1:-0} + ${k1:-0})) -gt $((${n0:-0} + 20))
y0=$(metric "$TMP/m0" glassnat_bytes_total)
y1=$(metric "$TMP/m1" glassnat_bytes_total)
kb1=$(metric "$TMP/m1" glassnat_fastpath_bytes_total)
check "bytes moved by at least the 2 MB sent ($y0 -> $y1, +${kb1:-0} in the kernel)" \
	test $((${y1:-0} + ${kb1:-0})) -ge $((${y0:-0} + 2000000))
d0=$(metric "$TMP/m0" 'glassnat_drops_total{reason="no_mapping"}')
d1=$(metric "$TMP/m1" 'glassnat_drops_total{reason="no_mapping"}')
check "the no_mapping drop counter moved ($d0 -> $d1)" test "${d1:-0}" -gt "${d0:-0}"
b1=$(metric "$TMP/m1" 'glassnat_queue_batches_total')
check "the queue's batch counter moved (${b1:-missing})" test "${b1:-0}" -gt 0
out=$(promtool check metrics <"$TMP/m1" 2>&1)
check "promtool accepts the scrape during traffic (${out:-no complaints})" test -z "$out"

# ---- 3. a real queue overflow: the engine stopped, the flood queued ----------
child=$(pgrep -P "$GPID" -x glassnat)
q0=$(( $(metric "$TMP/m1" glassnat_queue_overflow_total) + $(metric "$TMP/m1" glassnat_queue_user_dropped_total) ))
kill -STOP "$child"
# 60,000 datagrams while nobody reads the queue (16,384 slots).
in_ns "$NS_IN1" timeout 30 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(60000):
    try:
        s.sendto(b"x" * 32, (sys.argv[1], 5353))
    except OSError:
        pass
' "$IP_SRV"
kill -CONT "$child"
sleep 2.5
scrape "$TMP/m2" >/dev/null
q2=$(( $(metric "$TMP/m2" glassnat_queue_overflow_total) + $(metric "$TMP/m2" glassnat_queue_user_dropped_total) ))
check "the kernel queue dropped packets while the engine was stopped: overflow + not delivered $q0 -> $q2" \
	test "$q2" -gt "$q0"
out=$(promtool check metrics <"$TMP/m2" 2>&1)
check "promtool accepts the scrape after the overflow (${out:-no complaints})" test -z "$out"

# ---- 4. every output says the same ----------------------------------------------
sleep 1.2
scrape "$TMP/m3" >/dev/null
"$GLASSNAT" stats -s "$SOCK" --json >"$TMP/s.json" 2>&1
"$GLASSNAT" stats -s "$SOCK" --prometheus >"$TMP/s.prom" 2>&1
"$GLASSNAT" stats -s "$SOCK" >"$TMP/s.txt" 2>&1
out=$(promtool check metrics <"$TMP/s.prom" 2>&1)
check "promtool accepts glassnat stats --prometheus (${out:-no complaints})" test -z "$out"
same=1
for pair in queue.queue_dropped:glassnat_queue_overflow_total \
	queue.user_dropped:glassnat_queue_user_dropped_total \
	queue.enobufs:glassnat_queue_enobufs_total \
	dropped:'glassnat_packets_total{verdict="dropped"}' \
	natted:'glassnat_packets_total{verdict="natted"}' \
	by_reason.no_mapping:'glassnat_drops_total{reason="no_mapping"}' \
	port_exhausted_events:glassnat_port_exhausted_events_total \
	table_full_events:glassnat_table_full_events_total; do
	k=${pair%%:*} p=${pair#*:}
	j=$(jq -r ".stats.$k" "$TMP/s.json")
	a=$(metric "$TMP/s.prom" "$p")
	h=$(metric "$TMP/m3" "$p")
	echo "# $k: json=$j prometheus=$a /metrics=$h"
	[ "$j" = "$a" ] && [ "$j" = "$h" ] && [ "$j" != null ] || same=0
done
check "stats --json, --prometheus and /metrics agree on the queue, drop and limit counters" test "$same" = 1
qd=$(jq -r '.stats.queue.queue_dropped' "$TMP/s.json")
ud=$(jq -r '.stats.queue.user_dropped' "$TMP/s.json")
check "glassnat stats (text) shows the overflow ($qd, $ud)" \
	grep -q "^Queue overflow: $qd, not delivered (socket full): $ud, ENOBUFS: " "$TMP/s.txt"

# ---- 5. Ctrl+C: the final statistics and the stats event carry them too -----------
kill -INT "$GPID"
wait "$GPID"
GRC=$?
GPID=
check "SIGINT: glassnat exits 0 ($GRC)" test "$GRC" -eq 0
FINAL=$(sed -n '/Final statistics:/,$p' "$LOG")
check "Ctrl+C: Hyper-NAT's lines first (Packets processed ... Total connections)" \
	bash -c "grep -A7 'Final statistics:' <<<\"\$0\" | sed 's/^.*\] \[[A-Z]*\] //' |
		awk 'NR>1{sub(/:.*/,\"\"); print}' | tr '\n' '|' |
		grep -qx '  Packets processed|  Packets NATted|  Packets bypassed|  Packets passed|  Packets dropped|  Active connections|  Total connections|'" "$FINAL"
check "Ctrl+C: the overflow line with the same numbers as stats --json ($qd, $ud), a WARN" \
	grep -q "\[WARN\] \[QUEUE\]   Queue overflow: $qd, not delivered (socket full): $ud, ENOBUFS: " <<<"$FINAL"
ST=$(jq -c 'select(.ev=="stats")' "$EV")
check "one final stats event" test "$(grep -c . <<<"$ST")" -eq 1
# Every key of stats --json is in the event (the event adds suppressed,
# trace_lost, log_lost), but `networks`: the per-network view of the flow
# counters that `glassnat stats` answers live (the event has their sums).
missing=$(jq -rn --argjson a "$(jq '.stats | del(.networks)' "$TMP/s.json")" --argjson b "$ST" \
	'[$a | paths(scalars) | map(tostring) | join(".")] - [$b | paths(scalars) | map(tostring) | join(".")] | join(" ")')
check "every counter of glassnat stats --json is in the final stats event (${missing:-none missing})" \
	test -z "$missing"
same=1
for k in queue.queue_dropped queue.user_dropped queue.enobufs by_reason.no_mapping natted dropped; do
	a=$(jq -r ".stats.$k" "$TMP/s.json") b=$(jq -r ".$k" <<<"$ST")
	echo "# $k: stats=$a event=$b"
	[ "$a" = "$b" ] || same=0
done
check "the stats event's queue and drop counters equal stats --json's after the traffic" test "$same" = 1
# Every line of the Ctrl+C block is a counter of the event: the block's
# numbers, in order, are found in the event's text rendering.
ev_qd=$(jq -r '.queue.queue_dropped' <<<"$ST")
ctrlc_qd=$(grep -o 'Queue overflow: [0-9]*' <<<"$FINAL" | grep -o '[0-9]*$')
check "Ctrl+C's queue overflow ($ctrlc_qd) is the stats event's ($ev_qd)" test "$ctrlc_qd" = "$ev_qd"
for w in "Packets processed:packets" "Packets NATted:natted" "Total connections:flows_total" \
	"ENOBUFS:queue.enobufs" "Hairpinned:hairpinned" "Expired connections:flows_expired"; do
	words=${w%%:*} k=${w#*:}
	c=$(grep -o "$words: [0-9]*" <<<"$FINAL" | head -1 | grep -o '[0-9]*$')
	e=$(jq -r ".$k" <<<"$ST")
	check "Ctrl+C '$words' ($c) equals the stats event's $k ($e)" test "$c" = "$e"
done

finish
