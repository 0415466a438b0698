#!/usr/bin/env bash
# Translation end to end through `glassnat replay`, against results written
# here (not computed by glassnat): ports that change (collisions, port
# preservation off, exhaustion) with the incremental checksum path
# validated by tshark, the three filtering modes, and idle expiry with
# short timeouts driven by the capture's timestamps. Captures come from
# tests/e2e/gencap.py (scenarios ports, filtering, expiry).
#
# Output: one "ok - ..." / "not ok - ..." line per check, then
# "N passed, M failed, K skipped". Exit status 1 when anything failed.
#
#   BUILD=build tests/e2e/translate_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat

. tests/e2e/lib.sh

for tool in tshark python3 jq; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is installed (make deps)"
		finish
	fi
done
if [ ! -x "$GLASSNAT" ]; then
	not_ok "$GLASSNAT exists (run make first)"
	finish
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-translate.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# config NAME EXTRA_YAML: a config with nat_ip 203.0.113.1 (gencap's NAT2).
config() {
	cat >"$TMP/$1.yaml" <<EOF
nat_ip: 203.0.113.1
internal_network: 172.17.240.0/24
$2
rules:
  - name: out
    destination: 0.0.0.0/0
    action: nat
EOF
}
# replay NAME CONFIG CAPTURE: runs it, checks exit 0 and a quiet stderr.
replay() {
	timeout 60 "$GLASSNAT" replay -c "$TMP/$2.yaml" "$3" -o "$TMP/$1.out.pcapng" \
		--events "$TMP/$1.events" >"$TMP/$1.summary" 2>"$TMP/$1.err"
	check_rc "$1: replay exits 0" 0 $?
	check "$1: replay says nothing on stderr" "" "$(cat "$TMP/$1.err")"
}
# fields FILE: one line per packet: src dst sport dport (UDP, TCP or the
# ICMP echo id as both ports).
fields() {
	tshark -r "$1" -T fields -E separator=' ' -e ip.src -e ip.dst \
		-e udp.srcport -e udp.dstport -e tcp.srcport -e tcp.dstport \
		-e icmp.ident 2>>"$TMP/tshark.err" |
		awk '{ if (NF == 3) print $1, $2, "icmp", $3; else print $1, $2, $3, $4 }'
}
# Every checksum valid (checksum.status 0 = Bad).
checksums() {
	local bad
	bad=$(tshark -r "$2" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
		-o udp.check_checksum:TRUE \
		-Y 'ip.checksum.status==0 or tcp.checksum.status==0 or udp.checksum.status==0 or icmp.checksum.status==0' \
		-T fields -e frame.number 2>>"$TMP/tshark.err" | tr '\n' ' ')
	check "$1: every IP/TCP/UDP/ICMP checksum in the output is valid" "" "$bad"
	check "$1: tshark checked $(fields "$2" | wc -l) packets" \
		"$(fields "$2" | wc -l)" "$(tshark -r "$2" -o tcp.check_checksum:TRUE \
		-o udp.check_checksum:TRUE -Y 'tcp.checksum.status==1 or udp.checksum.status==1 or icmp.checksum.status==1' \
		-T fields -e frame.number 2>>"$TMP/tshark.err" | wc -l)"
}
reason_count() { jq -r --arg r "$2" 'select(.ev=="pkt.drop" and .reason==$r) | .reason' "$1" | wc -l; }

# ---- ports: collisions, preservation off, exhaustion --------------------
# Three inside hosts use UDP 51000, TCP 52000 and ICMP echo id 7 towards
# R1 (198.51.100.10); .21 also towards R2 (198.51.100.20) with UDP 51000;
# then .24-.27 take UDP 51000 in a four-port range 40000-40003. Replies
# come back to the ports written below; a wrong mapping loses them.
H21=172.17.240.21 H22=172.17.240.22 H23=172.17.240.23
R1=198.51.100.10 R2=198.51.100.20 N=203.0.113.1

config keep "port_range: 40000-40003"
tests/e2e/gencap.py --scenario ports --out "$TMP/keep.pcapng" \
	--replies $H21=51000,52000,7 $H22=40000,40000,40000 $H23=40001,40001,40001
replay keep keep "$TMP/keep.pcapng"
cat >"$TMP/keep.want" <<EOF
$N $R1 51000 443
$N $R1 40000 443
$N $R1 40001 443
$N $R2 51000 53
$N $R1 52000 80
$N $R1 40000 80
$N $R1 40001 80
$N $R1 icmp 7
$N $R1 icmp 40000
$N $R1 icmp 40001
$N $R1 40002 443
$N $R1 40003 443
$R1 $H21 443 51000
$R1 $H21 80 52000
$R1 $H21 icmp 7
$R1 $H22 443 51000
$R1 $H22 80 52000
$R1 $H22 icmp 7
$R1 $H23 443 51000
$R1 $H23 80 52000
$R1 $H23 icmp 7
$R2 $H21 53 51000
EOF
fields "$TMP/keep.out.pcapng" >"$TMP/keep.got"
if diff "$TMP/keep.want" "$TMP/keep.got" >"$TMP/keep.diff"; then
	ok "preservation on: the first owner keeps its port, colliding hosts get 40000, 40001; .21 keeps 51000 towards R2; the replies reach each host"
