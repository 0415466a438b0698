#!/usr/bin/env bash
# glassnat on a gateway as it comes (issue 17): the gateway namespace keeps
# the kernel's defaults (ip_local_port_range 32768-60999, no reserved
# ports, accept_local 0; only ip_forward is set) and routes straight to the
# outside server. Shown with real traffic: the gateway's own connections
# keep working while glassnat runs, hairpin to a forward works, masquerade
# translates to the out interface's address, a snat to an address the host
# lacks is refused at start (a failed start, said once), and every host
# setting glassnat changed is put back on exit and, after a kill -9, at
# the next start. A capture on the outside links over the whole test shows
# no packet from or quoting an inside address.
# Root; nothing outside the namespaces it creates is touched.
#
#   in1 172.17.240.21 ─┐                  out0 203.0.113.1 ─── eth0 203.0.113.10 ┐
#   in2 172.17.240.22 ─┤ br0 172.17.240.1 ── gw                                  srv
#                                         out1 198.51.100.1 ── eth1 198.51.100.10 ┘
#
#   BUILD=build bash tests/e2e/realhost_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
PEER=tests/e2e/live_peer.py

if [ "$(id -u)" -ne 0 ]; then
	not_ok "realhost tests need root (run through scripts/as-root.sh)"
	finish
fi
[ -x "$GLASSNAT" ] || { not_ok "$GLASSNAT not built"; finish; }

# Unique to the run; removed on any exit.
ID=rh-$$-$RANDOM
GW=$ID-gw
IN1=$ID-in1
IN2=$ID-in2
SRV=$ID-srv
ALL_NS=("$GW" "$IN1" "$IN2" "$SRV")
T=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-realhost.XXXXXX")
GPID=
CAPPID=
cleanup() {
	if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
		kill -TERM "$GPID" 2>/dev/null
		wait "$GPID" 2>/dev/null
	fi
	if [ -n "$CAPPID" ] && kill -0 "$CAPPID" 2>/dev/null; then
		kill -TERM "$CAPPID" 2>/dev/null
		wait "$CAPPID" 2>/dev/null
	fi
	local ns pids
	for ns in "${ALL_NS[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
peer() { local ns=$1; shift; in_ns "$ns" timeout 20 python3 "$PEER" "$@"; }

if ! { for ns in "${ALL_NS[@]}"; do ip netns add "$ns" || exit 1; ip -n "$ns" link set lo up; done &&
	ip -n "$GW" link add br0 type bridge &&
	ip -n "$GW" link add in1 type veth peer name eth0 netns "$IN1" &&
	ip -n "$GW" link add in2 type veth peer name eth0 netns "$IN2" &&
	ip -n "$GW" link set in1 master br0 && ip -n "$GW" link set in2 master br0 &&
	ip -n "$GW" link add out0 type veth peer name eth0 netns "$SRV" &&
	ip -n "$GW" link add out1 type veth peer name eth1 netns "$SRV" &&
	ip -n "$GW" addr add 172.17.240.1/24 dev br0 &&
	ip -n "$GW" addr add 203.0.113.1/24 dev out0 &&
	ip -n "$GW" addr add 198.51.100.1/24 dev out1 &&
	for d in br0 in1 in2 out0 out1; do ip -n "$GW" link set "$d" up || exit 1; done &&
	ip -n "$GW" route add default via 203.0.113.10 dev out0 &&
	ip -n "$IN1" addr add 172.17.240.21/24 dev eth0 &&
	ip -n "$IN2" addr add 172.17.240.22/24 dev eth0 &&
	ip -n "$SRV" addr add 203.0.113.10/24 dev eth0 &&
	ip -n "$SRV" addr add 198.51.100.10/24 dev eth1 &&
	ip -n "$IN1" link set eth0 up && ip -n "$IN2" link set eth0 up &&
	ip -n "$SRV" link set eth0 up && ip -n "$SRV" link set eth1 up &&
	ip -n "$IN1" route add default via 172.17.240.1 &&
	ip -n "$IN2" route add default via 172.17.240.1 &&
	in_ns "$GW" sysctl -qw net.ipv4.ip_forward=1; }; then
	not_ok "namespaces ${ALL_NS[*]} created"
	finish
fi
# The server has no route to 172.17.240.0/24: an inside address that
# leaked would go unanswered (and the capture below sees it).
for _ in $(seq 50); do
	in_ns "$GW" ping -c1 -W1 203.0.113.10 >/dev/null 2>&1 &&
		in_ns "$IN2" ping -c1 -W1 172.17.240.21 >/dev/null 2>&1 && break
	sleep 0.1
done
ok "namespaces ${ALL_NS[*]} created"

# ---- the host as it comes ----------------------------------------------------
snapshot() {
	in_ns "$GW" sh -c 'cd /proc/sys/net/ipv4 && echo "reserved='"'"'$(cat ip_local_reserved_ports)'"'"'" \
		"range='"'"'$(tr "\t" " " <ip_local_port_range)'"'"'" \
		"accept_local(all,br0)=$(cat conf/all/accept_local),$(cat conf/br0/accept_local)" \
		"rp_filter(all,br0)=$(cat conf/all/rp_filter),$(cat conf/br0/rp_filter)"'
}
DEFAULTS=$(snapshot)
echo "# gateway as created: $DEFAULTS"
check "the gateway keeps the kernel's defaults (no reservation, default range, no accept_local)" \
	"reserved='' range='32768 60999' accept_local(all,br0)=0,0" "${DEFAULTS% rp_filter*}"

# Servers, bounded in time; stopped with the namespaces.
in_ns "$SRV" timeout 300 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$IN1" timeout 300 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
# A UDP echo on the server: each datagram back as it came, byte for byte.
cat >"$T/echo.py" <<'EOF2'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7007))
while True:
    b, peer = s.recvfrom(65535)
    s.sendto(b, peer)
