#!/usr/bin/env bash
# The live path's incremental checksums (RFC 1624), end to end: the
# namespace topology with checksum offload, TSO, GSO and GRO off on every
# veth (ethtool -K, inside the test's namespaces only), so every packet
# glassnat rewrites arrives with a full checksum and no GSO: the engine
# adjusts it by the delta, and nothing downstream recomputes it. dumpcap
# records what the receivers get (the server, both inside hosts) and
# tshark validates every IPv4, TCP, UDP and ICMP checksum, the ones
# inside ICMP errors included. Traffic: TCP both ways (snat and a port
# forward), UDP both ways, ICMP echo, and ICMP errors (port unreachable,
# time exceeded) carried back to the inside.
#
# Output: one "ok - ..." / "not ok - ..." line per check, then
# "N passed, M failed, K skipped". Exit status 1 when anything failed.
#
#   BUILD=build tests/e2e/csum_test.sh      (root)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
CONFIG=configs/e2e.yaml
PEER=tests/e2e/live_peer.py

. tests/e2e/live_lib.sh
live_preconditions csum
for tool in ethtool dumpcap tshark; do
	command -v $tool >/dev/null || { notok "$tool installed (make deps)"; finish; }
done

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-csum.XXXXXX")
GPID=
CAPS=()
topo_before_down() {
	local p
	for p in "${CAPS[@]}"; do kill -INT "$p" 2>/dev/null; done
	if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
		kill -TERM "$GPID" 2>/dev/null
		wait "$GPID" 2>/dev/null
	fi
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
live_topology_up

# Offloads off on every device of the test's namespaces that has them.
offload_off() { # offload_off NS DEV
	in_ns "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1
	in_ns "$1" ethtool -k "$2" 2>/dev/null |
		grep -Eq '^tx-checksumming: off' &&
		in_ns "$1" ethtool -k "$2" 2>/dev/null | grep -Eq '^generic-segmentation-offload: off'
}
bad_dev=
for d in in1 in2 out0 host0 br0; do offload_off "$NS_GW" $d || bad_dev+=" gw:$d"; done
for ns in "$NS_IN1" "$NS_IN2" "$NS_SRV" "$NS_HNET"; do
	offload_off "$ns" eth0 || bad_dev+=" $ns:eth0"
done
for d in gw0 srv0; do offload_off "$NS_INET" $d || bad_dev+=" inet:$d"; done
check "tx/rx checksum offload, TSO, GSO and GRO off on every veth and the bridge${bad_dev:+ (not on:$bad_dev)}" \
	test -z "$bad_dev"

in_ns "$NS_SRV" timeout 120 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 120 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_IN1" timeout 120 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
in_ns "$NS_IN2" timeout 120 python3 "$PEER" udp-serve 5300 >/dev/null 2>&1 &

# dumpcap on each receiver's eth0, started before the traffic.
capture() { # capture NS NAME
	in_ns "$1" timeout 120 dumpcap -q -i eth0 -w "$TMP/$2.pcapng" >"$TMP/$2.dumpcap" 2>&1 &
	CAPS+=($!)
}
capture "$NS_SRV" srv
capture "$NS_IN1" in1
capture "$NS_IN2" in2
for _ in $(seq 1 50); do
	n=0
	for c in srv in1 in2; do grep -q 'Capturing on' "$TMP/$c.dumpcap" && n=$((n + 1)); done
	[ $n -eq 3 ] && break
	sleep 0.1
done
check "dumpcap capturing on the server and both inside hosts" test "$n" -eq 3

# e2e.yaml with its own control socket and state file (never /run).
CONF=$TMP/gw.yaml
cp "$CONFIG" "$CONF"
printf 'control_socket: "%s"\nstate_file: "%s"\n' "$TMP/ctl.sock" "$TMP/state.json" >>"$CONF"
LOG=$TMP/glassnat.log
ip netns exec "$NS_GW" timeout 120 "$GLASSNAT" run -c "$CONF" >"$LOG" 2>&1 &
GPID=$!
started=0
for _ in $(seq 1 50); do
	[ "$(chains_in_gw)" -gt 0 ] && grep -q 'installed' "$LOG" && { started=1; break; }
	kill -0 "$GPID" 2>/dev/null || break
	sleep 0.1
done
if [ $started -eq 1 ]; then ok "glassnat run started"; else
	notok "glassnat run started"
	sed 's/^/# /' "$LOG"
	finish
fi

r=$(peer "$NS_IN1" tcp-send $IP_SRV 5001 3000000)
check "TCP 3 MB in1 -> server, from nat_ip, byte for byte ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
r=$(peer "$NS_SRV" tcp-send $IP_NAT 8080 1000000)
check "TCP 1 MB server -> forward web (in1:80) byte for byte ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
r=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 csum-udp-out)
check "UDP in2 -> server and back ($r)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'*' data=csum-udp-out' ]]" "$r"
r=$(peer "$NS_SRV" udp-ask $IP_NAT 5300 csum-udp-in)
check "UDP server -> forward dns (in2:5300) and back ($r)" \
	bash -c "[[ \$0 == 'peer=$IP_SRV:'*' data=csum-udp-in' ]]" "$r"
