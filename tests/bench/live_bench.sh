#!/usr/bin/env bash
# Live benchmark: glassnat with its fast path, glassnat without it
# (--no-fastpath) and the kernel's own nftables masquerade, in one run, in
# two namespace topologies: "router" (tests/e2e/topology.sh: a router
# namespace between the gateway and the server) and "direct"
# (tests/bench/topology_direct.sh: the gateway routes straight to the
# server). Clients run in the inside host in1, servers in srv
# (198.51.100.10). docs/performance.md describes the method and the figures.
#
# Measured in each topology, for each case (fast path, no fast path, kernel):
#   TCP throughput    iperf3 -t DUR, one stream (-P 1) and four (-P 4); with
#                     glassnat also its CPU per thread (/proc/PID/task/*/stat
#                     deltas over the run, % of one core)
#   UDP 64-byte pps   iperf3 -u -l 64 -b 0 -t UDUR, out (in1 -> srv) and in
#                     (-R, srv -> in1), packets received a second
#   new connections   a second, connect + 1 byte + answer + close (python)
#   ping latency      200 echoes, p50 / p99
#   four TCP flows    four iperf3 clients at once to four server ports, none
#                     traced, then (glassnat) the same with one selected by
#                     `glassnat trace on 'tcp port 5202'`: the three others'
#                     throughput, traced vs. none traced
#   all traced        (glassnat) TCP -P 1 with `glassnat trace on` (every
#                     packet; the fast path is then off by definition), and
#                     the trace's written/lost counts
#
# The cases are interleaved: every round runs each case once (glassnat
# stopped and the nft table removed in between), the starting case rotating
# from round to round, so that load from elsewhere on a shared machine
# spreads over all of them; the report gives each figure's median over
# RUNS rounds. Targets are printed next to the results and never asserted:
# the exit status is 0 whatever the ratios. It is non-zero, with a message
# naming what failed, when a measurement fails (an iperf3 error, an empty
# or zero result, glassnat not starting).
#
# Time: per topology about RUNS x (3 x DUR + 3 x UDUR + 6 + 2 x DUR + ...)
# seconds per glassnat case; the defaults (RUNS=3 DUR=5 UDUR=3) take about
# 10 minutes with the fast path built, 7 without. RUNS=1 for a quick look.
#
# The kernel masquerade is set up inside the gateway namespace with nft
# (table ip gnbench), never in the root namespace; the topologies keep
# kernel defaults (ip_forward apart). Namespaces gn-<pid><r|d>-*, removed on
# exit, also on failure or Ctrl+C. Every command is bounded by timeout.
# Needs root, iperf3, python3, nft, jq.
#
#   BUILD=build RUNS=3 TOPOS="router direct" tests/bench/live_bench.sh
#   (make bench runs it)
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
PEER=tests/e2e/live_peer.py
RUNS=${RUNS:-3}
DUR=${DUR:-5}
UDUR=${UDUR:-3}
TOPOS=${TOPOS:-router direct}

die() { echo "bench: FAILED: $*" >&2; exit 1; }
for t in iperf3 python3 nft jq; do
	command -v "$t" >/dev/null || die "$t missing (make deps)"
done
[ -x "$GLASSNAT" ] || die "$GLASSNAT not built"
[ "$(id -u)" -eq 0 ] || die "needs root (scripts/as-root.sh)"
case "$RUNS$DUR$UDUR" in *[!0-9]*) die "RUNS, DUR and UDUR are whole numbers" ;; esac
[ "$RUNS" -ge 1 ] && [ "$DUR" -ge 1 ] && [ "$UDUR" -ge 1 ] || die "RUNS, DUR and UDUR must be >= 1"

# The cases this build can run. Without --no-fastpath the binary has no
# fast path: plain `glassnat run` is the "no fast path" case and the fast
# path column says so instead of showing numbers.
if timeout 10 "$GLASSNAT" run --help 2>&1 | grep -q -- '--no-fastpath'; then
	HAVE_FP=1
	CASES=(fp nofp kernel)
