#!/usr/bin/env bash
# Diagnosis end-to-end: broken setups built in namespaces from their
# symptom, with the real glassnat as the gateway (kernel defaults but
# ip_forward, as tests/e2e/topology.sh makes it), each diagnosed by
# `natdump why` from what glassnat recorded. Each check asserts the FIRST
# line of the answer names the right cause; a healthy flow must get "no
# problem seen" and no cause. Needs root; traffic stays inside namespaces
# gn-<pid>-* (removed on exit, trap). The last line is "N passed, M
# failed, K skipped".
#
#   BUILD=build tests/e2e/diagnosis_test.sh   (KEEP_TMP=1 keeps the files)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$(pwd)/$BUILD/glassnat
NATDUMP=$(pwd)/$BUILD/natdump
PEER=tests/e2e/live_peer.py

. tests/e2e/live_lib.sh
live_preconditions diagnosis
[ -x "$NATDUMP" ] || { notok "$NATDUMP not built"; finish; }

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-why.XXXXXX")
chmod 0755 "$TMP"
GPID=
live_topology_up
IP_SRV2=198.51.100.11
ip -n "$NS_SRV" addr add $IP_SRV2/24 dev eth0

# ---- helpers ----------------------------------------------------------

now() { date -u +%s.%N; }

# write_config NAME [EXTRA YAML...]: a gateway config in $TMP/NAME.yaml.
write_config() {
	local name=$1
	shift
	{
		printf '%s\n' "$@"
		cat <<EOF2
logging:
  events: ""
control_socket: "$TMP/$name.sock"
state_file: ""
trace:
  enabled: true
  dir: "$TMP/$name.trace"
EOF2
	} >"$TMP/$name.yaml"
	mkdir -p "$TMP/$name.trace"
}

# start NAME: glassnat run with config NAME, events to $TMP/NAME.ev.
start() {
	local name=$1
	ip netns exec "$NS_GW" timeout 300 "$GLASSNAT" run -c "$TMP/$name.yaml" \
		--events "$TMP/$name.ev" >"$TMP/$name.log" 2>&1 &
	GPID=$!
	for _ in $(seq 1 100); do
		[ -S "$TMP/$name.sock" ] && grep -q 'Control socket' "$TMP/$name.log" && return 0
		kill -0 "$GPID" 2>/dev/null || break
		sleep 0.1
	done
	notok "glassnat started with $name.yaml ($(tail -3 "$TMP/$name.log" | tr '\n' ' '))"
	return 1
}
stop() {
	[ -n "$GPID" ] || return 0
	kill -TERM "$GPID" 2>/dev/null
	wait "$GPID" 2>/dev/null
	GPID=
}

# why NAME OUTFILE ARGS...: natdump why on run NAME's events and trace;
# the first line is the answer.
why() {
	local name=$1 out=$2
	shift 2
	timeout 60 "$NATDUMP" why "$@" --events "$TMP/$name.ev" "$TMP/$name.trace" \
		>"$out" 2>"$out.err"
}

# expect DESC FILE PATTERN: the first line of FILE matches PATTERN (ERE);
# on failure the whole answer is shown.
expect() {
	local d=$1 f=$2 pat=$3 first
	first=$(head -1 "$f" 2>/dev/null)
	if printf '%s\n' "$first" | grep -Eq "$pat"; then
		ok "$d: $first"
	else
		notok "$d: expected /$pat/, got: $first"
		sed 's/^/#   /' "$f" "$f.err" 2>/dev/null | head -20
	fi
}

# The flow id of the first flow.open in run NAME's events matching a jq
# condition (e.g. '.proto=="icmp" and .inside.port==4242').
flow_of() {
	jq -r "select(.ev==\"flow.open\" and ($2)) | .flow" "$TMP/$1.ev" 2>/dev/null | head -1
}

# A UDP datagram from a fixed source port: udp_from NS SRC_IP SPORT DST DPORT.
udp_from() {
	in_ns "$1" timeout 10 python3 - "$2" "$3" "$4" "$5" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(1)
s.sendto(b"hello", (sys.argv[3], int(sys.argv[4])))
try:
    print(s.recv(100).decode())
except OSError:
    print("timeout")
PY
}

