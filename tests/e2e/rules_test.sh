#!/usr/bin/env bash
# The seeds' rule model, live: the real glassnat as the gateway of the
# namespace topology (tests/e2e/topology.sh, kernel defaults), with real
# traffic:
#   - a forward restricted to one source network refuses another: pkt.drop
#     with reason forward_source;
#   - a forward on a second outside address (external_ip);
#   - UDP 53 redirected to another resolver, the reply coming back from the
#     address the client asked;
#   - two inside networks, one at its flow limit (LRU evictions in its
#     counters and events) while the other is unaffected.
# Each check prints "ok - ..." or "not ok - ..."; the last line is
# "N passed, M failed, K skipped". Needs root; only namespaces gn-<pid>-*.
#
#   BUILD=build tests/e2e/rules_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
PEER=tests/e2e/live_peer.py

. tests/e2e/live_lib.sh
live_preconditions rules

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-rules.XXXXXX")
GPID=
live_topology_up

IP_NAT2=203.0.113.2     # a second outside address of the gateway
IP_ASKED=198.51.100.53  # the resolver the client asks (nobody has it)
IP_OFFICE=172.17.240.150 # in2, moved into the second inside network
SOCK=$TMP/ctl.sock
EV=$TMP/events.json
LOG=$TMP/glassnat.log

# The second outside address, and in2 moved to the upper half of the
# inside /24 (same link, same gateway).
in_ns "$NS_GW" ip addr add $IP_NAT2/24 dev out0
in_ns "$NS_IN2" ip addr del $IP_IN2/24 dev eth0
in_ns "$NS_IN2" ip addr add $IP_OFFICE/24 dev eth0
in_ns "$NS_IN2" ip route replace default via $IP_GW_IN

cat >"$TMP/rules.yaml" <<EOF
nat_ip: $IP_NAT
internal_network: [172.17.240.0/25, 172.17.240.128/25]
host_internal_ip: $IP_GW_IN
networks:
  - name: lab
    network: 172.17.240.0/25
    max_flows: 4
  - name: office
    network: 172.17.240.128/25
rules:
  - name: dns-redirect
    action: redirect
    protocol: udp
    destination: $IP_ASKED
    ports: 53
    to_address: $IP_SRV
    to_port: 5353
  - name: internet
    action: nat
port_forward:
  - name: office-only
    protocol: tcp
    external_port: 2222
    internal_ip: $IP_IN1
    internal_port: 80
    source: 198.51.100.0/24
  - name: second-address
    protocol: tcp
    external_port: 8081
    internal_ip: $IP_IN1
    internal_port: 80
    external_ip: $IP_NAT2
control_socket: "$SOCK"
state_file: ""
EOF

out=$("$GLASSNAT" check -c "$TMP/rules.yaml" 2>&1)
check "glassnat check prints the networks, the redirect and the forward matches" \
	bash -c 'grep -q "^  1. lab  172.17.240.0/25 (128 addresses)  max_flows 4" <<<"$0" &&
		grep -q -- "-> redirect to 198.51.100.10:5353, then nat" <<<"$0" &&
		grep -q "\"office-only\"  from 198.51.100.0/24" <<<"$0" &&
		grep -q "tcp 203.0.113.2:8081 -> 172.17.240.21:80" <<<"$0"' "$out"

ip netns exec "$NS_GW" timeout 300 "$GLASSNAT" run -c "$TMP/rules.yaml" \
	--events "$EV" --log-format json >"$LOG" 2>&1 &
GPID=$!
started=0
for _ in $(seq 1 50); do
	if [ "$(chains_in_gw)" -gt 0 ] && [ -S "$SOCK" ] && grep -q installed "$LOG"; then
		started=1
		break
	fi
	kill -0 "$GPID" 2>/dev/null || break
	sleep 0.1
done
if [ $started = 1 ]; then
	ok "glassnat run started with the rules config"
else
	notok "glassnat run started with the rules config"
	sed 's/^/# /' "$LOG"
	finish
fi
ctl() { in_ns "$NS_GW" "$GLASSNAT" "$@" -s "$SOCK"; }

rules=$(in_ns "$NS_GW" iptables-save)
[ -n "${KEEP_TMP:-}" ] && echo "$rules" >"$TMP/iptables.txt"
check "NFQUEUE: both inside networks and the second address are queued" \
	bash -c 'grep -qE -- "-A GLASSNAT-OUT -s 172.17.240.128/25 -j (NFQUEUE|GLASSNAT-QUEUE)" <<<"$0" &&
		grep -qE -- "-A GLASSNAT-IN -d 203.0.113.2/32 ! -i lo -p tcp -m tcp --dport 8081 -j (NFQUEUE|GLASSNAT-QUEUE)" <<<"$0"' "$rules"

in_ns "$NS_SRV" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_IN1" timeout 300 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
sleep 0.5

# ---- 1. a forward restricted to one source network ---------------------------
r=$(peer "$NS_SRV" tcp-send $IP_NAT 2222 1000)
check "forward office-only: a sender in 198.51.100.0/24 gets through ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
r=$(peer "$NS_INET" tcp-probe $IP_NAT 2222 --timeout 2)
check "forward office-only: a sender in 203.0.113.0/24 is refused ($r)" \
	test "$r" = timeout
