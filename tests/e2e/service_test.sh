#!/usr/bin/env bash
# glassnat as a service: the one log line form and systemd's notify
# protocol, on the real gateway in the namespace topology
# (tests/e2e/topology.sh).
#
#  1. A full live run with `--events -` (text) and -v, with start-up
#     warnings provoked in the gateway namespace (ip_forward 0, a stale
#     GLASSNAT chain), traffic, and Ctrl+C (SIGINT): every line on stderr
#     and stdout matches LINE_RE, and one "Final statistics" block shows.
#  2. NOTIFY_SOCKET at a datagram socket this test listens on
#     (tests/e2e/notify_listen.py; an abstract '@' name in run 1, a path in
#     run 2): READY=1, WATCHDOG=1 pings at half WATCHDOG_USEC, RELOADING=1
#     and READY=1 on SIGHUP, STOPPING=1 on SIGTERM; the start-up warnings
#     are `log` events in the JSON events file.
#  3. The same through systemd: `systemd-run` (a transient Type=notify
#     service with a watchdog) and systemctl, under the system manager
#     where systemd is PID 1, else under a private `systemd --user` manager
#     started by the test in a private mount namespace.
#
# Needs root; traffic stays in namespaces gn-<pid>-* (removed on exit,
# trap); the control socket lives in a temporary directory.
#
#   BUILD=build tests/e2e/service_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$(pwd)/$BUILD/glassnat
PEER=tests/e2e/live_peer.py
LISTEN=$(pwd)/tests/e2e/notify_listen.py

. tests/e2e/live_lib.sh
live_preconditions service

# The one form of a line for people (logging/log_line.h).
LINE_RE='^\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\] \[(DEBUG|INFO|WARN|ERROR)\] \[[A-Z][A-Z0-9_]*\] .+$'

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-svc.XXXXXX")
chmod 0755 "$TMP"
CONF=$TMP/gw.yaml
GPID=
LPID=
topo_before_down() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
		kill -TERM "$GPID" 2>/dev/null
		wait "$GPID" 2>/dev/null
	fi
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
live_topology_up

sed '/^logging:/,$d' configs/e2e.yaml >"$CONF"
printf 'logging:\n  events: ""\ncontrol_socket: "%s"\nstate_file: "%s"\n' \
	"$TMP/ctl.sock" "$TMP/forwards.json" >>"$CONF"

# bad_lines FILE...: the lines that do not match LINE_RE (none: empty).
bad_lines() { cat "$@" | grep -Ev "$LINE_RE"; }

# listen NOTIFY_PATH OUT: the notify listener in the gateway namespace
# (an abstract socket belongs to a network namespace), up before return.
listen() {
	ip netns exec "$NS_GW" timeout 120 python3 "$LISTEN" "$1" "$2" 100 &
	LPID=$!
	for _ in $(seq 1 50); do
		grep -q listening "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
unlisten() {
	kill "$LPID" 2>/dev/null
	wait "$LPID" 2>/dev/null
	LPID=
}

# start OUT ERR ENV... -- ARGS...: glassnat run in the gateway namespace;
# waits for "[ENGINE] Started".
start() {
	local out=$1 err=$2 envs=()
	shift 2
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	# Not through a shell function: $! must be timeout(1) (ip and env
	# exec it), which passes our signals on to glassnat.
	ip netns exec "$NS_GW" env "${envs[@]}" timeout 120 "$GLASSNAT" run \
		-c "$CONF" "$@" >"$out" 2>"$err" &
	GPID=$!
	for _ in $(seq 1 100); do
		grep -q '\[ENGINE\] Started' "$err" && return 0
		kill -0 "$GPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop() { # stop SIGNAL -> GRC
	kill -"$1" "$GPID" 2>/dev/null
	wait "$GPID"
	GRC=$?
	GPID=
}
# in_order FILE PATTERN...: each pattern matches a line after the previous
# one's.
in_order() {
	local f=$1 from=1 n
	shift
	for p in "$@"; do
		n=$(tail -n +"$from" "$f" | grep -n -m1 -- "$p" | cut -d: -f1)
		[ -n "$n" ] || return 1
		from=$((from + n))
	done
}

in_ns "$NS_SRV" timeout 120 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
in_ns "$NS_SRV" timeout 120 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &

# ---- 1. a full run: Ctrl+C, --events -, -v, start-up warnings ----------------
in_ns "$NS_GW" sysctl -qw net.ipv4.ip_forward=0
# A crashed run's chain (it still queues): the next start replaces it and
# warns.
in_ns "$NS_GW" iptables -t mangle -N GLASSNAT-OUT
in_ns "$NS_GW" iptables -t mangle -A GLASSNAT-OUT -s 172.17.240.0/24 -j NFQUEUE --queue-num 0
N1=$TMP/notify1
OUT1=$TMP/out1
ERR1=$TMP/err1
if ! listen "@glassnat-test-$$" "$N1"; then
	notok "notify listener (abstract socket) up"
	finish
fi
if start "$OUT1" "$ERR1" NOTIFY_SOCKET="@glassnat-test-$$" WATCHDOG_USEC=400000 \
	-- --events - -v; then
	ok "run 1 started (--events - -v, NOTIFY_SOCKET=@glassnat-test-$$)"
else
	notok "run 1 started"
	sed 's/^/# /' "$ERR1"
	finish
fi
in_ns "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
r1=$(peer "$NS_IN1" tcp-send $IP_SRV 5001 20000)
r2=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 hello)
r3=$(peer "$NS_SRV" tcp-probe $IP_NAT 45000 --timeout 1)
check "traffic through the run ($r1; $r2; $r3)" \
	bash -c "[[ '$r1' == ok* && '$r2' == *data=hello && '$r3' == timeout ]]"
