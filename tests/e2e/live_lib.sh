# Sourced by the tests that run the real gateway in namespaces
# (live_test.sh, control_test.sh): their reporting, where a check runs a
# command ("check DESCRIPTION COMMAND..."), and the preconditions.
# Each check prints "ok - ..." or "not ok - ..."; finish prints
# "N passed, M failed" (the line tests/e2e/run.sh sums).
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
notok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { # check "description" command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}
skip() { echo "ok - # SKIP $*"; pass=$((pass + 1)); }
finish() {
	echo "$pass passed, $fail failed"
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
