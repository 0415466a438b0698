#!/usr/bin/env bash
# Live end-to-end tests: the real glassnat binary as the gateway of a
# namespace topology (tests/e2e/topology.sh), with real traffic. Each check
# prints "ok - ..." or "not ok - ..."; the last line is "N passed, M failed".
# Needs root; everything happens inside namespaces named gn-<pid>-*, which
# are removed on exit and on failure (trap).
#
#   BUILD=build [FASTPATH=on|off] tests/e2e/live_test.sh
#
# FASTPATH (tests/e2e/run.sh runs both): on (the default) runs glassnat as
# it comes (fastpath: auto) tracing every flow but the bulk transfers, so
# those go through the kernel fast path; where the kernel cannot load it
# the checks that need it are skipped with the reason. off runs it with
# --no-fastpath, tracing everything. Every other check is the same.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
NATDUMP=$BUILD/natdump
PEER=tests/e2e/live_peer.py
FASTPATH=${FASTPATH:-on}

. tests/e2e/live_lib.sh
live_preconditions live

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-live.XXXXXX")
GPID=
live_topology_up
echo "# fast path mode: $FASTPATH"
# e2e.yaml with a control socket of this run's own.
SOCK=$TMP/ctl.sock
CONFIG=$TMP/e2e.yaml
{ cat configs/e2e.yaml; printf 'control_socket: "%s"\n' "$SOCK"; } >"$CONFIG"
ctl() { timeout 20 "$GLASSNAT" "$@" -s "$SOCK"; }
# stats --json, one field (jq path), or "" when it cannot be read.
stat_of() { ctl stats --json 2>/dev/null | jq -r "$1 // empty" 2>/dev/null; }
# The bulk transfers go to $IP_SRV tcp/5001; with the fast path on they
# are not traced, so the kernel takes them.
BULK_FILTER="not (host $IP_SRV and tcp port 5001)"
if [ "$FASTPATH" = off ]; then
	RUN_ARGS=(--no-fastpath --trace "$TMP/trace")
else
	RUN_ARGS=(--trace "$TMP/trace" --trace-filter "$BULK_FILTER")
fi

check "natdump is built beside glassnat ($NATDUMP)" test -x "$NATDUMP"


# Starts glassnat in the gateway namespace; waits until its chains exist.
start_glassnat() { # start_glassnat LOGFILE [extra args]
	local log=$1
	shift
	# Not through a shell function: $! must be glassnat's timeout(1),
	# which passes our signals on.
	ip netns exec "$NS_GW" timeout 300 "$GLASSNAT" run -c "$CONFIG" "$@" >"$log" 2>&1 &
	GPID=$!
	for _ in $(seq 1 50); do
		[ "$(chains_in_gw)" -gt 0 ] && grep -q 'installed' "$log" && return 0
		kill -0 "$GPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop_glassnat() { # stop_glassnat SIGNAL -> exit status in $GRC
	kill -"$1" "$GPID" 2>/dev/null
	wait "$GPID"
	GRC=$?
	GPID=
}
# A crash: SIGKILL to glassnat itself (timeout(1) is its parent).
crash_glassnat() {
	local child
	child=$(pgrep -P "$GPID" -x glassnat)
	[ -n "$child" ] && kill -KILL "$child"
	wait "$GPID" 2>/dev/null
	GPID=
}

# Servers, bounded in time; stopped with the namespaces.
in_ns "$NS_SRV" timeout 300 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 300 python3 "$PEER" tcp-serve 5002 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_HNET" timeout 300 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_IN1" timeout 300 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
in_ns "$NS_IN2" timeout 300 python3 "$PEER" udp-serve 5300 >/dev/null 2>&1 &

# ---- 1. the topology has no NAT of its own
r=$(peer "$NS_IN1" tcp-probe $IP_SRV 5001 --timeout 1)
check "before glassnat runs there is no other NAT: inside sources go unanswered ($r)" \
	test "$r" != connected

