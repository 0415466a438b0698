#!/usr/bin/env bash
# The slow path on several queues: glassnat with `queues: 2` as the gateway
# of the live topology (tests/e2e/topology.sh), real traffic.
#
# 1. Spread by the kernel (--queue-balance, no fast path): several flows
#    between different address pairs, TCP, UDP, ICMP, a forward and a
#    hairpin all translate, and both queues carry packets (the per-queue
#    counters of `glassnat stats --json`).
# 2. Spread by mark (the rules the fast path's marks use; the marks are
#    set here by an iptables rule, GLASSNAT_NFQ_QMARK=1): non-first
#    fragments go to queue 1, first fragments to queue 0. Fragments sent
#    last first are held by the engine from queue 1 and released by the
#    first fragment from queue 0: their late verdict must reach queue 1's
#    socket, or the datagram never arrives.
# 3. A crash in mark mode, then a start in balance mode: the stale queue
#    chain goes; a clean stop leaves no queue chain.
#
# Needs root; everything happens in namespaces gn-<pid>-*, removed on exit.
#   BUILD=build tests/e2e/multiqueue_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
PEER=tests/e2e/live_peer.py

. tests/e2e/live_lib.sh
live_preconditions multiqueue

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-mq.XXXXXX")
GPID=
live_topology_up

SOCK=$TMP/ctl.sock
CONFIG=$TMP/mq.yaml
{
	cat configs/e2e.yaml
	printf '\nqueues: 2\ncontrol_socket: %s\nstate_file: ""\n' "$SOCK"
} >"$CONFIG.base"
# Parts 1-3 without the kernel fast path: everything goes through the
# queues; part 4 with it, when it loads here.
{ cat "$CONFIG.base"; echo 'fastpath: off'; } >"$CONFIG"

start_glassnat() { # start_glassnat LOGFILE [env...]: waits for its chains
	local log=$1
	shift
	ip netns exec "$NS_GW" env "$@" timeout 300 "$GLASSNAT" run -c "$CONFIG" >"$log" 2>&1 &
	GPID=$!
	for _ in $(seq 1 50); do
		[ "$(chains_in_gw)" -gt 0 ] && grep -q 'installed' "$log" && return 0
		kill -0 "$GPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop_glassnat() { kill -"$1" "$GPID" 2>/dev/null; wait "$GPID"; GRC=$?; GPID=; }
crash_glassnat() {
	local child
	child=$(pgrep -P "$GPID" -x glassnat)
	[ -n "$child" ] && kill -KILL "$child"
	wait "$GPID" 2>/dev/null
	GPID=
}
stats_json() { in_ns "$NS_GW" timeout 10 "$GLASSNAT" stats -s "$SOCK" --json 2>&1; }
# per_queue JSON: "Q0 Q1" packets received from each queue, "QUEUES".
per_queue() { jq -r '"\(.stats.queue.by_queue."0" // "none") \(.stats.queue.by_queue."1" // "none") \(.stats.queue.queues // "none")"' <<<"$1" 2>/dev/null; }

# Servers, bounded in time; stopped with the namespaces. The router
# (203.0.113.254) serves too: more address pairs for the kernel's hash.
in_ns "$NS_SRV" timeout 300 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_INET" timeout 300 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_INET" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_IN1" timeout 300 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
# A UDP echo of whole datagrams (4,000 bytes: fragmented both ways).
in_ns "$NS_SRV" timeout 300 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7007))
while True:
    b, a = s.recvfrom(65535)
    s.sendto(b, a)' >/dev/null 2>&1 &
sleep 0.5