EOF2
in_ns "$SRV" timeout 300 python3 "$T/echo.py" >/dev/null 2>&1 &
# udp_big [reversed]: a 4,000-byte UDP datagram (random bytes) to the echo
# and its echo back, compared byte for byte. With "reversed" the inside
# host sends its fragments itself, last one first (a raw socket), so they
# overtake their first fragment. Prints "ok SENT RECEIVED" or the failure.
cat >"$T/udp_big.py" <<'EOF2'
import os, socket, struct, sys
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst, dport = sys.argv[1], "203.0.113.10", 7007
data = os.urandom(4000)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((src, 0))
u.settimeout(3)
sport = u.getsockname()[1]
if len(sys.argv) > 2 and sys.argv[2] == "reversed":
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp))
    c = csum(ph + udp) or 0xffff
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ident = os.getpid() & 0xffff
    frags = []
    for off in range(0, len(udp), 1480):
        chunk = udp[off:off + 1480]
        more = 0x2000 if off + 1480 < len(udp) else 0
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk), ident,
                          more | (off // 8), 64, 17, 0,
                          socket.inet_aton(src), socket.inet_aton(dst))
        frags.append(hdr + chunk)
    for f in reversed(frags):
        r.sendto(f, (dst, 0))
else:
    u.sendto(data, (dst, dport))
try:
    b, peer = u.recvfrom(65535)
except OSError as e:
    print("no echo: %s" % e)
    sys.exit(0)
print("ok" if b == data and peer == (dst, dport) else "differs", len(data), len(b))
EOF2
big() { in_ns "$IN1" timeout 20 python3 "$T/udp_big.py" 172.17.240.21 "$@" 2>&1; }

