#!/usr/bin/env bash
# `make windows-test`: glassnat.exe as a Windows service under wine's
# service control manager. `glassnat.exe service install` registers it,
# `service start` has the SCM start `glassnat.exe service run` and waits
# until it reports SERVICE_RUNNING (from the run's READY point: the
# backend open, the control pipe listening); `glassnat.exe stats` gets its
# counters over that pipe; `service stop` sends SERVICE_CONTROL_STOP and
# the run stops cleanly, its final statistics in glassnat.log beside the
# config, every line in the one log form; `service remove` unregisters it.
#
# wine cannot load WinDivert's kernel driver: the service runs beside
# tests/windows/fake_windivert.c's WinDivert.dll (the same nine functions,
# a handle that never delivers a packet). Everything above the driver is
# the real program.
#
# Output: "ok - ..." / "not ok - ..." lines, then "N passed, M failed, K skipped".
#
#   W=build-win tests/windows/service_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/e2e/lib.sh

W=${W:-build-win}
WG=$ROOT/$W/glassnat.exe
FAKE=$ROOT/$W/fakedivert/WinDivert.dll
for f in "$WG" "$FAKE"; do
	[ -f "$f" ] || {
		not_ok "$f exists (make windows $W/fakedivert/WinDivert.dll)"
		finish
	}
done
command -v wine >/dev/null || {
	not_ok "wine is installed (make deps)"
	finish
}
LINE_RE='^\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\] \[(DEBUG|INFO|WARN|ERROR)\] \[[A-Z][A-Z0-9_]*\] .+$'

export WINEPREFIX=$ROOT/$W/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	wineboot --init >/dev/null 2>&1 || true
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-winsvc.XXXXXX")
# A persistent wineserver: without it wine ends the service's process
# (and the SCM) when the last command of the test exits.
wineserver -p >/dev/null 2>&1 || true
cleanup() {
	(cd "$T" && timeout 60 wine glassnat.exe service stop >/dev/null 2>&1
		timeout 60 wine glassnat.exe service remove >/dev/null 2>&1)
	wineserver -k >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1
cp "$WG" glassnat.exe
cp "$FAKE" WinDivert.dll
PIPE='\\.\pipe\glassnat-svctest-'$$
WT=$(winepath -w "$T")
sed '/^logging:/,$d' "$ROOT/configs/hyper-nat.yaml" >svc.yaml
printf "control_socket: '%s'\nstate_file: '%s\\\\forwards.json'\n" "$PIPE" "$WT" >>svc.yaml

wg() { timeout 90 wine glassnat.exe "$@" >out 2>err; echo $?; }

rc=$(wg service remove)
check "no glassnat service before the test (remove says it does not exist)" 1 "$rc"

rc=$(wg service install -c svc.yaml)
check "service install: exit 0 ($(cat out err))" 0 "$rc"
img=$(timeout 30 wine reg query 'HKLM\System\CurrentControlSet\Services\glassnat' /v ImagePath 2>/dev/null | tr -d '\r')
check "the SCM runs 'glassnat.exe service run -c' with the absolute config" yes \
	"$(grep -qF "glassnat.exe\" service run -c \"$WT\\svc.yaml\"" <<<"$img" && echo yes || echo "no: $img")"
rc=$(wg service install -c svc.yaml)
check "a second install is refused: exit 1" 1 "$rc"
grep -q 'exists' err && ok "... saying the service exists" ||
	not_ok "... saying the service exists" "$(cat err)"

rc=$(wg service start)
check "service start: exit 0 once the service runs ($(cat out err))" 0 "$rc"
rc=$(wg stats --json -s "$PIPE")
check "glassnat.exe stats answers on the service's control pipe" 0 "$rc"
grep -q '^{"success":true,"stats":{' out && ok "stats: the response line" ||
	not_ok "stats: the response line" "$(cat out err)"

rc=$(wg service stop)
check "service stop: exit 0 once it has stopped ($(cat out err))" 0 "$rc"
rc=$(wg stats -s "$PIPE")
check "after stop the pipe is gone: stats exits 1" 1 "$rc"
log=glassnat.log
check "glassnat.log beside the config" yes "$([ -s $log ] && echo yes || echo no)"
for want in '\[INFO\] \[ENGINE\] Started' '\[INFO\] \[MAIN\] Received signal terminated' \
	'\[INFO\] \[MAIN\] Final statistics:' '\[INFO\] \[MAIN\] glassnat stopped'; do
	grep -q "$want" $log && ok "the log has '$want'" || not_ok "the log has '$want'" "$(tail -n 5 $log)"
done
# Every line, the WinDivert backend's own (filters, port reservation)
# included: it writes them through log_line.
bad=$(grep -Ev "$LINE_RE" $log)
check "every run line of the log has the one form" "" "$bad"

rc=$(wg service remove)
check "service remove: exit 0" 0 "$rc"
rc=$(wg service start)
check "start after remove: exit 1" 1 "$rc"
grep -q 'does not exist' err && ok "... the service does not exist" ||
	not_ok "... the service does not exist" "$(cat err)"

finish
