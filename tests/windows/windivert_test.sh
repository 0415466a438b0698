# Sourced by tests/windows/windows_test.sh (its counters, $ROOT, $W, $WG,
# $T): glassnat's WinDivert filters against WinDivert's own code, the real
# WinDivert.dll built by mk/windows.mk from ../shared/third_party (its
# unmodified source). Under wine the DLL's filter compiler and evaluator
# run for real; only opening a handle needs the driver.
#
# 1. Every filter glassnat generates compiles at its layer
#    (WinDivertHelperCompileFilter): the configs of the tests and
#    generated ones (many forwards, many snat addresses, masquerade,
#    host_internal_ip, port ranges at the edges).
# 2. The packet table of tests/windows/wd_filter_test.c: each packet with
#    the address WinDivert gives it on its layer, through
#    WinDivertHelperEvalFilter, against the answer the engine needs.
# 3. glassnat.exe run with the real DLL, every config: past the filters,
#    port_range reservation tried (and its failure reported: wine has no
#    CreatePersistentTcpPortReservation), then the clear "cannot open the
#    WinDivert handle" error, never a filter refusal.
WD=$ROOT/$W/wd

# -v prints the filters before anything needs WinDivert.dll: a user checks
# them on a host that does not have it yet (docs/windows.md).
mkdir -p "$T/wdbare"
cp "$WG" "$T/wdbare/glassnat.exe"
(cd "$T/wdbare" && wine glassnat.exe run -v -c "$ROOT/configs/hyper-nat.yaml" \
	--events events.json >out 2>err)
if grep -q '\] \[QUEUE\] WinDivert inbound (NETWORK) filter: inbound and ip and ((ip.DstAddr == 192.168.45.57)' "$T/wdbare/err" &&
	grep -q '\] \[QUEUE\] WinDivert outbound (NETWORK_FORWARD) filter: ip and ip.SrcAddr >= 172.17.240.0' "$T/wdbare/err" &&
	grep -q 'cannot load .*WinDivert.dll' "$T/wdbare/err"; then
	ok "run -v without WinDivert.dll: both filters printed, then the missing-DLL error"
else
	not_ok "run -v without WinDivert.dll prints the filters" "$(tail -4 "$T/wdbare/err")"
fi

if [ -z "${WD_SRC:-}" ] && [ ! -d "$ROOT/../shared/third_party/windivert-2.2.0" ]; then
	skip "WinDivert's own filter compiler and evaluator" \
		"no ../shared/third_party/windivert-2.2.0 beside the project (its source builds WinDivert.dll)"
	return 0 2>/dev/null || exit 0
fi
for f in "$WD/WinDivert.dll" "$WD/wd_filter_test.exe"; do
	if [ ! -f "$f" ]; then
		not_ok "$f is built (make windows-test)"
		return 0 2>/dev/null || exit 0
	fi
done

# wd_filter_test.exe's "ok - / not ok - " lines, counted as ours.
wd_count() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		"# "*) echo "$line" ;;
		esac
	done
}

# ---- generated configs --------------------------------------------------
G=$T/wdcfg
mkdir -p "$G"
base='nat_ip: 203.0.113.1
internal_network: 172.17.240.0/24'
{
	echo "$base"
	echo "port_forward:"
	for i in $(seq 0 59); do # scattered: more ranges than the filter keeps apart
		echo "  - {name: t$i, protocol: tcp, external_port: $((1000 + 7 * i)), internal_ip: 172.17.240.21}"
		echo "  - {name: u$i, protocol: udp, external_port: $((2000 + 11 * i)), internal_ip: 172.17.240.22}"
	done
} >"$G/many-forwards.yaml"
{
	echo "$base"
	echo "port_forward:"
	for i in $(seq 0 23); do # exactly the most ranges kept apart, per protocol
		echo "  - {name: t$i, protocol: tcp, external_port: $((1 + 3 * i)), internal_ip: 172.17.240.21}"
		echo "  - {name: u$i, protocol: udp, external_port: $((65535 - 3 * i)), internal_ip: 172.17.240.22}"
	done
} >"$G/forwards-24-ranges.yaml"
{
	echo "$base"
	echo "port_forward:"
	for i in $(seq 0 199); do # contiguous: merged into one range
		echo "  - {name: c$i, protocol: tcp, external_port: $((10000 + i)), internal_ip: 172.17.240.23}"
	done
} >"$G/contiguous-forwards.yaml"
{
	echo "$base"
	echo "rules:"
	for i in $(seq 2 16); do # nat_ip and 15 snat addresses: the most there are
		echo "  - {name: s$i, source: 172.17.240.$((i * 10))/32, action: snat, to_address: 203.0.113.$i}"
	done
	echo "port_forward:"
	echo "  - {name: web, protocol: tcp, external_port: 8080, internal_ip: 172.17.240.21}"
} >"$G/snat-addresses.yaml"
{
	echo "$base"
	echo "rules:"
	for i in $(seq 2 16); do
		echo "  - {name: s$i, source: 172.17.240.$((i * 10))/32, action: snat, to_address: 203.0.113.$i}"
	done
	echo "port_forward:"
	for i in $(seq 0 23); do # the largest filter: 16 addresses, 24+24 ranges
		echo "  - {name: t$i, protocol: tcp, external_port: $((1 + 3 * i)), internal_ip: 172.17.240.21}"
		echo "  - {name: u$i, protocol: udp, external_port: $((65535 - 3 * i)), internal_ip: 172.17.240.22}"
	done
} >"$G/largest.yaml"
printf '%s\nrules:\n  - {name: wan, destination: 0.0.0.0/0, action: masquerade}\n' \
	"$base" >"$G/masquerade.yaml"
