# Sourced by the tests that run the real gateway in namespaces
# (live_test.sh, control_test.sh): their reporting, where a check runs a
# command ("check DESCRIPTION COMMAND..."), and the preconditions.
# Each check prints "ok - ..." or "not ok - ..."; finish prints
# "N passed, M failed, K skipped" (the line tests/e2e/run.sh sums). A skip
# is counted apart, never as a pass, and its text names the reason.
pass=0
fail=0
skipped=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
notok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { # check "description" command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}
skip() { # skip "what: why"
	if [ -z "$*" ]; then notok "a check skipped without a reason"; return; fi
	echo "ok - # SKIP $*"
	skipped=$((skipped + 1))
}
finish() {
	echo "$pass passed, $fail failed, $skipped skipped"
	[ "$fail" -eq 0 ]
	exit
}
# live_preconditions WHAT: root, and the glassnat binary built.
live_preconditions() {
	if [ "$(id -u)" -ne 0 ]; then
		notok "$1 tests need root (run through scripts/as-root.sh)"
		finish
	fi
	if [ ! -x "$GLASSNAT" ]; then
		notok "$GLASSNAT not built"
		finish
	fi
}

# Namespace helpers (NS_* come from tests/e2e/topology.sh).
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
peer() { local ns=$1; shift; in_ns "$ns" timeout 20 python3 "$PEER" "$@"; }
chains_in_gw() { in_ns "$NS_GW" iptables-save 2>/dev/null | grep -c 'GLASSNAT' || true; }

# topology.sh's teardown calls this first: stop the gateway the test
# started ($GPID), then remove $TMP (KEEP_TMP=1 keeps the logs, events
# and traces for a post-mortem).
topo_before_down() {
	if [ -n "$GPID" ] && kill -0 "$GPID" 2>/dev/null; then
		kill -TERM "$GPID" 2>/dev/null
		wait "$GPID" 2>/dev/null
	fi
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}

# live_topology_up: the namespaces, reported as the first check.
live_topology_up() {
	if ! topo_up; then
		notok "topology created"
		finish
	fi
	ok "topology created (${TOPO_NS[*]})"
}

# live_finish_topology: the end of a script on tests/e2e/topology.sh:
# removes the namespaces, checks that none of this run and none of its
# background processes is left, and finishes (the summary line, exit).
live_finish_topology() {
	local left p
	topo_down
	trap - EXIT
	left=$(topo_left)
	check "no namespace of this run is left (${left:-none})" test -z "$left"
	left=
	for p in $(jobs -p); do kill -0 "$p" 2>/dev/null && left+=" $p"; done
	check "no process of this run is left (${left:-none})" test -z "$left"
	finish
}
