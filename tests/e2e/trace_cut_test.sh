#!/usr/bin/env bash
# A trace ring file cut off anywhere (a crash, a copy of a file still being
# written) gives every reader every packet flushed before the cut
# (docs/trace-format.md, "A file cut short"). A ring file is one zstd
# frame, flushed at least every second and ended at close; each reader
# decodes it up to the last complete zstd block before the cut and keeps
# the pcapng blocks that are whole.
#
# Builds tests/e2e/trace_gen.c against $BUILD/libglassnat.a, writes a ring
# file of FLUSHES flushes of PAIRS before/after pairs each, then cuts
# copies every 5%, at odd offsets and at, just before and just after
# flush points, and counts the packets three readers recover: tshark on
# the .pcapng.zst, `zstdcat | tshark -r -`, and natdump. tshark and natdump
# must recover at least what was flushed before the cut, and the same
# count; zstdcat (zstd 1.5) leaves out the last output buffer it decoded
# when its input ends inside a frame, so its minimum is what was flushed
# less 128 KiB of pcapng. No reader may recover fewer from a longer cut.
# Then a file in the format of earlier versions (a sequence of frames) is
# read by each.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
. tests/e2e/lib.sh

tmp=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-trace-cut.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
FLUSHES=40
PAIRS=250
TOTAL=$((FLUSHES * PAIRS * 2))
ND=$BUILD/natdump

for tool in zstd zstdcat tshark cmp python3; do
	command -v $tool >/dev/null || { not_ok "$tool installed"; finish; }
done
# The generator is built by the Makefile (make e2e), with the build's flags.
gen="$BUILD/trace_gen"
if [ -x "$gen" ] || make --no-print-directory BUILD="$BUILD" "$gen" >/dev/null; then
	ok "trace_gen built"
else
	not_ok "trace_gen built"
	finish
fi

