#!/usr/bin/env bash
# The kernel fast path (docs/fastpath.md), in two parts:
#
# 1. The differential test (build/fastpath_diff): the BPF program under
#    BPF_PROG_TEST_RUN against the engine on the same packets: the replay
#    scenarios' captures (gencap.py basic and fragments through
#    configs/hyper-nat.yaml), random established flows both ways under
#    three configs, every payload length up to what test_run takes
#    (GSO-sized beyond 1500), checksum edges, malformed and must-miss
#    packets; byte-identical output, marks, counters. The replays and the
#    random flows run again with the engine installing and removing the
#    flows itself (nat_engine_set_offload).
# 2. A live smoke of the loader: three namespaces (inside host, gateway,
#    remote), the program attached to both gateway veths by
#    `fastpath_diff --live` with one UDP flow and one ICMP echo flow
#    installed, and no other translation on the gateway: datagrams (with
#    the veths' checksum offload on, then off) and echoes must arrive
#    rewritten both ways, the counters must say so, and the clsact qdiscs
#    go away at the end.
#
# Where BPF cannot be loaded (not root, no CAP_BPF) the checks are
# counted as skipped, with the reason.
#
# Output: one "ok - ..." / "not ok - ..." line per check, then
# "N passed, M failed, K skipped". Exit status 1 when anything failed.
#
#   BUILD=build tests/e2e/fastpath_diff_test.sh      (root)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
DIFF=$BUILD/fastpath_diff
PEER=tests/e2e/live_peer.py

. tests/e2e/lib.sh

if [ ! -x "$DIFF" ]; then
	not_ok "$DIFF exists (make $DIFF)"
	finish
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-fpdiff.XXXXXX")
SUF=$$
NS_A=gnfp-a-$SUF
NS_G=gnfp-g-$SUF
NS_B=gnfp-b-$SUF
LPID=
cleanup() {
	if [ -n "$LPID" ] && kill -0 "$LPID" 2>/dev/null; then
		kill "$LPID" 2>/dev/null
		wait "$LPID" 2>/dev/null
	fi
	exec 7>&- 2>/dev/null
	for ns in "$NS_A" "$NS_G" "$NS_B"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---- 1. the differential test ------------------------------------------

tests/e2e/gencap.py --out "$TMP/basic.pcapng" >/dev/null &&
	tests/e2e/gencap.py --scenario fragments --out "$TMP/frag.pcapng" >/dev/null ||
	not_ok "gencap.py writes the replay captures"

timeout 300 "$DIFF" --seed 20261201 --flows 300 \
	--replay configs/hyper-nat.yaml "$TMP/basic.pcapng" \
	--replay configs/hyper-nat.yaml "$TMP/frag.pcapng" >"$TMP/diff.out" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
	skip "differential test (BPF program against the engine)" \
		"BPF cannot be loaded here: $(head -n 1 "$TMP/diff.out")"
	skip "live smoke of the loader" "BPF cannot be loaded here"
	finish
fi
cat "$TMP/diff.out"
while IFS= read -r l; do
	case $l in
	"ok - "*"# SKIP "*) skipped=$((skipped + 1)) ;;
	"ok - "*) passed=$((passed + 1)) ;;
	"not ok - "*) failed=$((failed + 1)) ;;
	esac
done <"$TMP/diff.out"
n_groups=$(grep -c '^ok - .*byte-identical' "$TMP/diff.out")
check "differential test: 11 groups of packets compared" 11 "$n_groups"
check_rc "fastpath_diff exits 0" 0 $rc

# ---- 2. the live smoke ---------------------------------------------------
#   A 172.17.240.2 --a0|g0-- G --g1|b0-- B 198.51.100.2
#   G translates nothing but what the program does: the UDP flow
#   172.17.240.2:5000 <-> 198.51.100.2:6000 as 203.0.113.1:40000, ICMP
#   echo id 4242 as id 4343.

for ns in "$NS_A" "$NS_G" "$NS_B"; do ip netns add "$ns" || not_ok "ip netns add $ns"; done
ip -n "$NS_A" link add a0 type veth peer name g0 netns "$NS_G" &&
	ip -n "$NS_G" link add g1 type veth peer name b0 netns "$NS_B" &&
	ip -n "$NS_A" addr add 172.17.240.2/24 dev a0 &&
	ip -n "$NS_G" addr add 172.17.240.1/24 dev g0 &&
	ip -n "$NS_G" addr add 198.51.100.1/24 dev g1 &&
	ip -n "$NS_B" addr add 198.51.100.2/24 dev b0 &&
	for ns in "$NS_A" "$NS_G" "$NS_B"; do
		ip -n "$ns" link set lo up || exit 1
		for d in $(ip -n "$ns" -o link show type veth | awk -F'[:@]' '{print $2}'); do
			ip -n "$ns" link set "$d" up || exit 1
		done
	done &&
	ip -n "$NS_A" route add default via 172.17.240.1 &&
	ip -n "$NS_B" route add 203.0.113.0/24 via 198.51.100.1 &&
	ip -n "$NS_B" route add 172.17.240.0/24 via 198.51.100.1 &&
	ip netns exec "$NS_G" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