# ---- 2. start --------------------------------------------------------------
LOG=$TMP/glassnat.log
EV=$TMP/events.json
TRACE=$TMP/trace
mkdir -p "$TRACE"
if start_glassnat "$LOG" --events "$EV" --log-format json "${RUN_ARGS[@]}"; then
	ok "glassnat run started and installed its chains"
else
	notok "glassnat run started and installed its chains"
	sed 's/^/# /' "$LOG"
	finish
fi
# FP: the fast path is loaded (its own checks run); FP_WHY: why not.
FP=0
FP_WHY=
if [ "$FASTPATH" = off ]; then
	check "--no-fastpath: one log line says the fast path is off" \
		test "$(grep -c 'fast path off (fastpath: off or --no-fastpath)' "$LOG")" -eq 1
	FP_WHY="run with --no-fastpath"
elif grep -q 'fast path on: ' "$LOG"; then
	FP=1
	ok "fastpath: auto loaded the fast path ($(grep -o 'TC BPF on [^;]*' "$LOG"))"
else
	FP_WHY="the kernel fast path did not load: $(grep -o 'fast path off: .*' "$LOG" | head -1)"
	check "fastpath: auto that cannot load says why in one log line ($FP_WHY)" \
		test "$(grep -c 'fast path off: ' "$LOG")" -eq 1
fi
# fp_check DESCRIPTION COMMAND...: a check that holds only with the fast
# path on; skipped (with the reason) when it should be on but did not
# load; with --no-fastpath not run (the caller checks the opposite).
fp_check() {
	if [ "$FP" = 1 ]; then
		check "$@"
	elif [ "$FASTPATH" != off ]; then
		skip "$1: $FP_WHY"
	fi
}
# off_check DESCRIPTION COMMAND...: the --no-fastpath counterpart.
off_check() {
	if [ "$FASTPATH" = off ]; then check "$@"; fi
}
# The gateway namespace starts with the kernel's defaults (topology.sh).
gw_host() {
	in_ns "$NS_GW" sh -c 'cd /proc/sys/net/ipv4 &&
		echo "reserved=$(cat ip_local_reserved_ports) accept_local=$(cat conf/br0/accept_local)"'
}
check "port_range reserved from the kernel's ephemeral ports, one log line" \
	test "$(grep -c "\[HOST\] reserved ports 40000-60000 from the kernel's ephemeral range" "$LOG")" -eq 1
check "accept_local set on the inside interface br0, one log line" \
	test "$(grep -c '\[HOST\] accept_local=1 on br0 (was 0)' "$LOG")" -eq 1
check "no start-up warning about ip_local_port_range or accept_local" \
	bash -c "! grep -qE 'warning.*(ip_local_port_range|accept_local)' '$LOG'"
check "while running: reserved and accept_local set ($(gw_host))" \
	test "$(gw_host)" = "reserved=40000-60000 accept_local=1"
rules=$(in_ns "$NS_GW" iptables-save)
check "raw notrack, mangle PREROUTING and POSTROUTING chains present" \
	bash -c "grep -q -- '-A PREROUTING -j GLASSNAT-RAW' <<<\"\$0\" &&
		grep -q -- '-A PREROUTING -j GLASSNAT-IN' <<<\"\$0\" &&
		grep -q -- '-A POSTROUTING -j GLASSNAT-OUT' <<<\"\$0\" &&
		grep -q 'CT --notrack' <<<\"\$0\" &&
		! grep -v -- '--ctstate NEW' <<<\"\$0\" | grep -q 'queue-bypass'" "$rules"
# Only the rate-limited rule for new connections to nat_ip's unforwarded
# ports (handed back to the host, reason no_forward) may bypass the queue:
# the host's own services must not depend on glassnat.
check "only new connections to nat_ip's other ports bypass a dead queue" \
	bash -c "grep -q -- '-A GLASSNAT-IN -d $IP_NAT/32 ! -i lo -p tcp .*--ctstate NEW -m limit .*--queue-bypass' <<<\"\$0\"" "$rules"

