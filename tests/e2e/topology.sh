#!/usr/bin/env bash
# The live test topology, in network namespaces only. Source it, then call
# topo_up; topo_down (also run by the EXIT/INT/TERM trap topo_up sets)
# stops every process left in the namespaces and deletes them. Nothing is
# created in, or changed in, the root namespace: veth pairs are created
# inside their namespaces.
#
#   in1 172.17.240.21 ─┐                            ┌ inet (router)
#   in2 172.17.240.22 ─┤ br0 172.17.240.1 ── gw ── out0 203.0.113.1 (nat_ip)
#                      (inside)              │       203.0.113.254 ── srv0 198.51.100.1
#                                            │                         srv 198.51.100.10
#                                 host0 192.0.2.1 ── hnet 192.0.2.10 ("host network")
#
# The gateway keeps the kernel's defaults but ip_forward: glassnat sets
# what else it needs for its run (reserved ports, accept_local on br0)
# and puts it back. The internet router has no route to 172.17.240.0/24: an inside address
# that leaked untranslated would go nowhere. Names are gn-<run id>-<role>,
# unique per run (TOPO_ID, default the shell's pid).
#
#   . tests/e2e/topology.sh; topo_up; ip netns exec "$NS_IN1" ...
#   topo_before_down() { ...; }   # optional: runs first in topo_down

TOPO_ID=${TOPO_ID:-$$}
NS_GW=gn-$TOPO_ID-gw
NS_IN1=gn-$TOPO_ID-in1
NS_IN2=gn-$TOPO_ID-in2
NS_INET=gn-$TOPO_ID-inet
NS_SRV=gn-$TOPO_ID-srv
NS_HNET=gn-$TOPO_ID-hnet
TOPO_NS=("$NS_GW" "$NS_IN1" "$NS_IN2" "$NS_INET" "$NS_SRV" "$NS_HNET")

IP_GW_IN=172.17.240.1
IP_IN1=172.17.240.21
IP_IN2=172.17.240.22
IP_NAT=203.0.113.1
IP_INET=203.0.113.254
IP_SRV=198.51.100.10
IP_HNET=192.0.2.10

# Deletes the namespaces of this run after stopping what runs in them
# (by pid, only processes inside our own namespaces). Safe to call twice.
topo_down() {
	local ns pids
	if declare -F topo_before_down >/dev/null; then
		topo_before_down || true
	fi
	for ns in "${TOPO_NS[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill $pids 2>/dev/null
	done
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		pids=
		for ns in "${TOPO_NS[@]}"; do
			[ -e "/run/netns/$ns" ] || continue
			pids+=$(ip netns pids "$ns" 2>/dev/null)
		done
		[ -z "$pids" ] && break
		sleep 0.2
	done
	for ns in "${TOPO_NS[@]}"; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# Namespaces of this run that still exist (for the "nothing left" checks).
topo_left() {
	local ns
	for ns in "${TOPO_NS[@]}"; do
		[ -e "/run/netns/$ns" ] && echo "$ns"
	done
	return 0
}

topo_up() {
	local ns
	if [ "${TOPO_NO_TRAP:-0}" != 1 ]; then
		trap 'topo_down' EXIT
		trap 'topo_down; exit 130' INT
		trap 'topo_down; exit 143' TERM
	fi
	for ns in "${TOPO_NS[@]}"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
	done
	_topo_links && _topo_addrs
}

_topo_links() {
	# Inside: a bridge in the gateway, one veth per inside host.
	ip -n "$NS_GW" link add br0 type bridge &&
		ip -n "$NS_GW" link add in1 type veth peer name eth0 netns "$NS_IN1" &&
		ip -n "$NS_GW" link add in2 type veth peer name eth0 netns "$NS_IN2" &&
		ip -n "$NS_GW" link set in1 master br0 &&
		ip -n "$NS_GW" link set in2 master br0 &&
		ip -n "$NS_GW" link add out0 type veth peer name gw0 netns "$NS_INET" &&
		ip -n "$NS_GW" link add host0 type veth peer name eth0 netns "$NS_HNET" &&
		ip -n "$NS_INET" link add srv0 type veth peer name eth0 netns "$NS_SRV"
}

_topo_addrs() {
	local g=(ip -n "$NS_GW")
	"${g[@]}" addr add $IP_GW_IN/24 dev br0 &&
		"${g[@]}" addr add $IP_NAT/24 dev out0 &&
		"${g[@]}" addr add 192.0.2.1/24 dev host0 &&
		for d in br0 in1 in2 out0 host0; do "${g[@]}" link set "$d" up; done &&
		"${g[@]}" route add default via $IP_INET dev out0 &&
		ip -n "$NS_IN1" addr add $IP_IN1/24 dev eth0 &&
		ip -n "$NS_IN2" addr add $IP_IN2/24 dev eth0 &&
		ip -n "$NS_HNET" addr add $IP_HNET/24 dev eth0 &&
		ip -n "$NS_INET" addr add $IP_INET/24 dev gw0 &&
		ip -n "$NS_INET" addr add 198.51.100.1/24 dev srv0 &&
		ip -n "$NS_SRV" addr add $IP_SRV/24 dev eth0 &&
		for ns in "$NS_IN1" "$NS_IN2" "$NS_HNET" "$NS_SRV"; do
			ip -n "$ns" link set eth0 up || return 1
		done &&
		ip -n "$NS_INET" link set gw0 up && ip -n "$NS_INET" link set srv0 up &&
		ip -n "$NS_IN1" route add default via $IP_GW_IN &&
		ip -n "$NS_IN2" route add default via $IP_GW_IN &&
		ip -n "$NS_HNET" route add 172.17.240.0/24 via 192.0.2.1 &&
		ip -n "$NS_SRV" route add default via 198.51.100.1 &&
		ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1 &&
		ip netns exec "$NS_INET" sysctl -qw net.ipv4.ip_forward=1 &&
		_topo_wait_links
}

# veth carrier comes up asynchronously; wait until the far ends answer ARP.
_topo_wait_links() {
	local i
	for i in $(seq 1 50); do
		if ip -n "$NS_GW" link show out0 | grep -q 'state UP' &&
			ip -n "$NS_IN1" link show eth0 | grep -q 'state UP' &&
			ip -n "$NS_IN2" link show eth0 | grep -q 'state UP' &&
			ip -n "$NS_SRV" link show eth0 | grep -q 'state UP' &&
			ip -n "$NS_HNET" link show eth0 | grep -q 'state UP' &&
			ip -n "$NS_GW" link show br0 | grep -q 'state UP'; then
			return 0
		fi
		sleep 0.1
	done
	echo "topology: links did not come up" >&2
	return 1
}
