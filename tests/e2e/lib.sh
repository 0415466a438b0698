# Sourced by the e2e tests: TAP-like reporting. Each check prints
# "ok - ...", "not ok - ..." or "ok - ... # SKIP reason"; finish prints
# "N passed, M failed, K skipped" (the line tests/e2e/run.sh sums) and
# exits 1 when anything failed. A skip is never a pass: it is counted
# apart and must name its reason.
passed=0
failed=0
skipped=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
	echo "not ok - $1"
	failed=$((failed + 1))
	if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
# skip DESCRIPTION REASON: a check not run, and why.
skip() {
	if [ -z "${2:-}" ]; then
		not_ok "$1 skipped without a reason"
		return
	fi
	echo "ok - $1 # SKIP $2"
	skipped=$((skipped + 1))
}
# check DESCRIPTION EXPECTED ACTUAL
check() {
	if [ "$2" == "$3" ]; then ok "$1"; else
		not_ok "$1" "expected: $2"$'\n'"got:      $3"
	fi
}
# check_rc DESCRIPTION EXPECTED_STATUS ACTUAL_STATUS: an exit status, with
# a crash (a status of 128 + signal) or a timeout (124) said as such.
check_rc() {
	local why=
	if [ "$3" -eq 124 ]; then why=" (timed out)"
	elif [ "$3" -ge 128 ]; then why=" (killed by signal $(($3 - 128)))"; fi
	check "$1" "exit $2" "exit $3$why"
}
finish() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
	exit
}
