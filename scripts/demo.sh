#!/usr/bin/env bash
# `make demo`: the live gateway in network namespaces, in under a minute.
#
# Builds the test topology (tests/e2e/topology.sh: two inside hosts on
# 172.17.240.0/24, a gateway namespace running the real glassnat, a "host
# network" 192.0.2.0/24 that is bypassed, an internet server on
# 198.51.100.0/24), runs glassnat there with --trace and --events and
# configs/e2e.yaml (Hyper-NAT's rules mapped to those addresses), drives a
# little traffic of every kind (TCP, UDP, ping, a port forward, the bypassed
# host network, an unsolicited packet that is dropped), stops glassnat with
# Ctrl+C's signal, then shows what natdump reads from the trace: the flows,
# one flow followed packet by packet, and the drops. Everything runs inside
# namespaces named gn-<pid>-*; they, the chains and the processes are
# removed on exit, whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
NATDUMP=$BUILD/natdump
CONFIG=configs/e2e.yaml
PEER=tests/e2e/live_peer.py

if [ ! -x "$GLASSNAT" ]; then
	echo "demo: $GLASSNAT not found; run 'make demo' (it builds first)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, iptables); 'make demo' uses sudo" >&2
	exit 1
fi
for tool in python3 iptables ip; do
	command -v "$tool" >/dev/null || { echo "demo: $tool missing; run 'make deps'" >&2; exit 1; }
done

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-demo.XXXXXX")
TRACE=$TMP/trace
EVENTS=$TMP/events.json
GPID=
topo_before_down() {
	if [ -n "$GPID" ]; then kill -TERM "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; fi
	rm -rf "$TMP"
}
heading() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { # run NS DESCRIPTION CMD...: shows what runs where, then its output
	local ns=$1 what=$2
	shift 2
	printf '\033[2m%s $ %s\033[0m\n' "${ns#gn-*-}" "$what"
	ip netns exec "$ns" timeout 15 "$@" 2>&1 | sed 's/^/    /'
}

heading "1. Topology (namespaces gn-$TOPO_ID-*)"
topo_up || { echo "demo: could not create the namespaces" >&2; exit 1; }
cat <<EOF
  in1 $IP_IN1, in2 $IP_IN2 --- gw (glassnat) --- inet router --- srv $IP_SRV
                                nat_ip $IP_NAT
                                 '--- host network: hnet $IP_HNET (bypassed)
EOF

heading "2. glassnat run -c $CONFIG --trace DIR --events FILE"
mkdir -p "$TRACE"
ip netns exec "$NS_GW" timeout 120 "$GLASSNAT" run -c "$CONFIG" \
	--trace "$TRACE" --events "$EVENTS" --log-format json >"$TMP/glassnat.log" 2>&1 &
GPID=$!
for _ in $(seq 1 50); do grep -q installed "$TMP/glassnat.log" && break; sleep 0.1; done
sed 's/^/    /' "$TMP/glassnat.log"
echo "  its chains in the gateway namespace:"
ip netns exec "$NS_GW" iptables-save | grep -E '^-A (PREROUTING|POSTROUTING) -j GLASSNAT|^-A GLASSNAT-OUT' | sed 's/^/    /'

heading "3. Traffic"
ip netns exec "$NS_SRV" timeout 60 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
ip netns exec "$NS_SRV" timeout 60 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
ip netns exec "$NS_HNET" timeout 60 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
ip netns exec "$NS_IN1" timeout 60 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
sleep 0.5
echo "TCP to the internet (the server sees nat_ip and a mapped port):"
run "$NS_IN1" "send 1 MB to $IP_SRV:5001" python3 "$PEER" tcp-send $IP_SRV 5001 1000000
echo "UDP request/response:"
run "$NS_IN2" "udp $IP_SRV:5353 'hello'" python3 "$PEER" udp-ask $IP_SRV 5353 hello
echo "ping (the identifier is mapped on the way out, restored on the way back):"
run "$NS_IN1" "ping $IP_SRV id 4660" python3 "$PEER" ping $IP_SRV --id 4660
echo "the host network is bypassed (the server sees the inside address):"
run "$NS_IN1" "send 1 kB to $IP_HNET:5001" python3 "$PEER" tcp-send $IP_HNET 5001 1000
echo "port forward tcp/8080 -> $IP_IN1:80, from the internet:"
run "$NS_SRV" "send 10 kB to $IP_NAT:8080" python3 "$PEER" tcp-send $IP_NAT 8080 10000
echo "an unsolicited SYN to nat_ip:45000 (no flow, no forward): dropped"
run "$NS_SRV" "connect $IP_NAT:45000" python3 "$PEER" tcp-probe $IP_NAT 45000 --timeout 1

heading "4. Ctrl+C: glassnat removes its chains and prints its statistics"
kill -INT "$GPID"
wait "$GPID"
GPID=
grep -E 'shutting down|Final|Packets|connections|no_mapping|Queue' "$TMP/glassnat.log" | sed 's/^/    /'
echo "  GLASSNAT lines left in the gateway's iptables: $(ip netns exec "$NS_GW" iptables-save | grep -c GLASSNAT)"

heading "5. What the trace says (natdump)"
if [ -x "$NATDUMP" ] && ls "$TRACE"/* >/dev/null 2>&1; then
	echo "natdump flows $TRACE"
	"$NATDUMP" flows "$TRACE" | sed 's/^/    /'
	id=$("$NATDUMP" flows "$TRACE" --json 2>/dev/null | jq -r 'select(.proto=="tcp") | .flow' 2>/dev/null | head -1)
	if [ -n "$id" ]; then
		echo "natdump follow $id $TRACE"
		"$NATDUMP" follow "$id" "$TRACE" | head -20 | sed 's/^/    /'
	fi
	echo "natdump drops $TRACE"
	"$NATDUMP" drops "$TRACE" | sed 's/^/    /'
else
	echo "  (no trace to read: --trace and natdump are not in this build yet;"
	echo "   the final statistics above count the drop as no_mapping)"
fi
if [ -s "$EVENTS" ] && command -v jq >/dev/null; then
	echo "events (pkt.drop):"
	jq -c 'select(.ev=="pkt.drop")' "$EVENTS" | head -5 | sed 's/^/    /'
fi

heading "6. Cleaning up"
topo_down
trap - EXIT
echo "  namespaces left: $(topo_left | wc -l)"