# A capture on both outside links, over everything that follows.
CAP=$T/outside.pcapng
in_ns "$SRV" timeout 300 dumpcap -q -i eth0 -i eth1 -w "$CAP" >"$T/dumpcap.log" 2>&1 &
CAPPID=$!
for _ in $(seq 50); do [ -s "$CAP" ] && break; sleep 0.1; done
sleep 0.5

# own N: the gateway's own TCP connections to the server, one after the
# other from ports the kernel picks, each a short exchange; prints
# "OK IN-RANGE MIN MAX" (IN-RANGE: ports in port_range 40000-60000).
own() {
	in_ns "$GW" timeout 120 python3 - "$1" <<'EOF'
import socket, sys
n = int(sys.argv[1]); ok = inr = fails = 0; ports = []
for i in range(n):
    try:
        c = socket.create_connection(("203.0.113.10", 5001), timeout=2)
        c.settimeout(2)
        p = c.getsockname()[1]
        ports.append(p)
        inr += 40000 <= p <= 60000
        c.sendall(b"x"); c.shutdown(socket.SHUT_WR)
        d = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            d += b
        c.close()
        ok += b" bytes=1 " in d
    except OSError as e:
        print("connection %d: %s" % (i, e), file=sys.stderr)
        fails += 1
        if fails == 5:
            break
print(ok, inr, min(ports, default=0), max(ports, default=0))
EOF
}
r=($(own 200))
echo "# before glassnat: ${r[*]} (ok, in 40000-60000, min, max)"
# Which ports the kernel picks is its choice (it walks from a random offset,
# so 200 connections may all land below 40000): what makes the collision
# certain on a default host is that its ephemeral range covers port_range.
read -r eph_lo eph_hi < <(in_ns "$GW" cat /proc/sys/net/ipv4/ip_local_port_range)
if [ "${r[0]:-0}" = 200 ] && [ "${eph_lo:-0}" -le 60000 ] && [ "${eph_hi:-0}" -ge 40000 ]; then
	ok "without glassnat: 200 of 200 own connections; the kernel's ephemeral range $eph_lo-$eph_hi overlaps port_range 40000-60000 (${r[1]} of 200 landed in it)"
else
	not_ok "without glassnat: 200 own connections, ephemeral range overlapping port_range" "got: ${r[*]}, range ${eph_lo:-?}-${eph_hi:-?}"
fi

# ---- the config -------------------------------------------------------------
CFG=$T/gw.yaml
cat >"$CFG" <<EOF
nat_ip: 203.0.113.1
internal_network: 172.17.240.0/24
host_internal_ip: 172.17.240.1
rules:
  - {name: inside, destination: 172.17.240.0/24, action: bypass}
  - {name: second-link, destination: 198.51.100.0/24, action: masquerade, out_interface: out1}
  - {name: internet, destination: 0.0.0.0/0, action: nat}
port_forward:
  - {name: web, protocol: tcp, external_port: 8080, internal_ip: 172.17.240.21, internal_port: 80}
  - {name: dns, protocol: udp, external_port: 5353, internal_ip: 172.17.240.22, internal_port: 5353}
port_range: "40000-60000"
control_socket: "$T/ctl.sock"
state_file: ""
EOF
HOSTSTATE=$T/ctl.sock.host

start_glassnat() { # start_glassnat LOG [CONFIG]: 0 once it has started
	ip netns exec "$GW" timeout 300 "$GLASSNAT" run -c "${2:-$CFG}" >"$1" 2>&1 &
	GPID=$!
	for _ in $(seq 100); do
		grep -q '\[ENGINE\] Started' "$1" && return 0
		kill -0 "$GPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop_glassnat() { # -> exit status in GRC
	kill -"$1" "$GPID" 2>/dev/null
	wait "$GPID"
	GRC=$?
	GPID=
}
crash_glassnat() { # SIGKILL to glassnat itself (timeout(1) is its parent)
	local child
	child=$(pgrep -P "$GPID" -x glassnat)
	[ -n "$child" ] && kill -KILL "$child"
	wait "$GPID" 2>/dev/null
	GPID=
}
chains() { in_ns "$GW" iptables-save 2>/dev/null | grep -c GLASSNAT; }