topo=$?
check_rc "three namespaces, veths, routes (gateway forwarding, no NAT)" 0 $topo
[ $topo -eq 0 ] || finish

# Without the program the remote sees the inside address: the baseline
# that shows the translation below is the program's.
udp_pair() { # udp_pair N SIZE: A sends N datagrams of SIZE, B answers each
	rm -f "$TMP/b.out"
	ip netns exec "$NS_B" timeout 60 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.2", 6000)); s.settimeout(10)
print("listening", flush=True)
seen = set()
for _ in range(int(sys.argv[1])):
    d, peer = s.recvfrom(65535)
    seen.add("%s:%d" % peer)
    s.sendto(d, peer)
print("B saw " + ",".join(sorted(seen)))
' "$1" >"$TMP/b.out" 2>&1 &
	local bp=$!
	for _ in $(seq 50); do grep -q listening "$TMP/b.out" && break; sleep 0.1; done
	ip netns exec "$NS_A" timeout 60 python3 -c '
import socket, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("172.17.240.2", 5000)); s.settimeout(2)
seen, good = set(), 0
for i in range(n):
    d = bytes((i + j) & 255 for j in range(size))
    s.sendto(d, ("198.51.100.2", 6000))
    try:
        r, peer = s.recvfrom(65535)
    except socket.timeout:
        continue
    seen.add("%s:%d" % peer)
    good += r == d
print("A got %d/%d from %s" % (good, n, ",".join(sorted(seen))))
' "$1" "$2"
	wait $bp
	grep -v listening "$TMP/b.out"
}
out=$(udp_pair 3 100)
check "without the program: B sees the inside address" \
	"A got 3/3 from 198.51.100.2:6000 B saw 172.17.240.2:5000" "$(echo $out)"

mkfifo "$TMP/ctl"
ip netns exec "$NS_G" "$DIFF" --live g0,g1 \
	--flow 'udp 172.17.240.2:5000 198.51.100.2:6000 203.0.113.1:40000' \
	--flow 'icmp 172.17.240.2:4242 198.51.100.2:0 203.0.113.1:4343' \
	<"$TMP/ctl" >"$TMP/live.out" 2>&1 &
LPID=$!
exec 7>"$TMP/ctl"
for _ in $(seq 50); do
	grep -q '^ready' "$TMP/live.out" 2>/dev/null && break
	kill -0 $LPID 2>/dev/null || break
	sleep 0.1
done
check "fastpath_diff --live attaches to g0 and g1" ready "$(head -n 1 "$TMP/live.out")"
check "clsact ingress on g0 runs glassnat_fp" 1 \
	"$(ip netns exec "$NS_G" tc filter show dev g0 ingress | grep -c 'glassnat_fp.*jited')"

# checksum offload on (CHECKSUM_PARTIAL through the veths), then off
# (full checksums, verified by the receivers' stacks)
out=$(udp_pair 20 1200)
check "UDP, offload on: B sees the mapping, A the remote, every answer intact" \
	"A got 20/20 from 198.51.100.2:6000 B saw 203.0.113.1:40000" "$(echo $out)"
ip netns exec "$NS_A" ethtool -K a0 tx off >/dev/null 2>&1
ip netns exec "$NS_B" ethtool -K b0 tx off >/dev/null 2>&1
out=$(udp_pair 20 333)
check "UDP, offload off: the same, full checksums" \
	"A got 20/20 from 198.51.100.2:6000 B saw 203.0.113.1:40000" "$(echo $out)"
ip netns exec "$NS_B" timeout 10 python3 "$PEER" icmp-sniff 1 >"$TMP/sniff.out" 2>&1 &
sp=$!
for _ in $(seq 30); do grep -q listening "$TMP/sniff.out" && break; sleep 0.1; done
out=$(ip netns exec "$NS_A" timeout 10 python3 "$PEER" ping 198.51.100.2 --id 4242)
wait $sp
check "ICMP echo: the reply comes back with the inside id" \
	"reply from 198.51.100.2 id=4242 csum=ok" "$out"
check "ICMP echo: B sees the mapped address and id" \
	"src=203.0.113.1 id=4343" "$(grep '^src=' "$TMP/sniff.out")"

echo done >&7
exec 7>&-
wait $LPID
lrc=$?
LPID=
check_rc "fastpath_diff --live exits 0" 0 $lrc
sed 's/^/#   /' "$TMP/live.out"
check "UDP flow counters: 40 datagrams each way, 1228+361 bytes each" \
	"flow 1: out 40 pkts 31780 bytes, in 40 pkts 31780 bytes, last recent" \
	"$(grep '^flow 1:' "$TMP/live.out")"
check "ICMP flow counters: one echo each way" \
	"out 1 pkts" "$(grep '^flow 2:' "$TMP/live.out" | grep -o 'out 1 pkts')"
check "no helper failed" "fastpath_error=0" "$(grep '^fastpath_error=' "$TMP/live.out")"
check "the clsact qdiscs are gone after close" 0 \
	"$(ip netns exec "$NS_G" tc qdisc show | grep -c clsact)"

finish