else
	not_ok "preservation on: translations as written" "$(cat "$TMP/keep.diff")"
fi
checksums "preservation on" "$TMP/keep.out.pcapng"
check "preservation on: .26 and .27 refused (port_exhausted), 2 port.exhausted events" \
	"2 2" "$(reason_count "$TMP/keep.events" port_exhausted) $(jq -r 'select(.ev=="port.exhausted") | .inside.ip' "$TMP/keep.events" | wc -l)"

config renum "port_range: 40000-40003
port_preservation: false"
tests/e2e/gencap.py --scenario ports --out "$TMP/renum.pcapng" \
	--replies $H21=40000,40000,40000 $H22=40001,40001,40001 $H23=40002,40002,40002
replay renum renum "$TMP/renum.pcapng"
cat >"$TMP/renum.want" <<EOF
$N $R1 40000 443
$N $R1 40001 443
$N $R1 40002 443
$N $R2 40000 53
$N $R1 40000 80
$N $R1 40001 80
$N $R1 40002 80
$N $R1 icmp 40000
$N $R1 icmp 40001
$N $R1 icmp 40002
$N $R1 40003 443
$R1 $H21 443 51000
$R1 $H21 80 52000
$R1 $H21 icmp 7
$R1 $H22 443 51000
$R1 $H22 80 52000
$R1 $H22 icmp 7
$R1 $H23 443 51000
$R1 $H23 80 52000
$R1 $H23 icmp 7
$R2 $H21 53 51000
EOF
fields "$TMP/renum.out.pcapng" >"$TMP/renum.got"
if diff "$TMP/renum.want" "$TMP/renum.got" >"$TMP/renum.diff"; then
	ok "preservation off: every port and echo id from the range in order, .21 keeps 40000 towards R2, the replies reach each host"
else
	not_ok "preservation off: translations as written" "$(cat "$TMP/renum.diff")"
fi
checksums "preservation off" "$TMP/renum.out.pcapng"
check "preservation off: .25, .26, .27 refused (port_exhausted)" \
	3 "$(reason_count "$TMP/renum.events" port_exhausted)"

# ---- filtering modes ----------------------------------------------------
# .21:5000 -> R1:53 opens the mapping; then R1:53 (a), R1:54 (b) and
# R2:53 (c) send to it.
tests/e2e/gencap.py --scenario filtering --out "$TMP/filt.pcapng"
for mode in endpoint_independent address_dependent address_and_port_dependent; do
	case $mode in
	endpoint_independent) want="a b c" dropped=0 ;;
	address_dependent) want="a b" dropped=1 ;;
	address_and_port_dependent) want="a" dropped=2 ;;
	esac
	config "$mode" "filtering: $mode"
	replay "$mode" "$mode" "$TMP/filt.pcapng"
	got=$(tshark -r "$TMP/$mode.out.pcapng" -Y "ip.dst==$H21 and udp.dstport==5000" \
		-T fields -e udp.payload 2>>"$TMP/tshark.err" |
		python3 -c 'import sys; print(" ".join(bytes.fromhex(l).decode() for l in sys.stdin.read().split()))')
	check "$mode: inbound that reaches .21:5000" "$want" "$got"
	check "$mode: the others dropped as filtered" "$dropped" "$(reason_count "$TMP/$mode.events" filtered)"
	checksums "$mode" "$TMP/$mode.out.pcapng"
done

# ---- expiry with short timeouts (the capture's timestamps) -------------
# udp 5 s: replies at +3 s and 4 s later pass (each refreshes the flow),
# one 7 s later finds no mapping; icmp 3 s: a reply after 2 s passes, one
# 5 s later does not; tcp_transitory 4 s: a SYN-ACK 6 s after the SYN
# finds no mapping.
config expiry "timeouts:
  udp: 5
  icmp: 3
  tcp_transitory: 4"
tests/e2e/gencap.py --scenario expiry --out "$TMP/expiry.pcapng"
replay expiry expiry "$TMP/expiry.pcapng"
cat >"$TMP/expiry.want" <<EOF
$N $R1 6000 53
$R1 $H21 53 6000
$R1 $H21 53 6000
$N $R1 icmp 9
$R1 $H21 icmp 9
$N $R1 7000 80
EOF
fields "$TMP/expiry.out.pcapng" >"$TMP/expiry.got"
if diff "$TMP/expiry.want" "$TMP/expiry.got" >"$TMP/expiry.diff"; then
	ok "expiry: replies within the idle timeout pass, later ones do not"
else
	not_ok "expiry: replies within the idle timeout pass, later ones do not" "$(cat "$TMP/expiry.diff")"
fi
check "expiry: the three late packets dropped as no_mapping" 3 "$(reason_count "$TMP/expiry.events" no_mapping)"
# flow.close: end timeout, and the last packet each flow saw.
got=$(jq -r 'select(.ev=="flow.close") | "\(.proto) \(.end) \(.last)"' "$TMP/expiry.events" | tr '\n' ';')
check "expiry: each flow closed by timeout after its last packet" \
	"udp timeout 2023-11-14T22:13:27.003000Z;icmp timeout 2023-11-14T22:13:37.006000Z;tcp timeout 2023-11-14T22:13:43.008000Z;" "$got"
checksums "expiry" "$TMP/expiry.out.pcapng"

finish