# ---- a run -------------------------------------------------------------------
LOG=$T/run1.log
if start_glassnat "$LOG"; then
	ok "glassnat starts with a masquerade rule on a default host"
else
	not_ok "glassnat starts with a masquerade rule on a default host" "$(cat "$LOG")"
	finish
fi
check "one log line for the reservation" 1 \
	"$(grep -c "\[HOST\] reserved ports 40000-60000 from the kernel's ephemeral range (net.ipv4.ip_local_reserved_ports was '', restored on exit)" "$LOG")"
check "one log line for accept_local on the inside interface" 1 \
	"$(grep -c '\[HOST\] accept_local=1 on br0 (was 0)' "$LOG")"
check "no start-up warning" "" "$(grep -i warn "$LOG")"
check "while running: port_range reserved, accept_local on br0" \
	"reserved='40000-60000' range='32768 60999' accept_local(all,br0)=0,1" "$(snapshot | sed 's/ rp_filter.*//')"
rules=$(in_ns "$GW" iptables-save)
# raw: tcp and udp on port_range, tcp/8080, udp/5353, 4 ICMP types; mangle
# the same and non-first fragments.
check "the masquerade interface is matched with one -i (its own addresses)" 17 \
	"$(grep -c -- '-i out1 .*-m addrtype --dst-type LOCAL --limit-iface-in' <<<"$rules")"
check "no rule carries two input-interface matches" 0 "$(grep -c -- '-i [^ ]* .*-i ' <<<"$rules")"

r=($(own 200))
echo "# with glassnat: ${r[*]} (ok, in 40000-60000, min, max)"
check "the gateway's own 200 TCP connections in a row all succeed, none from port_range" \
	"200 0" "${r[0]:-} ${r[1]:-}"

r=$(peer "$IN1" tcp-send 203.0.113.10 5001 100000)
check "nat: an inside host reaches the server from nat_ip" ok "$([[ $r == 'ok peer=203.0.113.1:'* ]] && echo ok || echo "$r")"
r=$(peer "$IN1" tcp-send 198.51.100.10 5001 100000)
check "masquerade: translated to out1's address 198.51.100.1" ok "$([[ $r == 'ok peer=198.51.100.1:'* ]] && echo ok || echo "$r")"
# The out interface's address changes: new flows take the new one (glassnat
# reads the addresses every second), then it changes back.
in_ns "$GW" ip addr del 198.51.100.1/24 dev out1
in_ns "$GW" ip addr add 198.51.100.2/24 dev out1
sleep 1.5
r=$(peer "$IN1" tcp-send 198.51.100.10 5001 100000)
check "masquerade follows a new address of out1 for new flows (198.51.100.2)" ok "$([[ $r == 'ok peer=198.51.100.2:'* ]] && echo ok || echo "$r")"
in_ns "$GW" ip addr del 198.51.100.2/24 dev out1
in_ns "$GW" ip addr add 198.51.100.1/24 dev out1
sleep 1.5
r=$(peer "$IN1" tcp-send 198.51.100.10 5001 100000)
check "and back to 198.51.100.1" ok "$([[ $r == 'ok peer=198.51.100.1:'* ]] && echo ok || echo "$r")"
r=$(peer "$SRV" tcp-send 203.0.113.1 8080 100000)
check "forward tcp/8080 from outside, source kept" ok "$([[ $r == 'ok peer=203.0.113.10:'* ]] && echo ok || echo "$r")"
r=$(peer "$IN2" tcp-send 203.0.113.1 8080 100000)
check "hairpin: an inside host reaches the forward through nat_ip" ok "$([[ $r == 'ok peer=203.0.113.1:'* ]] && echo ok || echo "$r")"

