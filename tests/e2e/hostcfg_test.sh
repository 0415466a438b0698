#!/usr/bin/env bash
# The host settings glassnat sets for its run (nat/backend/hostcfg), in a
# namespace of this test's own that starts with the kernel's defaults: the
# reserved ports really keep the kernel's own connect()s out of the NAT's
# port range, accept_local (and a loose rp_filter where the host's is
# strict) really lets a packet whose source is a local address in on the
# inside interface, and everything is put back on exit, after a kill -9 at
# the next start, keeping the user's own reservations.
# Root; nothing outside the namespaces it creates is touched.
#
#   BUILD=build bash tests/e2e/hostcfg_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
BUILD=${BUILD:-build}
DRIVE=$BUILD/hostcfg_drive

if [ "$(id -u)" -ne 0 ]; then
	not_ok "hostcfg tests need root (run through scripts/as-root.sh)"
	finish
fi
[ -x "$DRIVE" ] || make --no-print-directory BUILD="$BUILD" "$DRIVE" >/dev/null ||
	{ not_ok "$DRIVE not built"; finish; }

# Unique to the run; removed on any exit.
G=hcfg-gw-$$-$RANDOM
H=hcfg-in-$$-$RANDOM
T=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-hostcfg.XXXXXX")
STATE=$T/hostcfg.state
DPID=
cleanup() {
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	ip netns del "$G" 2>/dev/null
	ip netns del "$H" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

in_g() { ip netns exec "$G" "$@"; }
in_h() { ip netns exec "$H" "$@"; }
gval() { in_g cat "/proc/sys/net/ipv4/$1" | tr '\t' ' '; }

# gw: vi (inside, 192.0.2.1) to the inside host; vo (outside) holds
# 198.51.100.1, standing for the NAT address. All documentation ranges.
if ! { ip netns add "$G" && ip netns add "$H" &&
	ip link add vi netns "$G" type veth peer name vh netns "$H" &&
	ip -n "$G" link add vo type veth peer name vo2 &&
	ip -n "$G" addr add 192.0.2.1/24 dev vi &&
	ip -n "$G" addr add 198.51.100.1/24 dev vo &&
	ip -n "$H" addr add 192.0.2.2/24 dev vh &&
	ip -n "$H" addr add 198.51.100.1/32 dev vh &&
	for l in lo vi vo vo2; do ip -n "$G" link set "$l" up || exit 1; done &&
	ip -n "$H" link set lo up && ip -n "$H" link set vh up &&
	ip -n "$H" neigh replace 192.0.2.1 dev vh nud permanent \
		lladdr "$(in_g cat /sys/class/net/vi/address)"; }; then
	not_ok "namespaces $G and $H created"
	finish
fi
ok "namespaces $G and $H created"

# What a hairpinned packet looks like after translation, before routing:
# source = an address of the gateway (198.51.100.1), in on the inside
# interface. Prints "in" when the gateway delivered it, else "dropped".
hairpin() {
	local b a
	b=$(in_g nstat -az IpInDelivers | awk '$1 == "IpInDelivers" {print $2}')
	in_h python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.1", 0))
s.sendto(b"hairpin", ("192.0.2.1", 9))'
	sleep 0.2
	a=$(in_g nstat -az IpInDelivers | awk '$1 == "IpInDelivers" {print $2}')
	if [ "$((a - b))" -gt 0 ]; then echo in; else echo dropped; fi
}

# hold RANGES IF...: the driver applies and waits; returns once applied.
hold() {
	# Not through in_g: $! must be the driver itself (ip netns exec
	# execs it), not a subshell around it.
	ip netns exec "$G" "$DRIVE" hold "$STATE" "$@" >"$T/hold.log" 2>&1 &
	DPID=$!
	for _ in $(seq 50); do
		grep -q '^applied$' "$T/hold.log" && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/hold.log" >&2
	return 1
}
# release SIGNAL: stops the driver; its exit status.
release() {
	kill "-$1" "$DPID"
	wait "$DPID"
	local rc=$?
	DPID=
	return $rc
}
connects_in_range() { # how many of 300 kernel-picked ports land in 40000-60000
	in_g "$DRIVE" connect 300 40000-60000 | sed -n 's/^300 connects, \([0-9]*\) in .*/\1/p'
}
snapshot() {
	echo "reserved='$(gval ip_local_reserved_ports)'" \
		"range='$(gval ip_local_port_range)'" \
		"accept_local(all,vi)=$(gval conf/all/accept_local),$(gval conf/vi/accept_local)" \
		"rp_filter(all,vi)=$(gval conf/all/rp_filter),$(gval conf/vi/rp_filter)"
}

# ---- defaults ----------------------------------------------------------
DEFAULTS=$(snapshot)
echo "# gateway namespace as created: $DEFAULTS"
check "the namespace starts with the kernel's defaults" \
	"reserved='' range='32768 60999' accept_local(all,vi)=0,0 rp_filter(all,vi)=0,0" \
	"$DEFAULTS"
n=$(connects_in_range)
if [ -n "$n" ] && [ "$n" -gt 0 ]; then
	ok "without a reservation the kernel picks ports in 40000-60000 ($n of 300)"
else
	not_ok "without a reservation the kernel picks ports in 40000-60000" "got: '$n' of 300"
fi
check "a hairpinned packet is dropped as a martian with the defaults" dropped "$(hairpin)"

# ---- apply, clean exit -------------------------------------------------
if hold 40000-60000 vi; then ok "applied (40000-60000, hairpin on vi)"; else not_ok "applied"; fi
check "one log line for the reservation" 1 \
	"$(grep -c "^hostcfg: reserved ports 40000-60000 from the kernel's ephemeral range (net.ipv4.ip_local_reserved_ports was '', restored on exit); 8231 ports of 32768-60999 are left" "$T/hold.log")"
check "one log line for accept_local" 1 \
	"$(grep -c '^hostcfg: accept_local=1 on vi (was 0) so hairpinned packets are not dropped as martians' "$T/hold.log")"
check "no rp_filter change where it is not strict" 0 "$(grep -c rp_filter "$T/hold.log")"
check "while applied: reserved, accept_local on vi" \
	"reserved='40000-60000' range='32768 60999' accept_local(all,vi)=0,1 rp_filter(all,vi)=0,0" \
	"$(snapshot)"
check "the state file holds the originals" \
	"ports-added 40000-60000|set net/ipv4/conf/vi/accept_local 0 1" \
	"$(grep -v -e '^#' -e '^boot ' "$STATE" | tail -n +2 | paste -sd '|')"
check "the state file names this boot" "boot $(cat /proc/sys/kernel/random/boot_id)" "$(grep '^boot ' "$STATE")"
check "the kernel's own connect()s avoid the reserved range (0 of 300 in it)" 0 "$(connects_in_range)"
check "a hairpinned packet is let in" in "$(hairpin)"
if release TERM; then ok "driver exits 0 on SIGTERM"; else not_ok "driver exits 0 on SIGTERM"; fi
check "after exit every value is back" "$DEFAULTS" "$(snapshot)"
check "restore said so, one line each" 2 "$(grep -cE '^hostcfg: (accept_local=0 on vi again|net.ipv4.ip_local_reserved_ports is .. again)' "$T/hold.log")"
check "no state file after a clean exit" no "$([ -e "$STATE" ] && echo yes || echo no)"
check "a hairpinned packet is dropped again" dropped "$(hairpin)"

# ---- kill -9, recovered at the next start ------------------------------
hold 40000-60000 vi || not_ok "applied before the crash"
release KILL 2>/dev/null
check "after kill -9 the changes are still there" \
	"reserved='40000-60000' range='32768 60999' accept_local(all,vi)=0,1 rp_filter(all,vi)=0,0" \
	"$(snapshot)"
check "after kill -9 the state file is left" yes "$([ -e "$STATE" ] && echo yes || echo no)"
in_g "$DRIVE" recover "$STATE" >"$T/recover.log" 2>&1
check "recover exits 0" 0 "$?"
check "recover restores the defaults" "$DEFAULTS" "$(snapshot)"
check "recover says the last run did not exit cleanly" 1 "$(grep -c 'did not exit cleanly' "$T/recover.log")"
check "recover removes the state file" no "$([ -e "$STATE" ] && echo yes || echo no)"
in_g "$DRIVE" recover "$STATE" >"$T/recover2.log" 2>&1
check "recover with no state file does nothing" "recovered" "$(cat "$T/recover2.log")"

# ---- the user's own reservations stay ----------------------------------
in_g sh -c 'echo 8080,40100-40200 >/proc/sys/net/ipv4/ip_local_reserved_ports'
hold 40000-60000 vi || not_ok "applied over a user reservation"
check "only the missing ports are reserved" 1 \
	"$(grep -c "^hostcfg: reserved ports 40000-40099,40201-60000 from the kernel's ephemeral range (net.ipv4.ip_local_reserved_ports was '8080,40100-40200'" "$T/hold.log")"
check "while applied: the union" "8080,40000-60000" "$(gval ip_local_reserved_ports)"
in_g sh -c 'echo 8080,9090,40000-60000 >/proc/sys/net/ipv4/ip_local_reserved_ports'
release TERM
check "restore keeps the user's reservations, also one made meanwhile" \
	"8080,9090,40100-40200" "$(gval ip_local_reserved_ports)"
in_g sh -c 'echo >/proc/sys/net/ipv4/ip_local_reserved_ports'

# ---- a host with a strict reverse-path filter --------------------------
in_g sysctl -qw net.ipv4.conf.all.rp_filter=1
STRICT=$(snapshot)
in_g sysctl -qw net.ipv4.conf.vi.accept_local=1
check "with rp_filter strict, accept_local alone does not let it in" dropped "$(hairpin)"
in_g sysctl -qw net.ipv4.conf.vi.accept_local=0
hold 40000-60000 vi || not_ok "applied on a strict host"
check "one log line for rp_filter" 1 \
	"$(grep -c '^hostcfg: rp_filter=2 on vi (was 0) so hairpinned packets from the NAT address pass the reverse-path filter' "$T/hold.log")"
check "while applied: loose on vi only" "1,2" "$(gval conf/all/rp_filter),$(gval conf/vi/rp_filter)"
check "a hairpinned packet is let in on a strict host" in "$(hairpin)"
release KILL 2>/dev/null
in_g "$DRIVE" recover "$STATE" >"$T/recover.log" 2>&1
check "recover after kill -9 restores the strict host" "$STRICT" "$(snapshot)"

# ---- refusals ----------------------------------------------------------
in_g "$DRIVE" hold "$STATE" 30000-62000 vi >"$T/refuse.log" 2>&1
check "refuses a reservation that leaves no ephemeral port" 1 "$?"
check "and says why" 1 "$(grep -c 'would leave the host no port of its ephemeral range 32768-60999' "$T/refuse.log")"
check "refusing changes nothing" "$STRICT" "$(snapshot)"
in_g "$DRIVE" hold "$STATE" 40000-60000 nosuch0 >"$T/refuse.log" 2>&1
check "an unknown interface is refused naming the file" 1 \
	"$(grep -c 'reading /proc/sys/net/ipv4/conf/nosuch0/accept_local: No such file or directory' "$T/refuse.log")"
check "and nothing is left changed" "$STRICT" "$(snapshot)"

finish
