#!/usr/bin/env bash
# The docs say what the programs do: every reason natdump explains is in
# docs/troubleshooting.md with the same words, and every reason the engine
# can give is explained by natdump and documented in docs/translation.md.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

# name, means, check triples from natdump's table.
mapfile -t rows < <(python3 - <<'PY'
import re
src = open('tools/natdump/nd_reasons.c').read()
body = src[src.index('docs[] = {'):src.index('};')]
for n, m, c in re.findall(r'\{\s*"([^"]+)",\s*"([^"]+)",\s*"([^"]+)"\s*\}', body, re.S):
    print(f"{n}\t{m}\t{c}")
PY
)
for row in "${rows[@]}"; do
	IFS=$'\t' read -r name means what <<<"$row"
	if grep -qF "| \`$name\` | $means | $what |" docs/troubleshooting.md; then
		ok "troubleshooting.md explains $name in natdump's words"
	else
		not_ok "troubleshooting.md explains $name in natdump's words"
	fi
done
# The engine's reason names (nat/core/engine.c) all appear in both places.
mapfile -t reasons < <(sed -n 's/^\t\[NAT_R_[A-Z0-9_]*\] = "\([a-z0-9_]*\)",$/\1/p' nat/core/engine.c | grep -v '^none$')
check "the engine has the reasons natdump explains" "${#rows[@]}" "${#reasons[@]}"
for r in "${reasons[@]}"; do
	if printf '%s\n' "${rows[@]}" | cut -f1 | grep -qx "$r" &&
		grep -q "| \`$r\` |" docs/translation.md; then
		ok "reason $r is explained by natdump and in docs/translation.md"
	else
		not_ok "reason $r is explained by natdump and in docs/translation.md"
	fi
done
finish