sleep 1
stop INT
check "SIGINT: exit 0 ($GRC)" test "$GRC" -eq 0
unlisten

n_err=$(wc -l <"$ERR1")
n_out=$(wc -l <"$OUT1")
bad=$(bad_lines "$ERR1")
check "every one of the $n_err stderr lines has the one form${bad:+: $(head -n 3 <<<"$bad")}" \
	test -z "$bad" -a "$n_err" -ge 20
bad=$(bad_lines "$OUT1")
check "every one of the $n_out text event lines (stdout) has the one form${bad:+: $(head -n 3 <<<"$bad")}" \
	test -z "$bad" -a "$n_out" -ge 3
check "start-up warning (ip_forward 0) as a WARN line" \
	grep -Eq '\[WARN\] \[QUEUE\] net\.ipv4\.ip_forward is 0' "$ERR1"
check "start-up warning (stale chain) as a WARN line" \
	grep -Eq '\[WARN\] \[QUEUE\] replaced the GLASSNAT chains an earlier run left when it did not stop cleanly' "$ERR1"
check "host settings lines carry the HOST component" \
	grep -Eq '\[(INFO|WARN)\] \[HOST\] ' "$ERR1"
check "-v: the rules dump is lines of the same form" \
	grep -Eq '\] \[QUEUE\] -A GLASSNAT-' "$ERR1"
check "flow events on stdout in the same form" \
	grep -Eq '\[INFO\] \[NAT\] New TCP ' "$OUT1"
nfs=$(cat "$ERR1" "$OUT1" | grep -c 'Final statistics')
check "--events -: one Final statistics block on the terminal, not two ($nfs)" \
	test "$nfs" -eq 1
check "the block is on stderr and counts the run (Packets NATted > 0)" \
	grep -Eq '\[INFO\] \[MAIN\]   Packets NATted: [1-9]' "$ERR1"
check "the signal named in the shutdown line" \
	grep -Eq '\[INFO\] \[MAIN\] Received signal interrupt' "$ERR1"
check "run 1 notify: READY=1 with STATUS=" grep -Eq 'READY=1 STATUS=Translating' "$N1"
wd=$(grep -c 'WATCHDOG=1' "$N1")
# A 400 ms watchdog: a ping every 200 ms; the run lasted well over 2 s.
check "run 1 notify: WATCHDOG=1 pings at half WATCHDOG_USEC ($wd)" test "$wd" -ge 5
check "run 1 notify: READY=1, then WATCHDOG=1, then STOPPING=1 as the last" \
	bash -c "$(declare -f in_order); in_order '$N1' READY=1 WATCHDOG=1 STOPPING=1 &&
		tail -n 1 '$N1' | grep -q STOPPING=1"

# ---- 2. SIGHUP and SIGTERM, events to a file, notify at a path --------------
in_ns "$NS_GW" sysctl -qw net.ipv4.ip_forward=0
N2=$TMP/notify2
OUT2=$TMP/out2
ERR2=$TMP/err2
EV2=$TMP/events.json
if ! listen "$TMP/notify.sock" "$N2"; then
	notok "notify listener (path) up"
	finish
fi
if start "$OUT2" "$ERR2" NOTIFY_SOCKET="$TMP/notify.sock" -- --events "$EV2"; then
	ok "run 2 started (--events FILE, NOTIFY_SOCKET=PATH, no watchdog)"
else
	notok "run 2 started"
	sed 's/^/# /' "$ERR2"
	finish
fi
in_ns "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
kill -HUP "$(pgrep -P "$GPID" -x glassnat)"
for _ in $(seq 1 50); do
	grep -q 'SIGHUP: config reloaded' "$ERR2" && break
	sleep 0.1
done
sleep 0.3
stop TERM
check "SIGTERM: exit 0 ($GRC)" test "$GRC" -eq 0
unlisten
bad=$(bad_lines "$ERR2")
check "run 2: every stderr line has the one form${bad:+: $(head -n 3 <<<"$bad")}" \
	test -z "$bad" -a "$(wc -l <"$ERR2")" -ge 10
check "run 2: nothing on stdout (events go to the file)" test ! -s "$OUT2"
check "run 2 notify: READY=1, SIGHUP's RELOADING=1 and READY=1, STOPPING=1 as the last" \
	bash -c "$(declare -f in_order); in_order '$N2' READY=1 RELOADING=1 READY=1 STOPPING=1 &&
		tail -n 1 '$N2' | grep -q STOPPING=1"
