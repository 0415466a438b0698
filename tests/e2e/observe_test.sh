#!/usr/bin/env bash
# Issue 4 end to end, offline: `glassnat replay --trace DIR --events FILE`
# on the generated capture, then the contracts of DESIGN.md "Observability
# contracts" are checked on what it wrote:
#  - every traced pair carries the id of its flow's flow.open/flow.close
#    events, and jq 'select(.flow==N)' gives that flow's story;
#  - tshark reads the .pcapng.zst ring as it is: both interfaces, the
#    direction flags, every comment; zstd -t passes on every ring file;
#  - a BPF trace filter selects whole flows on either side of the pair.
#
#   BUILD=build tests/e2e/observe_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-observe.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

python3 tests/e2e/gencap.py --out "$TMP/in.pcapng" >/dev/null
if "$GLASSNAT" replay -c configs/hyper-nat.yaml "$TMP/in.pcapng" \
	-o "$TMP/out.pcapng" --trace "$TMP/tr" --events "$TMP/ev.json" \
	>"$TMP/summary" 2>&1; then
	ok "replay with --trace and --events exits 0"
else
	not_ok "replay with --trace and --events exits 0" "$(cat "$TMP/summary")"
	finish
fi
EV=$TMP/ev.json
rings=("$TMP"/tr/glassnat-*.pcapng.zst)

# Every line is a JSON object with ts and ev (jq fails on a line that is
# not JSON; the count of good lines must be every line, and not none).
lines=$(wc -l <"$EV")
good=$(jq -c 'select((.ts|type) == "string" and (.ev|type) == "string")' "$EV" 2>/dev/null | wc -l)
check "every event line is JSON with ts and ev ($lines lines)" "yes $lines" \
	"$([ "$lines" -gt 10 ] && echo yes) $good"
check "ts is RFC 3339 UTC with microseconds" 0 \
	"$(jq -r '.ts' "$EV" | grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$')"

# The ring files.
for f in "${rings[@]}"; do
	if zstd -tq "$f"; then ok "zstd -t $(basename "$f")"; else not_ok "zstd -t $(basename "$f")"; fi
done
tshark -r "${rings[0]}" -T fields -e frame.interface_name \
	-e frame.packet_flags_direction -e frame.comment >"$TMP/ring.tsv" 2>"$TMP/tshark.err"
check "tshark reads the .pcapng.zst ring without a decompression step" 0 "$?"
check "the ring has both interfaces" "post-nat pre-nat" \
	"$(cut -f1 "$TMP/ring.tsv" | sort -u | tr '\n' ' ' | sed 's/ $//')"
written=$(sed -n 's/^  trace  *\([0-9]*\) packets.*/\1/p' "$TMP/summary")
check "tshark reads as many packets as natdump counts" \
	"$("$BUILD/natdump" stats "${rings[0]}" | awk '$1 == "packets" { print $2 }')" \
	"$(wc -l <"$TMP/ring.tsv")"
check "every traced packet is in the ring with a comment" "$written" \
	"$(grep -c 'flow=' "$TMP/ring.tsv")"
# Every packet's flag, counted by direction: all outbound packets (the
# replay's 13 out, each traced pre and post) carry 0x2, all inbound 0x1.
check "direction flags: outbound (26 packets) on dir=out, inbound (21: 10 pairs and the drop) on dir=in" \
	"out 0x00000002 26 in 0x00000001 21" \
	"$(awk -F'\t' '{ d = $3 ~ /dir=out/ ? "out" : $3 ~ /dir=in/ ? "in" : "none"; n[d " " $2]++ }
		END { printf "out 0x00000002 %d in 0x00000001 %d", n["out 0x00000002"], n["in 0x00000001"];
		      for (k in n) if (k != "out 0x00000002" && k != "in 0x00000001") printf " other %s %d", k, n[k] }' "$TMP/ring.tsv")"
check "a dropped packet appears once, pre-nat, with its reason" \
	"pre-nat	flow=0 stage=pre dir=in verdict=drop reason=no_mapping" \
	"$(awk -F'\t' '/verdict=drop/ {print $1 "\t" $3}' "$TMP/ring.tsv")"

