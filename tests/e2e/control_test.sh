#!/usr/bin/env bash
# Control socket end-to-end tests: the real glassnat as the gateway of the
# namespace topology (tests/e2e/topology.sh), driven by `glassnat forward /
# flows / stats / trace / reload` and raw requests on its control socket.
# Each check prints "ok - ..." or "not ok - ..."; the last line is
# "N passed, M failed, K skipped". Needs root; live traffic stays inside namespaces
# gn-<pid>-* (removed on exit, trap); the control socket and the state file
# live in a temporary directory, never in /run or /var/lib.
#
#   BUILD=build tests/e2e/control_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
GLASSNAT=$(pwd)/$BUILD/glassnat
PEER=tests/e2e/live_peer.py
NATDUMP=$(pwd)/$BUILD/natdump

. tests/e2e/live_lib.sh
live_preconditions control

. tests/e2e/topology.sh
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-ctl.XXXXXX")
# Traversable by others, so the socket's own mode is what refuses them.
chmod 0755 "$TMP"
SOCK=$TMP/ctl.sock
STATE=$TMP/state/forwards.json
CONF=$TMP/gw.yaml
EV=$TMP/events.json
GPID=
live_topology_up

ctl() { timeout 20 "$GLASSNAT" "$@" -s "$SOCK"; }

# The config: e2e.yaml's rules and forwards (web, dns), its own socket and
# state file, plus the forwards given (NAME PROTO EXT_PORT INT_IP INT_PORT).
write_config() { # write_config [NAME PROTO PORT IP PORT]...
	local extra=
	while [ $# -ge 5 ]; do
		extra+="  - { name: \"$1\", protocol: $2, external_port: $3, internal_ip: $4, internal_port: $5 }\n"
		shift 5
	done
	sed -e '/^logging:/,$d' -e "/^port_forward:/a\\
$extra" configs/e2e.yaml | sed '/^$/d' >"$CONF.new"
	cat >>"$CONF.new" <<EOF
logging:
  events: ""
control_socket: "$SOCK"
state_file: "$STATE"
EOF
	if [ -n "${TRACE_DIR:-}" ]; then
		printf 'trace:\n  enabled: false\n  dir: "%s"\n' "$TRACE_DIR" >>"$CONF.new"
	fi
	mv "$CONF.new" "$CONF"
}

start_glassnat() { # start_glassnat LOGFILE
	local log=$1
	ip netns exec "$NS_GW" timeout 300 "$GLASSNAT" run -c "$CONF" \
		--events "$EV" --log-format json >"$log" 2>&1 &
	GPID=$!
	for _ in $(seq 1 50); do
		[ -S "$SOCK" ] && grep -q 'Control socket' "$log" && return 0
		kill -0 "$GPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop_glassnat() {
	kill -TERM "$GPID" 2>/dev/null
	wait "$GPID"
	GRC=$?
	GPID=
}

# Raw request lines on the socket: prints each response line.
raw() { # raw MODE ... (see below)
	timeout 20 python3 - "$SOCK" "$@" <<'PY'
import socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
def line():
    b = b""
    while not b.endswith(b"\n"):
        c = s.recv(65536)
        if not c:
            break
        b += c
    return b.decode(errors="replace").strip()
if mode == "lines":            # each argument one request line
    for req in sys.argv[3:]:
        s.sendall(req.encode() + b"\n")
        print(line())
elif mode == "oversized":       # a 70000-byte line without a newline
    try:
        s.sendall(b"{" + b" " * 70000)
    except OSError:
        pass
    print(line())
    try:
        print("closed" if s.recv(10) == b"" else "open")
    except ConnectionResetError:
        print("closed")
elif mode == "stall":           # half a request, then silence
    s.sendall(b'{"action":"st')
    t = time.time()
    print(line(), "after=%.1f" % (time.time() - t))
elif mode == "hangup":          # half a request, then close
    s.sendall(b'{"action":"forw')
    s.close()
    print("sent")
PY
}

# Servers, bounded in time; stopped with the namespaces.
in_ns "$NS_SRV" timeout 300 python3 "$PEER" udp-serve 5353 >/dev/null 2>&1 &
in_ns "$NS_IN1" timeout 300 python3 "$PEER" tcp-serve 80 >/dev/null 2>&1 &
in_ns "$NS_IN2" timeout 300 python3 "$PEER" tcp-serve 81 >/dev/null 2>&1 &

# ---- 0. not running ------------------------------------------------------
out=$(ctl stats 2>&1)
rc=$?
check "no gateway: glassnat stats says it is not running, exit 1 ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'not running' <<<\"\$0\"" "$out"

# ---- 1. start --------------------------------------------------------------
write_config
LOG=$TMP/glassnat.log
if start_glassnat "$LOG"; then
	ok "glassnat run started with its control socket"
else
	notok "glassnat run started with its control socket"
	sed 's/^/# /' "$LOG"
	finish
fi
st=$(stat -c '%a %u %g %F' "$SOCK")
check "socket is mode 0660, owner root:root ($st)" test "$st" = "660 0 0 socket"

# ---- 2. a non-root user cannot use it ---------------------------------------
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$GLASSNAT" stats -s "$SOCK" 2>&1)
rc=$?
check "nobody: connecting fails with permission denied, exit 1 ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'permission denied' <<<\"\$0\"" "$out"
chmod 0666 "$SOCK"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$GLASSNAT" stats -s "$SOCK" --json 2>&1)
chmod 0660 "$SOCK"
check "nobody on a socket opened to all: the gateway refuses (SO_PEERCRED: $out)" \
	bash -c "grep -q '\"error\":\"permission_denied\"' <<<\"\$0\"" "$out"

# ---- 3. runtime forward: added, listed, reachable ----------------------------------
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 9090 --timeout 1)
# Not forwarded: a port outside port_range on nat_ip is the gateway host's
# own, and nothing listens there, so its kernel answers the SYN with a RST:
# "refused". "connected", "timeout", "error ..." or nothing (a crashed
# probe) all fail.
check "before the add, tcp/9090 on nat_ip is not forwarded: the gateway host refuses it ($r)" \
	test "$r" = refused