# ---- 3. TCP, byte for byte (20 MB: GSO super-packets, partial checksums) --
r=$(peer "$NS_IN1" tcp-send $IP_SRV 5001 20000000)
check "TCP 20 MB inside -> internet arrives byte for byte, from nat_ip ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
port=${r#*peer=$IP_NAT:}
port=${port%% *}
check "TCP source port mapped into port_range 40000-60000 ($port)" \
	bash -c "[ '$port' -ge 40000 ] && [ '$port' -le 60000 ]"
BULK_PORT=$port
# A small one to tcp/5002, traced in both modes (natdump follows it).
r=$(peer "$NS_IN1" tcp-send $IP_SRV 5002 100000)
check "TCP 100 kB to tcp/5002 (traced in both modes) from nat_ip ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
# The transfer ended (FIN): its flow left the map, the kernel's counts
# went into it.
kp=$(stat_of .stats.fastpath.packets)
fp_check "after the transfer stats show packets translated in the kernel (fastpath.packets ${kp:-unread})" \
	test "${kp:-0}" -gt 100
off_check "--no-fastpath: stats show nothing translated in the kernel (fastpath.packets ${kp:-unread})" \
	test "${kp:-x}" = 0
fp_check "marked packets skip the chains (the fast path's rules are in)" \
	bash -c "ip netns exec '$NS_GW' iptables-save | grep -q -- '-A GLASSNAT-OUT -m mark --mark 0x474e0000/0xffff0000 -j RETURN'"
if [ "$FP" = 0 ]; then
	check "without the fast path no chain mentions its mark" \
		bash -c "! ip netns exec '$NS_GW' iptables-save | grep -q 0x474e0000"
fi

# ---- 4. UDP request / response ---------------------------------------------
r=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 hello)
check "UDP request/response through the NAT, seen from nat_ip ($r)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'*' data=hello' ]]" "$r"

# ---- 5. ping, identifier mapped ---------------------------------------------
SNIFF=$TMP/sniff
in_ns "$NS_SRV" timeout 10 python3 "$PEER" icmp-sniff 1 --timeout 8 >"$SNIFF" 2>&1 &
SPID=$!
for _ in $(seq 1 30); do grep -q listening "$SNIFF" && break; sleep 0.1; done
r=$(peer "$NS_IN1" ping $IP_SRV --id 4660)
wait $SPID
seen=$(grep '^src=' "$SNIFF" | head -1)
check "ping from inside gets its reply with its own id ($r)" \
	bash -c "[[ \$0 == 'reply from $IP_SRV id=4660 csum=ok' ]]" "$r"
sid=${seen#*id=}
check "the server saw the echo from nat_ip with a mapped id ($seen)" \
	bash -c "[[ \$0 == 'src=$IP_NAT id='* ]] && [ '${sid:-0}' -ge 40000 ] &&
		[ '${sid:-0}' -le 60000 ]" "$seen"

# ---- 6. bypass keeps the inside source ---------------------------------------
r=$(peer "$NS_IN1" tcp-send $IP_HNET 5001 100000)
check "host network (bypass): the server sees the inside source ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_IN1:'* ]]" "$r"

# ---- 7. port forwards ------------------------------------------------------------
r=$(peer "$NS_SRV" tcp-send $IP_NAT 8080 1000000)
check "forward tcp/8080 -> $IP_IN1:80 from outside, remote source kept ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
r=$(peer "$NS_IN2" tcp-send $IP_NAT 8080 1000000)
check "forward tcp/8080 from an inside host (hairpin), source nat_ip ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
r=$(peer "$NS_SRV" udp-ask $IP_NAT 5300 fwd)
check "forward udp/5300 -> $IP_IN2:5300 from outside ($r)" \
	bash -c "[[ \$0 == 'peer=$IP_SRV:'*' data=fwd' ]]" "$r"

# ---- 8. ICMP errors back to the inside host -------------------------------------
r=$(peer "$NS_IN1" udp-ask $IP_SRV 9 closed)
check "ICMP port unreachable delivered to the inside UDP socket ($r)" \
	test "$r" = refused
r=$(peer "$NS_IN2" ping $IP_SRV --ttl 2 --id 4661)
check "ICMP time exceeded (TTL 2) delivered back to the inside host ($r)" \
	test "$r" = "time-exceeded from $IP_INET id=4661"

# ---- 9. unsolicited inbound dropped; the host's own ports untouched --------------
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 45000 --timeout 1)
check "unsolicited SYN to nat_ip:45000 (port_range) is dropped, no RST ($r)" \
	test "$r" = timeout
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 22 --timeout 1)
check "a port outside port_range is the host's: its stack answers ($r)" \
	test "$r" = refused