# Pairs and flow ids.
pairs_ok=$(awk -F'\t' '
	$3 ~ /stage=pre/ && $3 !~ /verdict=drop/ { split($3, a, " "); want = a[1]; pre++; next }
	$3 ~ /stage=post/ { split($3, a, " "); post++; if (a[1] != want) bad++; want = "" }
	END { print pre + 0, post + 0, bad + 0 }' "$TMP/ring.tsv")
check "every post-nat packet (23) follows its pre-nat twin with the same flow id" \
	"23 23 0" "$pairs_ok"
ids=$(grep -o 'flow=[1-9][0-9]*' "$TMP/ring.tsv" | cut -d= -f2 | sort -un)
check "the ring holds the 4 flows of the capture" 4 "$(printf '%s\n' $ids | grep -c .)"
for id in $ids; do
	opens=$(jq -c "select(.flow==$id and .ev==\"flow.open\")" "$EV" | wc -l)
	closes=$(jq -c "select(.flow==$id and (.ev==\"flow.close\" or .ev==\"flow.evicted\"))" "$EV" | wc -l)
	check "traced flow $id has one flow.open and one flow.close" "1 1" "$opens $closes"
	# The id is a JSON number, the same in every event of the flow: jq's
	# numeric select finds exactly the lines that carry "flow":ID.
	by_jq=$(jq -c "select(.flow==$id)" "$EV" | wc -l)
	by_text=$(grep -cE "\"flow\":\"?$id\"?[,}]" "$EV")
	check "jq 'select(.flow==$id)' finds all $by_text events of flow $id, and some" \
		"yes $by_text" "$([ "$by_text" -ge 2 ] && echo yes) $by_jq"
done
check "the TCP flow's story: open, states, close" \
	"flow.open flow.state flow.state flow.state flow.state flow.state flow.close" \
	"$(jq -r 'select(.flow==1) | .ev' "$EV" | tr '\n' ' ' | sed 's/ $//')"
check "the unsolicited SYN is a pkt.drop event with its reason" \
	'{"ev":"pkt.drop","reason":"no_mapping","remote":"203.0.113.99"}' \
	"$(jq -c 'select(.ev=="pkt.drop") | {ev, reason, remote: .remote.ip}' "$EV")"
check "the final statistics close the log" stats "$(tail -n 1 "$EV" | jq -r .ev)"

# Trace selection: a BPF on the outside address matches only the post
# side of outbound packets, yet whole pairs of the selected flows are kept.
"$GLASSNAT" replay -c configs/hyper-nat.yaml "$TMP/in.pcapng" -o "$TMP/out2.pcapng" \
	--trace "$TMP/tr2" --trace-filter 'udp and host 192.168.45.57' -q
tshark -r "$TMP"/tr2/*.pcapng.zst -T fields -e frame.comment >"$TMP/ring2.txt" 2>/dev/null
check "filtered ring: tshark reads as many packets as natdump counts" \
	"$("$BUILD/natdump" stats "$TMP"/tr2/*.pcapng.zst | awk '$1 == "packets" { print $2 }')" \
	"$(wc -l <"$TMP/ring2.txt")"
udp_flow=$(jq -r 'select(.ev=="flow.open" and .proto=="udp") | .flow' "$EV")
check "a filter on the post-NAT address selects exactly the UDP flow" \
	"flow=$udp_flow" "$(grep -o 'flow=[0-9]*' "$TMP/ring2.txt" | sort -u | tr '\n' ' ' | sed 's/ $//')"
check "the UDP flow's pairs are whole: its 2 packets out and 2 in (the answer, the ICMP error), pre and post" \
	"2 2 2 2" \
	"$(for p in 'stage=pre dir=out' 'stage=post dir=out' 'stage=pre dir=in' 'stage=post dir=in'; do
		grep -c "$p" "$TMP/ring2.txt"; done | tr '\n' ' ' | sed 's/ $//')"
"$GLASSNAT" replay -c configs/hyper-nat.yaml "$TMP/in.pcapng" -o "$TMP/out3.pcapng" \
	--trace "$TMP/tr3" --trace-filter 'not a filter' -q 2>"$TMP/err3"
check_rc "a bad trace filter exits 2" 2 "$?"
check "a bad trace filter names the expression" 1 "$(grep -c "not a filter" "$TMP/err3")"

finish