# br_netfilter is on in new namespaces (bridge-nf-call-iptables=1): frames
# between two inside hosts on br0 pass the chains, and must not be queued.
eng() { in_ns "$GW" timeout 10 "$GLASSNAT" stats -c "$CFG" --json 2>/dev/null |
	jq -r "[.. | objects | select(has(\"flows_total\")) | .$1][0]"; }
before="$(eng packets) $(eng flows_total)"
r=$(peer "$IN2" tcp-send 172.17.240.21 80 100000)
after="$(eng packets) $(eng flows_total)"
check "bridged traffic between two inside hosts is delivered and never queued (engine packets and flows unchanged)" \
	"ok $before" "$([[ $r == 'ok peer=172.17.240.22:'* ]] && echo ok || echo "$r") $after"
in_ns "$GW" timeout 10 "$GLASSNAT" forward add udp/5454:172.17.240.22:54 -c "$CFG" >/dev/null 2>&1
rules2=$(in_ns "$GW" iptables-save)
check "a forward added at run time rewrites the chains (nat_ip and out1) and keeps the reassembly and bridge rules" \
	"2 1 1" "$(grep -cE -- '--dport 5454 -j (NFQUEUE|GLASSNAT-QUEUE)' <<<"$rules2") $(grep -c -- '-m socket' <<<"$rules2") $(grep -c -- '--physdev-is-bridged' <<<"$rules2")"

# Fragments: the kernel reassembles before the chains (xt_socket's rule
# turns nf_defrag_ipv4 on), glassnat translates the whole datagram, the
# kernel fragments it again on the way out.
check "the rule that turns the kernel's reassembly on is installed" 1 \
	"$(grep -c -- '-A GLASSNAT-IN -p 255 -m socket -j RETURN' <<<"$rules")"
r=$(big)
check "a 4,000-byte UDP datagram goes out fragmented and its 4,000-byte fragmented echo comes back, byte for byte" \
	"ok 4000 4000" "$r"

# ICMP errors this gateway sends about inbound packets to a forward quote
# the NAT address (RFC 5508), as the sender sent them.
in_ns "$SRV" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
s.sendto(b"ttl one", ("203.0.113.1", 5353))'
in_ns "$GW" ip route add 172.17.240.22/32 dev br0 mtu 1280
in_ns "$SRV" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 2)   # IP_MTU_DISCOVER = IP_PMTUDISC_DO
s.sendto(b"x" * 1400, ("203.0.113.1", 5353))
time.sleep(0.5)'
pmtu=$(in_ns "$SRV" ip route get 203.0.113.1 | grep -o 'mtu [0-9]*')
in_ns "$GW" ip route del 172.17.240.22/32 dev br0 mtu 1280
in_ns "$SRV" ip route flush cache
check "a too-big DF packet to the forward: the server learns the path MTU from the gateway's frag-needed (it quotes an address it sent to)" \
	"mtu 1280" "$pmtu"

stop_glassnat TERM
check "SIGTERM: exit 0" 0 "$GRC"
check "after exit every host setting is back" "$DEFAULTS" "$(snapshot)"
check "restore said so, one line each" 2 \
	"$(grep -cE '\[HOST\] (accept_local=0 on br0 again|net.ipv4.ip_local_reserved_ports is .. again)' "$LOG")"
check "no host state file after a clean exit" no "$([ -e "$HOSTSTATE" ] && echo yes || echo no)"
saved=$(in_ns "$GW" iptables-save)
check "a clean stop leaves the path closed: no rule queues, the inside network dropped, the jumps kept" \
	"0 1 3" "$(grep GLASSNAT <<<"$saved" | grep -c NFQUEUE) $(grep -c -- '-A GLASSNAT-OUT -s 172.17.240.0/24 .*-j DROP' <<<"$saved") $(grep -cE -- '^-A (PRE|POST)ROUTING -j GLASSNAT-' <<<"$saved")"
