#!/usr/bin/env bash
# End-to-end test of the offline path: a capture from tests/e2e/gencap.py is
# replayed through configs/hyper-nat.yaml and the result is checked packet
# by packet with tshark. Also checks `glassnat check` (good and bad
# configs) and every command's --help.
#
# Output: one "ok - ..." / "not ok - ..." line per check, then
# "N passed, M failed, K skipped". Exit status 1 when anything failed.
#
#   BUILD=build tests/e2e/replay_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
CONFIG=configs/hyper-nat.yaml
NAT_IP=192.168.45.57

. tests/e2e/lib.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-replay.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
IN=$TMP/in.pcapng
OUT=$TMP/out.pcapng

# tsf FILE FILTER FIELD... : one tab-separated line per matching packet.
tsf() {
	local file=$1 filter=$2
	shift 2
	local args=()
	for f in "$@"; do args+=(-e "$f"); done
	tshark -r "$file" -Y "$filter" -T fields "${args[@]}" \
		2>>"$TMP/tshark.err"
}
count() { tsf "$1" "$2" frame.number | grep -c .; }

for tool in tshark python3; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is installed (make deps)"
		finish
	fi
done
if [ ! -x "$GLASSNAT" ]; then
	not_ok "$GLASSNAT exists (run make first)"
	finish
fi

# ---- the replay ------------------------------------------------------

if tests/e2e/gencap.py --out "$IN" >"$TMP/gencap.out" 2>&1; then
	ok "gencap.py writes the capture"
else
	not_ok "gencap.py writes the capture" "$(cat "$TMP/gencap.out")"
	finish
fi
check "input capture has 24 packets" 24 "$(count "$IN" frame)"

"$GLASSNAT" replay -c "$CONFIG" "$IN" -o "$OUT" >"$TMP/summary" 2>"$TMP/stderr"
rc=$?
if [ $rc -eq 0 ]; then
	ok "glassnat replay exits 0"
else
	not_ok "glassnat replay exits 0 (got $rc)" "$(cat "$TMP/stderr")"
fi
echo "# replay summary:"
sed 's/^/#   /' "$TMP/summary"
if [ ! -s "$OUT" ]; then
	not_ok "replay wrote $OUT"
	finish
fi
check "replay writes nothing on stderr" "" "$(cat "$TMP/stderr")"

check "output has 23 packets (24 in, 1 dropped)" 23 "$(count "$OUT" frame)"

# checksum.status: 0 Bad, 1 Good, 2 Unverified (tshark -G values).
bad=$(tshark -r "$OUT" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
	-o udp.check_checksum:TRUE \
	-Y 'ip.checksum.status==0 or tcp.checksum.status==0 or udp.checksum.status==0 or icmp.checksum.status==0' \
	-T fields -e frame.number -e frame.comment 2>>"$TMP/tshark.err")
check "every IP/TCP/UDP/ICMP checksum in the output is valid" "" "$bad"
good=$(tshark -r "$OUT" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
	-o udp.check_checksum:TRUE \
	-Y 'ip.checksum.status==1 and (tcp.checksum.status==1 or udp.checksum.status==1 or icmp.checksum.status==1)' \
	-T fields -e frame.number 2>>"$TMP/tshark.err" | grep -c .)
check "every output packet had its checksums verified" 23 "$good"

# Outbound: translated to nat_ip, ports kept; bypass keeps the source.
check "no inside source leaks to the internet" "" \
	"$(tsf "$OUT" 'ip.src#1==172.17.240.0/24 and !(ip.dst#1==192.168.45.0/24)' frame.number)"
check "tcp to 198.51.100.10:443 leaves from $NAT_IP:51000 (6 packets)" \
	"$(printf "$NAT_IP\t51000\n%.0s" 1 2 3 4 5 6)" \
	"$(tsf "$OUT" 'tcp.dstport==443' ip.src tcp.srcport)"
