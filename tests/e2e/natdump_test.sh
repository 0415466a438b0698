#!/usr/bin/env bash
# natdump end to end: generated glassnat-style traces (plain and zstd, a
# directory of rings), glassnat replay output, damaged files, export read
# back by tshark. Ends with "N passed, M failed, 0 skipped" (it skips
# nothing: a missing tool or feature is a failure).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
ND=$BUILD/natdump
pass=0
fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/natdump-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT

ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "not ok - $1"; fail=$((fail + 1)); }
check() { # name, command...
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi
}
has() { grep -qF -- "$2" "$1"; }

# The generator is built by the Makefile (make e2e), with the build's flags.
[ -x "$BUILD/natdump_gen" ] || make --no-print-directory BUILD="$BUILD" \
	"$BUILD/natdump_gen" >/dev/null || { echo "not ok - natdump_gen built"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
"$BUILD/natdump_gen" scenario >"$T/sc.pcapng"
zstd -q "$T/sc.pcapng" -o "$T/sc.pcapng.zst"

# show: one line per pair, tuples before and after, verdicts, rules
"$ND" show "$T/sc.pcapng.zst" >"$T/show" 2>"$T/err"
check "show exits 0 on a good ring" test $? -eq 0
check "show: 13 units from 23 packets" test "$(wc -l <"$T/show")" -eq 13
check "show: flow 7 SNAT pair" has "$T/show" "7 out tcp 10.0.0.2:40000 > 198.51.100.10:80 → 192.0.2.1:40000 > 198.51.100.10:80 [S] nat rule=internet"
check "show: flow 7 reply reverse-translated" has "$T/show" "7 in tcp 198.51.100.10:80 > 192.0.2.1:40000 → 198.51.100.10:80 > 10.0.0.2:40000 [S.] nat"
check "show: percent-decoded rule name" has "$T/show" "rule=my rule%"
check "show: forward rule" has "$T/show" "9 in tcp 198.51.100.20:5555 > 192.0.2.1:8080 → 198.51.100.20:5555 > 10.0.0.5:80 [S] nat rule=forward:web"
check "show: drop has no after side" has "$T/show" "0 in tcp 198.51.100.99:1234 > 192.0.2.1:50000 → - [S] drop reason=no_mapping"
check "show: rule drop" has "$T/show" "10 out udp 10.0.0.4:6000 > 203.0.113.9:123 → - drop rule=blocked reason=rule_drop"
check "show: plain and zstd identical" diff <("$ND" show "$T/sc.pcapng") "$T/show"
check "show -c 3" test "$("$ND" show -c 3 "$T/sc.pcapng" | wc -l)" -eq 3
check "show -f on the before side" test "$("$ND" show -f 'src host 10.0.0.2' "$T/sc.pcapng" | wc -l)" -eq 5
check "show -f on the after side" test "$("$ND" show -f 'dst host 10.0.0.2' "$T/sc.pcapng" | wc -l)" -eq 2
check "show --since/--until" test "$("$ND" show --since 1700000000.000004 --until 2023-11-14T22:13:20.000006Z "$T/sc.pcapng" | wc -l)" -eq 3
"$ND" show --json "$T/sc.pcapng" >"$T/json"
check "show --json parses with jq" jq -e . "$T/json"
check "show --json flow 8 fields" test "$(jq -r 'select(.flow==8) | [.pre.src,.post.src,.post.sport,.rule] | join(" ")' "$T/json")" = "10.0.0.3 192.0.2.1 40001 my rule%"

# flows
"$ND" flows "$T/sc.pcapng.zst" >"$T/flows"
check "flows: 5 flows (flow 0 is no flow)" test "$(wc -l <"$T/flows")" -eq 5
check "flows: flow 7 tuples, counts, end" has "$T/flows" "7 tcp 10.0.0.2:40000 ↔ 192.0.2.1:40000 ↔ 198.51.100.10:80 rule=internet"
check "flows: flow 7 counts and close" grep -q "^7 .* out=5/300B in=2/80B end=time_wait$" "$T/flows"
check "flows: forward flow endpoints" has "$T/flows" "9 tcp 10.0.0.5:80 ↔ 192.0.2.1:8080 ↔ 198.51.100.20:5555 rule=forward:web"
check "flows: dropped flow" grep -q "^10 udp .* end=dropped:rule_drop$" "$T/flows"
check "flows --json" test "$("$ND" flows --json "$T/sc.pcapng" | jq -r 'select(.flow==7) | .mapped.port')" = 40000

# follow
"$ND" follow 7 "$T/sc.pcapng.zst" >"$T/follow"
check "follow: 7 packets of flow 7" test "$(grep -c ' 7 ' "$T/follow")" -eq 7
check "follow: SYN with seq" has "$T/follow" "[S] seq=1000"
check "follow: state changes" has "$T/follow" "state FIN_WAIT -> TIME_WAIT"
cat >"$T/ev.jsonl" <<'J'
{"ts":"2023-11-14T22:13:20.000001Z","ev":"flow.open","flow":7,"rule":"internet","inside":{"ip":"10.0.0.2","port":40000}}
{"ts":"2023-11-14T22:13:20.000002Z","ev":"flow.open","flow":8}
{"ts":"2023-11-14T22:13:20.000004Z","ev":"flow.state","flow":7,"old_state":"SYN_RECEIVED","state":"ESTABLISHED"}
{"ts":"2023-11-14T22:13:21.000000Z","ev":"flow.close","flow":7,"reason":"timeout"}
J
"$ND" follow 7 --events "$T/ev.jsonl" "$T/sc.pcapng" >"$T/fev"
check "follow --events: flow 7's events only" test "$(grep -c ' event ' "$T/fev")" -eq 3
check "follow --events: in time order" test "$(grep -n 'event flow.state' "$T/fev" | cut -d: -f1)" -eq 4
check "follow --events: close last" grep -q "event flow.close reason=timeout" <(tail -n 1 "$T/fev")

# drops
"$ND" drops "$T/sc.pcapng.zst" >"$T/drops"
check "drops: no_mapping counted" has "$T/drops" "no_mapping rule=- 2 packets"
check "drops: rule_drop with rule and example" has "$T/drops" "rule_drop rule=blocked 1 packet"
check "drops: example flow" has "$T/drops" "example: flow 10 udp 10.0.0.4:6000 > 203.0.113.9:123"
check "drops: what to check" has "$T/drops" "check: the rule named in the line"

# stats
"$ND" stats "$T/sc.pcapng.zst" >"$T/stats"
check "stats: packets" has "$T/stats" "packets      23"
check "stats: flows" has "$T/stats" "flows        5"
check "stats: reasons" has "$T/stats" "reason no_mapping 2"

# a directory of rings: several files merged in time order
mkdir "$T/ring"
"$BUILD/natdump_gen" bench 100 400 1700000000000000000 | zstd -q -o "$T/ring/glassnat-20231114T221320Z-1.pcapng.zst"
"$BUILD/natdump_gen" bench 200 400 1700000000000400000 | zstd -q -o "$T/ring/glassnat-20231114T221320Z-2.pcapng.zst"
"$BUILD/natdump_gen" bench 300 400 1700000000000800000 >"$T/part3.pcapng"
# two frames in one file, cut at a block boundary, and a skippable frame
# between them: one stream, as a ring file written frame by frame
cut=$(( $(stat -c %s "$T/part3.pcapng") / 2 ))
cut=$(python3 -c "import struct,sys
d=open(sys.argv[1],'rb').read(); o=0
while o < int(sys.argv[2]): o += struct.unpack_from('<I', d, o+4)[0]
print(o)" "$T/part3.pcapng" "$cut")
head -c "$cut" "$T/part3.pcapng" | zstd -q -c >"$T/ring/glassnat-20231114T221320Z-3.pcapng.zst"
printf '\x50\x2a\x4d\x18\x04\x00\x00\x00skip' >>"$T/ring/glassnat-20231114T221320Z-3.pcapng.zst"
tail -c +$((cut + 1)) "$T/part3.pcapng" | zstd -q -c >>"$T/ring/glassnat-20231114T221320Z-3.pcapng.zst"
"$ND" show "$T/ring" >"$T/dirshow"
check "directory: 1200 units" test "$(wc -l <"$T/dirshow")" -eq 1200
check "directory: time ordered" cmp <(cut -d' ' -f1 "$T/dirshow") <(cut -d' ' -f1 "$T/dirshow" | sort -s)
"$ND" stats "$T/ring/glassnat-20231114T221320Z-3.pcapng.zst" "$T/ring/glassnat-20231114T221320Z-1.pcapng.zst" >"$T/st2"
check "files given out of order are merged" has "$T/st2" "files        2"

# damage: a zstd frame cut in the middle (a frame of many 128 KB blocks;
# zstd decodes a frame block by block, so the blocks before the cut come out)
"$BUILD/natdump_gen" bench 1 20000 1700000000000000000 | zstd -q -c >"$T/big.pcapng.zst"
sz=$(stat -c %s "$T/big.pcapng.zst")
head -c $((sz / 2)) "$T/big.pcapng.zst" >"$T/cut.pcapng.zst"
"$ND" show "$T/cut.pcapng.zst" >"$T/cutshow" 2>"$T/cuterr"
rc=$?
check "cut zstd: exit 1" test $rc -eq 1
check "cut zstd: message names file, offset and the cut" grep -q "cut.pcapng.zst: offset [0-9]*: truncated zstd frame" "$T/cuterr"
check "cut zstd: packets before the cut decoded" test "$(wc -l <"$T/cutshow")" -gt 0
head -c 1000 "$T/sc.pcapng" >"$T/cut.pcapng"
"$ND" show "$T/cut.pcapng" >"$T/cutshow2" 2>"$T/cuterr2"
check "cut pcapng: exit 1" test $? -eq 1
check "cut pcapng: offset message" grep -q "cut.pcapng: offset [0-9]*: truncated block" "$T/cuterr2"
: >"$T/empty.pcapng"
"$ND" stats "$T/empty.pcapng" "$T/sc.pcapng" >/dev/null 2>"$T/emptyerr"
check "empty file: exit 1, other files read" test $? -eq 1
check "empty file: message" has "$T/emptyerr" "empty.pcapng: offset 0: empty file"
# expect NAME WANT_RC STDOUT_FIRST_LINE STDERR_FIRST_LINE CMD...: the exact
# status and the first line of each stream (a crash, a timeout or another
# message fails it; "" is an empty stream).
expect() {
	local name=$1 want=$2 out1=$3 err1=$4
	shift 4
	timeout 20 "$@" >"$T/x.out" 2>"$T/x.err"
	local rc=$? got
	got="exit $rc out[$(head -n 1 "$T/x.out")] err[$(head -n 1 "$T/x.err")]"
	if [ "$got" == "exit $want out[$out1] err[$err1]" ]; then ok "$name"; else
		bad "$name"
		echo "#   expected: exit $want out[$out1] err[$err1]"
		echo "#   got:      $got"
	fi
}
expect "no FILE: exit 2, says so, then the usage" 2 "" "natdump show: no FILE or DIR given" "$ND" show
# A filter libpcap cannot compile: a usage error (2), refused before any
# file is read, in every command that takes -f.
expect "bad BPF: exit 2, names the expression and libpcap's error" 2 "" \
	"natdump: -f 'nonsense (': can't parse filter expression: syntax error" \
	"$ND" show -f 'nonsense (' "$T/sc.pcapng"
for c in flows drops stats "follow 1" "export -o $T/never.pcapng"; do
	# shellcheck disable=SC2086 # $c is a command and its arguments
	expect "bad BPF in $c: exit 2, names the expression" 2 "" \
		"natdump: -f 'nonsense (': can't parse filter expression: syntax error" \
		"$ND" $c -f 'nonsense (' "$T/sc.pcapng"
done
for c in show flows drops stats; do
	expect "$c --help: exit 0, its usage on stdout, nothing on stderr" 0 \
		"usage: natdump $c [OPTIONS] FILE|DIR..." "" "$ND" "$c" --help
done
expect "follow --help: exit 0, its usage on stdout, nothing on stderr" 0 \
	"usage: natdump follow ID [OPTIONS] [--events FILE] FILE|DIR..." "" "$ND" follow --help
expect "export --help: exit 0, its usage on stdout, nothing on stderr" 0 \
	"usage: natdump export -o OUT.pcapng [OPTIONS] FILE|DIR..." "" "$ND" export --help

# export: read back by tshark with the same count and comments
"$ND" export -o "$T/exp.pcapng" "$T/ring" "$T/sc.pcapng.zst"
check "export exits 0" test $? -eq 0
n_in=$("$ND" stats "$T/ring" "$T/sc.pcapng.zst" | awk '$1 == "packets" { print $2 }')
n_out=$(tshark -r "$T/exp.pcapng" 2>/dev/null | wc -l)
check "export: tshark reads the packet count natdump reads in ($n_in)" test "$n_in" -eq "$n_out"
check "export: comments kept" cmp <(tshark -r "$T/sc.pcapng" -T fields -e frame.comment 2>/dev/null | sort) \
	<("$ND" export -o "$T/exp2.pcapng" "$T/sc.pcapng" && tshark -r "$T/exp2.pcapng" -T fields -e frame.comment 2>/dev/null | sort)
check "export: interfaces pre-nat and post-nat" test "$(tshark -r "$T/exp.pcapng" -T fields -e frame.interface_name 2>/dev/null | sort -u | tr '\n' ' ')" = "post-nat pre-nat "
"$ND" export -o "$T/exp3.pcapng" --flow 7 "$T/sc.pcapng"
check "export --flow 7: 14 packets" test "$(tshark -r "$T/exp3.pcapng" 2>/dev/null | wc -l)" -eq 14

# glassnat replay output: post-only packets with comments
if python3 tests/e2e/gencap.py --out "$T/in.pcapng" >/dev/null 2>&1 &&
	"$BUILD/glassnat" replay -q -c configs/hyper-nat.yaml "$T/in.pcapng" -o "$T/rp.pcapng" >/dev/null 2>&1; then
	"$ND" show "$T/rp.pcapng" >"$T/rpshow"
	check "replay: every written packet shown" test "$(wc -l <"$T/rpshow")" -eq "$(tshark -r "$T/rp.pcapng" 2>/dev/null | wc -l)"
	check "replay: post-only lines" grep -q "^[^ ]* 1 out tcp - → 192.168.45.57:" "$T/rpshow"
	check "replay: rule name with a space" grep -q "rule=호스트 네트워크$" "$T/rpshow"
	"$ND" flows "$T/rp.pcapng" >"$T/rpflows"
	check "replay: 4 flows" test "$(wc -l <"$T/rpflows")" -eq 4
	check "replay: flow 1 inside and mapped from both directions" grep -q "^1 tcp 172.17.240.21:51000 ↔ 192.168.45.57:51000 ↔ 198.51.100.10:443" "$T/rpflows"
	# the input capture itself has no glassnat comments: plain packets
	check "plain capture: plain lines" test "$("$ND" show "$T/in.pcapng" | grep -c '^[^ ]* - - ')" -eq 24
else
	bad "glassnat replay produced no output"
fi

# tcpdump habits: -r, a trailing expression, -, pipes, -w, -t forms, -c, -n
"$ND" show -f 'tcp port 80' "$T/sc.pcapng" >"$T/f80"
check "tcpdump: -f tcp port 80 selects something" test "$(wc -l <"$T/f80")" -ge 5
check "tcpdump: natdump -r FILE tcp port 80 = -f" diff <("$ND" -r "$T/sc.pcapng" tcp port 80) "$T/f80"
check "tcpdump: natdump show FILE tcp port 80 = -f" diff <("$ND" show "$T/sc.pcapng.zst" tcp port 80) "$T/f80"
check "tcpdump: -f and an expression are and-ed" test "$("$ND" show -f 'tcp port 80' "$T/sc.pcapng" src host 10.0.0.2 | wc -l)" -eq 5
check "tcpdump: cat FILE | natdump show -" diff <(cat "$T/sc.pcapng" | "$ND" show -) "$T/show"
check "tcpdump: zstd ring on a pipe" diff <(cat "$T/sc.pcapng.zst" | "$ND" show -) "$T/show"
check "tcpdump: a pipe as a path" diff <("$ND" show <(cat "$T/sc.pcapng.zst")) "$T/show"
check "tcpdump: - twice refused" grep -q "given twice" <("$ND" show - - </dev/null 2>&1)
check "tcpdump: a bad expression is a usage error (exit 2, as -f with a bad filter)" test "$("$ND" show "$T/sc.pcapng" tcp port >/dev/null 2>&1; echo $?)" -eq 2
check "tcpdump: a word neither file nor filter start" test "$("$ND" show nosuchfile.pcap >/dev/null 2>&1; echo $?)" -eq 1
check "tcpdump: -c 2 with -r" test "$("$ND" -c 2 -n -r "$T/sc.pcapng" | wc -l)" -eq 2
check "tcpdump: -t has no time" grep -q "^7 out tcp 10.0.0.2:40000" <("$ND" -t -r "$T/sc.pcapng" -c 1)
check "tcpdump: -tt epoch" grep -q "^1700000000.000001000 7 out" <("$ND" -tt -r "$T/sc.pcapng" -c 1)
check "tcpdump: -ttt delta" test "$("$ND" -ttt -r "$T/sc.pcapng" -c 3 | cut -d' ' -f1 | tr '\n' ' ')" = "0.000000000 0.000001000 0.000001000 "
check "tcpdump: -ttttt since first" test "$("$ND" -ttttt -r "$T/sc.pcapng" -c 3 | tail -n 1 | cut -d' ' -f1)" = "0.000002000"
check "tcpdump: -tttt is the default form" diff <("$ND" -tttt -r "$T/sc.pcapng") "$T/show"
check "tcpdump: --version" grep -q "^natdump [0-9]" <("$ND" --version)
"$ND" -r "$T/sc.pcapng" -w "$T/w80.pcapng" tcp port 80
# a line is two packets, one when a side is "-"
check "tcpdump: -w writes what show selects (tshark reads it)" test "$(tshark -r "$T/w80.pcapng" 2>/dev/null | wc -l)" -eq "$(awk '/ - → |→ - / {n += 1; next} {n += 2} END {print n}' "$T/f80")"
check "tcpdump: -w file reads back as the same lines" diff <("$ND" show "$T/w80.pcapng") "$T/f80"
check "tcpdump: -w - to a pipe" diff <("$ND" -r "$T/sc.pcapng" -w - tcp port 80 | "$ND" show -) "$T/f80"

# real rings, once `glassnat replay --trace DIR` is wired
if "$BUILD/glassnat" replay --help 2>&1 | grep -q -- "--trace DIR" &&
	! "$BUILD/glassnat" replay --help 2>&1 | grep -q "not in this build"; then
	mkdir -p "$T/trace"
	if "$BUILD/glassnat" replay -q -c configs/hyper-nat.yaml "$T/in.pcapng" -o "$T/rp2.pcapng" --trace "$T/trace" >/dev/null 2>&1; then
		"$ND" show "$T/trace" >"$T/trshow"
		check "rings: pairs with both sides" grep -q "^[^ ]* 1 out tcp 172.17.240.21:51000 > 198.51.100.10:443 → 192.168.45.57:51000 > 198.51.100.10:443 \[S\] nat" "$T/trshow"
		check "rings: drop reason" grep -q "drop reason=no_mapping" "$T/trshow"
	else
		bad "glassnat replay --trace failed"
	fi
else
	bad "glassnat replay --help offers --trace DIR (rings to read)"
fi

echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