else
	HAVE_FP=0
	CASES=(nofp kernel)
fi
NO_FP="n/a (no fast path in this build)"

RUNID=$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-bench.XXXXXX") || die "mktemp"
RES=$TMP/results # lines: TOPO CASE METRIC VALUE
: >"$RES"
NOTES=$TMP/notes # lines: TOPO CASE text
: >"$NOTES"
GPID=
SOCK=$TMP/ctl.sock
CONF=$TMP/bench.yaml

. tests/e2e/topology.sh
TOPO_NO_TRAP=1
stop_glassnat() {
	[ -n "$GPID" ] || return 0
	kill -INT "$GPID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$GPID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$GPID" 2>/dev/null
	wait "$GPID" 2>/dev/null
	GPID=
	# A stopped glassnat leaves the path closed (its chains drop what
	# comes from the inside); open it for the kernel's run.
	ip netns exec "$NS_GW" timeout 20 "$GLASSNAT" uninstall -c "$CONF" >/dev/null
}
topo_before_down() { stop_glassnat || true; }
cleanup() {
	topo_down
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# glassnat's config: configs/e2e.yaml with its own control socket, state
# file and trace directory in $TMP (tracing off until `trace on`).
sed '/^logging:/,$d' configs/e2e.yaml >"$CONF"
cat >>"$CONF" <<EOF
logging:
  events: ""
control_socket: "$SOCK"
state_file: "$TMP/state"
trace:
  enabled: false
  dir: "$TMP/trace"
EOF

ctl() { timeout 20 "$GLASSNAT" "$@" -s "$SOCK"; }
num() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }
record() { echo "$TOPO $CASE $1 $2" >>"$RES"; }

# start_glassnat [ARGS...]: runs it in the gateway; waits (10 s at most)
# for its chains and control socket.
start_glassnat() {
	local log=$TMP/glassnat-$TOPO-$CASE.log
	ip netns exec "$NS_GW" timeout 3600 "$GLASSNAT" run -c "$CONF" "$@" >"$log" 2>&1 &
	GPID=$!
	for _ in $(seq 1 100); do
		if [ -S "$SOCK" ] && grep -q 'Control socket' "$log"; then
			grep -i 'fast.path\|bpf' "$log" | sed "s/^/$TOPO $CASE /" >>"$NOTES"
			return 0
		fi
		kill -0 "$GPID" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/  /' "$log" >&2
	die "glassnat did not start ($TOPO, $CASE; its log above)"
}

# fp_counters: "LOADED KERNEL_PACKETS ENGINE_PACKETS" from stats --json
# (LOADED none when this build has no fastpath.* counters). The kernel's
# packets are the program's live hit count (fastpath.packets is added to
# only when a flow's counters are read back).
fp_counters() {
	ctl stats --json 2>/dev/null |
		jq -r '.stats | "\(.fastpath.loaded // "none") \(.fastpath.hits // .fastpath.packets // 0) \(.packets // 0)"' 2>/dev/null
}
# The glassnat process in the gateway namespace (timeout's child).
glassnat_pid() {
	local p
	for p in $(ip netns pids "$NS_GW"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = glassnat ] && { echo "$p"; return 0; }
	done
	return 1
}
# cpu_snap PID: "TID COMM TICKS" for each thread (utime + stime).
cpu_snap() {
	local f
	for f in /proc/"$1"/task/*/stat; do
		awk '{ c = $0; sub(/^[^(]*\(/, "", c); sub(/\).*$/, "", c); r = $0; sub(/^.*\) /, "", r)
			split(r, a, " "); print FILENAME, c, a[12] + a[13] }' "$f" 2>/dev/null
	done | sed 's|^/proc/[0-9]*/task/\([0-9]*\)/stat|\1|'
}

