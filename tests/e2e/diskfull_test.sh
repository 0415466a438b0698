#!/usr/bin/env bash
# Data loss is never silent (issue 19): `glassnat replay --trace --events`
# into a small tmpfs that fills up. The replay must exit 1 with the loss
# in its last line, say the first failure at once, keep every file that
# holds data (none left empty), and the ring must record the losses so
# that `natdump stats` shows them, exactly.
#
# The tmpfs is mounted only inside a private mount namespace (the script
# re-runs itself under `unshare -m`); nothing outside it changes.
#
# Output: one "ok - ..." / "not ok - ..." line per check, then
# "N passed, M failed, K skipped". Exit status 1 when anything failed.
#
#   BUILD=build tests/e2e/diskfull_test.sh      (root)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
NATDUMP=$BUILD/natdump

. tests/e2e/lib.sh

if [ "$(id -u)" -ne 0 ]; then
	not_ok "diskfull_test.sh runs as root (it mounts a tmpfs in its own mount namespace)"
	finish
fi
for tool in python3 unshare mount; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "$tool is installed (make deps)"
		finish
	fi
done
if [ ! -x "$GLASSNAT" ] || [ ! -x "$NATDUMP" ]; then
	not_ok "$GLASSNAT and $NATDUMP exist (run make first)"
	finish
fi
if [ -z "${GLASSNAT_DISKFULL_NS:-}" ]; then
	GLASSNAT_DISKFULL_NS=1 exec unshare -m --propagation private \
		bash "$0" "$@"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-diskfull.XXXXXX")