# ---- 9b. trace on takes flows back from the kernel; nothing is lost -----------------
# A UDP flow (one source port) answered while tracing is off: unwatched,
# so in the kernel from its reply on. `trace on` selecting it brings its
# next packets back to the engine and into the trace: exactly the third
# exchange's two pairs.
ctl trace off >/dev/null 2>&1
r1=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 one --sport 7777)
r2=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 two --sport 7777)
fn=$(stat_of .stats.fastpath.flows_now)
# The listing reads the kernel's counters: two asks and two answers, the
# second pair translated in the kernel (both modes: the same numbers).
lst=$(ctl flows --port 7777 --proto udp --json 2>/dev/null | jq -c '[.flows[0].pkts_out, .flows[0].pkts_in]' 2>/dev/null)
check "glassnat flows counts every packet of the UDP flow, the kernel's too (${lst:-unread})" \
	test "$lst" = "[2,2]"
fp_check "an answered UDP flow nobody traces is in the kernel (fastpath.flows_now ${fn:-unread})" \
	test "${fn:-0}" -ge 1
off_check "--no-fastpath: no flow in the kernel (fastpath.flows_now ${fn:-unread})" \
	test "${fn:-x}" = 0
t_on=$(ctl trace on 'udp port 7777' 2>&1)
r3=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 three --sport 7777)
fn2=$(stat_of .stats.fastpath.flows_now)
check "three asks on one UDP flow answered across trace off / trace on ($r1; $r2; $t_on; $r3)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'*' data=one' && \$1 == 'peer=$IP_NAT:'*' data=two' && \$2 == 'peer=$IP_NAT:'*' data=three' ]]" "$r1" "$r2" "$r3"
fp_check "trace on selecting it takes the flow out of the kernel for good (flows_now $fn -> ${fn2:-unread})" \
	test "${fn2:-9}" -lt "${fn:-0}"
# A bulk transfer while tracing goes off and on (selecting it, then not):
# the flow moves between the kernel and the engine, and arrives whole.
peer "$NS_IN1" tcp-send $IP_SRV 5001 60000000 --timeout 30 >"$TMP/bulk2" 2>&1 &
BPID=$!
toggles=0
for f in "tcp port 5001" "" "udp port 9" "tcp port 5001" ""; do
	sleep 0.1
	if [ -n "$f" ]; then ctl trace on "$f" >/dev/null 2>&1; else ctl trace off >/dev/null 2>&1; fi
	toggles=$((toggles + 1))