check "run 2 notify: no WATCHDOG=1 without WATCHDOG_USEC" \
	test "$(grep -c WATCHDOG=1 "$N2")" -eq 0
check "the start-up warning is a log event (level warn, component QUEUE)" \
	bash -c "jq -se 'any(.[]; .ev==\"log\" and .level==\"warn\" and .component==\"QUEUE\" and (.msg|test(\"ip_forward is 0\")))' '$EV2' >/dev/null"
check "the events file keeps its one stats record" \
	test "$(jq -c 'select(.ev=="stats")' "$EV2" | wc -l)" -eq 1

# ---- 3. through systemd ---------------------------------------------------------
# Where systemd is PID 1, its system manager runs a transient Type=notify
# unit. Where it is not (a container, this CI machine), the same systemd
# binary runs as a private service manager: `systemd --user`, as root, in a
# private mount namespace where /run/systemd/system exists on a tmpfs (the
# test systemd makes before it agrees to manage services), with its runtime
# directory in $TMP. The checks are the same either way.
sd_checks() { # sd_checks SYSTEMCTL... (systemctl or systemctl --user)
	local unit=glassnat-test-$$ st txt
	st=$("$@" show -p ActiveState --value "$unit")
	echo "$st" >"$TMP/sd.start"
	sleep 3
	"$@" show -p ActiveState --value "$unit" >"$TMP/sd.later"
	"$@" show -p StatusText --value "$unit" >"$TMP/sd.status"
	"$@" show -p MainPID --value "$unit" >"$TMP/sd.pid"
	"$@" stop "$unit"
	"$@" show -p ActiveState --value "$unit" >"$TMP/sd.stopped"
	"$@" reset-failed "$unit" 2>/dev/null
	return 0
}
sd_run() { # sd_run SYSTEMD-RUN-ARGS...: the transient notify unit
	systemd-run "$@" --unit="glassnat-test-$$" -p Type=notify -p WatchdogSec=2 \
		-p NotifyAccess=main ip netns exec "$NS_GW" "$GLASSNAT" run -c "$CONF" \
		>"$TMP/sd.run" 2>&1
}
pid1=$(ps -p 1 -o comm= 2>/dev/null)
if [ "$pid1" = systemd ] && [ -d /run/systemd/system ]; then
	how="the system manager (PID 1)"
	sd_run && sd_checks systemctl
	sd_rc=$?
else
	how="a private systemd --user manager (PID 1 is '${pid1:-?}')"
	mkdir -m 0700 "$TMP/xdg"
	# A script of its own: the mount namespace ends with it, and with it
	# the manager (killed, then waited for, whatever happens).
	cat >"$TMP/sd.sh" <<EOSD
set -u
mount -t tmpfs glassnat-test /run/systemd 2>/dev/null || { mkdir -p /run/systemd && mount -t tmpfs glassnat-test /run/systemd; } || exit 3
mkdir /run/systemd/system || exit 3
export XDG_RUNTIME_DIR=$TMP/xdg
/lib/systemd/systemd --user >$TMP/sd.manager 2>&1 &
mgr=\$!
trap 'kill \$mgr 2>/dev/null; wait \$mgr 2>/dev/null' EXIT
for _ in \$(seq 1 100); do [ -S $TMP/xdg/systemd/private ] && break; sleep 0.1; done
[ -S $TMP/xdg/systemd/private ] || exit 4
$(declare -f sd_run sd_checks)
NS_GW=$NS_GW GLASSNAT=$GLASSNAT CONF=$CONF TMP=$TMP
sd_run --user && sd_checks systemctl --user
EOSD
	timeout 60 unshare -m --propagation private bash "$TMP/sd.sh"
	sd_rc=$?
fi
check "systemd ($how): systemd-run started the Type=notify unit (rc $sd_rc: $(tr '\n' ' ' <"$TMP/sd.run" 2>/dev/null))" \
	test "$sd_rc" -eq 0
check "systemd: the notify service is active after start ($(cat "$TMP/sd.start" 2>/dev/null))" \
	test "$(cat "$TMP/sd.start" 2>/dev/null)" = active
check "systemd: still active after 3 s, the 2 s watchdog fed ($(cat "$TMP/sd.later" 2>/dev/null))" \
	test "$(cat "$TMP/sd.later" 2>/dev/null)" = active
check "systemd: StatusText from STATUS= ($(cat "$TMP/sd.status" 2>/dev/null))" \
	grep -q Translating "$TMP/sd.status"
check "systemd: the unit's main process was glassnat ($(cat "$TMP/sd.pid" 2>/dev/null))" \
	test "$(cat "$TMP/sd.pid" 2>/dev/null || echo 0)" -gt 0
check "systemd stop: inactive ($(cat "$TMP/sd.stopped" 2>/dev/null))" \
	test "$(cat "$TMP/sd.stopped" 2>/dev/null)" = inactive
check "systemd stop: no glassnat left running in the gateway namespace" \
	bash -c "! ip netns pids '$NS_GW' 2>/dev/null | xargs -r ps -o comm= -p 2>/dev/null | grep -q glassnat"

finish