# A TCP connection from a fixed local port: tcp_from NS SRC_IP SPORT DST DPORT.
tcp_from() {
	in_ns "$1" timeout 10 python3 - "$2" "$3" "$4" "$5" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(3)
try:
    s.connect((sys.argv[3], int(sys.argv[4])))
    print("connected")
except OSError as e:
    print("failed", e)
PY
}

# A UDP datagram too big for the path, DF set: df_udp NS SPORT DST DPORT SIZE.
df_udp() {
	in_ns "$1" timeout 10 python3 - "$2" "$3" "$4" "$5" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
for _ in range(3):
    try:
        s.sendto(b"x" * int(sys.argv[4]), (sys.argv[2], int(sys.argv[3])))
    except OSError as e:
        print("send:", e)
print("sent")
PY
}

# Servers, bounded in time; stopped with the namespaces.
in_ns "$NS_SRV" timeout 300 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_IN2" timeout 300 python3 "$PEER" tcp-serve 81 >/dev/null 2>&1 &
sleep 0.5

# ---- run A: one gateway, most setups --------------------------------------
#
# Rule 'srv-bypass' is meant to keep traffic to the server untranslated,
# but 'all' above it takes everything; forward 'ghost' points at an
# address nobody has; forward 'web2' points at in2, whose default route
# is not this gateway; nothing forwards tcp/8081.
write_config A \
	"nat_ip: $IP_NAT" \
	"internal_network: 172.17.240.0/24" \
	"host_internal_ip: $IP_GW_IN" \
	"rules:" \
	"  - { name: all, destination: 0.0.0.0/0, action: nat }" \
	"  - { name: srv-bypass, destination: $IP_SRV/32, action: bypass }" \
	"port_forward:" \
	"  - { name: ghost, protocol: tcp, external_port: 8082, internal_ip: 172.17.240.99, internal_port: 80 }" \
	"  - { name: web2, protocol: tcp, external_port: 8083, internal_ip: $IP_IN2, internal_port: 81 }" \
	'port_range: "40000-60000"'
# in2 routes its replies elsewhere (a router that does not exist).
ip -n "$NS_IN2" route replace default via 172.17.240.254