out=$(ctl forward add --name rt --proto tcp --port 9090 --to $IP_IN1:80)
check "forward add --name rt --proto tcp --port 9090 --to $IP_IN1:80 ($out)" \
	bash -c "grep -q 'Port forward added' <<<\"\$0\"" "$out"
out=$(ctl forward add udp/5301:$IP_IN2)
check "forward add udp/5301:$IP_IN2 (short form, named udp/5301) ($out)" \
	test "$out" = 'Port forward added: "udp/5301" udp/5301 -> 172.17.240.22:5301'
out=$(ctl forward add tcp/9091:$IP_IN1:80 --name web 2>&1)
rc=$?
check "a clash by name is refused, naming both ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'clashes with forward \"web\" tcp/8080' <<<\"\$0\"" "$out"
list=$(ctl forward list)
check "forward list shows config and runtime forwards" \
	bash -c "grep -Eq '^web +tcp +8080 +172.17.240.21:80 +config' <<<\"\$0\" &&
		grep -Eq '^rt +tcp +9090 +172.17.240.21:80 +runtime' <<<\"\$0\" &&
		grep -Eq '^udp/5301 +udp +5301' <<<\"\$0\"" "$list"
r=$(peer "$NS_SRV" tcp-send $IP_NAT 9090 200000)
check "the runtime forward tcp/9090 is reachable from outside ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
check "the state file holds the runtime forwards only" \
	bash -c "jq -e '.version==1 and ([.forwards[].name]|sort)==[\"rt\",\"udp/5301\"]' '$STATE' >/dev/null"
fl=$(ctl flows --port 9090 --json)
check "flows --port 9090 lists the forward flow, rule rt, $IP_SRV remote" \
	bash -c "jq -e '.flows|length==1 and .[0].kind==\"forward\" and .[0].rule==\"rt\" and (.[0].remote|startswith(\"$IP_SRV:\"))' <<<\"\$0\" >/dev/null" "$fl"

