#!/usr/bin/env bash
# Where the live gateway's CPU goes under iperf3: `perf record -a -g` while
# one TCP stream (iperf3 -P 1) runs through glassnat in the direct bench
# topology (tests/bench/topology_direct.sh), then the top symbols of the
# glassnat process (its user code and the kernel work done in its system
# calls, as a share of its own samples) and of all the bench traffic's
# commands (glassnat, iperf3 client and server, ksoftirqd: the forwarding
# on veths runs in the sender's softirq), and which of the queue path's
# copies the copy routines' samples are (tests/bench/perf_samples.awk).
# docs/performance.md quotes its output ("The profile").
#
#   MODE=nofp|fp   glassnat --no-fastpath (default; plain `glassnat run`
#                  when the build has no fast path) or with its fast path
#   SECONDS_=N     the iperf3 run and the recording (default 10)
#   TOP=N          symbols shown (default 25)
#
# Needs root, perf (Debian: linux-perf), iperf3. Namespaces gn-<pid>d-*,
# removed on exit, also on failure; every command bounded by timeout.
#
#   BUILD=build MODE=nofp tests/bench/live_profile.sh
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
MODE=${MODE:-nofp}
DUR=${SECONDS_:-10}
TOP=${TOP:-25}

die() { echo "profile: FAILED: $*" >&2; exit 1; }
for t in perf iperf3; do
	command -v "$t" >/dev/null || die "$t missing (Debian: apt-get install linux-perf iperf3)"
done
[ -x "$GLASSNAT" ] || die "$GLASSNAT not built"
[ "$(id -u)" -eq 0 ] || die "needs root"
case $DUR$TOP in *[!0-9]*) die "SECONDS_ and TOP are whole numbers" ;; esac

args=()
if timeout 10 "$GLASSNAT" run --help 2>&1 | grep -q -- '--no-fastpath'; then
	[ "$MODE" = nofp ] && args=(--no-fastpath)
elif [ "$MODE" = fp ]; then
	die "MODE=fp: no fast path in this build"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-profile.XXXXXX") || die "mktemp"
CONF=$TMP/profile.yaml
GPID=
TOPO_ID=$$d
. tests/e2e/topology.sh
. tests/bench/topology_direct.sh
TOPO_NO_TRAP=1
topo_before_down() {
	if [ -n "$GPID" ]; then
		kill -INT "$GPID" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$GPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GPID" 2>/dev/null
		wait "$GPID" 2>/dev/null
	fi
}
cleanup() { topo_down; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sed '/^logging:/,$d' configs/e2e.yaml >"$CONF"
printf 'logging:\n  events: ""\ncontrol_socket: "%s"\nstate_file: "%s"\n' "$TMP/ctl.sock" "$TMP/state" >>"$CONF"

topo_direct_up || die "topology"
ip netns exec "$NS_SRV" timeout $((DUR + 60)) iperf3 -s -p 5201 >/dev/null 2>&1 &
ip netns exec "$NS_GW" timeout $((DUR + 60)) "$GLASSNAT" run -c "$CONF" "${args[@]}" >"$TMP/glassnat.log" 2>&1 &
GPID=$!
for _ in $(seq 1 100); do
	grep -q 'Control socket' "$TMP/glassnat.log" && break
	kill -0 "$GPID" 2>/dev/null || break
	sleep 0.1
done
grep -q 'Control socket' "$TMP/glassnat.log" || { cat "$TMP/glassnat.log" >&2; die "glassnat did not start"; }

ip netns exec "$NS_IN1" timeout $((DUR + 30)) iperf3 -c $IP_SRV -p 5201 -t $((DUR + 2)) -J >"$TMP/iperf.json" 2>&1 &
IPID=$!
sleep 1
timeout $((DUR + 30)) perf record -a -g -o "$TMP/perf.data" -- sleep "$DUR" >"$TMP/perf.log" 2>&1 ||
	{ cat "$TMP/perf.log" >&2; die "perf record"; }
wait "$IPID"
gbps=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$TMP/iperf.json" 2>/dev/null)
[[ $gbps =~ ^[0-9.]+$ ]] || die "iperf3: $(jq -r '.error // empty' "$TMP/iperf.json" 2>/dev/null)"

echo "profile: glassnat $(git describe --always --dirty 2>/dev/null) MODE=$MODE ${args[*]}," \
	"iperf3 -P 1 for ${DUR} s: $(printf '%.2f' "$gbps") Gbit/s, $(nproc) CPUs"
echo
echo "## samples by command (whole machine)"
timeout 300 perf report -i "$TMP/perf.data" --stdio --sort comm -g none 2>/dev/null |
	grep -E '^ +[0-9.]+%' | head -8
samples() { # samples WHO COMMS
	echo
	echo "## $1"
	timeout 300 perf script -i "$TMP/perf.data" --comms "$2" -F comm,tid,ip,sym,dso 2>/dev/null |
		awk -v WHO="$1" -v TOP="$TOP" -f tests/bench/perf_samples.awk
}
samples "glassnat (its threads: its code and the kernel's work in its system calls)" glassnat
samples "the bench traffic (glassnat, iperf3 client and server, ksoftirqd)" \
	glassnat,iperf3,ksoftirqd/0,ksoftirqd/1