# udp_big [reversed]: a 4,000-byte datagram from in1 to the echo and back,
# compared byte for byte; "reversed": in1 sends the fragments itself (raw
# socket), last one first. Prints "ok SENT RECEIVED" or what went wrong.
cat >"$TMP/udp_big.py" <<'EOF'
import os, socket, struct, sys, time
def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst, dport = "172.17.240.21", "198.51.100.10", 7007
data = os.urandom(4000)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((src, 0))
u.settimeout(3)
sport = u.getsockname()[1]
if len(sys.argv) > 1 and sys.argv[1] == "reversed":
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", csum(ph + udp) or 0xffff) + udp[8:]
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    frags = []
    for off in range(0, len(udp), 1480):
        chunk = udp[off:off + 1480]
        more = 0x2000 if off + 1480 < len(udp) else 0
        frags.append(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(chunk),
                                 os.getpid() & 0xffff, more | (off // 8), 64,
                                 17, 0, socket.inet_aton(src),
                                 socket.inet_aton(dst)) + chunk)
    # The later fragments first, then a pause, then the first: the engine
    # must hold them before their first fragment comes (without the pause
    # the two queues' workers race, and queue 0's may win).
    for f in reversed(frags[1:]):
        r.sendto(f, (dst, 0))
    time.sleep(0.3)
    r.sendto(frags[0], (dst, 0))
else:
    u.sendto(data, (dst, dport))
try:
    b, peer = u.recvfrom(65535)
except OSError as e:
    print("no echo: %s" % e)
    sys.exit(0)
print("ok" if b == data and peer == (dst, dport) else "differs", len(data), len(b))
EOF
big() { in_ns "$NS_IN1" timeout 20 python3 "$TMP/udp_big.py" "$@" 2>&1; }

# ---- 1. two queues, spread by the kernel's hash of the addresses ---------------
LOG=$TMP/run1.log
if start_glassnat "$LOG"; then
	ok "glassnat run with queues: 2 started and installed its chains"
else
	notok "glassnat run with queues: 2 started and installed its chains"
	sed 's/^/# /' "$LOG"
	finish
fi
check "the log names both queues, two worker threads, spread by addresses" \
	grep -q 'queues 0-1 bound (2 worker threads, spread by addresses (--queue-balance)' "$LOG"
rules=$(in_ns "$NS_GW" iptables-save -t mangle)
nbal=$(grep -c -- '-j NFQUEUE --queue-balance 0:1$' <<<"$rules")
nnum=$(grep -c -- '--queue-num' <<<"$rules")
nbyp=$(grep -c -- '--queue-num 0 --queue-bypass' <<<"$rules")
check "every queueing rule spreads over 0:1 ($nbal) but the rate-limited bypass ones to queue 0 ($nbyp of $nnum)" \
	bash -c "[ $nbal -gt 10 ] && [ $nnum -eq $nbyp ] && [ $nbyp -ge 1 ]"
check "no queue chain without marks" \
	test "$(grep -c 'GLASSNAT-QUEUE' <<<"$rules")" -eq 0
threads=$(ls "/proc/$(pgrep -P "$GPID" -x glassnat)/task" 2>/dev/null | wc -l)
check "glassnat runs several threads ($threads: two workers and the observers')" \
	test "$threads" -ge 2

allok=1
results=
for src in "$NS_IN1" "$NS_IN2"; do
	for dst in "$IP_SRV" "$IP_INET"; do
		r=$(peer "$src" tcp-send "$dst" 5001 2000000)
		results+="tcp $dst: $r; "
		[[ $r == "ok peer=$IP_NAT:"* ]] || allok=0
		r=$(peer "$src" udp-ask "$dst" 5353 hello)
		results+="udp $dst: $r; "
		[[ $r == "peer=$IP_NAT:"*" data=hello" ]] || allok=0
	done
done
check "TCP and UDP from both inside hosts to two servers all translate to nat_ip" \
	test "$allok" = 1
[ "$allok" = 1 ] || echo "# $results"
r=$(peer "$NS_IN2" ping "$IP_SRV" --id 4662)
check "ping from inside gets its reply ($r)" \
	test "$r" = "reply from $IP_SRV id=4662 csum=ok"
r=$(peer "$NS_SRV" tcp-send "$IP_NAT" 8080 1000000)
check "forward tcp/8080 from outside, remote source kept ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
r=$(peer "$NS_IN2" tcp-send "$IP_NAT" 8080 1000000)
check "forward tcp/8080 from an inside host (hairpin), source nat_ip ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
r=$(big)
check "a 4,000-byte UDP datagram and its echo, byte for byte ($r)" \
	test "$r" = "ok 4000 4000"