r=$(peer "$NS_IN1" ping $IP_SRV --id 4711)
check "ICMP echo in1 -> server, reply with the inside id ($r)" \
	test "$r" = "reply from $IP_SRV id=4711 csum=ok"
r=$(peer "$NS_IN2" udp-ask $IP_SRV 5999 csum-closed)
check "UDP to a closed port: the ICMP port unreachable reaches in2 ($r)" test "$r" = refused
r=$(peer "$NS_IN1" ping $IP_SRV --ttl 2 --id 4712)
check "TTL 2: time exceeded from the router past the gateway reaches in1 ($r)" \
	bash -c "[[ \$0 == 'time-exceeded from $IP_INET id=4712'* ]]" "$r"

kill -TERM "$GPID" 2>/dev/null
wait "$GPID"
GRC=$?
GPID=
check "glassnat stopped cleanly (exit $GRC)" test "$GRC" -eq 0
# The queue's own count: no packet came as GSO, none needed its checksum
# computed in full: every rewrite above went through the delta.
q=$(grep -o 'GSO packets: [0-9]*, checksums computed in full: [0-9]*' "$LOG")
check "every packet took the incremental path ($q)" \
	test "$q" = "GSO packets: 0, checksums computed in full: 0"
sleep 0.5
for p in "${CAPS[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
CAPS=()

# verify NAME: no bad checksum; and how many TCP, UDP and ICMP packets
# (translated by glassnat: from nat_ip at the server, to inside hosts)
# tshark found good.
TS=(-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE)
bad_of() {
	tshark -r "$TMP/$1.pcapng" "${TS[@]}" \
		-Y 'ip.checksum.status==0 or tcp.checksum.status==0 or udp.checksum.status==0 or icmp.checksum.status==0' \
		-T fields -e frame.number -e _ws.col.Info 2>/dev/null | head -n 5
}
good_of() { # good_of NAME FILTER
	tshark -r "$TMP/$1.pcapng" "${TS[@]}" -Y "$2" -T fields -e frame.number 2>/dev/null | wc -l
}
for c in srv in1 in2; do
	b=$(bad_of $c)
	check "$c: every IPv4/TCP/UDP/ICMP checksum tshark checked is valid${b:+ (bad: $b)}" test -z "$b"
done
n=$(good_of srv "ip.src==$IP_NAT and tcp and tcp.checksum.status==1 and tcp.len>0")
check "server: translated TCP data segments with a good checksum ($n)" test "$n" -gt 50
n=$(good_of srv "ip.src==$IP_NAT and udp and udp.checksum.status==1")
check "server: translated UDP with a good checksum ($n)" test "$n" -ge 2
n=$(good_of srv "ip.src==$IP_NAT and icmp.type==8 and icmp.checksum.status==1")
check "server: translated ICMP echo with a good checksum ($n)" test "$n" -eq 1
n=$(good_of in1 "ip.dst==$IP_IN1 and tcp.srcport==5001 and tcp.checksum.status==1")
check "in1: translated TCP replies with a good checksum ($n)" test "$n" -gt 10
n=$(good_of in1 "ip.dst==$IP_IN1 and tcp.dstport==80 and tcp.len>0 and tcp.checksum.status==1")
check "in1: forwarded TCP data (DNAT to :80) with a good checksum ($n)" test "$n" -gt 10
n=$(good_of in1 "ip.dst==$IP_IN1 and icmp.type==0 and icmp.ident==4711 and icmp.checksum.status==1")
check "in1: translated echo reply with a good checksum ($n)" test "$n" -eq 1
n=$(good_of in1 "icmp.type==11 and ip.src==$IP_INET and icmp.checksum.status==1 and ip.checksum.status==1")
check "in1: the router's time exceeded, translated, with good outer checksums ($n)" test "$n" -eq 1
n=$(good_of in1 "icmp.type==11 and ip.src==$IP_INET and ip.src==$IP_IN1 and icmp.ident==4712")
check "in1: the time exceeded quotes the inside address and id ($n)" test "$n" -eq 1
n=$(good_of in2 "ip.dst==$IP_IN2 and udp.srcport==5353 and udp.checksum.status==1")
check "in2: translated UDP reply with a good checksum ($n)" test "$n" -eq 1
n=$(good_of in2 "ip.dst==$IP_IN2 and udp.dstport==5300 and udp.checksum.status==1")
check "in2: forwarded UDP (DNAT to :5300) with a good checksum ($n)" test "$n" -eq 1
n=$(good_of in2 "icmp.type==3 and icmp.code==3 and icmp.checksum.status==1 and udp.checksum.status==1 and udp.srcport==$(
	tshark -r "$TMP/in2.pcapng" -Y 'udp.dstport==5999 and not icmp' -T fields -e udp.srcport 2>/dev/null | head -n 1)")
check "in2: port unreachable with good checksums, its quoted UDP header (and checksum) restored ($n)" test "$n" -eq 1

finish