# ---- 4. stats and flows match the traffic sent ---------------------------------------
s0=$(ctl stats --json)
r=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 ctl-hello)
s1=$(ctl stats --json)
fl=$(ctl flows --host $IP_IN2 --proto udp --json)
check "one UDP request/response through the NAT ($r)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'*' data=ctl-hello' ]]" "$r"
d=$(jq -n --argjson a "$s0" --argjson b "$s1" '$b.stats.natted - $a.stats.natted')
check "stats: natted grew by exactly the 2 packets sent ($d)" test "$d" = 2
d=$(jq -n --argjson a "$s0" --argjson b "$s1" '$b.stats.flows_total - $a.stats.flows_total')
check "stats: flows_total grew by 1 ($d)" test "$d" = 1
check "flows: the UDP flow has 1 packet each way and 37 bytes out (20+8+9)" \
	bash -c "jq -e '.matched==1 and .flows[0].pkts_out==1 and .flows[0].pkts_in==1 and .flows[0].bytes_out==37 and .flows[0].rule==\"인터넷\"' <<<\"\$0\" >/dev/null" "$fl"
prom=$(ctl stats --prometheus)
check "stats --prometheus: HELP/TYPE lines and glassnat_packets_total{verdict=\"natted\"}" \
	bash -c "grep -q '^# TYPE glassnat_packets_total counter' <<<\"\$0\" &&
		grep -Eq '^glassnat_packets_total\{verdict=\"natted\"\} [1-9]' <<<\"\$0\" &&
		grep -Eq '^glassnat_drops_total\{reason=\"no_mapping\"\} [0-9]+' <<<\"\$0\" &&
		grep -Eq '^glassnat_flows_active [1-9]' <<<\"\$0\"" "$prom"

# ---- 5. removal: new connections fail ------------------------------------------------------
out=$(ctl forward remove 9090)
check "forward remove 9090 ($out)" bash -c "grep -q 'Port forward removed' <<<\"\$0\"" "$out"
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 9090 --timeout 1)
check "after the removal new connections to tcp/9090 are refused by the gateway host ($r)" test "$r" = refused
fl=$(ctl flows --port 9090 --json)
check "the removed forward's flows are closed" \
	bash -c "jq -e '[.flows[]|select(.kind==\"forward\")]|length==0' <<<\"\$0\" >/dev/null" "$fl"
out=$(ctl forward remove --name udp/5301)
check "forward remove --name udp/5301 ($out)" \
	test "$out" = 'Port forward removed: "udp/5301" udp/5301 -> 172.17.240.22:5301'
out=$(ctl forward remove 9090 2>&1)
rc=$?
check "removing it again: exit 1, no forward on port 9090 ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'no forward on' <<<\"\$0\"" "$out"

# ---- 6. reload ---------------------------------------------------------------------------------
r=$(peer "$NS_SRV" tcp-probe $IP_NAT 9191 --timeout 1)
check "before the reload tcp/9191 is not forwarded: the gateway host refuses it ($r)" test "$r" = refused
write_config reloaded tcp 9191 $IP_IN2 81
out=$(ctl reload)
check "glassnat reload accepts the new forward and says what changed ($out)" \
	bash -c "grep -q 'forward \"reloaded\" added' <<<\"\$0\"" "$out"
r=$(peer "$NS_SRV" tcp-send $IP_NAT 9191 100000)
check "the forward added by the reload is reachable ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
cp "$CONF" "$CONF.good"
printf 'rules:\n  - name: "broken\n' >>"$CONF"
# A transfer that runs across the broken reloads.
peer "$NS_SRV" tcp-send $IP_NAT 8080 30000000 >"$TMP/long" 2>&1 &
LPID=$!
sleep 0.2
out=$(ctl reload 2>&1)
rc=$?
check "a broken config is refused with FILE:LINE:COLUMN, exit 1 ($out)" \
	bash -c "[ $rc -eq 1 ] && grep -Eq '$CONF:[0-9]+:[0-9]+: ' <<<\"\$0\"" "$out"
kill -HUP "$(pgrep -P "$GPID" -x glassnat)"
for _ in $(seq 1 30); do grep -q 'SIGHUP: reload refused' "$LOG" && break; sleep 0.1; done
check "SIGHUP with the broken config: refused, logged" grep -q 'SIGHUP: reload refused' "$LOG"
wait $LPID
r=$(cat "$TMP/long")
check "traffic kept flowing through the refused reloads (30 MB via web: $r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
r=$(peer "$NS_SRV" tcp-send $IP_NAT 9191 1000)
check "the running config stayed: tcp/9191 still forwarded ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
cp "$CONF.good" "$CONF"
sed -i 's/^nat_ip: 203.0.113.1/nat_ip: 203.0.113.9/' "$CONF"
out=$(ctl reload 2>&1)
check "a reload that changes nat_ip is refused: needs a restart ($out)" \
	bash -c "grep -q 'nat_ip changed (203.0.113.1 -> 203.0.113.9): that needs a restart' <<<\"\$0\""  "$out"