check "and says so, with how to open it" 1 \
	"$(grep -c 'chains closed: traffic from 172.17.240.0/24 is dropped until glassnat runs again (glassnat uninstall removes the chains)' "$LOG")"
check "the kernel's reassembly is off again (the xt_socket rule is gone)" 0 "$(grep -c -- '-m socket' <<<"$saved")"
check "the run printed its final statistics" 1 "$(grep -c 'Final statistics' "$LOG")"

# ---- kill -9, then the next start ------------------------------------------------
LOG2=$T/run2.log
start_glassnat "$LOG2" || not_ok "started before the crash" "$(cat "$LOG2")"
check "the next start replaces the closed chains and says so" 1 \
	"$(grep -c 'replaced the closed GLASSNAT chains the last run left when it stopped' "$LOG2")"
crash_glassnat
check "after kill -9 the settings are still changed" \
	"reserved='40000-60000' range='32768 60999' accept_local(all,br0)=0,1" "$(snapshot | sed 's/ rp_filter.*//')"
check "after kill -9 the host state file is left" yes "$([ -e "$HOSTSTATE" ] && echo yes || echo no)"
LOG3=$T/run3.log
if start_glassnat "$LOG3"; then ok "the next start runs"; else not_ok "the next start runs" "$(cat "$LOG3")"; fi
check "the next start puts back what the crashed run left, and says so" 1 \
	"$(grep -c "\[HOST\] state file $HOSTSTATE: the last run did not exit cleanly" "$LOG3")"
check "it replaces the crashed run's chains in one transaction: one jump each, and says so" \
	"3 1" "$(in_ns "$GW" iptables-save | grep -cE -- '^-A (PRE|POST)ROUTING -j GLASSNAT-') $(grep -c '\[WARN\] \[QUEUE\] replaced the GLASSNAT chains an earlier run left when it did not stop cleanly' "$LOG3")"
check "and sets them again for its own run" \
	"reserved='40000-60000' range='32768 60999' accept_local(all,br0)=0,1" "$(snapshot | sed 's/ rp_filter.*//')"
r=($(own 50))
check "after the restart the gateway's own 50 connections succeed" "50 0" "${r[0]:-} ${r[1]:-}"
stop_glassnat TERM
check "after the restarted run exits every host setting is back" "$DEFAULTS" "$(snapshot)"

# ---- fragments reaching the queue (the kernel's reassembly off) ----------------
# GLASSNAT_NFQ_DEFRAG=0 leaves nf_defrag_ipv4 off: every fragment reaches
# the queue and the engine's fragment table follows them; fragments that
# overtake their first one are held and get their verdict late.
LOG5=$T/run5.log
if GLASSNAT_NFQ_DEFRAG=0 start_glassnat "$LOG5"; then
	check "without reassembly: no xt_socket rule, and the log says fragments reach the queue" \
		"0 1" "$(in_ns "$GW" iptables-save | grep -c -- '-m socket') $(grep -c 'fragments reach the queue as they are' "$LOG5")"
	r=$(big)
	check "without reassembly: the 4,000-byte datagram and its echo, fragment by fragment, byte for byte" "ok 4000 4000" "$r"
	r=$(big reversed)
	check "without reassembly: fragments sent last first are held, released behind their first one, and echoed byte for byte" "ok 4000 4000" "$r"
	stop_glassnat TERM
	late=$(grep -o 'held fragments given a late verdict: [0-9]*' "$LOG5" | grep -o '[0-9]*$')
	if [ "${late:-0}" -ge 2 ]; then
		ok "the held fragments left with a late verdict ($late)"
	else
		not_ok "the held fragments left with a late verdict" "$(grep -i frag "$LOG5")"
	fi
else
	not_ok "glassnat starts with GLASSNAT_NFQ_DEFRAG=0" "$(cat "$LOG5")"
fi