check "udp to 203.0.113.7:53 leaves from $NAT_IP:53000 (2 packets)" \
	"$(printf "$NAT_IP\t53000\n%.0s" 1 2)" \
	"$(tsf "$OUT" 'ip.dst#1==203.0.113.7 and udp.dstport==53' ip.src udp.srcport)"
check "bypassed tcp to 192.168.45.100:22 keeps source 172.17.240.21:51001" \
	"$(printf "172.17.240.21\t51001\n%.0s" 1 2)" \
	"$(tsf "$OUT" 'ip.dst==192.168.45.100' ip.src tcp.srcport)"
check "bypassed replies reach 172.17.240.21:51001 unchanged" \
	"$(printf "192.168.45.100\t172.17.240.21\t51001\n%.0s" 1 2)" \
	"$(tsf "$OUT" 'ip.src==192.168.45.100' ip.src ip.dst tcp.dstport)"

# Inbound replies: back to the inside host and port.
check "tcp replies from :443 go back to 172.17.240.21:51000 (3 packets)" \
	"$(printf "172.17.240.21\t51000\n%.0s" 1 2 3)" \
	"$(tsf "$OUT" 'tcp.srcport==443' ip.dst tcp.dstport)"
check "tcp reply payload arrives intact" "HTTP/1.1 200 OK" \
	"$(tsf "$OUT" 'tcp.srcport==443 and tcp.len>0' tcp.payload |
		python3 -c 'import sys; print(bytes.fromhex(sys.stdin.read().strip()).decode(errors="replace"))' 2>/dev/null |
		head -1 | tr -d '\r')"
check "dns answer goes back to 172.17.240.22:53000" \
	"$(printf "172.17.240.22\t53000")" \
	"$(tsf "$OUT" 'udp.srcport==53 and !icmp' ip.dst udp.dstport)"
check "nothing in the output is still addressed to $NAT_IP" "" \
	"$(tsf "$OUT" "ip.dst#1==$NAT_IP" frame.number)"

# ICMP echo: identifier kept (free) both ways.
check "echo requests leave from $NAT_IP with id 0x1234, seq 1-3" \
	"$(printf "$NAT_IP\t4660\t%s\n" 1 2 3)" \
	"$(tsf "$OUT" 'icmp.type==8' ip.src icmp.ident icmp.seq)"
check "echo replies go back to 172.17.240.23 with id 0x1234, seq 1-3" \
	"$(printf "172.17.240.23\t4660\t%s\n" 1 2 3)" \
	"$(tsf "$OUT" 'icmp.type==0' ip.dst icmp.ident icmp.seq)"

# ICMP error: outer destination and embedded source translated back.
# (-e prints every occurrence: outer first, then the embedded header.)
check "icmp port unreachable: outer 203.0.113.7 -> 172.17.240.22" \
	"$(printf "203.0.113.7\t172.17.240.22")" \
	"$(tsf "$OUT" 'icmp.type==3' ip.src ip.dst | sed 's/,[^\t]*//g')"
check "icmp port unreachable: embedded 172.17.240.22:53000 -> 203.0.113.7:53" \
	"$(printf "172.17.240.22\t203.0.113.7\t53000\t53")" \
	"$(tsf "$OUT" 'icmp.type==3' ip.src ip.dst udp.srcport udp.dstport |
		sed 's/[^\t,]*,//g')"
check "icmp port unreachable: outer IP, inner IP, inner UDP, ICMP checksums good" \
	"$(printf "1,1\t1\t1")" \
	"$(tshark -r "$OUT" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
		-Y 'icmp.type==3' -T fields -e ip.checksum.status \
		-e udp.checksum.status -e icmp.checksum.status 2>>"$TMP/tshark.err")"

# The unsolicited SYN is dropped and counted.
check "unsolicited SYN from 203.0.113.99 is not in the output" "" \
	"$(tsf "$OUT" 'ip.addr==203.0.113.99' frame.number)"
# summary_line LABEL: the value on the summary's "  LABEL   N" line.
summary_line() { sed -n "s/^ *$1  *\([0-9][0-9]*\)\$/\1/p" "$TMP/summary"; }
check "summary: records read 24, packets written 23" "24 23" \
	"$(summary_line 'records read') $(summary_line 'packets written')"