printf '%s\nrules:\n  - {name: wan, out_interface: Ethernet, action: masquerade}\n' \
	"$base" >"$G/masquerade-out-if.yaml"
printf '%s\nhost_internal_ip: 172.17.240.1\n' "$base" >"$G/host-internal-ip.yaml"
printf '%s\nport_range: "1-65535"\n' "$base" >"$G/range-all.yaml"
printf '%s\nport_range: "65535-65535"\nport_forward:\n  - {name: a, protocol: udp, external_port: 1, internal_ip: 172.17.240.21}\n' \
	"$base" >"$G/range-top.yaml"
printf '%s\nport_range: "1-1"\nport_forward:\n  - {name: a, protocol: tcp, external_port: 65535, internal_ip: 172.17.240.21}\n' \
	"$base" >"$G/range-bottom.yaml"
# The project's configs the backend refuses (masquerade), with their
# masquerade rules made nat: the rest of them must get as far as the others.
for c in "$ROOT/configs/full-example.yaml" "$ROOT/tests/data/good/full.yaml"; do
	sed 's/action: masquerade/action: nat/' "$c" >"$G/$(basename "$c" .yaml)-nat.yaml"
done
printf 'nat_ip: 198.51.100.1\ninternal_network: 172.17.240.0/28\nhost_internal_ip: 172.17.240.14\nport_range: "49152-65535"\n' \
	>"$G/small-net-dynamic-range.yaml"