if start A; then
	# 1. "A connection to tcp/8081 of the gateway is refused."
	T_NOFWD=$(now)
	r=$(peer "$NS_SRV" tcp-probe $IP_NAT 8081 --timeout 2)
	check "setup no-forward: the client sees the symptom (refused: $r)" test "$r" = refused
	# 2. "The forward tcp/8082 times out" (its target does not exist).
	T_GHOST=$(now)
	r=$(peer "$NS_SRV" tcp-probe $IP_NAT 8082 --timeout 3.5)
	# The gateway's ARP for the target fails after about 3 s and it sends
	# a host-unreachable, which glassnat translates (it quotes nat_ip), so
	# the client learns it at once; before that it is a timeout.
	check "setup forward-no-arp: the client sees the symptom (host unreachable or timeout: $r)" \
		bash -c '[[ "$0" == "error [Errno 113] No route to host" || "$0" == timeout ]]' "$r"
	# 3. "The forward tcp/8083 times out" (seed 004: replies go elsewhere).
	T_WEB2=$(now)
	r=$(peer "$NS_SRV" tcp-probe $IP_NAT 8083 --timeout 3.5)
	check "setup replies-elsewhere: the client sees the symptom (timeout: $r)" test "$r" = timeout
	# 4. "The server's second address cannot reach in1's UDP service."
	T_FILT=$(now)
	udp_from "$NS_IN1" $IP_IN1 6001 $IP_SRV 5353 >/dev/null
	sleep 0.3
	M=$(jq -r "select(.ev==\"flow.open\" and .proto==\"udp\" and .inside.port==6001) | .mapped.port" "$TMP/A.ev" | head -1)
	if [ -n "$M" ]; then
		udp_from "$NS_SRV" $IP_SRV2 7000 $IP_NAT "$M" >/dev/null
	else
		notok "setup filtering: in1's UDP flow has a mapping (flow.open)"
	fi
	# 5. "Pings with a small TTL get no echo" (TTL expires at the router).
	T_TTL=$(now)
	r=$(peer "$NS_IN1" ping $IP_SRV2 --ttl 2 --id 4242)
	check "setup ttl: in1 sees the symptom (time-exceeded: $r)" grep -q time-exceeded <<<"$r"
	# 6. "Big datagrams never arrive" (the path's MTU is 1400, DF set).
	T_MTU=$(now)
	ip -n "$NS_INET" link set srv0 mtu 1400
	df_udp "$NS_IN1" 6002 $IP_SRV2 5353 1450 >/dev/null
	sleep 0.3
	ip -n "$NS_INET" link set srv0 mtu 1500
	# 7. "The host's own download from nat_ip stalls" (a program bound a
	# port inside port_range).
	T_HOST=$(now)
	r=$(tcp_from "$NS_GW" $IP_NAT 45000 $IP_SRV 80)
	check "setup host-port: the host's connection fails ($r)" grep -q failed <<<"$r"
	# 8. "Traffic to the server is translated although a rule bypasses
	# it" (the rule is shadowed), and 9. a healthy flow.
	T_SHADOW=$(now)
	r=$(peer "$NS_IN1" tcp-send $IP_SRV 80 1000)
	check "setup shadowed: in1 reaches the server ($r)" grep -q '^ok' <<<"$r"
	T_HEALTHY=$(now)
	r=$(peer "$NS_IN1" tcp-send $IP_SRV2 80 1000)
	check "healthy flow: in1 reaches the server's second address ($r)" grep -q '^ok' <<<"$r"
	# Two pings from one host tell apart in `glassnat flows` (echo ids).
	timeout 20 "$GLASSNAT" flows -s "$TMP/A.sock" >"$TMP/flows.out" 2>&1
	check "glassnat flows shows the echo id of in1's ping (id=4242)" \
		grep -Eq "^[0-9]+ +icmp .*$IP_IN1 id=4242 +$IP_NAT id=[0-9]+" "$TMP/flows.out"
	# The same forward asked of the running gateway alone (its control
	# socket: live flows, no events, no trace).
	timeout 30 "$NATDUMP" why tcp/8083 -s "$TMP/A.sock" >"$TMP/3s.out" 2>"$TMP/3s.out.err"
	expect "unanswered forward from the live gateway: natdump why tcp/8083 -s SOCKET" "$TMP/3s.out" \
		"^the forward's target never answered: forward 'web2' \(tcp/8083\) sends to $IP_IN2:81"
	# 10. "Everything stalls for a while": the engine thread stops, the
	# kernel queues overflow. Each queue holds 16384 packets and glassnat
	# reads one queue per CPU (queues: auto): enough datagrams to fill
	# them all, spread over 50 ports.
	# $GPID is timeout(1); glassnat is its child.
	GN=$(ps -o pid= --ppid "$GPID" | tr -d ' ')
	kill -STOP "$GN"
	in_ns "$NS_IN1" timeout 40 python3 - $IP_SRV $((16384 * $(nproc) + 14000)) <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    try:
        s.sendto(b"q", (sys.argv[1], 9000 + i % 50))
    except OSError:
        pass
    if i % 200 == 0:  # paced: the veths' backlog must not drop them first
        time.sleep(0.002)
PY
	kill -CONT "$GN"
	sleep 1
	in_ns "$NS_GW" timeout 30 "$NATDUMP" why --live >"$TMP/q.out" 2>"$TMP/q.out.err"
	expect "queue overflow: natdump why --live" "$TMP/q.out" '^queue overflow: the kernel dropped [1-9][0-9]* packet'
	sleep 1.2 # a last trace ring closes
	stop
fi
ip -n "$NS_IN2" route replace default via $IP_GW_IN