# ---- no leak while glassnat starts, reloads, stops and restarts ----------------
# An inside host sends to the server all the while (bounded: 5,000
# datagrams, 2 ms apart); the capture below must show none of them with
# its inside source. The path is closed (the last run stopped cleanly).
in_ns "$IN2" timeout 40 python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
for i in range(5000):
    try:
        s.sendto(b"steady %d" % i, ("203.0.113.10", 9))
        n += 1
    except OSError:
        pass
    time.sleep(0.002)
print(n)' >"$T/sender.out" 2>&1 &
SENDER=$!
sleep 1
LOG6=$T/run6.log
start_glassnat "$LOG6" || not_ok "start under traffic" "$(cat "$LOG6")"
sleep 1
out=$(in_ns "$GW" timeout 10 "$GLASSNAT" uninstall -c "$CFG" 2>&1)
check "glassnat uninstall is refused while glassnat runs (exit 1), nothing removed" \
	"1 3" "$? $(in_ns "$GW" iptables-save | grep -cE -- '^-A (PRE|POST)ROUTING -j GLASSNAT-')"
in_ns "$GW" timeout 10 "$GLASSNAT" reload -c "$CFG" >/dev/null 2>&1
sleep 1
stop_glassnat TERM
sleep 1
LOG7=$T/run7.log
start_glassnat "$LOG7" || not_ok "restart under traffic" "$(cat "$LOG7")"
sleep 1
crash_glassnat
sleep 1
LOG8=$T/run8.log
start_glassnat "$LOG8" || not_ok "start after kill -9 under traffic" "$(cat "$LOG8")"
sleep 1
stop_glassnat TERM
sleep 1
wait "$SENDER"
sent=$(cat "$T/sender.out")
check "the inside host sent all the while (start, reload, stop, start, kill -9, start, stop)" 5000 "$sent"

# ---- glassnat uninstall opens the path ------------------------------------------
out=$(in_ns "$GW" timeout 10 "$GLASSNAT" uninstall -c "$CFG" 2>&1)
check "glassnat uninstall: exit 0, says what it removed" \
	"0 removed 3 GLASSNAT chain(s) and their jumps: the kernel forwards traffic from the inside untranslated again" "$? $out"
check "no chain left after uninstall" 0 "$(chains)"
out=$(in_ns "$GW" timeout 10 "$GLASSNAT" uninstall -c "$CFG" 2>&1)
check "a second uninstall has nothing to do" "0 no GLASSNAT chain installed: nothing to remove" "$? $out"

# ---- snat to an address the host lacks: a failed start -------------------------
BAD=$T/bad.yaml
sed 's/{name: internet, destination: 0.0.0.0\/0, action: nat}/{name: ext, destination: 0.0.0.0\/0, action: snat, to_address: 198.51.100.9}/' "$CFG" >"$BAD"
LOG4=$T/run4.log
in_ns "$GW" timeout 30 "$GLASSNAT" run -c "$BAD" >"$LOG4" 2>&1
check "snat to 198.51.100.9 (not on the host): exit 1" 1 "$?"
check "the failure is said once, with the fix" 1 \
	"$(grep -c "\[ERROR\] \[MAIN\] Start failed: snat rule 'ext': to_address 198.51.100.9 is not an address of this host (ip addr add 198.51.100.9/32 dev out0, or use masquerade)" "$LOG4")"
check "a failed start prints no Started line and no statistics" 0 \
	"$(grep -cE 'Started|Final statistics|Packets processed' "$LOG4")"
check "a failed start leaves no chain and no host setting changed" "0 $DEFAULTS" "$(chains) $(snapshot)"
in_ns "$GW" "$GLASSNAT" check -c "$BAD" >/dev/null 2>"$T/check.err"
check "glassnat check on the gateway: exit 0, the same words as a warning" \
	"0 glassnat check: warning: snat rule 'ext': to_address 198.51.100.9 is not an address of this host (ip addr add 198.51.100.9/32 dev OUT, or use masquerade)" \
	"$? $(grep -F "snat rule 'ext'" "$T/check.err")"
