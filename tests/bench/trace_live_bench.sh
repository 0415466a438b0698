#!/usr/bin/env bash
# Live trace benchmark: TCP through glassnat with every packet traced
# (`glassnat run --trace DIR`, no filter: everything selected, so nothing
# can be offloaded), iperf3 -t SECONDS from the inside host in1 to the
# server srv in the e2e topology (tests/e2e/topology.sh). Reports the TCP
# rate, what the tracer was offered, wrote and lost (the final statistics
# glassnat prints at exit), the bytes on disk, and the CPU seconds of each
# glassnat thread. Needs root and iperf3; removes everything on exit.
#
#   BUILD=build tests/bench/trace_live_bench.sh [iperf3 options...]
#   TRACE_DIR=/some/disk/dir SECONDS_RUN=5 RUNS=1 UNTRACED=0|1 ...
#   PERF_OUT=FILE (perf record -g of glassnat during the traced run)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
CONFIG=${CONFIG:-configs/e2e.yaml}
SECONDS_RUN=${SECONDS_RUN:-5}
RUNS=${RUNS:-1}

for t in iperf3 jq; do
	command -v "$t" >/dev/null || { echo "bench: $t missing (make deps)" >&2; exit 1; }
done
[ -x "$GLASSNAT" ] || { echo "bench: $GLASSNAT not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-tbench.XXXXXX")
TDIR=${TRACE_DIR:-$TMP/trace}
GPID=
topo_before_down() {
	if [ -n "$GPID" ]; then kill -TERM "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null; fi
	rm -rf "$TMP"
	[ -n "${TRACE_DIR:-}" ] && rm -rf "$TDIR"
}
topo_up || { echo "bench: topology failed" >&2; exit 1; }
ip netns exec "$NS_SRV" timeout 600 iperf3 -s -p 5201 >/dev/null 2>&1 &
sleep 0.5

# CPU ticks (user+system) per thread of pid $1: "tid/name ticks" lines.
thread_ticks() {
	local f
	for f in /proc/"$1"/task/*/stat; do
		awk '{ tid=$1; sub(/^[^(]*\(/, ""); name=$0; sub(/\).*/, "", name);
		       sub(/^[^)]*\) /, ""); print tid "/" name, $12 + $13 }' "$f" 2>/dev/null
	done
}

# run_one LABEL [glassnat run options]: one iperf3 run through glassnat.
run_one() {
	local label=$1 gn
	shift
	rm -rf "$TDIR"
	ip netns exec "$NS_GW" timeout 600 "$GLASSNAT" run -c "$CONFIG" "$@" \
		>"$TMP/glassnat.log" 2>&1 &
	GPID=$!
	for _ in $(seq 1 50); do grep -q installed "$TMP/glassnat.log" && break; sleep 0.1; done
	gn=$(pgrep -P "$GPID" -x glassnat || echo "$GPID")
	thread_ticks "$gn" | sort >"$TMP/t0"
	local perf=
	if [ -n "${PERF_OUT:-}" ] && [ "$label" != "${label%traced}" ]; then
		perf record -q -g -p "$gn" -o "$PERF_OUT" -- sleep "$SECONDS_RUN" >/dev/null 2>&1 &
		perf=$!
	fi
	ip netns exec "$NS_IN1" timeout $((SECONDS_RUN + 20)) iperf3 -c $IP_SRV -p 5201 \
		-t "$SECONDS_RUN" -J "${IPERF_OPTS[@]}" >"$TMP/iperf.json" 2>/dev/null
	thread_ticks "$gn" | sort >"$TMP/t1"
	[ -n "$perf" ] && wait "$perf"
	kill -INT "$GPID"; wait "$GPID"; GPID=
	gbps=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$TMP/iperf.json")
	echo "$label: TCP $(printf '%.2f' "$gbps") Gbit/s (iperf3 -t $SECONDS_RUN ${IPERF_OPTS[*]})"
	grep -E 'Trace packets|Queue overflow|Batches' "$TMP/glassnat.log" | sed 's/^.*\] */  glassnat: /'
	[ -d "$TDIR" ] && echo "  on disk: $(du -sb "$TDIR" | cut -f1) bytes in $(ls "$TDIR" | wc -l) files"
	echo "  CPU seconds per thread over the iperf3 run ($(getconf CLK_TCK) ticks/s):"
	join -a2 "$TMP/t0" "$TMP/t1" 2>/dev/null | awk -v hz="$(getconf CLK_TCK)" \
		'{ b = NF == 3 ? $2 : 0; printf "    %-16s %6.2f\n", $1, ($NF - b) / hz }'
}

IPERF_OPTS=("$@")
for run in $(seq 1 "$RUNS"); do
	[ "${UNTRACED:-1}" = 1 ] && run_one "run $run untraced"
	run_one "run $run every packet traced" --trace "$TDIR"
done
