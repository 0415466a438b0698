#!/usr/bin/env bash
# The seeds' rule model offline (engine semantics, issue 16): the "rules"
# capture of tests/e2e/gencap.py replayed through a config with a
# source-restricted forward, a forward on a second address, a DNS redirect
# and two inside networks (one with max_flows 4); the output is checked
# with tshark and the events with jq.
#
# Output: "ok - ..." / "not ok - ..." lines, then
# "N passed, M failed, K skipped".
#
#   BUILD=build tests/e2e/replay_rules_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
. tests/e2e/lib.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-replay-rules.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
IN=$TMP/in.pcapng
OUT=$TMP/out.pcapng
EV=$TMP/events.json
for tool in tshark python3 jq; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is installed (make deps)"
		finish
	fi
done
tsf() {
	local file=$1 filter=$2
	shift 2
	local args=()
	for f in "$@"; do args+=(-e "$f"); done
	tshark -r "$file" -Y "$filter" -T fields "${args[@]}" 2>>"$TMP/tshark.err"
}

cat >"$TMP/rules.yaml" <<'YAML'
nat_ip: 192.168.45.57
internal_network: [172.17.240.0/25, 172.17.240.128/25]
networks:
  - {name: lab, network: 172.17.240.0/25, max_flows: 4}
  - {name: office, network: 172.17.240.128/25}
rules:
  - name: dns-redirect
    action: redirect
    protocol: udp
    destination: 203.0.113.7
    ports: 53
    to_address: 198.51.100.53
    to_port: 5353
  - {name: internet, action: nat}
port_forward:
  - {name: ssh, protocol: tcp, external_port: 2222, internal_ip: 172.17.240.21,
     internal_port: 22, source: 198.51.100.0/24}
  - {name: web2, protocol: tcp, external_port: 8080, internal_ip: 172.17.240.21,
     internal_port: 80, external_ip: 192.168.45.58}
YAML

if ! tests/e2e/gencap.py --scenario rules --out "$IN" >"$TMP/gencap.out" 2>&1; then
	not_ok "gencap.py writes the rules capture" "$(cat "$TMP/gencap.out")"
	finish
fi
"$GLASSNAT" replay -q -c "$TMP/rules.yaml" "$IN" -o "$OUT" --events "$EV" \
	--log-format json >"$TMP/summary" 2>"$TMP/stderr"
rc=$?
check "glassnat replay of the rules capture exits 0" 0 "$rc"
check "10 of 11 packets written (one refused)" 10 "$(tsf "$OUT" frame frame.number | grep -c .)"

check "ssh from 198.51.100.10 is forwarded to 172.17.240.21:22" \
	"$(printf '198.51.100.10\t172.17.240.21\t22')" \
	"$(tsf "$OUT" 'tcp.srcport==50000' ip.src ip.dst tcp.dstport)"
check "ssh from 203.0.113.99 is not in the output" "" \
	"$(tsf "$OUT" 'tcp.srcport==50001' frame.number)"
check "the refusal is a pkt.drop with reason forward_source" \
	"203.0.113.99 2222" \
	"$(jq -r 'select(.ev=="pkt.drop") | "\(.remote.ip) \(.mapped.port) \(.reason)"' "$EV" |
		sed -n 's/ forward_source$//p')"
check "web2 on the second address is forwarded to 172.17.240.21:80" \
	"$(printf '203.0.113.99\t172.17.240.21\t80')" \
	"$(tsf "$OUT" 'tcp.srcport==50002' ip.src ip.dst tcp.dstport)"
check "web2's syn-ack leaves from the second address 192.168.45.58:8080" \
	"$(printf '192.168.45.58\t8080\t203.0.113.99')" \
	"$(tsf "$OUT" 'tcp.dstport==50002' ip.src tcp.srcport ip.dst)"
check "the dns query goes to the resolver 198.51.100.53:5353 from nat_ip" \
	"$(printf '192.168.45.57\t198.51.100.53\t5353')" \
	"$(tsf "$OUT" 'udp.srcport==53000' ip.src ip.dst udp.dstport)"
check "the answer comes back from 203.0.113.7:53, the address asked" \
	"$(printf '203.0.113.7\t53\t172.17.240.22\t53000')" \
	"$(tsf "$OUT" 'udp.dstport==53000' ip.src udp.srcport ip.dst udp.dstport)"
bad=$(tshark -r "$OUT" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
	-o udp.check_checksum:TRUE \
	-Y 'ip.checksum.status==0 or tcp.checksum.status==0 or udp.checksum.status==0' \
	-T fields -e frame.number 2>>"$TMP/tshark.err")
check "every checksum in the output is valid" "" "$bad"
check "the lab's two oldest flows are evicted, in order (ssh, web2)" \
	"ssh lab,web2 lab" \
	"$(jq -r 'select(.ev=="flow.evicted") | "\(.rule) \(.network)"' "$EV" | paste -sd,)"
check "no office flow is evicted; both office flows open in network office" \
	"2" "$(jq -r 'select(.ev=="flow.open" and .network=="office") | .flow' "$EV" | grep -c .)"
check "the redirect's flow.open has the original destination" \
	"198.51.100.53:5353 203.0.113.7:53" \
	"$(jq -r 'select(.ev=="flow.open" and .rule=="dns-redirect") | "\(.remote.ip):\(.remote.port) \(.original.ip):\(.original.port)"' "$EV")"
finish
