#!/usr/bin/env bash
# Ring files open whole in the tshark users have (Debian 12: 4.0.17),
# with as many packets as natdump counts (issue 18):
#  1. `glassnat replay --trace` on a 20,000-packet capture spanning 20 s,
#     with a file size that rotates: the file closed by rotation holds
#     more than 10 s of traffic, and every file reads whole in tshark
#     (exit 0) with natdump's packet count.
#  2. trace_gen live writes real-time traffic for more than 10 s and is
#     killed with SIGKILL: the file still open reads in tshark (exit 0)
#     with natdump's count, and holds every record handed to the tracer
#     up to one second before the kill (the flush interval).
#
#   BUILD=build tests/e2e/trace_tshark_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
ND=$BUILD/natdump
GEN=$BUILD/trace_gen
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-trace-tshark.XXXXXX")
gen_pid=
cleanup() {
	[ -n "$gen_pid" ] && kill -9 "$gen_pid" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

for tool in tshark zstd; do
	command -v $tool >/dev/null || { not_ok "$tool installed"; finish; }
done
if [ -x "$GEN" ] || make --no-print-directory BUILD="$BUILD" "$GEN" >/dev/null; then
	ok "trace_gen built"
else
	not_ok "trace_gen built"
	finish
fi

# tshark_count FILE: packets, then tshark's exit status.
tshark_count() {
	tshark -r "$1" -T fields -e frame.number 2>"$TMP/tshark.err" | wc -l
	echo "${PIPESTATUS[0]}"
}
# nd FILE FIELD: a natdump stats line's first value ("packets", "pairs").
nd() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
# span FILE: the time span natdump reports, whole seconds.
span() { sed -n 's/^time span .*(\([0-9]*\)\.[0-9]* s)$/\1/p' "$1"; }

# ---- 1. replay, rotation ----
"$GEN" capture "$TMP/in.pcapng" 20000 20
{
	cat configs/hyper-nat.yaml
	printf '\ntrace:\n  file_size: 640KiB\n  files: 8\n'
} >"$TMP/rot.yaml"
"$GLASSNAT" replay -c "$TMP/rot.yaml" "$TMP/in.pcapng" -o "$TMP/out.pcapng" \
	--trace "$TMP/rot" >"$TMP/summary" 2>&1
check "replay --trace exits 0" 0 "$?"
written=$(sed -n 's/^  trace  *\([0-9]*\) packets.*/\1/p' "$TMP/summary")
check "replay traced 40000 packets" 40000 "$written"
mapfile -t files < <(ls "$TMP"/rot/glassnat-*.pcapng.zst)
check "the trace rotated (more than one file)" yes "$([ "${#files[@]}" -gt 1 ] && echo yes)"
total=0
for i in "${!files[@]}"; do
	f=${files[$i]}
	b=$(basename "$f")
	"$ND" stats "$f" >"$TMP/st" 2>"$TMP/st.err"
	check "$b: natdump reads it undamaged" 0 "$?"
	n=$(nd "$TMP/st" packets)
	total=$((total + n))
	mapfile -t t < <(tshark_count "$f")
	check "$b: tshark reads natdump's $n packets, exit 0" "$n 0" "${t[0]} ${t[1]}"
	check "$b: one zstd frame" 1 "$(zstd -lv "$f" 2>/dev/null | sed -n 's/^# Zstandard Frames: //p')"
	if [ "$i" -eq 0 ]; then
		check "$b (closed by rotation) holds at least 10 s" yes \
			"$([ "$(span "$TMP/st")" -ge 10 ] && echo yes)"
	fi
done
check "the files hold every traced packet" "$written" "$total"

# ---- 2. live, killed ----
SECONDS_RUN=12
# 50 pairs a second is ~48 KB of pcapng a second: less than a zstd block
# (128 KiB) or TRACE_RING_FLUSH_BYTES in a second, so only the writer's
# once-a-second flush makes the last second readable.
"$GEN" live "$TMP/live" 60 50 >"$TMP/live.log" 2>"$TMP/live.err" &
gen_pid=$!
sleep "$SECONDS_RUN"
kill_ms=$(date +%s%3N)
kill -9 "$gen_pid"
wait "$gen_pid" 2>/dev/null
check "trace_gen live was killed by SIGKILL (exit 137)" 137 "$?"
gen_pid=
mapfile -t files < <(ls "$TMP"/live/glassnat-*.pcapng.zst)
check "one ring file was open" 1 "${#files[@]}"
f=${files[0]}
"$ND" stats "$f" >"$TMP/st" 2>"$TMP/st.err"
check "natdump: the killed file's frame is not ended (exit 1)" 1 "$?"
check "natdump names the cut" 1 "$(grep -c 'truncated zstd frame' "$TMP/st.err")"
n=$(nd "$TMP/st" packets)
mapfile -t t < <(tshark_count "$f")
check "killed file: tshark reads natdump's $n packets, exit 0" "$n 0" "${t[0]} ${t[1]}"
check "killed file holds at least 10 s" yes "$([ "$(span "$TMP/st")" -ge 10 ] && echo yes)"
# Pairs handed to the tracer by one second before the kill, and by the
# kill: the file holds all of the first, none beyond the second.
due=$(awk -v t=$((kill_ms - 1000)) '$1 <= t { p = $2 } END { print p + 0 }' "$TMP/live.log")
sent=$(tail -n 1 "$TMP/live.log" | cut -d' ' -f2)
echo "# killed at $kill_ms: $sent pairs sent, $due by one second before; file: $n packets"
check "killed file: at most one second of records lost ($n >= 2 x $due packets)" yes \
	"$([ "$due" -gt 0 ] && [ "$n" -ge $((2 * due)) ] && echo yes)"
check "killed file: nothing beyond what was sent" yes \
	"$([ "$n" -le $((2 * sent)) ] && echo yes)"

finish