FULL=$TMP/full
cleanup() {
	umount "$FULL" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
mkdir "$FULL"
# 3 MiB: the ring's 64 KiB reserve and the start of the trace fit, the
# ~16 MB the capture makes do not.
if ! mount -t tmpfs -o size=3m,mode=0755 glassnat-diskfull "$FULL"; then
	not_ok "mount a 3 MiB tmpfs inside unshare -m"
	finish
fi

cat >"$TMP/nat.yaml" <<'EOF'
nat_ip: 203.0.113.1
internal_network: 172.17.240.0/24
rules:
  - name: out
    destination: 0.0.0.0/0
    action: nat
EOF
tests/e2e/gencap.py --scenario diskfull --out "$TMP/in.pcapng" >"$TMP/gencap.out" 2>&1 ||
	{ not_ok "gencap.py writes the capture" "$(cat "$TMP/gencap.out")"; finish; }

timeout 120 "$GLASSNAT" replay -c "$TMP/nat.yaml" "$TMP/in.pcapng" \
	-o "$TMP/out.pcapng" --trace "$FULL/ring" --events "$FULL/events.json" \
	>"$TMP/summary" 2>"$TMP/stderr"
rc=$?
echo "# summary:"
sed 's/^/#   /' "$TMP/summary" "$TMP/stderr"
check_rc "replay on a full disk exits 1 (data lost)" 1 $rc

last=$(tail -n 1 "$TMP/stderr")
re='^glassnat replay: data lost: ([0-9]+) trace packets \(([0-9]+) write errors, ([0-9]+) queue full\), ([0-9]+) events \(([0-9]+) write errors\)$'
if [[ $last =~ $re ]]; then
	ok "its last line says what was lost: $last"
	lost=${BASH_REMATCH[1]} tfailed=${BASH_REMATCH[2]}
	qfull=${BASH_REMATCH[3]}
	ev_lost=${BASH_REMATCH[4]} ev_failed=${BASH_REMATCH[5]}
else
	not_ok "its last line says what was lost" "got: $last"
	lost=0 tfailed=0 qfull=x ev_lost=0 ev_failed=0
fi
check "trace packets lost = write errors (offline nothing is lost to a full queue)" \
	"$tfailed 0" "$lost $qfull"
if [ "$tfailed" -gt 1000 ]; then ok "thousands of trace packets lost ($tfailed)"; else
	not_ok "thousands of trace packets lost" "got $tfailed"; fi
check "no event lost (the ring's cut gave their room back)" "0 0" "$ev_lost $ev_failed"
first_err=$(grep -n -m1 '^glassnat replay: error: trace: .*No space left on device' "$TMP/stderr" | cut -d: -f1)
if [ -n "$first_err" ]; then
	ok "the first trace write failure is said as an error (stderr line $first_err)"
else
	not_ok "the first trace write failure is said as an error" "$(head -n 3 "$TMP/stderr")"
fi
n_err=$(grep -c '^glassnat replay: error: trace:' "$TMP/stderr")
if [ "$n_err" -ge 1 ] && [ "$n_err" -le 130 ]; then
	ok "trace errors said at most once a second ($n_err lines)"
else
	not_ok "trace errors said at most once a second" "$n_err lines"
fi
written=$(awk '$1 == "trace" { print $2 }' "$TMP/summary")
check "the output capture is whole (on another disk): 8000 packets" \
	"8000" "$(awk '$1 == "packets" && $2 == "written" { print $3 }' "$TMP/summary")"

# The ring: files with data only, and the losses recorded.
ls -la "$FULL/ring" | sed 's/^/#   /'
empty=$(find "$FULL/ring" -type f -size 0 | wc -l)
check "no empty file left in the ring" 0 "$empty"
files=$(find "$FULL/ring" -name 'glassnat-*.pcapng.zst' | wc -l)
if [ "$files" -ge 1 ]; then ok "the ring holds $files file(s)"; else
	not_ok "the ring holds a file"; fi
check "the reserve is gone after close" "" "$(find "$FULL/ring" -name '.glassnat-reserve*')"
timeout 60 "$NATDUMP" stats "$FULL/ring" >"$TMP/stats" 2>"$TMP/stats.err"
nrc=$?
sed 's/^/#   /' "$TMP/stats" "$TMP/stats.err"
# The file the disk filled is cut back to its last flush: it decodes whole
# to there, its zstd frame unended, which natdump reports (exit 1).
check_rc "natdump stats reads the ring, exit 1 for the file cut short" 1 $nrc
# (One file, or more when the writer's retry, once a second, found room
# the cut gave back and filled it again under a slow run.)
cut=$(grep -c 'the file was cut short' "$TMP/stats.err")
if [ "$cut" -ge 1 ] && [ "$cut" -eq "$(wc -l <"$TMP/stats.err")" ]; then
	ok "natdump's only complaints: $cut file(s) cut short at a flush"
else
	not_ok "natdump's only complaints: files cut short at a flush" "$(cat "$TMP/stats.err")"
fi
check "natdump stats: trace losses = the packets the replay lost" \
	"$lost" "$(awk '$1 == "trace" && $2 == "losses" { print $3 }' "$TMP/stats")"
check "natdump stats: packets = the packets the replay wrote" \
	"$written" "$(awk '$1 == "packets" { print $2; exit }' "$TMP/stats")"

# Events on a disk already full (a filler takes the room): every event
# is lost to write errors, said at once, and the replay fails the same way.
umount "$FULL" && mount -t tmpfs -o size=1m,mode=0755 glassnat-diskfull "$FULL"
dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null
tests/e2e/gencap.py --scenario filtering --out "$TMP/small.pcapng" >/dev/null 2>&1
timeout 60 "$GLASSNAT" replay -c "$TMP/nat.yaml" "$TMP/small.pcapng" \
	-o "$TMP/out2.pcapng" --events "$FULL/events.json" \
	>"$TMP/summary2" 2>"$TMP/stderr2"
rc=$?
sed 's/^/#   /' "$TMP/stderr2"
check_rc "replay with its events on a full disk exits 1" 1 $rc
last=$(tail -n 1 "$TMP/stderr2")
if [[ $last =~ $re ]] && [ "${BASH_REMATCH[1]}" -eq 0 ] &&
	[ "${BASH_REMATCH[4]}" -gt 0 ] && [ "${BASH_REMATCH[4]}" -eq "${BASH_REMATCH[5]}" ]; then
	ok "its last line counts the events lost to write errors: $last"
else
	not_ok "its last line counts the events lost to write errors" "got: $last"
fi
if grep -q '^glassnat replay: error: events: write .*No space left on device' "$TMP/stderr2"; then
	ok "the first events write failure is said as an error"
else
	not_ok "the first events write failure is said as an error"
fi

# ---- live: the gateway on a full trace disk ------------------------------
# glassnat run traces to a 1 MiB tmpfs while 4 MB of TCP go through: the
# first failure is logged as an ERROR while it runs, forwarding goes on
# byte for byte, and the ring records the losses.
. tests/e2e/topology.sh
PEER=tests/e2e/live_peer.py
GPID=
topo_before_down() {
	if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
		kill -TERM "$GPID" 2>/dev/null
		wait "$GPID" 2>/dev/null
	fi
	cleanup
}
if ! topo_up; then
	not_ok "live: topology created"
	finish
fi
umount "$FULL" && mount -t tmpfs -o size=1m,mode=0755 glassnat-diskfull "$FULL"
CONF=$TMP/gw.yaml
cp configs/e2e.yaml "$CONF"
printf 'control_socket: "%s"\nstate_file: "%s"\n' "$TMP/ctl.sock" "$TMP/state.json" >>"$CONF"
ip netns exec "$NS_SRV" timeout 120 python3 "$PEER" tcp-serve 5001 >/dev/null 2>&1 &
ip netns exec "$NS_GW" timeout 120 "$GLASSNAT" run -c "$CONF" --trace "$FULL/live" >"$TMP/live.log" 2>&1 &
GPID=$!
for _ in $(seq 1 100); do
	grep -q 'ENGINE\] Started' "$TMP/live.log" && break
	kill -0 "$GPID" 2>/dev/null || break
	sleep 0.1
done
r=$(ip netns exec "$NS_IN1" timeout 60 python3 "$PEER" tcp-send $IP_SRV 5001 4000000)
if [[ $r == "ok peer=$IP_NAT:"* ]]; then ok "live: forwarding goes on: 4 MB byte for byte ($r)"; else
	not_ok "live: forwarding goes on: 4 MB byte for byte" "$r"; fi
sleep 1.5 # the writer flushes at least once a second
running=$(grep -c '\[ERROR\] \[TRACE\] .*No space left on device; forwarding goes on' "$TMP/live.log")
if kill -0 "$GPID" 2>/dev/null && [ "$running" -ge 1 ] && [ "$running" -le 10 ]; then
	ok "live: the trace write failure is logged as an ERROR while the gateway runs ($running lines)"
else
	not_ok "live: the trace write failure is logged as an ERROR while the gateway runs" "$(cat "$TMP/live.log")"
fi
kill -TERM "$GPID" 2>/dev/null
wait "$GPID"
grc=$?
GPID=
check_rc "live: glassnat stops cleanly" 0 $grc
timeout 60 "$NATDUMP" stats "$FULL/live" >"$TMP/lstats" 2>/dev/null
llost=$(awk '$1 == "trace" && $2 == "losses" { print $3 }' "$TMP/lstats")
if [ "${llost:-0}" -gt 100 ]; then ok "live: natdump stats shows the losses ($llost)"; else
	not_ok "live: natdump stats shows the losses" "$(cat "$TMP/lstats")"; fi
check "live: no empty file left in the ring" 0 "$(find "$FULL/live" -type f -size 0 | wc -l)"
grep 'Trace:' "$TMP/live.log" | sed 's/^/#   /'

finish