check "summary: translated 19, bypassed 4, passed 0, dropped 1" "19 4 0 1" \
	"$(summary_line translated) $(summary_line bypassed) $(summary_line passed) $(summary_line dropped)"
check "summary: the one drop is no_mapping, the only reason listed" "no_mapping 1" \
	"$(sed -n '/^  passed\/dropped by reason:$/,/^  [a-z]/s/^    \([a-z_]*\)  *\([0-9]*\)$/\1 \2/p' "$TMP/summary")"
check "summary: flows total 4, active 0" "4 0" \
	"$(summary_line 'flows total') $(summary_line 'flows active')"

# Comments and direction flags on the written packets.
check "every output packet has a flow= dir= verdict= comment" 23 \
	"$(tsf "$OUT" 'frame.comment contains "flow=" and frame.comment contains "verdict=" and frame.comment contains "dir="' frame.number | grep -c .)"
check "bypassed packets are commented verdict=bypass (4 packets)" 4 \
	"$(tsf "$OUT" 'ip.addr==192.168.45.100 and frame.comment contains "verdict=bypass"' frame.number | grep -c .)"
check "translated packets are commented verdict=nat (19 packets)" 19 \
	"$(tsf "$OUT" '!ip.addr==192.168.45.100 and frame.comment contains "verdict=nat"' frame.number | grep -c .)"
check "packets from inside keep the outbound direction flag (13)" 13 \
	"$(tsf "$OUT" 'frame.packet_flags_direction==2 and frame.comment contains "dir=out"' frame.number | grep -c .)"
check "packets from outside keep the inbound direction flag (10)" 10 \
	"$(tsf "$OUT" 'frame.packet_flags_direction==1 and frame.comment contains "dir=in"' frame.number | grep -c .)"
tcp_ids=$(tsf "$OUT" 'tcp.port==443' frame.comment | sed -n 's/.*flow=\([0-9]*\).*/\1/p' | sort -u)
if [ "$(printf '%s\n' "$tcp_ids" | grep -c .)" -eq 1 ] && [ "$tcp_ids" != 0 ]; then
	ok "the 9 packets of the tcp connection share one flow id ($tcp_ids)"
else
	not_ok "the 9 packets of the tcp connection share one flow id" "ids: $tcp_ids"
fi

# The checks above that expect nothing ("no inside source leaks", "not in
# the output") pass on an empty answer; a display filter tshark refused
# gives one too. So tshark must have said nothing but its root warning.
check "tshark accepted every display filter above (no error on stderr)" "" \
	"$(grep -v '^Running as user "root" and group "root"' "$TMP/tshark.err")"

# ---- glassnat check ------------------------------------------------

"$GLASSNAT" check -c "$CONFIG" >"$TMP/plan" 2>"$TMP/stderr"
rc=$?
check "glassnat check -c $CONFIG exits 0" 0 "$rc"
missing=
for rule in "내부 네트워크" "호스트 네트워크" "인터넷" 172.17.240.0/24 \
	192.168.45.0/24 0.0.0.0/0 bypass nat $NAT_IP; do
	grep -qF -- "$rule" "$TMP/plan" || missing="$missing '$rule'"
done
check "check lists the three rules, their destinations and actions" "" "$missing"