done
wait $BPID
r=$(cat "$TMP/bulk2")
check "60 MB arrive byte for byte while tracing went off and on $toggles times ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
BULK2_PORT=${r#*peer=$IP_NAT:}
BULK2_PORT=${BULK2_PORT%% *}

# ---- 10. stop: statistics, chains removed ------------------------------------------
stop_glassnat INT
check "SIGINT: glassnat exits 0 ($GRC)" test "$GRC" -eq 0
check "SIGINT: final statistics printed in Hyper-NAT's form" \
	bash -c "grep -q '\[INFO\] \[MAIN\] Final statistics:' '$LOG' &&
		grep -q 'Packets NATted: [1-9]' '$LOG' &&
		grep -q 'Packets bypassed: [1-9]' '$LOG' &&
		grep -q 'Total connections: [1-9]' '$LOG'"
check "the drop is counted: no_mapping in the final statistics" \
	grep -q 'Passed/dropped no_mapping: [1-9]' "$LOG"
check "queue counters reported (overflow, ENOBUFS)" \
	grep -q 'Queue overflow: [0-9]*, not delivered (socket full): [0-9]*, ENOBUFS: [0-9]*' "$LOG"
check "after SIGINT no GLASSNAT rule queues (a clean stop leaves the path closed)" \
	test "$(in_ns "$NS_GW" iptables-save | grep GLASSNAT | grep -c NFQUEUE)" -eq 0
check "after SIGINT the host settings are back ($(gw_host))" \
	test "$(gw_host)" = "reserved= accept_local=0"

# ---- 11. events and traces ----------------------------------------------------------
check "pkt.drop event with reason no_mapping for the unsolicited SYN" \
	bash -c "jq -se 'any(.[]; .ev==\"pkt.drop\" and .reason==\"no_mapping\")' '$EV' >/dev/null"
opens=$(jq -r 'select(.ev=="flow.open") | "\(.kind) \(.proto) \(.inside.ip):\(.inside.port) \(.mapped.ip):\(.mapped.port)"' "$EV" | sort -u)
check "flow.open events for the TCP, UDP and ICMP snat flows from $IP_NAT and the forward to $IP_IN1:80" \
	bash -c "grep -q '^snat tcp .* $IP_NAT:' <<<\"\$0\" &&
		grep -q '^snat udp .* $IP_NAT:' <<<\"\$0\" &&
		grep -q '^snat icmp .* $IP_NAT:' <<<\"\$0\" &&
		grep -q '^forward tcp $IP_IN1:80 $IP_NAT:8080\$' <<<\"\$0\"" "$opens"
# flow.close carries the kernel's counts: the bytes out of each bulk
# transfer are its payload plus headers (at most 5% more), whichever
# way its packets went.
for bp in "20000000 $BULK_PORT" "60000000 $BULK2_PORT"; do
	set -- $bp
	bo=$(jq -r "select(.ev==\"flow.close\" and .proto==\"tcp\" and .mapped.port==${2:-0}) | .bytes_out" "$EV" | head -1)
	check "flow.close of the $1-byte transfer counts its bytes out (${bo:-none})" \
		bash -c "[ '${bo:-0}' -ge $1 ] && [ '${bo:-0}' -le $(($1 + $1 / 20)) ]"
done
uflow=$(jq -r "select(.ev==\"flow.open\" and .proto==\"udp\" and .inside.port==7777) | .flow" "$EV" | head -1)
ucl=$(jq -c "select(.ev==\"flow.close\" and .flow==${uflow:-0}) | [.pkts_out, .pkts_in]" "$EV" | head -1)
check "flow.close of the UDP flow counts all three asks and answers (${ucl:-none})" \
	test "$ucl" = "[3,3]"
kb=$(grep -o 'packets translated in the kernel: [0-9]*' "$LOG" | grep -o '[0-9]*$')
fp_check "final statistics: packets translated in the kernel (${kb:-none})" \
	test "${kb:-0}" -gt 100
off_check "--no-fastpath: the final statistics have no fast path line" \
	test -z "$kb"
flows=$("$NATDUMP" flows "$TRACE" 2>&1)
check "natdump flows lists the NAT flow to $IP_SRV, the bypassed one to $IP_HNET and the forward $IP_NAT:8080 -> $IP_IN1:80" \
	bash -c "grep -Eq '^[0-9]+ tcp [0-9.:]+ ↔ $IP_NAT:[0-9]+ ↔ $IP_SRV:' <<<\"\$0\" &&
		grep -Eq '^[0-9]+ tcp [0-9.:]+ ↔ [^ ]+ ↔ $IP_HNET:' <<<\"\$0\" &&
		grep -Eq '^[0-9]+ tcp $IP_IN1:80 ↔ $IP_NAT:8080 ↔ ' <<<\"\$0\"" "$flows"
check "natdump drops shows the unsolicited SYN with no_mapping" \
	bash -c "'$NATDUMP' drops '$TRACE' | grep -q no_mapping"
npairs=$("$NATDUMP" show "$TRACE" --flow "${uflow:-0}" --json 2>/dev/null | grep -c .)
check "the UDP flow taken back by trace on has its later packets in the trace: 2 pairs ($npairs)" \
	test "$npairs" -eq 2
tcp_id=$(jq -r "select(.ev==\"flow.open\" and .proto==\"tcp\" and .kind==\"snat\" and .remote.port==5002) | .flow" "$EV" | head -n 1)
check "natdump follow $tcp_id shows the TCP flow's handshake, translated, with its events" \
	bash -c "'$NATDUMP' follow '$tcp_id' '$TRACE' --events '$EV' >'$TMP/follow' &&
		grep -q '\[S\]' '$TMP/follow' && grep -q '\[S\.\]' '$TMP/follow' &&
		grep -q ' nat ' '$TMP/follow' && grep -q 'event flow.open' '$TMP/follow' &&
		grep -q 'state=ESTABLISHED' '$TMP/follow'"

# ---- 12. crash: fail closed, then the next start cleans up -----------------------------
LOG2=$TMP/glassnat2.log
start_glassnat "$LOG2"
# A UDP flow answered both ways before the crash: with the fast path it is
# in the kernel's map, which translates only while the gateway renews its
# 3 s lease; after the crash it must stop like everything else.
c1=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 pre1 --sport 7788)
c2=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 pre2 --sport 7788)
crash_glassnat
sleep 4
c3=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 post --sport 7788)
check "a UDP flow answered before the crash ($c1; $c2) gets no answer 4 s after it (fail closed, also when offloaded: $c3)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'*' data=pre1' && \$1 == 'peer=$IP_NAT:'*' data=pre2' && \$2 == timeout ]]" "$c1" "$c2" "$c3"
check "after a crash (SIGKILL) the chains stay ($(chains_in_gw) lines)" \
	test "$(chains_in_gw)" -gt 0
