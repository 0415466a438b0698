#!/usr/bin/env bash
# `make demo`, offline edition: generates a small capture of three inside
# hosts talking to the internet and to the host network, replays it through
# Hyper-NAT's own config and shows every packet before and after
# translation, with the comment glassnat wrote on it.
#
# The live demo (network namespaces, a real gateway, iperf3) comes with the
# NFQUEUE backend in a later release. Runs in a few seconds; leaves nothing
# behind.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
CONFIG=configs/hyper-nat.yaml

if [ ! -x "$GLASSNAT" ]; then
	echo "demo: $GLASSNAT not found; run 'make' (or 'make demo') first" >&2
	exit 1
fi
for tool in tshark python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "demo: $tool is missing; run 'make deps'" >&2
		exit 1
	fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-demo.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
IN=$TMP/in.pcapng
OUT=$TMP/out.pcapng

heading() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

heading "1. The config: Hyper-NAT's file, loaded unchanged ($CONFIG)"
echo "Inside network 172.17.240.0/24; traffic to the host network"
echo "192.168.45.0/24 keeps its source (bypass); the rest leaves as"
echo "192.168.45.57 (nat). glassnat check prints the plan:"
echo
"$GLASSNAT" check -c "$CONFIG"

heading "2. A capture (tests/e2e/gencap.py): what the gateway sees"
echo "Three inside hosts: a TCP connection, a DNS query, pings, an SSH"
echo "connection to the host network, an ICMP error and a stray SYN."
tests/e2e/gencap.py --out "$IN"

heading "3. Replay it: glassnat replay -c $CONFIG in.pcapng -o out.pcapng"
"$GLASSNAT" replay -c "$CONFIG" "$IN" -o "$OUT"

# One line per packet. -e prints every occurrence of a field, comma
# separated: for an ICMP error the outer header first, then the embedded.
fields() {
	tshark -r "$1" -T fields -E separator='|' -e frame.time_epoch \
		-e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport \
		-e udp.srcport -e udp.dstport -e icmp.type -e icmp.ident \
		-e frame.comment 2>/dev/null
}
fields "$IN" >"$TMP/before"
fields "$OUT" >"$TMP/after"

heading "4. Before and after, packet by packet"
cat <<'EOF'
Left: as captured. Right: as it left glassnat, or "(dropped)". The
comment is what glassnat wrote on the packet (frame.comment in
Wireshark): the flow id, the direction, the verdict and the rule.
EOF
echo
awk -F'|' '
function show(f,   src, dst) {
	split(f[2], src, ","); split(f[3], dst, ",")
	if (f[8] == "3" || f[8] == "11" || f[8] == "12")
		return sprintf("icmp err %s > %s [in it: %s:%s > %s:%s]",
			src[1], dst[1], src[2], f[6] f[4], dst[2], f[7] f[5])
	if (f[8] != "")
		return sprintf("icmp %s %s > %s id %s",
			f[8] == "8" ? "req" : "rep", src[1], dst[1], f[9])
	if (f[4] != "")
		return sprintf("tcp %s:%s > %s:%s", src[1], f[4], dst[1], f[5])
	return sprintf("udp %s:%s > %s:%s", src[1], f[6], dst[1], f[7])
}
NR == FNR { split($0, a, "|"); after[a[1]] = show(a); note[a[1]] = a[10]; next }
{
	split($0, b, "|"); n++
	right = (b[1] in after) ? after[b[1]] : "(dropped)"
	printf "%2d  %-44s  %-44s  %s\n", n, show(b), right, note[b[1]]
}' "$TMP/after" "$TMP/before"

heading "What to notice"
cat <<'EOF'
- Internet-bound packets leave as 192.168.45.57 with their own ports
  (port preservation: 51000, 53000, echo id 4660 were free).
- Replies are rewritten back to the inside host and port.
- Packets to 192.168.45.100 keep source 172.17.240.21 (rule "호스트 네트워크").
- The ICMP port unreachable is rewritten twice: the outer destination and
  the embedded datagram's source, both checksums fixed.
- The unsolicited SYN to 192.168.45.57:40123 matches no flow: dropped and
  counted as no_mapping in the summary above.
Open out.pcapng in Wireshark to see the same comments: re-run with
  tests/e2e/gencap.py --out in.pcapng
  build/glassnat replay -c configs/hyper-nat.yaml in.pcapng -o out.pcapng
EOF