check "glassnat check on a default host also names port_range over the ephemeral ports, and nothing else" \
	"1 2" \
	"$(grep -c "warning: port_range 40000-60000 overlaps the host's ephemeral ports 32768-60999" "$T/check.err") $(wc -l <"$T/check.err")"

# ---- the outside links ---------------------------------------------------------
sleep 0.5
kill -TERM "$CAPPID" 2>/dev/null
wait "$CAPPID" 2>/dev/null
CAPPID=
total=$(tshark -r "$CAP" 2>/dev/null | wc -l)
nat=$(tshark -r "$CAP" -Y 'ip.src == 203.0.113.1 && tcp.srcport >= 40000 && tcp.srcport <= 60000' 2>/dev/null | wc -l)
masq=$(tshark -r "$CAP" -Y 'ip.src == 198.51.100.1' 2>/dev/null | wc -l)
echo "# capture: $total packets, $nat from nat_ip's port_range, $masq from 198.51.100.1"
if [ "$nat" -gt 0 ] && [ "$masq" -gt 0 ]; then
	ok "the capture saw the translated traffic on both links"
else
	not_ok "the capture saw the translated traffic on both links" "$(cat "$T/dumpcap.log")"
fi
steady=$(tshark -r "$CAP" -Y 'ip.src == 203.0.113.1 && udp.dstport == 9' 2>/dev/null | wc -l)
echo "# capture: $steady of the inside host's 5000 datagrams left translated"
if [ "$steady" -gt 0 ]; then ok "the steady sender's datagrams left translated while glassnat ran"; else not_ok "the steady sender's datagrams left translated while glassnat ran"; fi
frags=$(tshark -r "$CAP" -o ip.defragment:FALSE -Y '(ip.flags.mf == 1 || ip.frag_offset > 0) && !icmp' -T fields -e ip.src -e ip.dst 2>/dev/null | sort | uniq -c | awk '{print $2 ">" $3 ":" $1}' | tr '\n' ' ')
echo "# fragments on the outside links: $frags"
check "fragments both ways on the outside link, only between nat_ip and the server" \
	"ok" "$([[ $frags == *"203.0.113.1>203.0.113.10:"* && $frags == *"203.0.113.10>203.0.113.1:"* ]] && ! grep -qv -e '203.0.113.1>203.0.113.10' -e '203.0.113.10>203.0.113.1' < <(tr ' ' '\n' <<<"$frags" | grep .) && echo ok || echo "$frags")"
te=$(tshark -r "$CAP" -o ip.defragment:FALSE -Y 'icmp.type == 11 && icmp.code == 0' -T fields -e ip.src -e ip.dst -e udp.dstport 2>/dev/null | sort -u)
check "the gateway's time-exceeded about a TTL-1 packet to the forward quotes nat_ip:5353" \
	"$(printf '203.0.113.1,203.0.113.10\t203.0.113.10,203.0.113.1\t5353')" "$te"
fn=$(tshark -r "$CAP" -o ip.defragment:FALSE -Y 'icmp.type == 3 && icmp.code == 4' -T fields -e ip.src -e ip.dst -e udp.dstport -e icmp.mtu 2>/dev/null | sort -u)
check "the gateway's frag-needed about a too-big DF packet to the forward quotes nat_ip:5353 (mtu 1280)" \
	"$(printf '203.0.113.1,203.0.113.10\t203.0.113.10,203.0.113.1\t5353\t1280')" "$fn"
# ip.addr matches outer and quoted (ICMP error) headers alike.
leak=$(tshark -r "$CAP" -Y 'ip.addr == 172.17.240.0/24' 2>/dev/null)
check "no packet on the outside links from, to or quoting an inside address" "" "$leak"

finish
