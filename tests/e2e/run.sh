#!/usr/bin/env bash
# Runs every tests/e2e/*_test.sh, shows their output, and sums the
# "N passed, M failed, K skipped" line each one ends with (a script's old
# "N passed, M failed" line is read as 0 skipped). Ends with
# "N passed, M failed, K skipped"; exit status 1 when any check failed or a
# script did not end with its summary line (a crash, a timeout).
#
#   BUILD=build tests/e2e/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export BUILD=${BUILD:-build}

total_pass=0
total_fail=0
total_skip=0
log=$(mktemp "${TMPDIR:-/tmp}/glassnat-e2e.XXXXXX")
trap 'rm -f "$log"' EXIT

# The live suite runs twice: with the kernel fast path (as glassnat comes)
# and without it (--no-fastpath). Other scripts once.
runs=()
for t in tests/e2e/*_test.sh; do
	[ -e "$t" ] || continue
	if [ "$t" = tests/e2e/live_test.sh ]; then
		runs+=("on $t" "off $t")
	else
		runs+=("- $t")
	fi
done
for run in "${runs[@]}"; do
	mode=${run%% *}
	t=${run#* }
	if [ "$mode" = - ]; then
		echo "== $t"
		bash "$t" 2>&1 | tee "$log"
	else
		echo "== $t (FASTPATH=$mode)"
		FASTPATH=$mode bash "$t" 2>&1 | tee "$log"
	fi
	rc=${PIPESTATUS[0]}
	last=$(tail -n 1 "$log")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
		total_pass=$((total_pass + BASH_REMATCH[1]))
		total_fail=$((total_fail + BASH_REMATCH[2]))
		total_skip=$((total_skip + ${BASH_REMATCH[4]:-0}))
		if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
			echo "not ok - $t exited $rc with no failed check"
			total_fail=$((total_fail + 1))
		fi
	else
		echo "not ok - $t ended without its summary line (exit $rc)"
		total_fail=$((total_fail + 1))
	fi
done

echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