cp "$CONF.good" "$CONF"

# ---- 7. bad requests: answered, counted, the engine unharmed ------------------------------------
out=$(raw lines 'not json' '{"action":"fly"}' '{"action":"forward_add","rule":{"protocol":"tcp","external_port":"80","internal_ip":"172.17.240.21"}}' '{"action":"forward_add","rule":{"protocol":"tcp","external_port":80,"internal_ip":"1.2.3"}}' '{"action":"flows","limit":0}' '{"action":"stats"}')
check "invalid JSON, unknown action, wrong type, bad IP, bad limit: each an error line; then stats works" \
	bash -c "[ \$(grep -c '\"success\":false' <<<\"\$0\") -eq 5 ] &&
		grep -q 'invalid_json' <<<\"\$0\" && grep -q 'unknown_action' <<<\"\$0\" &&
		grep -q 'rule.external_port: expected an integer' <<<\"\$0\" &&
		grep -q 'is not an IPv4 address' <<<\"\$0\" &&
		tail -n 1 <<<\"\$0\" | grep -q '\"success\":true'" "$out"
out=$(raw oversized)
check "an oversized line gets an error and the connection is closed ($out)" \
	bash -c "grep -q '\"error\":\"oversized\"' <<<\"\$0\" && grep -q closed <<<\"\$0\"" "$out"
out=$(raw stall)
check "a client that stalls mid-request gets a timeout error after ~5 s ($out)" \
	bash -c "grep -Eq '\"error\":\"timeout\".* after=(4\.[5-9]|5\.[0-9]|6\.0)\$' <<<\"\$0\"" "$out"
raw hangup >/dev/null
sleep 0.2
errs=$(ctl stats --json | jq -c '.stats.control.errors')
check "the errors are counted by kind ($errs)" \
	bash -c "jq -e '.invalid_json>=1 and .unknown_action>=1 and .bad_request>=3 and .oversized>=1 and .timeout>=1 and .disconnected>=1 and .permission_denied>=1' <<<\"\$0\" >/dev/null" "$errs"
r=$(peer "$NS_SRV" tcp-send $IP_NAT 8080 10000)
check "after the bad requests the gateway still forwards ($r)" \
	bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"

# ---- 8. trace on / off over the socket --------------------------------------------------------------
out=$(ctl trace on 'udp port 5353' 2>&1)
check "trace on without a trace directory is refused clearly ($out)" \
	bash -c "grep -q 'no trace directory' <<<\"\$0\"" "$out"
# A reload that adds trace.dir says so (not "no changes"), and trace on
# then uses it.
TRACE_DIR=$TMP/trace-reload write_config reloaded tcp 9191 $IP_IN2 81
out=$(ctl reload 2>&1)
check "a reload that adds trace.dir says what changed ($out)" \
	bash -c "grep -qF 'trace.dir (none) -> $TMP/trace-reload' <<<\"\$0\" && ! grep -q 'no changes' <<<\"\$0\"" "$out"
out=$(ctl trace on 'udp port 5353' 2>&1)
check "trace on after that reload ($out)" test "$out" = "Tracing on, filter: udp port 5353"
out=$(ctl trace off 2>&1)
check "trace off ($out)" test "$out" = "Tracing off"
check "the ring is in the reloaded trace.dir" \
	bash -c "ls '$TMP/trace-reload'/glassnat-*.pcapng.zst >/dev/null"
# ---- 9. events -------------------------------------------------------------------------------------
ctl forward add tcp/9292:$IP_IN1:80 --name keep >/dev/null
check "events: forward.add for rt (origin runtime) and reloaded (config)" \
	bash -c "jq -se 'any(.[]; .ev==\"forward.add\" and .name==\"rt\" and .origin==\"runtime\" and .external_port==9090) and any(.[]; .ev==\"forward.add\" and .name==\"reloaded\" and .origin==\"config\")' '$EV' >/dev/null"
