#!/usr/bin/env bash
# `make deps`: installs the Debian packages glassnat needs to build, test
# and demo, and only those that are missing. When everything is there it
# runs nothing but dpkg-query (no network, no root needed).
set -euo pipefail

PACKAGES=(
	build-essential gcc make
	clang                   # libFuzzer targets (make fuzz)
	libyaml-dev             # config
	libpcap-dev             # capture reading, BPF trace selection
	libzstd-dev zstd        # trace rings
	libcriterion-dev        # unit tests
	libjansson-dev          # control socket requests
	libnetfilter-queue-dev libmnl-dev # Linux live backend
	libmicrohttpd-dev       # /metrics over HTTP (docs/metrics.md)
	libbpf-dev linux-libc-dev # the kernel fast path (docs/fastpath.md)
	bpftool                 # to look into it: bpftool map dump name nat_fp_flows
	curl prometheus nfdump  # metrics_test (curl, promtool), ipfix_test (nfcapd, nfdump)
	tshark jq python3       # e2e checks, demo
	iproute2 iptables iperf3 procps   # namespace tests, benchmarks
	ethtool                 # csum_test: checksum offload off on the veths
	nftables                # make bench: the kernel's masquerade to compare with
	# make windows / windows-test (docs/windows.md): the cross compiler,
	# dpkg-source and the build tools of the cross-built libraries, wine
	gcc-mingw-w64-x86-64-posix mingw-w64-x86-64-dev dpkg-dev cmake
	flex bison wine wine64
	# make deb and tests/e2e/package_test.sh: the Debian tools, and
	# systemd-analyze to verify the units (the systemd package installs
	# without becoming PID 1 or starting anything on a machine whose init
	# is something else)
	debhelper lintian systemd
)

# `scripts/deps.sh --check` (run by `make test` after `make deps`): every
# command the tests run is there, or it fails naming the command and its
# package. A test never skips for a missing tool; this says which is gone.
if [ "${1:-}" = --check ]; then
	TOOLS=(gcc:gcc make:make clang:clang zstd:zstd zstdcat:zstd
		tshark:tshark jq:jq python3:python3 ip:iproute2 iptables:iptables
		iperf3:iperf3 setpriv:util-linux pgrep:procps ethtool:ethtool
		unshare:util-linux dumpcap:tshark
		curl:curl promtool:prometheus nfcapd:nfdump nfdump:nfdump
		x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64-posix
		dpkg-source:dpkg-dev cmake:cmake flex:flex bison:bison wine:wine
		dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian
		systemd-analyze:systemd tc:iproute2)
	gone=()
	for t in "${TOOLS[@]}"; do
		command -v "${t%%:*}" >/dev/null 2>&1 || gone+=("${t%%:*} (package ${t#*:})")
	done
	if [ ${#gone[@]} -gt 0 ]; then
		echo "deps: missing after make deps: ${gone[*]}" >&2
		exit 1
	fi
	echo "deps: all ${#TOOLS[@]} commands the tests run are installed"
	exit 0
fi

# `make windows` cross-builds libyaml, zstd, libpcap and jansson from
# Debian's source packages: apt-get source needs a deb-src entry, for the
# same mirror and suite as the machine's own. Added once, as a separate
# file (remove it to undo).
SRC_LIST=/etc/apt/sources.list.d/glassnat-src.sources
need_src=0
if ! grep -rqsE '^(Types:.*deb-src|deb-src)' /etc/apt/sources.list \
	/etc/apt/sources.list.d/; then
	need_src=1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && [ $need_src -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi

echo "deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		echo "deps: installing needs root; re-running through sudo" >&2
		exec sudo -E "$0" "$@"
	fi
	echo "make deps needs root (apt-get); run it as root or install sudo" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# tshark would otherwise ask whether non-root users may capture.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	debconf-set-selections
# The mirror this machine already uses for Debian's binary packages: the
# first URI of its deb822 sources, else of a classic sources.list line.
apt_mirror() {
	local u
	u=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)
	[ -n "$u" ] || u=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\).*/\2/p' \
		/etc/apt/sources.list 2>/dev/null | grep -v security | head -n 1)
	printf '%s' "$u"
}
if [ $need_src -eq 1 ]; then
	. /etc/os-release
	mirror=$(apt_mirror)
	if [ -z "$mirror" ]; then
		echo "deps: no Debian mirror found in /etc/apt/sources.list* to add deb-src from (make windows needs Debian's source packages)" >&2
		exit 1
	fi
	printf '%s\n' \
		"# Added by glassnat's make deps: Debian sources for make windows." \
		"Types: deb-src" "URIs: $mirror" \
		"Suites: ${VERSION_CODENAME:-bookworm}" "Components: main" \
		"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
		>"$SRC_LIST"
	echo "deps: added $SRC_LIST (deb-src, for make windows)"
fi
apt-get update
if [ ${#missing[@]} -gt 0 ]; then
	apt-get install -y --no-install-recommends "${missing[@]}"
	echo "deps: installed ${missing[*]}"
fi
