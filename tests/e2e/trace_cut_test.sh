#!/usr/bin/env bash
# A trace ring file cut off anywhere (a crash, a copy of a file still being
# written) decodes up to its last complete zstd frame: zstd recovers those
# bytes, they are a valid pcapng prefix, and tshark reads their packets.
#
# Builds tests/e2e/trace_gen.c against $BUILD/libglassnat.a, writes a ring
# file of FRAMES frames of PAIRS before/after pairs each, then cuts copies
# at frame boundaries, just after them, and mid-frame.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
nok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-trace-cut.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
FRAMES=5
PAIRS=200

for tool in zstd tshark cmp; do
	command -v $tool >/dev/null || { nok "$tool installed"; finish; }
done
# The generator is built by the Makefile (make e2e), with the build's flags.
gen="$BUILD/trace_gen"
if [ -x "$gen" ] || make --no-print-directory BUILD="$BUILD" "$gen" >/dev/null; then
	ok "trace_gen built"
else
	nok "trace_gen built"
	finish
fi

mapfile -t out < <("$gen" "$tmp/ring" $FRAMES $PAIRS)
file=${out[0]#file }
bounds=("${out[@]:1}")
check "generator wrote $FRAMES frames" [ "${#bounds[@]}" -eq $FRAMES -a -f "$file" ]
[ -f "$file" ] || finish
size=$(stat -c %s "$file")
# After the last packet frame, closing adds one small frame: the Interface
# Statistics Block with the losses (docs/trace-format.md).
check "file ends with the statistics frame after the last packet frame" \
	[ "$size" -gt "${bounds[-1]}" -a $((size - bounds[-1])) -lt 200 ]
check "the statistics frame holds an ISB (block type 5) for pre-nat" \
	bash -c "tail -c $((size - bounds[-1])) '$file' | zstd -dcq | head -c 4 | od -An -tx4 | grep -q ' 00000005'"
check "whole file passes zstd -t" zstd -q -t "$file"
zstd -q -dc "$file" >"$tmp/full.pcapng"
n=$(tshark -r "$file" 2>/dev/null | wc -l)
check "tshark reads all $((FRAMES * PAIRS * 2)) packets of the .pcapng.zst" \
	[ "$n" -eq $((FRAMES * PAIRS * 2)) ]

# Decompressed size after k complete frames, and packets in them.
declare -a dlen
dlen[0]=0
for k in $(seq 1 $FRAMES); do
	dlen[$k]=$(head -c "${bounds[$((k - 1))]}" "$file" | zstd -q -dc | wc -c)
done

# Cut offsets: inside the first frame, every boundary, just past each
# boundary, and the middle of each frame.
cuts=(7 100)
prev=0
for b in "${bounds[@]}"; do
	cuts+=("$b" $((b + 5)) $(((prev + b) / 2)))
	prev=$b
done

for c in "${cuts[@]}"; do
	[ "$c" -le "$size" ] || continue
	head -c "$c" "$file" >"$tmp/cut.pcapng.zst"
	k=0
	for b in "${bounds[@]}"; do [ "$b" -le "$c" ] && k=$((k + 1)); done
	zstd -q -dc "$tmp/cut.pcapng.zst" >"$tmp/rec" 2>/dev/null
	rlen=$(stat -c %s "$tmp/rec")
	# Everything recovered is the start of the real stream, and at
	# least the complete frames are there.
	check "cut at $c: recovered $rlen bytes >= ${dlen[$k]} of $k complete frames" \
		[ "$rlen" -ge "${dlen[$k]}" ]
	check "cut at $c: recovered bytes are a prefix of the stream" \
		cmp -s -n "$rlen" "$tmp/rec" "$tmp/full.pcapng"
	if [ "$k" -eq 0 ]; then
		continue
	fi
	head -c "${dlen[$k]}" "$tmp/rec" >"$tmp/prefix.pcapng"
	got=$(tshark -r "$tmp/prefix.pcapng" -T fields -e frame.comment 2>/dev/null |
		grep -c '^flow=')
	check "cut at $c: tshark reads the $((k * PAIRS * 2)) packets of $k frames" \
		[ "$got" -eq $((k * PAIRS * 2)) ]
	if [ "$c" -eq "${bounds[$((k - 1))]}" ]; then
		check "cut at boundary $c passes zstd -t" \
			zstd -q -t "$tmp/cut.pcapng.zst"
		# tshark opens the cut .pcapng.zst itself
		got=$(tshark -r "$tmp/cut.pcapng.zst" 2>/dev/null | wc -l)
		check "cut at boundary $c: tshark reads the .pcapng.zst natively" \
			[ "$got" -eq $((k * PAIRS * 2)) ]
	else
		if zstd -q -t "$tmp/cut.pcapng.zst" 2>/dev/null; then
			nok "cut at $c mid-frame reported as complete by zstd -t"
		else
			ok "cut at $c mid-frame: zstd -t reports the truncation"
		fi
	fi
done

# Pairs: every post follows its pre with the same flow id.
bad=$(tshark -r "$tmp/full.pcapng" -T fields -e frame.interface_name \
	-e frame.comment 2>/dev/null | awk -F'\t' '
	{ split($2, a, " "); if (NR % 2) { if ($1 != "pre-nat") bad++; f = a[1] }
	  else if ($1 != "post-nat" || a[1] != f) bad++ }
	END { print bad + 0 }')
check "pre/post pairs alternate with the same flow id" [ "$bad" -eq 0 ]

finish
