#!/usr/bin/env bash
# The Wireshark Lua plugin (contrib/wireshark/glassnat.lua) in the tshark
# users have (Debian 12: 4.0), on two test traces: a real ring written by
# `glassnat replay --trace` (a NAT flow, a bypass flow, UDP, ICMP, drops)
# and natdump_gen's scenario (flows 7 to 10, so `flow == 1` must not take
# flow 10; a percent-encoded rule name):
#  - tshark -Y 'glassnat.flow == N' selects exactly the packets natdump
#    gives for flow N (natdump export --flow N: same times and notes, in
#    order; natdump follow N: same count), for every N of both traces;
#  - stage, dir, verdict, rule, reason, map are the note's values;
#  - each pre packet is linked with its post packet (glassnat.pair, both
#    ways with -2 -R glassnat), as many links as natdump counts pairs;
#  - the bypass flow's post copies, which TCP analysis flags only because
#    their pre copies carry the same tuple, are marked glassnat.copy;
#  - the column profile shows the fields; make install ships both files.
# Ends with "N passed, M failed, K skipped".
#
#   BUILD=build tests/e2e/wireshark_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

BUILD=${BUILD:-build}
ND=$BUILD/natdump
PLUGIN=$(pwd)/contrib/wireshark/glassnat.lua
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-wireshark.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

for tool in tshark python3 jq; do
	command -v $tool >/dev/null || { not_ok "$tool installed"; finish; }
done
for b in "$BUILD/glassnat" "$ND" "$BUILD/natdump_gen"; do
	[ -x "$b" ] || make --no-print-directory BUILD="$BUILD" "$b" >/dev/null ||
		{ not_ok "$b built"; finish; }
done

ts() { tshark -X lua_script:"$PLUGIN" "$@" 2>"$TMP/tshark.err"; }

# ---- the traces ----
python3 tests/e2e/gencap.py --out "$TMP/in.pcapng" >/dev/null 2>&1
"$BUILD/glassnat" replay -q -c configs/hyper-nat.yaml "$TMP/in.pcapng" \
	-o "$TMP/out.pcapng" --trace "$TMP/trace" >/dev/null 2>&1