# The configs every check below runs on: the project's and the generated.
mkdir -p "$T/wdrun"
cp "$WD/WinDivert.dll" "$WD/wd_filter_test.exe" "$WG" "$T/wdrun/"
cp -r "$ROOT/configs" "$ROOT/tests/data/good" "$G" "$T/wdrun/"
cd "$T/wdrun" || return 1
cfgs=(configs/*.yaml good/*.yaml wdcfg/*.yaml)
for c in "${cfgs[@]}"; do
	"$ROOT/$BUILD/glassnat" check -c "$c" >/dev/null 2>&1 ||
		not_ok "$c is a valid config" "$("$ROOT/$BUILD/glassnat" check -c "$c" 2>&1 | tail -2)"
done

# ---- 1. every filter compiles ----------------------------------------------
wine wd_filter_test.exe compile "${cfgs[@]}" >compile.out 2>&1
rc=$?
wd_count <compile.out
check "wd_filter_test.exe compile: exit 0" 0 "$rc"
n=$(grep -c '^ok - .* filter compiles' compile.out)
echo "# $n filters of ${#cfgs[@]} configs compiled by WinDivertHelperCompileFilter"

# ---- 2. the packet table ---------------------------------------------------
wine wd_filter_test.exe table >table.out 2>&1
rc=$?
wd_count <table.out
check "wd_filter_test.exe table: exit 0" 0 "$rc"
rows=$(sed -n 's/^# packet table: \([0-9]*\) rows$/\1/p' table.out)
if [ -n "$rows" ] && [ "$rows" -ge 40 ] &&
	[ "$(grep -c '^ok - row ' table.out)" = "$rows" ]; then
	ok "packet table: all $rows rows answered as expected by WinDivertHelperEvalFilter"
else
	not_ok "packet table: at least 40 rows, all as expected" \
		"rows=${rows:-?}, ok=$(grep -c '^ok - row ' table.out)"
fi

# ---- 3. glassnat.exe run with the real DLL ---------------------------------
# The reservations' record lands beside the default state file
# (C:\ProgramData\glassnat\forwards.json.ports in the wine prefix).
ports_file=$WINEPREFIX/drive_c/ProgramData/glassnat/forwards.json.ports
# Wine maps / to Z:, so a config's /var/lib/glassnat or /var/log/glassnat
# would be made on this machine: those paths go into the test's folder.
host_dirs="$(ls -d /var/lib/glassnat /var/log/glassnat 2>/dev/null)"
for c in "${cfgs[@]}"; do
	run_cfg=$c
	if grep -q '/var/lib/glassnat\|/var/log/glassnat' "$c"; then
		run_cfg=local-$(basename "$c")
		sed "s|/var/lib/glassnat|$PWD/var-lib|g; s|/var/log/glassnat|$PWD/var-log|g" \
			"$c" >"$run_cfg"
	fi
	timeout 120 wine glassnat.exe run -v -c "$run_cfg" --events events.json \
		>run.out 2>run.err
	rc=$?
	# Configs the backend refuses (wd_filter_test.exe compile says which).
	if grep -qF "# $c: the Windows backend refuses it" compile.out; then
		if [ "$rc" = 1 ] && grep -q "masquerade is not supported on Windows" run.err &&
			! grep -q "WinDivert refused" run.err; then
			ok "run $c: masquerade refused at start with its line"
		else
			not_ok "run $c: masquerade refused at start" "exit $rc: $(tail -3 run.err)"
		fi
		continue
	fi
	why=""
	[ "$rc" = 1 ] || why="exit $rc"
	grep -q "WinDivert refused" run.err && why="$why; a filter was refused: $(grep 'WinDivert refused' run.err)"
	grep -q "Start failed: cannot open the outbound WinDivert handle" run.err ||
		why="$why; no 'cannot open the outbound WinDivert handle': $(tail -2 run.err)"
	grep -q '\] \[QUEUE\] WinDivert inbound (NETWORK) filter: inbound and ip' run.err ||
		why="$why; -v did not print the inbound filter"
	grep -q '\[WARN\] \[HOST\] cannot reserve TCP ports .* CreatePersistentTcpPortReservation\|\[WARN\] \[HOST\] cannot reserve TCP ports .*PortReservation' run.err ||
		why="$why; no warning about the TCP port reservation"
	grep -q '\[WARN\] \[HOST\] cannot reserve UDP ports' run.err ||
		why="$why; no warning about the UDP port reservation"
	[ -e "$ports_file" ] && why="$why; $ports_file left behind"
	if [ -z "$why" ]; then
		ok "run $c: filters compiled, reservation tried and reported, then 'cannot open the WinDivert handle'"
	else
		not_ok "run $c" "${why#; }"
	fi
done
check "glassnat.exe runs made nothing under /var/lib or /var/log of this machine" \
	"$host_dirs" "$(ls -d /var/lib/glassnat /var/log/glassnat 2>/dev/null)"
echo "# glassnat.exe run with the real WinDivert.dll, last config, as printed:"
grep -v '^\[' run.err | sed 's/^/#   /' | cut -c1-200
grep 'Start failed' run.err | sed 's/^/#   /' | cut -c1-200

# A crashed run's record is cleaned at the next start: the release is
# tried for each reservation it lists (wine has no DeletePersistent*, so
# the release fails, is reported, and the record is kept).
mkdir -p "$(dirname "$ports_file")"
printf 'glassnat reserved ports\ntcp 40000 20001\nudp 40000 20001\n' >"$ports_file"
timeout 120 wine glassnat.exe run -c configs/hyper-nat.yaml --events events.json \
	>run.out 2>run.err
if grep -q "a previous run did not exit cleanly: releasing the port reservations" run.err &&
	grep -q "cannot release the TCP port reservation 40000-60000" run.err &&
	grep -q "netsh int ipv4 delete excludedportrange protocol=tcp startport=40000 numberofports=20001" run.err &&
	[ -e "$ports_file" ]; then
	ok "run after a crash: the recorded reservations' release is tried, its failure reported, the record kept"
else
	not_ok "run after a crash: the recorded reservations are released" "$(grep -v '^\[' run.err | head -5)"
fi
rm -f "$ports_file"
cd "$T" || return 1