s=$(stats_json)
pq=$(per_queue "$s")
read -r q0 q1 nq <<<"$pq"
check "stats: two queues, both carried packets (queue 0: $q0, queue 1: $q1)" \
	bash -c "[ '$nq' = 2 ] && [ '$q0' -gt 0 ] 2>/dev/null && [ '$q1' -gt 0 ] 2>/dev/null"
tot=$(jq -r '.stats.queue.packets // "none"' <<<"$s" 2>/dev/null)
check "stats: queue.packets is the sum of the queues ($tot = $q0 + $q1)" \
	bash -c "[ '$tot' -eq \$(( $q0 + $q1 )) ] 2>/dev/null"
stop_glassnat INT
check "SIGINT: exit 0 ($GRC)" test "$GRC" -eq 0
check "the final statistics show the packets of each queue" \
	grep -qE '\[QUEUE\]   Queues: 2, packets received: [0-9]+, from queue 0: [1-9][0-9]*, from queue 1: [1-9][0-9]*' "$LOG"
check "after the stop no GLASSNAT rule queues" \
	test "$(in_ns "$NS_GW" iptables-save | grep GLASSNAT | grep -c NFQUEUE)" -eq 0

# ---- 2. spread by mark; held fragments answered on their own queue -------------
# Non-first fragments (either way) carry queue 1's mark, set in raw
# PREROUTING, before glassnat's chains; everything else goes unmarked to
# queue 0. The kernel's reassembly is off so fragments reach the queues.
in_ns "$NS_GW" iptables -t raw -A PREROUTING -f -j MARK --set-xmark 0x100/0xff00
LOG2=$TMP/run2.log
if start_glassnat "$LOG2" GLASSNAT_NFQ_QMARK=1 GLASSNAT_NFQ_DEFRAG=0; then
	ok "glassnat started steering by mark, reassembly off"
else
	notok "glassnat started steering by mark, reassembly off"
	sed 's/^/# /' "$LOG2"
	finish
fi
check "the log says the queue is picked by mark" \
	grep -q 'queues 0-1 bound (2 worker threads, spread by the fast path' "$LOG2"
rules=$(in_ns "$NS_GW" iptables-save -t mangle)
check "the queue chain sends mark 1 to queue 1 and the rest to queue 0" \
	bash -c "grep -qx -- '-A GLASSNAT-QUEUE -m mark --mark 0x100/0xff00 -j NFQUEUE --queue-num 1' <<<\"\$0\" &&
		grep -qx -- '-A GLASSNAT-QUEUE -j NFQUEUE --queue-num 0' <<<\"\$0\" &&
		grep -q -- '-A GLASSNAT-OUT -s 172.17.240.0/24 -j GLASSNAT-QUEUE' <<<\"\$0\"" "$rules"
r=$(big)
check "in order: the datagram and its echo, fragment by fragment ($r)" \
	test "$r" = "ok 4000 4000"
r=$(big reversed)
check "last fragment first: held from queue 1, released by queue 0's first fragment, echoed byte for byte ($r)" \
	test "$r" = "ok 4000 4000"
r=$(peer "$NS_IN1" tcp-send "$IP_SRV" 5001 1000000)
check "TCP still translates in mark mode ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
s=$(stats_json)
read -r q0 q1 nq <<<"$(per_queue "$s")"
check "stats: both queues carried packets (queue 0: $q0, queue 1: $q1 fragments)" \
	bash -c "[ '$q0' -gt 0 ] 2>/dev/null && [ '$q1' -ge 4 ] 2>/dev/null"
late=$(jq -r '.stats.queue.frag_late // "none"' <<<"$s" 2>/dev/null)
verr=$(jq -r '.stats.queue.verdict_errors // "none"' <<<"$s" 2>/dev/null)
check "held fragments left with a late verdict ($late), none refused ($verr)" \
	bash -c "[ '$late' -ge 2 ] 2>/dev/null && [ '$verr' = 0 ]"

# ---- 3. a crash in mark mode, then a start that does not use the chain ---------
crash_glassnat
check "after a crash the queue chain stays (fail closed)" \
	test "$(in_ns "$NS_GW" iptables-save -t mangle | grep -c -- '-A GLASSNAT-QUEUE')" -eq 2