drop=$(jq -c 'select(.ev=="pkt.drop" and .reason=="forward_source")' "$EV" 2>/dev/null | head -1)
check "the refusal is a pkt.drop with reason forward_source from 203.0.113.254 ($drop)" \
	bash -c '[ "$(jq -r ".remote.ip + \" \" + (.mapped.port|tostring)" <<<"$0")" = "203.0.113.254 2222" ]' "$drop"
n=$(ctl stats --json | jq '.stats.by_reason.forward_source')
check "stats count the refusals under forward_source ($n)" test "${n:-0}" -ge 1

# ---- 2. a forward on a second address -------------------------------------------
r=$(peer "$NS_SRV" tcp-send $IP_NAT2 8081 1000)
check "forward on the second address 203.0.113.2:8081 reaches in1 ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 8081 --timeout 2)
check "the same port on nat_ip is not forwarded ($r)" test "$r" != connected
fl=$(ctl forward list)
check "forward list shows the source and the address" \
	bash -c 'grep -q "office-only.*from 198.51.100.0/24" <<<"$0" &&
		grep -q "second-address.*on 203.0.113.2" <<<"$0"' "$fl"

# ---- 3. UDP 53 redirected to another resolver ----------------------------------
r=$(peer "$NS_IN1" udp-ask $IP_ASKED 53 hello --timeout 3)
check "DNS to $IP_ASKED:53 is answered by $IP_SRV:5353, seen from nat_ip ($r)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'*' data=hello' ]]" "$r"
# udp-ask's socket is connected to $IP_ASKED:53: the kernel hands it only a
# reply from that address, so the answer above proves the source. The
# flow and its event say so too.
ev=$(jq -c 'select(.ev=="flow.open" and .rule=="dns-redirect")' "$EV" | head -1)
check "flow.open of the redirect: remote $IP_SRV:5353, original $IP_ASKED:53 ($ev)" \
	bash -c '[ "$(jq -r "\"\(.remote.ip):\(.remote.port) \(.original.ip):\(.original.port)\"" <<<"$0")" = \
		"198.51.100.10:5353 198.51.100.53:53" ]' "$ev"
fj=$(ctl flows --json | jq -c '.flows[] | select(.rule=="dns-redirect")' | head -1)
check "glassnat flows shows the redirected flow's original destination ($fj)" \
	bash -c '[ "$(jq -r .original <<<"$0")" = "198.51.100.53:53" ]' "$fj"

# ---- 4. two inside networks, one at its flow limit -----------------------------
s0=$(ctl stats --json)
a0=$(jq '.stats.networks[] | select(.name=="lab") | .flows_active' <<<"$s0")
e0=$(jq '.stats.networks[] | select(.name=="lab") | .flows_evicted' <<<"$s0")
good=0
for i in 1 2 3 4 5 6 7 8; do
	r=$(peer "$NS_IN1" udp-ask $IP_SRV 5353 "lab$i" --timeout 3)
	[[ $r == "peer=$IP_NAT:"*" data=lab$i" ]] && good=$((good + 1))
done
check "lab: 8 new UDP flows each answered ($good of 8)" test "$good" = 8
good=0
for i in 1 2 3 4 5 6; do
	r=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 "office$i" --timeout 3)
	[[ $r == "peer=$IP_NAT:"*" data=office$i" ]] && good=$((good + 1))
done
check "office: 6 new UDP flows each answered ($good of 6)" test "$good" = 6
s1=$(ctl stats --json)
lab=$(jq -c '.stats.networks[] | select(.name=="lab")' <<<"$s1")
office=$(jq -c '.stats.networks[] | select(.name=="office")' <<<"$s1")
want=$((a0 + 8 - 4))
check "lab stays at its max_flows 4 ($lab)" \
	test "$(jq .flows_active <<<"$lab")" = 4
check "lab evicted exactly its oldest flows beyond 4: $want more ($e0 before; $lab)" \
	test "$(jq .flows_evicted <<<"$lab")" = $((e0 + want))
check "office is unaffected: 6 active, none evicted ($office)" \
	bash -c '[ "$(jq .flows_active <<<"$0")" -ge 6 ] && [ "$(jq .flows_evicted <<<"$0")" = 0 ]' "$office"
check "stats: flows_evicted in total equals the lab's ($(jq .stats.flows_evicted <<<"$s1"))" \
	test "$(jq .stats.flows_evicted <<<"$s1")" = "$(jq .flows_evicted <<<"$lab")"
txt=$(ctl stats)
check "glassnat stats names both networks" \
	bash -c 'grep -q "^  lab  *172.17.240.0/25 .*evicted (max_flows 4)" <<<"$0" &&
		grep -q "^  office  *172.17.240.128/25" <<<"$0"' "$txt"
kill -TERM "$GPID" 2>/dev/null
wait "$GPID" 2>/dev/null
GPID=
nev=$(jq -c 'select(.ev=="flow.evicted")' "$EV" | jq -s 'map(.network) | unique | join(",")' 2>/dev/null)
cnt=$(jq -c 'select(.ev=="flow.evicted")' "$EV" | wc -l)
check "flow.evicted events, one per eviction, all in network lab ($cnt events, networks $nev)" \
	bash -c '[ "$0" = "\"lab\"" ] && [ "$1" = "$2" ]' "$nev" "$cnt" "$(jq .flows_evicted <<<"$lab")"
opens=$(jq -c 'select(.ev=="flow.open" and .network=="office")' "$EV" | wc -l)
check "flow.open events name the office network ($opens)" test "$opens" -ge 6

finish
