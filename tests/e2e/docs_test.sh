#!/usr/bin/env bash
# The docs say what the programs do. The engine's one list of reasons
# (NAT_FOREACH_REASON in nat/core/types.h) is read back from the program
# built from it (`natdump --list-reasons`): every reason is in the table of
# docs/troubleshooting.md with natdump's words, the table has no row for a
# reason the engine does not give, and docs/translation.md names each one.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
BUILD=${BUILD:-build}

# name, means, check triples, in the engine's order.
if ! out=$("$BUILD/natdump" --list-reasons); then
	not_ok "natdump --list-reasons runs" "$out"
	finish
fi
mapfile -t rows <<<"$out"
mapfile -t names < <(printf '%s\n' "${rows[@]}" | cut -f1)
if [ "${#rows[@]}" -ge 10 ]; then ok "natdump lists ${#rows[@]} reasons"; else
	not_ok "natdump lists the engine's reasons" "got ${#rows[@]} lines"
fi
for row in "${rows[@]}"; do
	IFS=$'\t' read -r name means what <<<"$row"
	if [ -z "$name" ] || [ -z "$means" ] || [ -z "$what" ]; then
		not_ok "reason '$name' has a meaning and a check" "$row"
		continue
	fi
	if grep -qF "| \`$name\` | $means | $what |" docs/troubleshooting.md; then
		ok "troubleshooting.md explains $name in natdump's words"
	else
		not_ok "troubleshooting.md explains $name in natdump's words" \
			"want: | \`$name\` | $means | $what |"
	fi
	if grep -q "| \`$name\` |" docs/translation.md; then
		ok "docs/translation.md names reason $name"
	else
		not_ok "docs/translation.md names reason $name"
	fi
done
# Every row of the troubleshooting table is a reason the engine gives.
mapfile -t documented < <(sed -n '/^| reason | means | check |$/,/^$/s/^| `\([a-z0-9_]*\)` |.*/\1/p' docs/troubleshooting.md)
check "troubleshooting.md documents exactly the engine's reasons, in its order" \
	"$(printf '%s ' "${names[@]}")" "$(printf '%s ' "${documented[@]}")"
finish