in_ns "$NS_GW" iptables -t raw -D PREROUTING -f -j MARK --set-xmark 0x100/0xff00
LOG3=$TMP/run3.log
start_glassnat "$LOG3"
check "the next start (balance) replaces the crashed run's chains and drops the queue chain" \
	bash -c "grep -q 'replaced the GLASSNAT chains an earlier run left' '$LOG3' &&
		[ \$(ip netns exec '$NS_GW' iptables-save | grep -c GLASSNAT-QUEUE) -eq 0 ]"
r=$(peer "$NS_IN2" tcp-send "$IP_SRV" 5001 1000000)
check "after the restart traffic translates ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
stop_glassnat TERM
LOG4=$TMP/run4.log
start_glassnat "$LOG4" GLASSNAT_NFQ_QMARK=1
stop_glassnat TERM
check "a clean stop in mark mode leaves no queue chain and nothing queueing ($GRC)" \
	bash -c "[ '$GRC' -eq 0 ] && [ \$(ip netns exec '$NS_GW' iptables-save | grep -c GLASSNAT-QUEUE) -eq 0 ] &&
		[ \$(ip netns exec '$NS_GW' iptables-save | grep GLASSNAT | grep -c NFQUEUE) -eq 0 ]"
out=$(in_ns "$NS_GW" timeout 10 "$GLASSNAT" uninstall -c "$CONFIG" 2>&1)
check "glassnat uninstall removes the closed chains ($out)" \
	bash -c "[ \$(ip netns exec '$NS_GW' iptables-save | grep -c GLASSNAT) -eq 0 ]"

# ---- 4. with the kernel fast path: the queue picked by its mark ----------------
{ cat "$CONFIG.base"; echo 'fastpath: on'; } >"$CONFIG"
LOG5=$TMP/run5.log
if start_glassnat "$LOG5"; then
	check "with the fast path the log says the queue is picked by its mark" \
		grep -q 'queues 0-1 bound (2 worker threads, spread by the fast path' "$LOG5"
	rules=$(in_ns "$NS_GW" iptables-save -t mangle)
	check "the queue chain sends the fast path's mark 1 to queue 1" \
		grep -qx -- '-A GLASSNAT-QUEUE -m mark --mark 0x100/0xff00 -j NFQUEUE --queue-num 1' <<<"$rules"
	allok=1
	results=
	for src in "$NS_IN1" "$NS_IN2"; do
		for dst in "$IP_SRV" "$IP_INET"; do
			for _ in 1 2; do
				r=$(peer "$src" tcp-send "$dst" 5001 1000000)
				results+="tcp $dst: $r; "
				[[ $r == "ok peer=$IP_NAT:"* ]] || allok=0
			done
		done
	done
	check "eight TCP flows from both inside hosts translate with the fast path" \
		test "$allok" = 1
	[ "$allok" = 1 ] || echo "# $results"
	r=$(peer "$NS_IN2" tcp-send "$IP_NAT" 8080 1000000)
	check "hairpin through a forward with the fast path ($r)" \
		bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
	read -r q0 q1 nq <<<"$(per_queue "$(stats_json)")"
	check "what the kernel did not translate reached both queues (queue 0: $q0, queue 1: $q1)" \
		bash -c "[ '$q0' -gt 0 ] 2>/dev/null && [ '$q1' -gt 0 ] 2>/dev/null"
	stop_glassnat TERM
	check "a clean stop with the fast path leaves no queue chain ($GRC)" \
		bash -c "[ '$GRC' -eq 0 ] && [ \$(ip netns exec '$NS_GW' iptables-save | grep -c GLASSNAT-QUEUE) -eq 0 ]"
elif grep -qiE 'bpf|fast ?path' "$LOG5"; then
	skip "the kernel fast path does not load here: $(grep -iE 'bpf|fast ?path' "$LOG5" | head -1)"
else
	notok "glassnat started with fastpath: on"
	sed 's/^/# /' "$LOG5"
fi

# ---- 5. nothing left -----------------------------------------------------------
live_finish_topology
