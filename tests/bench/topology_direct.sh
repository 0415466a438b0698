#!/usr/bin/env bash
# The direct bench topology: the gateway routes straight to the server, no
# router namespace in between (tests/e2e/topology.sh has one, and its
# forwarding costs the kernel's NAT as much as glassnat's, which hides the
# difference between them). Source tests/e2e/topology.sh first, then this
# file, then call topo_direct_up; topo_down and topo_left from topology.sh
# work on it unchanged (this file narrows TOPO_NS to the namespaces it makes).
#
#   in1 172.17.240.21 ── br0 172.17.240.1 ── gw ── out0 203.0.113.1 ──── eth0 198.51.100.10 srv
#                        (inside)                   (nat_ip)
#
# One cable, two subnets: the gateway reaches 198.51.100.0/24 and the server
# 203.0.113.0/24 as on-link routes, and the server is the gateway's default
# route. So glassnat's config (configs/e2e.yaml: nat_ip 203.0.113.1) and the
# server address the clients use ($IP_SRV) are the same as in the router
# topology, and the server, having one address, answers from it (a second
# address in 203.0.113.0/24 would become the source of its UDP replies).
# Kernel defaults but ip_forward in the gateway, as there.
# Names gn-<TOPO_ID>-<role>, unique per run.
#
#   . tests/e2e/topology.sh; . tests/bench/topology_direct.sh; topo_direct_up

TOPO_NS=("$NS_GW" "$NS_IN1" "$NS_SRV")

topo_direct_up() {
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
	local g=(ip -n "$NS_GW")
	"${g[@]}" link add br0 type bridge &&
		"${g[@]}" link add in1 type veth peer name eth0 netns "$NS_IN1" &&
		"${g[@]}" link set in1 master br0 &&
		"${g[@]}" link add out0 type veth peer name eth0 netns "$NS_SRV" &&
		"${g[@]}" addr add $IP_GW_IN/24 dev br0 &&
		"${g[@]}" addr add $IP_NAT/24 dev out0 &&
		for d in br0 in1 out0; do "${g[@]}" link set "$d" up || return 1; done &&
		ip -n "$NS_IN1" addr add $IP_IN1/24 dev eth0 &&
		ip -n "$NS_SRV" addr add $IP_SRV/24 dev eth0 &&
		ip -n "$NS_IN1" link set eth0 up &&
		ip -n "$NS_SRV" link set eth0 up &&
		"${g[@]}" route add 198.51.100.0/24 dev out0 &&
		"${g[@]}" route add default via $IP_SRV dev out0 &&
		ip -n "$NS_SRV" route add 203.0.113.0/24 dev eth0 &&
		ip -n "$NS_IN1" route add default via $IP_GW_IN &&
		ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1 &&
		_topo_direct_wait_links
}

# veth carrier comes up asynchronously (bounded: 5 s).
_topo_direct_wait_links() {
	local i
	for i in $(seq 1 50); do
		if ip -n "$NS_GW" link show out0 | grep -q 'state UP' &&
			ip -n "$NS_IN1" link show eth0 | grep -q 'state UP' &&
			ip -n "$NS_SRV" link show eth0 | grep -q 'state UP' &&
			ip -n "$NS_GW" link show br0 | grep -q 'state UP'; then
			return 0
		fi
		sleep 0.1
	done
	echo "topology (direct): links did not come up" >&2
	return 1
}