# natdump show prints both ICMP errors with type, code, MTU and the
# quoted tuple, as they came and as they left.
"$NATDUMP" show "$TMP/A.trace" >"$TMP/show.out" 2>&1
check "show: the time-exceeded with its quoted echo, translated back to in1" \
	grep -Eq "icmp $IP_INET > $IP_NAT → $IP_INET > $IP_IN1 time-exceeded about icmp $IP_NAT:[0-9]+ > $IP_SRV2:0 → $IP_IN1:4242 > $IP_SRV2:0 nat" "$TMP/show.out"
check "show: the frag-needed with its MTU and quoted UDP tuple, translated back to in1" \
	grep -Eq "icmp $IP_INET > $IP_NAT → $IP_INET > $IP_IN1 frag-needed mtu=1400 about udp $IP_NAT:[0-9]+ > $IP_SRV2:5353 → $IP_IN1:6002 > $IP_SRV2:5353 nat" "$TMP/show.out"
check "show: TCP flags (the host's SYN-ACK dropped as no_mapping)" \
	grep -Eq "$IP_SRV:80 > $IP_NAT:45000 → - \[S\.\] drop reason=no_mapping" "$TMP/show.out"
"$NATDUMP" show --json "$TMP/A.trace" >"$TMP/show.json" 2>&1
check "show --json: frag-needed as icmp_type 3, icmp_code 4, mtu 1400 with the inner tuple" \
	sh -c "jq -c 'select(.icmp_type==3 and .icmp_code==4 and .mtu==1400 and .icmp==\"frag-needed mtu=1400\" and .inner_proto==\"udp\" and .inner_post.sport==6002)' '$TMP/show.json' | grep -q ."
check "show --json: time-exceeded as icmp_type 11, icmp_code 0" \
	sh -c "jq -c 'select(.icmp_type==11 and .icmp_code==0 and .icmp==\"time-exceeded\" and .inner_post.sport==4242)' '$TMP/show.json' | grep -q ."

why A "$TMP/1.out" tcp/8081 --since "$T_NOFWD" --until "$T_GHOST"
expect "no forward: natdump why tcp/8081" "$TMP/1.out" '^no forward for tcp/8081: [1-9]'
why A "$TMP/2.out" tcp/8082 --since "$T_GHOST" --until "$T_WEB2"
expect "forward target not answering ARP: natdump why tcp/8082" "$TMP/2.out" \
	"^forward target not answering ARP: forward 'ghost' \(tcp/8082\) sends to 172\.17\.240\.99:80, which is neighbour (INCOMPLETE|FAILED)"
why A "$TMP/3.out" tcp/8083 --since "$T_WEB2" --until "$T_FILT"
expect "replies elsewhere: natdump why tcp/8083" "$TMP/3.out" \
	"^replies not coming back through the gateway: $IP_IN2 answers ARP \(neighbour (REACHABLE|STALE|DELAY|PROBE)\)"
why A "$TMP/4.out" $IP_SRV2 --since "$T_FILT" --until "$T_TTL" --config "$TMP/A.yaml"
expect "filtering: natdump why $IP_SRV2" "$TMP/4.out" \
	"^filtering refused a remote: $IP_SRV2:7000 sent [1-9][0-9]* packet\(s\) to $IP_NAT:${M:-x}, .* filtering address_and_port_dependent"
F_TTL=$(flow_of A '.proto=="icmp" and .inside.port==4242')
why A "$TMP/5.out" "${F_TTL:-0}"
expect "TTL expiry: natdump why FLOW (ping --ttl 2)" "$TMP/5.out" \
	"^ICMP time-exceeded from $IP_INET about icmp "
F_MTU=$(flow_of A '.proto=="udp" and .inside.port==6002')
why A "$TMP/6.out" "${F_MTU:-0}"
expect "frag-needed: natdump why FLOW (1450 bytes, DF)" "$TMP/6.out" \
	"^ICMP frag-needed mtu=1400 from $IP_INET about udp "