r=$(peer "$NS_IN1" tcp-probe $IP_SRV 5001 --timeout 1)
check "after a crash nothing from inside gets through (fail closed: $r)" \
	test "$r" = timeout
LOG3=$TMP/glassnat3.log
start_glassnat "$LOG3"
check "the next start replaces the stale chains and says so" \
	grep -q 'replaced the GLASSNAT chains an earlier run left when it did not stop cleanly' "$LOG3"
check "the next start puts back the host settings the crashed run left" \
	grep -q '\[HOST\] state file .* the last run did not exit cleanly' "$LOG3"
check "exactly one set of chains after the restart" \
	test "$(in_ns "$NS_GW" iptables-save | grep -c -- '-j GLASSNAT-IN$')" -eq 1
r=$(peer "$NS_IN1" tcp-send $IP_SRV 5001 100000)
check "after the restart traffic is translated again ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_NAT:'* ]]" "$r"
stop_glassnat TERM
check "SIGTERM: exit 0 and no rule queues ($GRC)" \
	bash -c "[ '$GRC' -eq 0 ] && [ \$(ip netns exec '$NS_GW' iptables-save | grep GLASSNAT | grep -c NFQUEUE) -eq 0 ]"
check "after the crash and the next run the host settings are back ($(gw_host))" \
	test "$(gw_host)" = "reserved= accept_local=0"

# ---- 13. a second glassnat on the same queue refuses, touching nothing -----------------
start_glassnat "$LOG"
LOG4=$TMP/glassnat4.log
in_ns "$NS_GW" timeout 10 "$GLASSNAT" run -c "$CONFIG" >"$LOG4" 2>&1
rc=$?
check "a second glassnat fails (exit $rc) and the first keeps its chains" \
	bash -c "[ $rc -eq 1 ] && grep -q 'holds this queue' '$LOG4' &&
		[ \$(ip netns exec '$NS_GW' iptables-save | grep -c -- '-j GLASSNAT-OUT$') -eq 1 ]"
stop_glassnat TERM

# ---- 14. nothing left ---------------------------------------------------------------------
live_finish_topology