mapfile -t out < <("$gen" "$tmp/ring" $FLUSHES $PAIRS)
file=${out[0]#file }
flushed_at=("${out[@]:1}")
check "generator flushed $FLUSHES times" "$FLUSHES yes" \
	"${#flushed_at[@]} $([ -f "$file" ] && echo yes)"
[ -f "$file" ] || finish
size=$(stat -c %s "$file")

# The whole file: one frame, checksummed, ending with the statistics block.
check "whole file passes zstd -t" 0 "$(zstd -q -t "$file"; echo $?)"
check "the file is one zstd frame" "1" \
	"$(zstd -lv "$file" 2>/dev/null | sed -n 's/^# Zstandard Frames: //p')"
zstdcat "$file" >"$tmp/full.pcapng"
last_len=$(tail -c 4 "$tmp/full.pcapng" | od -An -tu4 | tr -d ' ')
check "the last pcapng block is an ISB (type 5)" 5 \
	"$(tail -c "$last_len" "$tmp/full.pcapng" | head -c 4 | od -An -tu4 | tr -d ' ')"

# zmin[k]: packets zstdcat must recover when k flushes are before the cut:
# those whole in the first (decoded size at flush k) - 128 KiB bytes.
mapfile -t zmin < <(python3 - "$tmp/full.pcapng" $FLUSHES $((PAIRS * 2)) <<'EOF'
import struct, sys
data, flushes, per = open(sys.argv[1], "rb").read(), int(sys.argv[2]), int(sys.argv[3])
ends, off = [], 0          # end offset of each EPB, in order
while off < len(data):
    t, l = struct.unpack_from("<II", data, off)
    off += l
    if t == 6:
        ends.append(off)
print(0)
for k in range(1, flushes + 1):
    dk = ends[k * per - 1]          # flush k ends after packet k*per
    print(sum(1 for e in ends if e <= dk - 131072))
EOF
)
check "zstdcat minimums computed" $((FLUSHES + 1)) "${#zmin[@]}"

# count_* FILE: packets recovered (and, for tshark/natdump, exit status).
count_tshark() {
	tshark -r "$1" -T fields -e frame.number 2>"$tmp/tshark.err" | wc -l
	echo "${PIPESTATUS[0]}"
}
count_zstdcat() {
	zstdcat "$1" 2>/dev/null | tshark -r - -T fields -e frame.number 2>/dev/null | wc -l
}
count_natdump() {
	"$ND" stats "$1" >"$tmp/nd.out" 2>"$tmp/nd.err"
	local rc=$?
	awk '$1 == "packets" { print $2; n++ } END { if (!n) print 0 }' "$tmp/nd.out"
	echo "$rc"
}

mapfile -t r < <(count_tshark "$file")
check "whole file: tshark reads all $TOTAL packets, exit 0" "$TOTAL 0" "${r[0]} ${r[1]}"
mapfile -t r < <(count_natdump "$file")
check "whole file: natdump reads all $TOTAL packets, exit 0" "$TOTAL 0" "${r[0]} ${r[1]}"

# Cut offsets, ascending: every 5%, odd byte offsets, and around flush
# points (a cut exactly at a flush point holds exactly what was flushed).
cuts=(7 100 1001 12345 $((size / 3 + 1)) $((size - 1)))
for p in $(seq 5 5 95); do cuts+=($((size * p / 100))); done
for k in 0 9 $((FLUSHES - 2)); do
	b=${flushed_at[$k]}
	cuts+=($((b - 1)) "$b" $((b + 1)))
done
mapfile -t cuts < <(printf '%s\n' "${cuts[@]}" | sort -n -u)

prev_t=0 prev_z=0 prev_n=0
bad_t=0 bad_z=0 bad_n=0 bad_mono=0 bad_agree=0 bad_rc=0 bad_msg=0 bad_exact=0
n_before=0 n_after=0 n_exact=0
for c in "${cuts[@]}"; do
	head -c "$c" "$file" >"$tmp/cut.pcapng.zst"
	# packets flushed before the cut
	min=0 k=0
	for i in "${!flushed_at[@]}"; do
		[ "${flushed_at[$i]}" -le "$c" ] && min=$(((i + 1) * PAIRS * 2)) k=$((i + 1))
	done
	mapfile -t t < <(count_tshark "$tmp/cut.pcapng.zst")
	z=$(count_zstdcat "$tmp/cut.pcapng.zst")
	mapfile -t n < <(count_natdump "$tmp/cut.pcapng.zst")
	echo "# cut at $c of $size: flushed $min, tshark ${t[0]} (exit ${t[1]}), zstdcat ${z} (min ${zmin[$k]}), natdump ${n[0]} (exit ${n[1]})"
	[ "${t[0]}" -ge "$min" ] || { bad_t=$((bad_t + 1)); echo "#   tshark below $min"; }
	[ "$z" -ge "${zmin[$k]}" ] && [ "$z" -le "${n[0]}" ] ||
		{ bad_z=$((bad_z + 1)); echo "#   zstdcat below ${zmin[$k]} or above natdump"; }
	[ "${n[0]}" -ge "$min" ] || { bad_n=$((bad_n + 1)); echo "#   natdump below $min"; }
	if [ "${t[0]}" -lt "$prev_t" ] || [ "$z" -lt "$prev_z" ] || [ "${n[0]}" -lt "$prev_n" ]; then
		bad_mono=$((bad_mono + 1))
		echo "#   fewer than the shorter cut ($prev_t $prev_z $prev_n)"
	fi
	if [ "${t[0]}" != "${n[0]}" ]; then
		bad_agree=$((bad_agree + 1))
		echo "#   readers disagree"
	fi
	# The flush point itself: exactly the flushed packets, nothing more.
	for b in "${flushed_at[@]}"; do
		[ "$b" -eq "$c" ] || continue
		n_exact=$((n_exact + 1))
		if [ "${n[0]}" -ne "$min" ]; then
			bad_exact=$((bad_exact + 1))
			echo "#   at the flush point: ${n[0]}, not $min"
		fi
	done
	# Every cut file is damaged: natdump reads what is there, says where
	# the frame was cut and exits 1, also when the cut is before the first
	# flush (nothing to recover is still no silent success). Once the
	# headers are flushed tshark opens the file and exits 0.
	if [ "$min" -gt 0 ]; then
		n_after=$((n_after + 1))
		if [ "${t[1]}" -ne 0 ]; then
			bad_rc=$((bad_rc + 1))
			echo "#   exit: tshark ${t[1]}: $(head -c 300 "$tmp/tshark.err")"
		fi
	else
		n_before=$((n_before + 1))
	fi
	if [ "${n[1]}" -ne 1 ]; then
		bad_rc=$((bad_rc + 1))
		echo "#   exit: natdump ${n[1]} (want 1)"
	fi
	grep -q "/cut.pcapng.zst: offset [0-9]*: truncated zstd frame" "$tmp/nd.err" ||
		{ bad_msg=$((bad_msg + 1)); echo "#   natdump: $(cat "$tmp/nd.err")"; }
	prev_t=${t[0]} prev_z=$z prev_n=${n[0]}
done
# The cuts must reach past flush points, or every "at least what was
# flushed" below compares zero packets: a few cuts fall before the first
# flush (7, 100, 1001, ...), at least 25 after it, 3 exactly on one.
check "${#cuts[@]} cuts: some before the first flush, at least 25 after, 3 at flush points" \
	"yes 3" "$([ "$n_before" -ge 3 ] && [ "$n_after" -ge 25 ] && echo yes) $n_exact"
check "${#cuts[@]} cuts: tshark recovers every flushed packet" 0 "$bad_t"
check "${#cuts[@]} cuts: zstdcat | tshark recovers what was flushed less 128 KiB" 0 "$bad_z"
check "${#cuts[@]} cuts: natdump recovers every flushed packet" 0 "$bad_n"
check "${#cuts[@]} cuts: no reader recovers fewer from a longer cut" 0 "$bad_mono"
check "${#cuts[@]} cuts: tshark and natdump count the same packets" 0 "$bad_agree"
check "cuts at flush points give exactly the flushed packets" 0 "$bad_exact"
check "cut files: natdump exits 1 on every cut, tshark 0 once a flush is in" 0 "$bad_rc"
check "cut files: natdump names the file, offset and the cut frame" 0 "$bad_msg"
head -c "${flushed_at[-1]}" "$file" >"$tmp/cut.pcapng.zst"
check "a cut at the last flush: tshark reads every packet (only the ISB is missing)" \
	"$TOTAL" "$(count_tshark "$tmp/cut.pcapng.zst" | head -1)"

# Pairs: every post follows its pre with the same flow id.
bad=$(tshark -r "$tmp/full.pcapng" -T fields -e frame.interface_name \
	-e frame.comment 2>/dev/null | awk -F'\t' '
	{ split($2, a, " "); if (NR % 2) { if ($1 != "pre-nat") bad++; f = a[1] }
	  else if ($1 != "post-nat" || a[1] != f) bad++ }
	END { print bad + 0 }')
check "pre/post pairs alternate with the same flow id" 0 "$bad"

# Earlier versions wrote a sequence of frames (one ended every second).
# Rebuilt here from the same stream: one frame per 1000 pcapng blocks.
python3 - "$tmp/full.pcapng" "$tmp/part" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
off, n, part, start = 0, 0, 0, 0
while off < len(data):
    off += struct.unpack_from("<I", data, off + 4)[0]
    n += 1
    if n % 1000 == 0 or off == len(data):
        open("%s.%03d" % (sys.argv[2], part), "wb").write(data[start:off])
        part, start = part + 1, off
EOF
for p in "$tmp"/part.*; do zstd -q -c "$p"; done >"$tmp/old.pcapng.zst"
first=$(tshark -r "$tmp/part.000" -T fields -e frame.number 2>/dev/null | wc -l)
check "old multi-frame file: more than 10 frames" yes \
	"$([ "$(zstd -lv "$tmp/old.pcapng.zst" 2>/dev/null | sed -n 's/^# Zstandard Frames: //p')" -gt 10 ] && echo yes)"
mapfile -t r < <(count_natdump "$tmp/old.pcapng.zst")
check "old multi-frame file: natdump reads all $TOTAL packets, exit 0" "$TOTAL 0" "${r[0]} ${r[1]}"
check "old multi-frame file: zstdcat | tshark reads all $TOTAL" "$TOTAL" \
	"$(count_zstdcat "$tmp/old.pcapng.zst")"
# tshark 4.0 (Debian 12) reads the first frame, then loses the frame
# boundary (a few frames later at most) and calls the file damaged
# (docs/trace-format.md). Never more than natdump.
mapfile -t t < <(count_tshark "$tmp/old.pcapng.zst")
echo "# old multi-frame file: tshark $(tshark --version | head -1 | awk '{print $3}') reads ${t[0]} (exit ${t[1]}); the first frame holds $first"
case "$(tshark --version | head -1)" in
*" 4.0."*) check "old multi-frame file: tshark 4.0 reads the first frame, not all, exit 2" "yes 2" \
	"$([ "${t[0]}" -ge "$first" ] && [ "${t[0]}" -lt "$TOTAL" ] && echo yes) ${t[1]}" ;;
*) check "old multi-frame file: tshark reads at least the first frame, at most all" yes \
	"$([ "${t[0]}" -ge "$first" ] && [ "${t[0]}" -le "$TOTAL" ] && echo yes)" ;;
esac

finish
