#!/usr/bin/env bash
# as-root.sh CMD [ARGS...]: runs CMD as root. As is when already root;
# through `sudo -E` (keeping BUILD and the like) otherwise. Used by
# `make test` and `make demo`: the e2e tests and the demo create network
# namespaces, install iptables rules and read captures as root.
set -euo pipefail

if [ $# -eq 0 ]; then
	echo "usage: scripts/as-root.sh CMD [ARGS...]" >&2
	exit 2
fi
if [ "$(id -u)" -eq 0 ]; then
	exec "$@"
fi
if command -v sudo >/dev/null 2>&1; then
	echo "as-root: '$*' needs root; running it through sudo" >&2
	exec sudo -E "$@"
fi
echo "as-root: '$*' needs root (network namespaces, iptables and packet" \
	"capture) and sudo is not installed; run it as root or install sudo" >&2
exit 1