# tcp_gbps P [CPU_METRIC]: one iperf3 run, P streams; with glassnat
# running, records its per-thread CPU as CPU_METRIC (default cpuP):
# "comm/tid:%,..." busiest first, % of one core.
tcp_gbps() {
	local p=$1 cm=${2:-cpu$1} out v gp= t0 t1 b a
	local f0 f1
	[ "$CASE" != kernel ] && gp=$(glassnat_pid) && f0=$(fp_counters)
	[ -n "$gp" ] && b=$(cpu_snap "$gp") && t0=$EPOCHREALTIME
	out=$(ip netns exec "$NS_IN1" timeout $((DUR + 20)) iperf3 -c $IP_SRV -p 5201 -t "$DUR" -P "$p" -J 2>&1)
	if [ -n "$gp" ]; then
		t1=$EPOCHREALTIME
		a=$(cpu_snap "$gp")
		record "$cm" "$(join -j1 <(sort -k1,1 <<<"$b") <(sort -k1,1 <<<"$a") |
			awk -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v hz="$(getconf CLK_TCK)" \
				'{ printf "%d %s/%s\n", ($5 - $3) * 100 / hz / s + 0.5, $2, $1 }' |
			sort -rn | awk '{ printf "%s%s:%d%%", (NR > 1 ? "," : ""), $2, $1 }')"
		f1=$(fp_counters)
		# loaded (true/false/none) and the share of the run's packets the
		# kernel translated: fast path packets / (those + the engine's)
		record "fp_loaded_$cm" "$(awk '{ print $1 }' <<<"$f1")"
		record "fp_share_$cm" "$(awk -v a="$f0" -v b="$f1" 'BEGIN { split(a, x, " "); split(b, y, " ")
			k = y[2] - x[2]; u = y[3] - x[3]; printf "%.1f", (k + u > 0) ? 100 * k / (k + u) : 0 }')"
	fi
	v=$(jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$out" 2>/dev/null)
	num "$v" || die "TCP -P $p ($TOPO, $CASE): iperf3 gave no throughput: $(jq -r '.error // empty' <<<"$out" 2>/dev/null | head -c 300)"
	echo "$v"
}
udp_pps() { # udp_pps [-R]
	local out v
	out=$(ip netns exec "$NS_IN1" timeout $((UDUR + 20)) iperf3 -c $IP_SRV -p 5201 -u -l 64 -b 0 -t "$UDUR" "$@" -J 2>&1)
	v=$(jq -r '.end.sum | (.packets - .lost_packets) / .seconds | floor' <<<"$out" 2>/dev/null)
	num "$v" || die "UDP 64 B $* ($TOPO, $CASE): iperf3 gave no rate: $(jq -r '.error // empty' <<<"$out" 2>/dev/null | head -c 300)"
	echo "$v"
}
conn_rate() {
	local v
	v=$(ip netns exec "$NS_IN1" timeout $((UDUR + 20)) python3 "$PEER" conn-rate $IP_SRV 5001 --seconds "$UDUR" |
		sed -n 's/conn_per_s=//p')
	num "$v" || die "new connections ($TOPO, $CASE): no connection completed"
	echo "$v"
}
# four_flows: four iperf3 clients at once (ports 5201-5204); prints the
# four throughputs (Gbit/s), the flow to port 5202 second.
four_flows() {
	local i v all= pids=()
	for i in 1 2 3 4; do
		ip netns exec "$NS_IN1" timeout $((DUR + 20)) iperf3 -c $IP_SRV -p $((5200 + i)) -t "$DUR" -J \
			>"$TMP/flow$i.json" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for i in 1 2 3 4; do
		v=$(jq -r '.end.sum_received.bits_per_second / 1e9' "$TMP/flow$i.json" 2>/dev/null)
		num "$v" || die "four flows, flow to port $((5200 + i)) ($TOPO, $CASE): iperf3 gave no throughput: $(jq -r '.error // empty' "$TMP/flow$i.json" 2>/dev/null | head -c 300)"
		all+="$v "
	done
	echo "$all"
}
untraced3() { awk '{ printf "%.3f", $1 + $3 + $4 }' <<<"$1"; }