why A "$TMP/7.out" tcp/45000 --since "$T_HOST" --until "$T_SHADOW" --config "$TMP/A.yaml"
expect "host's own traffic in port_range: natdump why tcp/45000" "$TMP/7.out" \
	"^the host's own traffic in port_range: [1-9][0-9]* TCP SYN-ACK\(s\) \(tcp $IP_SRV:80 > $IP_NAT:45000\)"
F_SH=$(flow_of A ".proto==\"tcp\" and .remote.ip==\"$IP_SRV\" and .remote.port==80")
why A "$TMP/8.out" "${F_SH:-0}" --config "$TMP/A.yaml"
expect "rule shadowed: natdump why FLOW --config" "$TMP/8.out" \
	"^rule shadowed: rule 'srv-bypass' \(line [0-9]+\) never matches because rule 'all'"
F_OK=$(flow_of A ".proto==\"tcp\" and .remote.ip==\"$IP_SRV2\" and .remote.port==80")
why A "$TMP/9.out" "${F_OK:-0}" --config "$TMP/A.yaml"
expect "healthy flow: natdump why FLOW says no problem" "$TMP/9.out" "^no problem seen for flow ${F_OK:-x}: [1-9]"
check "healthy flow: the answer names no cause" grep -q '(cause: none)' "$TMP/9.out"
check "check warns about the shadowed rule" sh -c \
	"'$GLASSNAT' check -c '$TMP/A.yaml' 2>&1 | grep -q \"rule 'srv-bypass' (line [0-9]*) never matches\""

# ---- run B: port exhaustion -------------------------------------------------
write_config B "nat_ip: $IP_NAT" "internal_network: 172.17.240.0/24" \
	'port_range: "40000-40001"'
if start B; then
	for p in 7001 7002 7003 7004; do udp_from "$NS_IN1" $IP_IN1 $p $IP_SRV 5353 >/dev/null; done
	sleep 1.2
	stop
	why B "$TMP/b.out" $IP_IN1 --config "$TMP/B.yaml"
	expect "port exhaustion: natdump why $IP_IN1" "$TMP/b.out" \
		"^port exhaustion: port_range 40000-40001 had no free port for [1-9][0-9]* new flow"
fi

# ---- run C: table full ------------------------------------------------------
write_config C "nat_ip: $IP_NAT" "internal_network: 172.17.240.0/24" \
	"limits:" "  max_flows: 2"
if start C; then
	for p in 7101 7102 7103 7104; do udp_from "$NS_IN2" $IP_IN2 $p $IP_SRV 5353 >/dev/null; done
	sleep 1.2
	stop
	why C "$TMP/c.out" $IP_IN2 --config "$TMP/C.yaml"
	expect "table full: natdump why $IP_IN2" "$TMP/c.out" \
		"^table full: limits.max_flows \(2\) was reached and [1-9][0-9]* new flow"
fi

# ---- run D: internal_network that misses the inside hosts -------------------
write_config D "nat_ip: $IP_NAT" "internal_network: 172.17.240.128/25"
if start D; then
	r=$(peer "$NS_IN1" tcp-probe $IP_SRV 80 --timeout 1.5)
	check "setup wrong internal_network: in1 cannot reach the server ($r)" test "$r" = timeout
	in_ns "$NS_GW" timeout 30 "$NATDUMP" why $IP_IN1 --config "$TMP/D.yaml" --live \
		--events "$TMP/D.ev" "$TMP/D.trace" >"$TMP/d.out" 2>"$TMP/d.out.err"
	expect "wrong internal_network: natdump why $IP_IN1 --config --live" "$TMP/d.out" \
		"^wrong internal_network: $IP_IN1 is not in internal_network 172\.17\.240\.128/25, .*172\.17\.240\.0/24 on br0"
	check "check warns that internal_network is on no interface" sh -c \
		"ip netns exec '$NS_GW' '$GLASSNAT' check -c '$TMP/D.yaml' 2>&1 | grep -q 'internal_network 172.17.240.128/25 is on no interface'"
	stop
fi

finish