n_bad=0
for cfg in tests/data/bad/*.yaml; do
	[ -e "$cfg" ] || continue
	n_bad=$((n_bad + 1))
	exp=${cfg%.yaml}.expected
	if [ ! -f "$exp" ]; then
		not_ok "$cfg has $exp beside it"
		continue
	fi
	"$GLASSNAT" check -c "$cfg" >"$TMP/stdout" 2>"$TMP/stderr"
	rc=$?
	if [ $rc -eq 2 ] && [ "$(cat "$TMP/stderr")" == "$(cat "$exp")" ]; then
		ok "check rejects $cfg (exit 2, expected message)"
	else
		not_ok "check rejects $cfg (exit 2, expected message)" \
			"exit $rc"$'\n'"expected: $(cat "$exp")"$'\n'"got:      $(cat "$TMP/stderr")"
	fi
done
[ $n_bad -ge 10 ] || not_ok "tests/data/bad/ holds the bad configs (found $n_bad)"

"$GLASSNAT" check -c "$TMP/does-not-exist.yaml" >/dev/null 2>"$TMP/stderr"
rc=$?
if [ $rc -eq 2 ] && grep -q "does-not-exist.yaml" "$TMP/stderr"; then
	ok "check of a missing file exits 2 and names the file"
else
	not_ok "check of a missing file exits 2 and names the file" "exit $rc: $(cat "$TMP/stderr")"
fi

# ---- the command line ----------------------------------------------

# help_has WHO OPTION... : `glassnat WHO --help` exits 0 and mentions each.
help_has() {
	local who=$1
	shift
	local out rc miss=
	# shellcheck disable=SC2086
	out=$("$GLASSNAT" $who --help 2>&1)
	rc=$?
	for o in "$@" example usage; do
		grep -qF -- "$o" <<<"$out" || miss="$miss $o"
	done
	if [ $rc -eq 0 ] && [ -z "$miss" ]; then
		ok "glassnat ${who:+$who }--help exits 0 and describes every option"
	else
		not_ok "glassnat ${who:+$who }--help exits 0 and describes every option" \
			"exit $rc, missing:$miss"
	fi
}
help_has "" --config -c --verbose -v --version --help run replay check \
	forward flows stats trace version
help_has run --config -c --trace --trace-filter --events --log-format \
	--verbose -v --help
help_has replay --config -c --output -o --trace --events --quiet -q --help
help_has check --config -c --help
help_has forward list add remove --name --socket --config --json --help
help_has flows --socket --config --json --help
help_has stats --socket --config --json --help
help_has trace on off BPF --socket --config --json --help
help_has version --help

# run_cli DESCRIPTION EXPECTED_RC STDERR_PATTERN ARGS...
run_cli() {
	local what=$1 want=$2 pat=$3
	shift 3
	"$GLASSNAT" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
	local rc=$?
	if [ $rc -eq "$want" ] && grep -Eq -- "$pat" "$TMP/stderr" "$TMP/stdout"; then
		ok "$what"
	else
		not_ok "$what" "exit $rc (want $want): $(cat "$TMP/stderr" "$TMP/stdout")"
	fi
}
run_cli "Hyper-NAT's -version prints the version" 0 '^glassnat [0-9]' -version
# Never `run` here: that starts the live gateway in this namespace. The
# live tests (live_test.sh) run it inside namespaces they create.
run_cli "Hyper-NAT's -config FILE spelling is accepted" 0 'rules' \
	check -config "$CONFIG"
run_cli "run with a bad config exits 2" 2 'does-not-exist' \
	run -c "$TMP/does-not-exist.yaml"
run_cli "run rejects --log-format xml with exit 2" 2 "try 'glassnat run --help'" \
	run -c "$CONFIG" --log-format xml
run_cli "an unknown option exits 2 with a hint" 2 \
	"^glassnat replay: unknown option '--bogus'" replay --bogus
run_cli "a missing option argument exits 2 with a hint" 2 \
	"try 'glassnat check --help'" check -c
run_cli "an unknown command exits 2" 2 "unknown command 'frobnicate'" frobnicate
run_cli "replay --trace-filter without --trace exits 2" 2 \
	'needs --trace' replay -c "$CONFIG" "$IN" -o "$TMP/x.pcapng" --trace-filter tcp
run_cli "replay of a missing capture exits 1" 1 'no-such.pcapng' \
	replay -c "$CONFIG" "$TMP/no-such.pcapng" -o "$TMP/x.pcapng"
run_cli "forward list with no gateway says it is not running (exit 1)" 1 \
	'the gateway is not running' forward list -s "$TMP/no-gateway.sock"
run_cli "forward add checks its spec (exit 2)" 2 'not an IPv4 address' \
	forward add tcp/8080:172.17.240.300:80

finish
