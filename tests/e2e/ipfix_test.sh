#!/usr/bin/env bash
# IPFIX NAT event logging, live: the real gateway in namespaces
# (tests/e2e/topology.sh) exports its NAT events to a real collector,
# nfdump's nfcapd, listening in the server namespace; tshark captures the
# datagrams there. After the run, nfdump's own reader and tshark's IPFIX
# dissector must each show every flow.open and flow.close of the events
# file, with its inside, mapped and remote addresses and ports.
#
#   BUILD=build tests/e2e/ipfix_test.sh      (root)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
PEER=tests/e2e/live_peer.py

. tests/e2e/live_lib.sh
live_preconditions ipfix
for t in nfcapd nfdump tshark jq; do
	command -v "$t" >/dev/null || { notok "$t is not installed (make deps)"; finish; }
done

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-ipfix.XXXXXX")
GPID=
live_topology_up

PORT=4739
CONFIG=$TMP/ipfix.yaml
{
	cat configs/e2e.yaml
	printf 'control_socket: "%s"\nstate_file: ""\n' "$TMP/ctl.sock"
	printf 'ipfix:\n  collector: "%s:%s"\n  template_interval: 2s\n  observation_domain: 42\n' "$IP_SRV" "$PORT"
} >"$CONFIG"
LOG=$TMP/glassnat.log
EV=$TMP/events.json
mkdir -p "$TMP/flows"
chmod 0777 "$TMP" "$TMP/flows"

# The collector and the capture, in the server namespace, bounded in time.
in_ns "$NS_SRV" timeout 120 nfcapd -w "$TMP/flows" -p "$PORT" -b "$IP_SRV" -t 60 \
	>"$TMP/nfcapd.log" 2>&1 &
CPID=$!
in_ns "$NS_SRV" timeout 120 tshark -i any -f "udp port $PORT" -w "$TMP/ipfix.pcapng" \
	>"$TMP/tshark.log" 2>&1 &
TPID=$!
for _ in $(seq 1 50); do
	grep -q 'Capturing on' "$TMP/tshark.log" && break
	sleep 0.1
done
in_ns "$NS_SRV" timeout 120 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 120 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_IN1" timeout 120 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &

ip netns exec "$NS_GW" timeout 120 "$GLASSNAT" run -c "$CONFIG" \
	--events "$EV" --log-format json >"$LOG" 2>&1 &
GPID=$!
for _ in $(seq 1 50); do
	[ "$(chains_in_gw)" -gt 0 ] && grep -q 'installed' "$LOG" && break
	kill -0 "$GPID" 2>/dev/null || break
	sleep 0.1
done
check "glassnat run started with ipfix.collector $IP_SRV:$PORT" \
	bash -c "[ \$(ip netns exec $NS_GW iptables-save | grep -c GLASSNAT) -gt 0 ]"
sleep 0.5

# ---- traffic: TCP, UDP and ICMP from inside, a forward from outside -------
r=$(peer "$NS_IN1" tcp-send $IP_SRV 5001 100000)
check "TCP inside -> internet ($r)" bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
r=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 hello)
check "UDP inside -> internet ($r)" bash -c "[[ \$0 == 'peer=$IP_NAT:'* ]]" "$r"
r=$(peer "$NS_IN2" ping $IP_SRV)
check "ICMP echo inside -> internet ($r)" bash -c "[[ \$0 == 'reply from $IP_SRV'* ]]" "$r"
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 8080 --timeout 2)
check "TCP to the forward $IP_NAT:8080 reaches $IP_IN1:80 ($r)" test "$r" = connected
sleep 2.5 # past template_interval: the templates go out again

kill -INT "$GPID"
wait "$GPID"
GRC=$?
GPID=
check "SIGINT: glassnat exits 0 ($GRC)" test "$GRC" -eq 0
sleep 1
kill -INT "$TPID" 2>/dev/null
wait "$TPID" 2>/dev/null
kill -TERM "$CPID" 2>/dev/null
wait "$CPID" 2>/dev/null

# The events file's view: "event proto src:sport post_src:post_sport dst:dport post_dst:post_dport"
# in the direction the flow was opened (docs/ipfix.md).
jq -r 'select(.ev=="flow.open" or .ev=="flow.close") |
	(if .ev=="flow.open" then 4 else 5 end) as $e |
	({"tcp":6,"udp":17,"icmp":1}[.proto]) as $p |
	if .kind=="forward" or .kind=="inbound" then
		"\($e) \($p) \(.remote.ip):\(.remote.port) \(.remote.ip):\(.remote.port) \(.mapped.ip):\(.mapped.port) \(.inside.ip):\(.inside.port)"
	else
		"\($e) \($p) \(.inside.ip):\(.inside.port) \(.mapped.ip):\(.mapped.port) \(.remote.ip):\(.remote.port) \(.remote.ip):\(.remote.port)"
	end' "$EV" | sort >"$TMP/want"
nopen=$(grep -c '^4 ' "$TMP/want")
nclose=$(grep -c '^5 ' "$TMP/want")
check "the events file has flow.open and flow.close for TCP, UDP, ICMP and the forward ($nopen opens, $nclose closes)" \
	bash -c "[ $nopen -ge 4 ] && [ $nclose -eq $nopen ] &&
		grep -q '^4 6 ' '$TMP/want' && grep -q '^4 17 ' '$TMP/want' &&
		grep -q '^4 1 ' '$TMP/want' && grep -q ' $IP_NAT:8080 $IP_IN1:80\$' '$TMP/want'"