RING=$(ls "$TMP"/trace/*.pcapng.zst 2>/dev/null | head -n 1)
check "glassnat replay --trace wrote a ring" 0 "$([ -s "${RING:-/nonexistent}" ]; echo $?)"
"$BUILD/natdump_gen" scenario >"$TMP/scenario.pcapng"
out=$(ts -r "$RING" -c 1 -T fields -e glassnat.flow)
check "tshark loads the plugin without a Lua error, and it gives flow 1 first" \
	"0 1" "$(grep -c 'Lua' "$TMP/tshark.err") $out"

# ---- glassnat.flow == N: exactly natdump's packets of flow N ----
for trace in "$RING" "$TMP/scenario.pcapng"; do
	name=$(basename "$trace")
	flows=$("$ND" flows "$trace" | awk '{print $1}')
	nflows=0
	for n in $flows; do
		nflows=$((nflows + 1))
		ts -r "$trace" -Y "glassnat.flow == $n" -T fields \
			-e frame.time_epoch -e frame.comment >"$TMP/ws.$n"
		"$ND" export --flow "$n" -o "$TMP/nd.$n.pcapng" "$trace" 2>/dev/null
		tshark -r "$TMP/nd.$n.pcapng" -T fields -e frame.time_epoch \
			-e frame.comment >"$TMP/nd.$n" 2>/dev/null
		want=$("$ND" follow "$n" --json "$trace" |
			jq -s '[.[] | select(.pre) ] | length as $a | [.[] | select(.post)] | length + $a')
		got=$(wc -l <"$TMP/ws.$n")
		if [ -s "$TMP/ws.$n" ] && cmp -s "$TMP/ws.$n" "$TMP/nd.$n" &&
			[ "$got" -eq "$want" ]; then
			ok "$name: glassnat.flow == $n selects natdump's $want packets of flow $n"
		else
			not_ok "$name: glassnat.flow == $n selects natdump's $want packets of flow $n (tshark $got; diff: $(diff "$TMP/ws.$n" "$TMP/nd.$n" | head -3 | tr '\n' ' '))"
		fi
	done
	check "$name: natdump lists flows to compare ($nflows)" 0 "$([ "$nflows" -ge 4 ]; echo $?)"
done
n1=$(ts -r "$TMP/scenario.pcapng" -Y 'glassnat.flow == 1' | wc -l)
n1s=$(tshark -r "$TMP/scenario.pcapng" -Y 'frame.comment contains "flow=1"' 2>/dev/null | wc -l)
check "scenario: glassnat.flow == 1 takes nothing, where comment contains \"flow=1\" took flow 10's $n1s packets" \
	"0 yes" "$n1 $([ "$n1s" -gt 0 ] && echo yes)"
zero=$(ts -r "$TMP/scenario.pcapng" -Y 'glassnat.flow == 0' -T fields -e glassnat.verdict -e glassnat.reason | sort -u | tr '\t\n' ' ')
check "flow 0 (drops without a flow) is a flow id too: drop no_mapping" "drop no_mapping " "$zero"

# ---- the fields are the note's values ----
f8=$(ts -r "$TMP/scenario.pcapng" -Y 'glassnat.flow == 8 && glassnat.stage == "post"' -T fields \
	-e glassnat.dir -e glassnat.verdict -e glassnat.rule -e glassnat.map -e glassnat.map.ip -e glassnat.map.port | head -n 1)
exp=$("$ND" show --json --flow 8 "$TMP/scenario.pcapng" | head -n 1 |
	jq -r '[.dir, .verdict, .rule, .map, (.map|split(":")[0]), (.map|split(":")[1])] | join("\t")')
check "flow 8's post fields (percent-decoded rule) match natdump show --json" "$exp" "$f8"
d10=$(ts -r "$TMP/scenario.pcapng" -Y 'glassnat.flow == 10' -T fields -e glassnat.stage \
	-e glassnat.verdict -e glassnat.rule -e glassnat.reason | head -n 1)
check "flow 10's drop: stage, verdict, rule, reason" "$(printf 'pre\tdrop\tblocked\trule_drop')" "$d10"
rl=$(ts -r "$RING" -Y 'glassnat.rule == "호스트 네트워크"' -T fields -e glassnat.flow | sort -u | tr '\n' ' ')
check "a UTF-8 rule name with a space filters as a string" "2 " "$rl"

# ---- pairs ----
ts -2 -R glassnat -r "$RING" -T fields -e frame.number -e glassnat.stage -e glassnat.pair \
	-e glassnat.flow >"$TMP/pairs"
pairs=$("$ND" stats "$RING" | awk '$1 == "pairs" {print $2}')
links=$(awk -F'\t' '$2 == "pre" && $3 != "" {n++} END {print n+0}' "$TMP/pairs")
check "every pre packet with a post is linked to it (natdump: $pairs pairs)" "$pairs" "$links"
bad=$(awk -F'\t' '{stage[$1] = $2; pair[$1] = $3; flow[$1] = $4}
	END {for (f in pair) if (pair[f] != "") {
		o = pair[f]
		if (pair[o] != f || flow[o] != flow[f] || stage[o] == stage[f]) n++ }
	print n+0}' "$TMP/pairs")
check "links go both ways, within a flow, pre <-> post" 0 "$bad"
one=$(ts -r "$RING" -Y 'glassnat.stage == "post" && !glassnat.pair' | wc -l)
check "one pass (no -2): every post packet already names its pre packet" 0 "$one"

# ---- TCP analysis and the copies ----
flagged=$(ts -r "$RING" -Y 'glassnat.flow == 2 && tcp.analysis.flags' | wc -l)
unmarked=$(ts -r "$RING" -Y 'tcp.analysis.flags && glassnat.stage == "post" && !glassnat.copy && glassnat.flow == 2' | wc -l)
copies=$(ts -r "$RING" -Y 'glassnat.copy' -T fields -e glassnat.flow | sort -u | tr '\n' ' ')
check "the bypass flow's post copies are marked glassnat.copy (TCP analysis flags $flagged of its packets), none unmarked, no other flow's" \
	"yes 0 2 " "$([ "$flagged" -gt 0 ] && echo yes) $unmarked $copies"

# ---- the column profile ----
mkdir -p "$TMP/cfg/profiles/glassnat"
cp contrib/wireshark/preferences "$TMP/cfg/profiles/glassnat/"
WIRESHARK_CONFIG_DIR=$TMP/cfg ts -C glassnat -r "$TMP/scenario.pcapng" >"$TMP/cols"
check "the column profile shows flow, stage, dir, verdict, rule and mapping" 0 \
	"$(grep -Eq '^ *6 [0-9.]+ 8 post out nat +192\.0\.2\.1 → 203\.0\.113\.7 +DNS my rule% +192\.0\.2\.1:40001 5 ' "$TMP/cols"; echo $?)"

# ---- make install ships them ----
make --no-print-directory BUILD="$BUILD" DESTDIR="$TMP/inst" PREFIX=/usr install >/dev/null 2>&1
check "make install puts glassnat.lua and the profile in share/glassnat/wireshark" 0 \
	"$(cmp -s "$TMP/inst/usr/share/glassnat/wireshark/glassnat.lua" "$PLUGIN" &&
		cmp -s "$TMP/inst/usr/share/glassnat/wireshark/preferences" contrib/wireshark/preferences; echo $?)"

finish