# measure: every figure of the current case, once.
measure() {
	local v f
	v=$(tcp_gbps 1) || exit 1; record tcp1 "$v"
	v=$(tcp_gbps 4) || exit 1; record tcp4 "$v"
	v=$(udp_pps) || exit 1; record udp_out "$v"
	v=$(udp_pps -R) || exit 1; record udp_in "$v"
	v=$(conn_rate) || exit 1; record conn "$v"
	v=$(ip netns exec "$NS_IN1" timeout 30 python3 "$PEER" ping-many $IP_SRV --count 200)
	[[ $v == *p50_us=* ]] || die "ping ($TOPO, $CASE): $v"
	record p50 "$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$v")"
	record p99 "$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$v")"
	f=$(four_flows) || exit 1; record flows_none "$(untraced3 "$f")"
	[ "$CASE" = kernel ] && return 0
	v=$(ctl trace on 'tcp port 5202' 2>&1)
	[ "$v" = "Tracing on, filter: tcp port 5202" ] || die "trace on ($TOPO, $CASE): $v"
	f=$(four_flows) || exit 1
	record flows_one "$(untraced3 "$f")"
	record flow_traced "$(awk '{ print $2 }' <<<"$f")"
	v=$(ctl trace off 2>&1)
	[ "$v" = "Tracing off" ] || die "trace off ($TOPO, $CASE): $v"
	local w0 l0 w1 l1
	read -r w0 l0 < <(ctl stats --json | jq -r '"\(.stats.trace.written) \(.stats.trace.lost)"')
	v=$(ctl trace on 2>&1)
	[[ $v == "Tracing on"* ]] || die "trace on, all ($TOPO, $CASE): $v"
	v=$(tcp_gbps 1 cpu_all_traced) || exit 1; record tcp_all_traced "$v"
	ctl trace off >/dev/null 2>&1 || die "trace off ($TOPO, $CASE)"
	read -r w1 l1 < <(ctl stats --json | jq -r '"\(.stats.trace.written) \(.stats.trace.lost)"')
	[[ "$w0$l0$w1$l1" =~ ^[0-9]+$ ]] || die "stats --json ($TOPO, $CASE): no trace.written/lost counters"
	record trace_written $((w1 - w0))
	record trace_lost $((l1 - l0))
}

run_case() {
	echo "== $TOPO round $round: $CASE" >&2
	case $CASE in
	fp) start_glassnat ;;
	nofp)
		if [ "$HAVE_FP" = 1 ]; then start_glassnat --no-fastpath; else start_glassnat; fi ;;
	kernel)
		timeout 10 ip netns exec "$NS_GW" nft -f - <<'EOF' || die "nft masquerade ($TOPO)"
table ip gnbench {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.17.240.0/24 oifname "out0" masquerade
	}
}
EOF
		;;
	esac
	measure
	if [ "$CASE" = kernel ]; then
		timeout 10 ip netns exec "$NS_GW" nft delete table ip gnbench || die "nft delete ($TOPO)"
	else
		stop_glassnat || die "glassnat uninstall ($TOPO) failed"
		rm -rf "$TMP/trace"
	fi
}

