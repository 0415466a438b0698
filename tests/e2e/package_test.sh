#!/usr/bin/env bash
# The Debian package: `make deb` builds it; apt-get installs it (files in
# place, the config a conffile, nothing started, `glassnat check` reads the
# default config); lintian reports no error; systemd-analyze verify accepts
# both units; `apt-get remove` leaves only the conffile and `purge` nothing.
# The machine is left as found: the test refuses to run (a skip, with the
# reason) when glassnat is already installed or its paths exist, and an
# EXIT trap purges what it installed.
#
# Needs root (apt-get). Slow: the package is built from a copy of the tree.
#
#   BUILD=build tests/e2e/package_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

if [ "$(id -u)" -ne 0 ]; then
	not_ok "the package test needs root (run through scripts/as-root.sh)"
	finish
fi
for t in dpkg-buildpackage dh lintian systemd-analyze apt-get; do
	if ! command -v "$t" >/dev/null; then
		not_ok "$t is missing (make deps)"
		finish
	fi
done

# Everything the package or its service could create.
PATHS=(/usr/sbin/glassnat /usr/bin/natdump /etc/glassnat /etc/logrotate.d/glassnat
	/lib/systemd/system/glassnat.service /lib/systemd/system/glassnat@.service
	/usr/share/doc/glassnat /usr/share/man/man8/glassnat.8.gz
	/usr/share/man/man5/glassnat.yaml.5.gz /usr/share/man/man1/natdump.1.gz
	/var/lib/glassnat /var/log/glassnat
	/etc/systemd/system/multi-user.target.wants/glassnat.service)
present() { local p; for p in "${PATHS[@]}"; do [ -e "$p" ] && echo "$p"; done; return 0; }
pkg_status() { dpkg-query -W -f='${Status}' glassnat 2>/dev/null || true; }

st=$(pkg_status)
before=$(present)
if [ -n "$st" ] && [ "$st" != "unknown ok not-installed" ]; then
	skip "install, remove and purge of the package" \
		"glassnat is already installed here ($st): the test would remove it"
	finish
fi
if [ -n "$before" ]; then
	skip "install, remove and purge of the package" \
		"paths the package owns exist already: $(echo $before)"
	finish
fi

APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive
INSTALLED=0
cleanup() {
	if [ "$INSTALLED" = 1 ]; then
		"${APT[@]}" purge glassnat >/dev/null 2>&1
	fi
}
trap cleanup EXIT

# ---- build ---------------------------------------------------------------
LOG=$(mktemp "${TMPDIR:-/tmp}/glassnat-deb.XXXXXX")
make --no-print-directory deb >"$LOG" 2>&1
rc=$?
check_rc "make deb" 0 "$rc"
DEB=$(ls glassnat_*.deb 2>/dev/null | head -n 1)
if [ "$rc" -ne 0 ] || [ -z "$DEB" ]; then
	tail -n 30 "$LOG" | sed 's/^/#   /'
	rm -f "$LOG"
	finish
fi
rm -f "$LOG"
ok "make deb built $DEB"

out=$(lintian "$DEB" 2>&1 | grep -v '^running with root privileges')
errs=$(grep -c '^E: ' <<<"$out")
check "lintian: no error (${out:-no tags at all})" "0" "$errs"

# ---- install ---------------------------------------------------------------
out=$("${APT[@]}" install "./$DEB" 2>&1)
rc=$?
INSTALLED=1
check_rc "apt-get install ./$DEB" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'
check "dpkg: installed" "install ok installed" "$(pkg_status)"
for f in /usr/sbin/glassnat /usr/bin/natdump /etc/glassnat/glassnat.yaml \
	/lib/systemd/system/glassnat.service /lib/systemd/system/glassnat@.service \
	/etc/logrotate.d/glassnat /usr/share/doc/glassnat/events.schema.json \
	/usr/share/doc/glassnat/events.md.gz /usr/share/doc/glassnat/config.md.gz \
	/usr/share/doc/glassnat/copyright /usr/share/doc/glassnat/examples/full-example.yaml \
	/usr/share/man/man8/glassnat.8.gz /usr/share/man/man5/glassnat.yaml.5.gz \
	/usr/share/man/man1/natdump.1.gz; do
	check "installed: $f" yes "$([ -f "$f" ] && echo yes || echo no)"
done
check "no test config installed (e2e.yaml)" "" \
	"$(dpkg -L glassnat | grep -E 'e2e|tests?/' || true)"
check "/etc/glassnat/glassnat.yaml is a conffile" yes \
	"$(dpkg-query -W -f='${Conffiles}' glassnat | grep -q ' /etc/glassnat/glassnat.yaml ' && echo yes || echo no)"
check "the events schema is plain JSON" yes \
	"$(jq -e '."$schema"' /usr/share/doc/glassnat/events.schema.json >/dev/null && echo yes || echo no)"
check "glassnat --version runs" "glassnat 0.1.0" "$(/usr/sbin/glassnat run --version 2>&1)"
out=$(/usr/sbin/glassnat check 2>&1)
rc=$?
check_rc "glassnat check with no -c reads /etc/glassnat/glassnat.yaml" 0 "$rc"
check "... and prints its plan (control socket /run/glassnat/glassnat.sock)" yes \
	"$(grep -q 'control_socket *\/run\/glassnat\/glassnat.sock' <<<"$out" && echo yes || echo no)"
check "install started no gateway: the unit is not enabled, no state made" "" \
	"$(ls -d /etc/systemd/system/multi-user.target.wants/glassnat.service \
		/var/lib/glassnat /var/log/glassnat 2>/dev/null)"
out=$(systemd-analyze verify /lib/systemd/system/glassnat.service 2>&1)
check_rc "systemd-analyze verify glassnat.service${out:+ ($out)}" 0 $?
check "systemd-analyze verify glassnat.service says nothing" "" "$out"
UNITS=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-units.XXXXXX")
cp /lib/systemd/system/glassnat@.service "$UNITS/glassnat@demo.service"
out=$(systemd-analyze verify "$UNITS/glassnat@demo.service" 2>&1)
check_rc "systemd-analyze verify glassnat@demo.service${out:+ ($out)}" 0 $?
check "systemd-analyze verify glassnat@demo.service says nothing" "" "$out"
rm -rf "$UNITS"
check "man glassnat.yaml finds the page" yes \
	"$(man -w glassnat.yaml >/dev/null 2>&1 && echo yes || echo no)"

# ---- remove: only the conffile stays ----------------------------------------------
out=$("${APT[@]}" remove glassnat 2>&1)
check_rc "apt-get remove glassnat" 0 $?
check "dpkg: config-files only" "deinstall ok config-files" "$(pkg_status)"
check "after remove only the conffiles are left (the config, the logrotate snippet)" \
	"/etc/glassnat /etc/logrotate.d/glassnat" "$(present | tr '\n' ' ' | sed 's/ $//')"
check "... /etc/glassnat holds just the config" "glassnat.yaml" "$(ls /etc/glassnat 2>/dev/null)"

# ---- purge: nothing left ----------------------------------------------------------
out=$("${APT[@]}" purge glassnat 2>&1)
check_rc "apt-get purge glassnat" 0 $?
INSTALLED=0
st=$(pkg_status)
check "dpkg: not installed after purge" yes \
	"$([ -z "$st" ] || [ "$st" = "unknown ok not-installed" ] && echo yes || echo no)"
check "after purge nothing is left" "" "$(present)"

finish
