#!/usr/bin/env bash
# natdump's speed against tshark on the same ring files.
#   BUILD=build tests/bench/natdump_bench.sh [GB]
# Generates GB (default 1) of uncompressed glassnat-style rings in a temp
# dir (64 MB files, zstd -1), times `natdump show` > /dev/null and
# `tshark -r FILE -T fields -e frame.time_epoch -e frame.comment -e ip.src
# -e ip.dst` on every file, prints packets/s each, the ratio, and natdump's
# peak RSS (GNU time -v when present, else /proc polling). Cleans up.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
GB=${1:-1}
ND=$BUILD/natdump
T=$(mktemp -d "${TMPDIR:-/tmp}/natdump-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

[ -x "$BUILD/natdump_gen" ] || make --no-print-directory BUILD="$BUILD" \
	"$BUILD/natdump_gen" >/dev/null
mkdir "$T/ring"
# one pair = 2 EPBs of ~180 bytes: 64 MB is ~180000 pairs
per=180000
files=$(( (GB * 1024 + 63) / 64 ))
t0=1700000000000000000
total_unc=0
for i in $(seq 1 "$files"); do
	f=$(printf '%s/ring/glassnat-20231114T221320Z-%04d.pcapng.zst' "$T" "$i")
	"$BUILD/natdump_gen" bench $(( (i - 1) * per / 8 + 1 )) "$per" $(( t0 + (i - 1) * per * 1000 )) |
		tee >(wc -c >"$T/unc.$i") | zstd -q -1 -o "$f"
done
sleep 0.2
for i in $(seq 1 "$files"); do total_unc=$(( total_unc + $(cat "$T/unc.$i") )); done
comp=$(du -cb "$T"/ring/* | tail -n 1 | cut -f1)
packets=$(( files * per * 2 - files * (per / 50) ))
echo "ring set: $files files, $((total_unc / 1048576)) MB uncompressed, $((comp / 1048576)) MB compressed, $packets packets"

now() { date +%s.%N; }
rss_peak() { # pid -> prints peak VmHWM in kB when the process ends
	local pid=$1 peak=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		sleep 0.05
	done
	echo "$peak"
}

s=$(now)
if [ -x /usr/bin/time ]; then
	/usr/bin/time -v "$ND" show "$T/ring" >/dev/null 2>"$T/time.txt"
	rss=$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$T/time.txt")
else
	"$ND" show "$T/ring" >/dev/null &
	pid=$!
	rss=$(rss_peak "$pid")
	wait "$pid"
fi
e=$(now)
nd_s=$(echo "$e - $s" | bc -l)

s=$(now)
for f in "$T"/ring/*; do
	tshark -r "$f" -T fields -e frame.time_epoch -e frame.comment \
		-e ip.src -e ip.dst 2>/dev/null
done >/dev/null
e=$(now)
ts_s=$(echo "$e - $s" | bc -l)

nd_rate=$(echo "$packets / $nd_s" | bc -l)
ts_rate=$(echo "$packets / $ts_s" | bc -l)
printf 'natdump show: %.2f s, %.0f packets/s, peak RSS %s kB\n' "$nd_s" "$nd_rate" "$rss"
printf 'tshark -r:    %.2f s, %.0f packets/s\n' "$ts_s" "$ts_rate"
printf 'ratio:        %.1fx tshark (target >= 20x)\n' "$(echo "$nd_rate / $ts_rate" | bc -l)"
