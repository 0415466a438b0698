#!/usr/bin/env bash
# Live benchmark: glassnat against the kernel's own nftables masquerade, in
# one run, in the same namespace topology (tests/e2e/topology.sh), from the
# inside host in1 to the internet server srv (198.51.100.10).
#
#   TCP throughput    iperf3 -t 5, RUNS runs each, median, ratio
#   UDP 64-byte pps   iperf3 -u -l 64 -b 0 -t 3, out (in1 -> srv) and in
#                     (-R, srv -> in1), packets received a second
#   new connections   a second, connect + 1 byte + answer + close
#   ping latency      200 echoes 10 ms apart, p50 / p99; added = glassnat
#                     minus kernel
#
# The kernel masquerade is configured inside the gateway namespace with nft
# (table ip gnbench), never in the root namespace. Needs root, iperf3,
# python3. Everything is removed on exit (trap).
#
#   BUILD=build tests/bench/live_bench.sh     (make bench runs it)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
CONFIG=configs/e2e.yaml
PEER=tests/e2e/live_peer.py
RUNS=${RUNS:-3}

for t in iperf3 python3 nft jq; do
	command -v "$t" >/dev/null || { echo "bench: $t missing (make deps)" >&2; exit 1; }
done
[ -x "$GLASSNAT" ] || { echo "bench: $GLASSNAT not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (scripts/as-root.sh)" >&2; exit 1; }

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-bench.XXXXXX")
GPID=
topo_before_down() {
	if [ -n "$GPID" ]; then kill -TERM "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; fi
	rm -rf "$TMP"
}
topo_up || { echo "bench: topology failed" >&2; exit 1; }

ip netns exec "$NS_SRV" timeout 600 iperf3 -s -p 5201 >/dev/null 2>&1 &
ip netns exec "$NS_SRV" timeout 600 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
sleep 0.5

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }

tcp_gbps() {
	for _ in $(seq 1 "$RUNS"); do
		ip netns exec "$NS_IN1" timeout 20 iperf3 -c $IP_SRV -p 5201 -t 5 -J 2>/dev/null |
			jq -r '.end.sum_received.bits_per_second / 1e9'
	done | median
}
udp_pps() { # udp_pps [-R]
	ip netns exec "$NS_IN1" timeout 20 iperf3 -c $IP_SRV -p 5201 -u -l 64 -b 0 -t 3 "$@" -J 2>/dev/null |
		jq -r '.end.sum | (.packets - .lost_packets) / .seconds | floor'
}
conn_rate() {
	ip netns exec "$NS_IN1" timeout 20 python3 "$PEER" conn-rate $IP_SRV 5001 --seconds 3 |
		sed -n 's/conn_per_s=//p'
}
ping_pct() {
	ip netns exec "$NS_IN1" timeout 20 python3 "$PEER" ping-many $IP_SRV --count 200
}

measure() { # measure NAME
	local name=$1
	echo "== $name" >&2
	eval "${name}_tcp=\$(tcp_gbps)"
	eval "${name}_udp_out=\$(udp_pps)"
	eval "${name}_udp_in=\$(udp_pps -R)"
	eval "${name}_conn=\$(conn_rate)"
	local p
	p=$(ping_pct)
	eval "${name}_p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$p")"
	eval "${name}_p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$p")"
}

# ---- glassnat ----------------------------------------------------------------
ip netns exec "$NS_GW" timeout 600 "$GLASSNAT" run -c "$CONFIG" >"$TMP/glassnat.log" 2>&1 &
GPID=$!
for _ in $(seq 1 50); do grep -q installed "$TMP/glassnat.log" && break; sleep 0.1; done
measure glassnat
kill -INT "$GPID"; wait "$GPID"; GPID=
grep -E 'Queue overflow|Batches' "$TMP/glassnat.log" | sed 's/^.*\] /  glassnat: /' >&2

# ---- glassnat with everything observed: every packet traced, events on ---------
ip netns exec "$NS_GW" timeout 600 "$GLASSNAT" run -c "$CONFIG" --trace "$TMP/trace" \
	--events "$TMP/events.json" >"$TMP/glassnat-traced.log" 2>&1 &
GPID=$!
for _ in $(seq 1 50); do grep -q installed "$TMP/glassnat-traced.log" && break; sleep 0.1; done
echo "== glassnat --trace (every packet) --events" >&2
traced_tcp=$(tcp_gbps)
traced_udp_out=$(udp_pps)
kill -INT "$GPID"; wait "$GPID"; GPID=
traced_note=$(sed -n 's/^.*\] *Trace: //p' "$TMP/glassnat-traced.log")
rm -rf "$TMP/trace"

# ---- the kernel's nftables masquerade -------------------------------------------
ip netns exec "$NS_GW" nft -f - <<'EOF'
table ip gnbench {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.17.240.0/24 oifname "out0" masquerade
	}
}
EOF
measure kernel
ip netns exec "$NS_GW" nft delete table ip gnbench

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "live benchmark (median of $RUNS TCP runs; one topology; $(nproc) CPUs)"
printf '%-28s %14s %14s %8s\n' "" glassnat kernel ratio
printf '%-28s %14.2f %14.2f %8s\n' "TCP throughput (Gbit/s)" "$glassnat_tcp" "$kernel_tcp" "$(ratio "$glassnat_tcp" "$kernel_tcp")"
printf '%-28s %14d %14d %8s\n' "UDP 64 B out (pkt/s)" "$glassnat_udp_out" "$kernel_udp_out" "$(ratio "$glassnat_udp_out" "$kernel_udp_out")"
printf '%-28s %14d %14d %8s\n' "UDP 64 B in (pkt/s)" "$glassnat_udp_in" "$kernel_udp_in" "$(ratio "$glassnat_udp_in" "$kernel_udp_in")"
printf '%-28s %14d %14d %8s\n' "new TCP connections/s" "$glassnat_conn" "$kernel_conn" "$(ratio "$glassnat_conn" "$kernel_conn")"
printf '%-28s %14d %14d %8s\n' "ping p50 (us)" "$glassnat_p50" "$kernel_p50" "+$((glassnat_p50 - kernel_p50))"
printf '%-28s %14d %14d %8s\n' "ping p99 (us)" "$glassnat_p99" "$kernel_p99" "+$((glassnat_p99 - kernel_p99))"
printf '%-28s %14.2f %14s %8s\n' "TCP, all traced (Gbit/s)" "$traced_tcp" "" "$(ratio "$traced_tcp" "$glassnat_tcp") of untraced"
printf '%-28s %14d %14s %8s\n' "UDP 64 B out, all traced" "$traced_udp_out" "" "$(ratio "$traced_udp_out" "$glassnat_udp_out") of untraced"
echo "  trace with every packet selected: $traced_note"
echo "targets: TCP >= 0.8x the kernel, UDP 64 B >= 0.5x the kernel"