check "events: forward.remove for rt with its closed flows" \
	bash -c "jq -se 'any(.[]; .ev==\"forward.remove\" and .name==\"rt\" and .closed>=1)' '$EV' >/dev/null"
check "events: config.load with the changes of the reload" \
	bash -c "jq -se 'any(.[]; .ev==\"config.load\" and (.changes // \"\" | contains(\"reloaded\")))' '$EV' >/dev/null"

# ---- 10. persistence across a restart ---------------------------------------------------------------
# The restart also gets a trace directory (trace.dir, not enabled) for 10b.
TRACE_DIR=$TMP/trace
write_config reloaded tcp 9191 $IP_IN2 81
stop_glassnat
check "SIGTERM: exit 0, socket removed, no rule queues (the path left closed) ($GRC)" \
	bash -c "[ '$GRC' -eq 0 ] && [ ! -e '$SOCK' ] && [ \$(ip netns exec '$NS_GW' iptables-save | grep GLASSNAT | grep -c NFQUEUE) -eq 0 ]"
LOG2=$TMP/glassnat2.log
start_glassnat "$LOG2"
list=$(ctl forward list)
check "after a restart the runtime forward keep tcp/9292 is restored from the state file" \
	bash -c "grep -Eq '^keep +tcp +9292 +172.17.240.21:80 +runtime' <<<\"\$0\" && grep -q 'Restored 1 runtime' '$LOG2'" "$list"
r=$(peer "$NS_SRV" tcp-send $IP_NAT 9292 10000)
check "the restored forward is reachable ($r)" bash -c "[[ \$0 == 'ok peer=$IP_SRV:'* ]]" "$r"
# trace on / off with a trace directory (the config of this restart): a
# UDP flow while tracing with a filter that selects it, a TCP flow it does
# not select, then trace off and one more UDP flow. The ring must hold
# exactly the first UDP flow, one packet each way.
out=$(ctl trace on 'udp port 5353' 2>&1)
check "trace on 'udp port 5353' ($out)" test "$out" = "Tracing on, filter: udp port 5353"
r1=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 traced-1)
r2=$(peer "$NS_SRV" tcp-send $IP_NAT 8080 1000)
out=$(ctl trace off 2>&1)
check "trace off ($out)" test "$out" = "Tracing off"
r3=$(peer "$NS_IN2" udp-ask $IP_SRV 5353 untraced-2)
check "traffic while tracing and after: answered ($r1; $r2; $r3)" \
	bash -c "[[ \$0 == 'peer=$IP_NAT:'*' data=traced-1' && \$1 == 'ok peer=$IP_SRV:'* && \$2 == 'peer=$IP_NAT:'*' data=untraced-2' ]]" "$r1" "$r2" "$r3"
sleep 1.5 # the ring writer flushes at least every second
"$NATDUMP" flows "$TRACE_DIR" >"$TMP/trflows" 2>"$TMP/trflows.err"
check "the ring holds one flow: the UDP one traced before trace off ($(tr '\n' ';' <"$TMP/trflows"))" \
	bash -c "[ \$(wc -l <'$TMP/trflows') -eq 1 ] && grep -Eq '^[0-9]+ udp $IP_IN2:[0-9]+ ↔ $IP_NAT:[0-9]+ ↔ $IP_SRV:5353 .* out=1/[0-9]+B in=1/' '$TMP/trflows'"
stop_glassnat
# A config forward on the same port: start refuses, naming both.
write_config reloaded tcp 9191 $IP_IN2 81 clash tcp 9292 $IP_IN2 81
LOG3=$TMP/glassnat3.log
ip netns exec "$NS_GW" timeout 20 "$GLASSNAT" run -c "$CONF" >"$LOG3" 2>&1
rc=$?
check "a state forward clashing with a config forward: start refuses (exit $rc), naming both" \
	bash -c "[ $rc -eq 2 ] && grep -q 'forward \"keep\" tcp/9292 (added at run time) clashes with forward \"clash\" tcp/9292 ($CONF:' '$LOG3'"
check "the refused start left no queueing rule and no socket" \
	bash -c "[ \$(ip netns exec '$NS_GW' iptables-save | grep GLASSNAT | grep -c NFQUEUE) -eq 0 ] && [ ! -e '$SOCK' ]"

# ---- 11. nothing left ---------------------------------------------------------------------------------
live_finish_topology