T_START=$SECONDS
for TOPO in $TOPOS; do
	TOPO_ID=$RUNID${TOPO:0:1}
	. tests/e2e/topology.sh
	case $TOPO in
	router) topo_up || die "topology $TOPO" ;;
	direct)
		. tests/bench/topology_direct.sh
		topo_direct_up || die "topology $TOPO" ;;
	*) die "TOPOS: unknown topology $TOPO (router, direct)" ;;
	esac
	for port in 5201 5202 5203 5204; do
		ip netns exec "$NS_SRV" timeout 3600 iperf3 -s -p $port --idle-timeout 120 >/dev/null 2>&1 &
	done
	ip netns exec "$NS_SRV" timeout 3600 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
	sleep 0.5
	n=${#CASES[@]}
	for round in $(seq 1 "$RUNS"); do
		for k in $(seq 0 $((n - 1))); do
			CASE=${CASES[$(((round - 1 + k) % n))]}
			run_case
		done
	done
	topo_down
done
T_TOTAL=$((SECONDS - T_START))

# ---- the report ----------------------------------------------------------------
med() { # med TOPO CASE METRIC: median over the rounds, empty when none
	awk -v t="$1" -v c="$2" -v m="$3" '$1 == t && $2 == c && $3 == m { print $4 }' "$RES" |
		sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'
}
last() { awk -v t="$1" -v c="$2" -v m="$3" '$1 == t && $2 == c && $3 == m { v = $4 } END { print v }' "$RES"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }' || echo n/a; }
fmt() { # fmt VALUE DECIMALS
	if [ -z "$1" ]; then echo "-"; else awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; fi
}
diff_us() { [ -n "$1" ] && [ -n "$2" ] && printf '%+d' $(($1 - $2)) || echo n/a; }
# met RATIO MIN: "yes" / "NO" (never an exit status)
met() {
	[ "$1" = n/a ] && { echo "n/a"; return; }
	awk -v r="$1" -v m="$2" 'BEGIN { print (r >= m) ? "yes" : "NO" }'
}
# row LABEL METRIC DECIMALS [TARGET_TEXT TARGET_MIN]: the three cases, the
# two ratios to the kernel, the target (fast path / kernel) and whether met.
row() {
	local label=$1 m=$2 d=$3 tt=${4:-} tm=${5:-} fp nofp k rf rn ok fpc
	nofp=$(med "$TOPO" nofp "$m")
	k=$(med "$TOPO" kernel "$m")
	if [ "$HAVE_FP" = 1 ]; then
		fp=$(med "$TOPO" fp "$m"); fpc=$(fmt "$fp" "$d"); rf=$(ratio "$fp" "$k")
	else
		fpc=n/a; rf=n/a
	fi
	rn=$(ratio "$nofp" "$k")
	if [ "$m" = p50 ] || [ "$m" = p99 ]; then # latency: what the gateway adds, in us
		rn=$(diff_us "$nofp" "$k")
		[ "$HAVE_FP" = 1 ] && rf=$(diff_us "$fp" "$k")
	fi
	ok=
	if [ -n "$tt" ]; then
		if [ "$HAVE_FP" = 1 ]; then
			ok=$(met "$rf" "$tm")
		elif [[ $tt == glassnat* ]]; then
			ok="$(met "$rn" "$tm") (without the fast path)"
		else
			ok=$NO_FP
		fi
	fi
	printf '%-26s %10s %10s %10s %7s %7s  %-18s %s\n' "$label" "$fpc" "$(fmt "$nofp" "$d")" \
		"$(fmt "$k" "$d")" "$rf" "$rn" "$tt" "$ok"
}

echo
echo "live benchmark: glassnat $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) CPUs," \
	"median of RUNS=$RUNS rounds (cases interleaved), TCP ${DUR} s, UDP/conn ${UDUR} s, total ${T_TOTAL} s"
[ "$HAVE_FP" = 1 ] || echo "fast path: $NO_FP"
HAVE_FP_BUILD=$HAVE_FP
for TOPO in $TOPOS; do
	echo
	HAVE_FP=$HAVE_FP_BUILD
	NO_FP="n/a (no fast path in this build)"
	if [ "$HAVE_FP" = 1 ] && awk -v t="$TOPO" '$1 == t && $2 == "fp" && $3 ~ /^fp_loaded_/ && $4 != "true" && $4 != 1 { bad = 1 }
		END { exit !bad }' "$RES"; then
		HAVE_FP=0
		NO_FP="n/a (fast path not loaded: see the log lines below)"
		echo "$TOPO: the fast path was not loaded in the fast-path case; its figures are not shown"
	fi
	case $TOPO in
	router) echo "topology router: in1 -> br0 gw out0 -> inet (router) -> srv" ;;
	direct) echo "topology direct: in1 -> br0 gw out0 -> srv (no router)" ;;
	esac
	printf '%-26s %10s %10s %10s %7s %7s  %-18s %s\n' "" "fast path" "no fp" kernel "fp/k" "nofp/k" target met
	if [ "$TOPO" = direct ]; then
		row "TCP -P 1 (Gbit/s)" tcp1 2 "fp >= 1.0x kernel" 1.0
	else
		row "TCP -P 1 (Gbit/s)" tcp1 2
	fi
	row "TCP -P 4 (Gbit/s)" tcp4 2
	if [ "$TOPO" = direct ]; then
		row "UDP 64 B out (pkt/s)" udp_out 0 "fp >= 0.9x kernel" 0.9
		row "UDP 64 B in (pkt/s)" udp_in 0 "fp >= 0.9x kernel" 0.9
	else
		row "UDP 64 B out (pkt/s)" udp_out 0
		row "UDP 64 B in (pkt/s)" udp_in 0
	fi
	row "new TCP connections/s" conn 0 "glassnat >= 0.9x k" 0.9
	row "ping p50 (us)" p50 0
	row "ping p99 (us)" p99 0
	row "4 flows: 3 untraced (Gbit/s)" flows_none 2
	# Within each glassnat case: -P 4 against -P 1, one flow traced
	# against none, everything traced.
	for CASE in "${CASES[@]}"; do
		[ "$CASE" = kernel ] && continue
		[ "$CASE" = fp ] && name="fast path" || name="no fast path"
		echo "  glassnat, $name:"
		a=$(med "$TOPO" "$CASE" flows_one); b=$(med "$TOPO" "$CASE" flows_none)
		r=$(ratio "$a" "$b")
		printf '    %-52s %s -> %s Gbit/s = %sx  (target >= 0.90x: %s)\n' \
			"3 untraced flows, one of 4 traced vs. none traced:" "$(fmt "$b" 2)" "$(fmt "$a" 2)" "$r" "$(met "$r" 0.9)"
		printf '    %-52s %s Gbit/s\n' "the traced flow (tcp port 5202):" "$(fmt "$(med "$TOPO" "$CASE" flow_traced)" 2)"
		a=$(med "$TOPO" "$CASE" tcp4); b=$(med "$TOPO" "$CASE" tcp1)
		r=$(ratio "$a" "$b")
		printf '    %-52s %s -> %s Gbit/s = %sx  (target >= 1.0x: %s)\n' \
			"TCP -P 4 vs -P 1:" "$(fmt "$b" 2)" "$(fmt "$a" 2)" "$r" "$(met "$r" 1.0)"
		printf '    %-52s %s%% -P 1, %s%% -P 4 (fast path loaded: %s)\n' "packets translated in the kernel (fast path):" \
			"$(med "$TOPO" "$CASE" fp_share_cpu1)" "$(med "$TOPO" "$CASE" fp_share_cpu4)" "$(last "$TOPO" "$CASE" fp_loaded_cpu1)"
		printf '    %-52s %s\n' "CPU per thread, -P 1 (last round):" "$(last "$TOPO" "$CASE" cpu1)"
		printf '    %-52s %s\n' "CPU per thread, -P 4 (last round):" "$(last "$TOPO" "$CASE" cpu4)"
		w=$(med "$TOPO" "$CASE" trace_written); l=$(med "$TOPO" "$CASE" trace_lost)
		printf '    %-52s %s Gbit/s, trace %s written, %s lost (%s%%); CPU %s\n' "TCP -P 1, every packet traced:" \
			"$(fmt "$(med "$TOPO" "$CASE" tcp_all_traced)" 2)" "$w" "$l" \
			"$(awk -v w="$w" -v l="$l" 'BEGIN { printf "%.2f", ((w + l) > 0 ? 100 * l / (w + l) : 0) }')" \
			"$(last "$TOPO" "$CASE" cpu_all_traced)"
		sed -n "s/^$TOPO $CASE /    log: /p" "$NOTES" | sed 's/^\(    log: \)\[[^]]*\] /\1/' | sort -u
	done
done
echo
echo "targets are for the record (issue 13), never asserted; ratios are fast path or no fast path over kernel"
echo "(ping rows: microseconds added to the kernel's)."
echo "the machine may be shared: cases run interleaved, RUNS=$RUNS rounds, medians; rerun on a quiet machine to quote."