sed 's/^/# want: /' "$TMP/want"

# ---- nfdump's reader --------------------------------------------------------
files=$(ls "$TMP/flows"/nfcapd.* 2>/dev/null | grep -v current | tr '\n' ' ')
check "nfcapd wrote a flow file ($files)" test -n "$files"
nfdump -R "$TMP/flows" -o json >"$TMP/nfdump.json" 2>"$TMP/nfdump.err"
# nfdump reads an ICMP record's source port as icmp_type / icmp_code
# (docs/ipfix.md): the echo id is code * 256 + type.
jq -r '.[] | select(.nat_event_id) |
	(if .proto == 1 then (.icmp_code * 256 + .icmp_type) else .src_port end) as $sp |
	(if .proto == 1 then 0 else .dst_port end) as $dp |
	"\(.nat_event_id) \(.proto) \(.src4_addr):\($sp) \(.src4_xlt_ip):\(.src_xlt_port) \(.dst4_addr):\($dp) \(.dst4_xlt_ip):\(.dst_xlt_port)"' \
	"$TMP/nfdump.json" | sort >"$TMP/got_nfdump"
sed 's/^/# nfdump: /' "$TMP/got_nfdump"
check "nfdump -R shows every flow.open and flow.close with inside, mapped and remote address and port" \
	diff "$TMP/want" "$TMP/got_nfdump"
diff "$TMP/want" "$TMP/got_nfdump" | sed 's/^/# /' | head -20

# ---- tshark's IPFIX dissector -------------------------------------------------
tshark -r "$TMP/ipfix.pcapng" -d "udp.port==$PORT,cflow" -T fields -E separator='|' \
	-e cflow.version -e cflow.od_id -e cflow.sequence -e cflow.template_id -c 1000 \
	>"$TMP/tshark_hdr.txt" 2>"$TMP/tshark.err"
check "tshark decodes IPFIX (version 10, observation domain 42) with templates" \
	bash -c "grep -q '^10|42|' '$TMP/tshark_hdr.txt' && grep -q '256' '$TMP/tshark_hdr.txt'"
ntpl=$(tshark -r "$TMP/ipfix.pcapng" -d "udp.port==$PORT,cflow" -Y 'cflow.template_id == 256' 2>/dev/null | wc -l)
check "the templates were sent more than once (template_interval 2s: $ntpl messages with them)" \
	test "$ntpl" -ge 2
tshark -r "$TMP/ipfix.pcapng" -d "udp.port==$PORT,cflow" -T json \
	-e cflow.nat_event -e cflow.protocol -e cflow.srcaddr -e cflow.srcport \
	-e cflow.post_natsource_ipv4_address -e cflow.post_naptsource_transport_port \
	-e cflow.dstaddr -e cflow.dstport -e cflow.post_natdestination_ipv4_address \
	-e cflow.post_naptdestination_transport_port 2>>"$TMP/tshark.err" |
	jq -r '.[]._source.layers | select(.["cflow.nat_event"]) |
		[.["cflow.nat_event"], .["cflow.protocol"], .["cflow.srcaddr"], .["cflow.srcport"],
		 .["cflow.post_natsource_ipv4_address"], .["cflow.post_naptsource_transport_port"],
		 .["cflow.dstaddr"], .["cflow.dstport"], .["cflow.post_natdestination_ipv4_address"],
		 .["cflow.post_naptdestination_transport_port"]] | transpose[] |
		select(.[0] == "4" or .[0] == "5") |
		"\(.[0]) \(.[1]) \(.[2]):\(.[3]) \(.[4]):\(.[5]) \(.[6]):\(.[7]) \(.[8]):\(.[9])"' |
	sort >"$TMP/got_tshark"
check "tshark's IPFIX dissector shows every flow.open and flow.close with the same addresses and ports" \
	diff "$TMP/want" "$TMP/got_tshark"
diff "$TMP/want" "$TMP/got_tshark" | sed 's/^/# /' | head -20
# Each message's sequence number is the count of data records in the
# messages before it (RFC 7011 3.1); every data record has a natEvent.
tshark -r "$TMP/ipfix.pcapng" -d "udp.port==$PORT,cflow" -T fields -E separator='|' \
	-e cflow.sequence -e cflow.nat_event 2>/dev/null >"$TMP/seq.txt"
seqok=$(awk -F'|' 'BEGIN { want = 0; ok = 1 }
	{ if ($1 != want) ok = 0; n = ($2 == "") ? 0 : split($2, a, ","); want += n }
	END { print (ok && NR > 0) ? "yes " NR " messages, " want " records" : "no" }' "$TMP/seq.txt")
check "sequence numbers count the data records of the messages before ($seqok)" \
	bash -c "[[ \$0 == yes* ]]" "$seqok"
sent=$(grep -o 'IPFIX records sent: [0-9]*' "$LOG" | grep -o '[0-9]*$')
lines=$(wc -l <"$TMP/want")
check "Ctrl+C: IPFIX records sent ($sent) = the flow events ($lines), none lost" \
	bash -c "[ '$sent' = '$lines' ] && grep -q 'lost (queue full): 0, lost (send errors): 0' '$LOG'"
st_sent=$(jq -r 'select(.ev=="stats") | .ipfix.sent' "$EV")
check "the final stats event counts the same ($st_sent)" test "$st_sent" = "$sent"

finish
