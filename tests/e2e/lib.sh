# Sourced by the e2e tests: TAP-like reporting. Each check prints
# "ok - ..." or "not ok - ..."; finish prints "N passed, M failed" (the
# line tests/e2e/run.sh sums) and exits 1 when anything failed.
passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() {
	echo "not ok - $1"
	failed=$((failed + 1))
	if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
# check DESCRIPTION EXPECTED ACTUAL
check() {
	if [ "$2" == "$3" ]; then ok "$1"; else
		not_ok "$1" "expected: $2"$'\n'"got:      $3"
	fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
