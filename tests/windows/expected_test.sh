#!/usr/bin/env bash
# The Windows build (build-win/glassnat.exe, natdump.exe under wine)
# checked against expected outputs written in the tests, not against the
# Linux build (windows_test.sh does that): a bug in shared code that both
# builds carry fails here. It runs tests/e2e/translate_test.sh with
# glassnat.exe (translations, checksums, filtering modes, expiry, each
# written out in that test), then checks natdump.exe and glassnat.exe
# against literal expected text: config errors, exit statuses, natdump
# stats of a replay's ring, a replay that loses data.
#
# Output: "ok - ..." / "not ok - ..." lines, then "N passed, M failed, K skipped".
#
#   BUILD=build W=build-win tests/windows/expected_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/e2e/lib.sh

BUILD=${BUILD:-build}
W=${W:-build-win}
WG=$ROOT/$W/glassnat.exe
WN=$ROOT/$W/natdump.exe
for f in "$WG" "$WN"; do
	[ -f "$f" ] || { not_ok "$f exists (make windows)"; finish; }
done
for tool in wine tshark jq python3; do
	command -v $tool >/dev/null || { not_ok "$tool is installed (make deps)"; finish; }
done
export WINEPREFIX=$ROOT/$W/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	wineboot --init >/dev/null 2>&1 || true
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-winexp.XXXXXX")
wineserver -p >/dev/null 2>&1 || true
trap 'wineserver -k >/dev/null 2>&1; rm -rf "$T"' EXIT

# glassnat.exe behind a name translate_test.sh can run (wine maps the
# absolute paths it is given to drive Z:).
printf '#!/bin/sh\nexec wine "%s" "$@"\n' "$WG" >"$T/glassnat"
chmod +x "$T/glassnat"

# ---- translate_test.sh with glassnat.exe -------------------------------
BUILD=$BUILD GLASSNAT=$T/glassnat bash tests/e2e/translate_test.sh >"$T/translate.out" 2>&1
sed 's/^/#   /' "$T/translate.out"
last=$(tail -n 1 "$T/translate.out")
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]] &&
	[ "${BASH_REMATCH[1]}" -ge 30 ] && [ "${BASH_REMATCH[2]}" -eq 0 ] &&
	[ "${BASH_REMATCH[3]}" -eq 0 ]; then
	ok "translate_test.sh with glassnat.exe: $last"
else
	not_ok "translate_test.sh with glassnat.exe" "$last"
fi

# ---- literal expected outputs ------------------------------------------
cd "$T" || exit 1
cp -r "$ROOT/tests/data" data
# expect NAME STATUS STDOUT_LINE1 STDERR_LINE1 -- PROGRAM ARGS...
expect() {
	local name=$1 want=$2 out1=$3 err1=$4
	shift 5
	timeout 60 wine "$@" >x.out 2>x.err
	local rc=$?
	local got="exit $rc out[$(head -n 1 x.out | tr -d '\r')] err[$(head -n 1 x.err | tr -d '\r')]"
	check "$name" "exit $want out[$out1] err[$err1]" "$got"
}
expect "check: an inverted port_range, FILE:LINE:COLUMN and exit 2" 2 "" \
	"data/bad/inverted_port_range.yaml:3:13: port_range: inverted range 60000-40000 (start must not exceed end)" \
	-- "$WG" check -c data/bad/inverted_port_range.yaml
expect "check: a number given as a word, exit 2" 2 "" \
	'data/bad/string_for_number.yaml:4:14: limits.max_flows: expected an integer, got "lots"' \
	-- "$WG" check -c data/bad/string_for_number.yaml
cat >nat.yaml <<'EOF'
nat_ip: 203.0.113.1
internal_network: 172.17.240.0/24
rules:
  - name: out
    destination: 0.0.0.0/0
    action: nat
EOF
python3 "$ROOT/tests/e2e/gencap.py" --scenario filtering --out filt.pcapng
expect "replay: a trace filter libpcap cannot compile exits 2" 2 "" \
	"glassnat replay: trace filter 'not a (': can't parse filter expression: syntax error" \
	-- "$WG" replay -c nat.yaml filt.pcapng -o o.pcapng --trace tr --trace-filter 'not a (' -q
expect "replay: a missing capture exits 1" 1 "" \
	"glassnat replay: no-such.pcapng: No such file or directory" \
	-- "$WG" replay -c nat.yaml no-such.pcapng -o o.pcapng -q
expect "natdump: a bad filter is a usage error (exit 2)" 2 "" \
	"natdump: -f 'nonsense (': can't parse filter expression: syntax error" \
	-- "$WN" show -f 'nonsense (' filt.pcapng

# A replay with its ring: natdump.exe's stats, line by line as expected
# for the filtering capture (4 packets: the query out, a passes, b and c
# are filtered under the default address_and_port_dependent).
timeout 60 wine "$WG" replay -c nat.yaml filt.pcapng -o o.pcapng --trace tr \
	--events ev.json -q >r.out 2>r.err
check "replay with --trace --events: exit 0, quiet" "0 []" "$? [$(cat r.err)]"
timeout 60 wine "$WN" stats tr >st.out 2>st.err
check "natdump.exe stats on that ring: exit 0" "0" "$?"
tr -d '\r' <st.out | grep -E '^(files|packets|pairs|pre only|flows|trace losses|verdict|reason)' >st.got
cat >st.want <<'EOF'
files        1
packets      6 (182 bytes)
pairs        2
pre only     2
flows        1
trace losses 0
verdict nat 2
verdict drop 2
reason filtered 2
EOF
if diff st.want st.got >st.diff; then ok "natdump.exe stats: files, packets, pairs, flows, losses, verdicts, reasons as expected"
else not_ok "natdump.exe stats as expected" "$(cat st.diff)"; fi
check "events: 2 pkt.drop filtered, 1 flow.open with mapping 203.0.113.1:5000" \
	"2 203.0.113.1:5000" \
	"$(tr -d '\r' <ev.json | jq -r 'select(.ev=="pkt.drop" and .reason=="filtered") | .reason' | wc -l) $(tr -d '\r' <ev.json | jq -r 'select(.ev=="flow.open") | "\(.mapped.ip):\(.mapped.port)"')"

finish
