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
	tshark jq python3       # e2e checks, demo
	iproute2 iptables iperf3 procps   # namespace tests, benchmarks
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
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
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
