#!/usr/bin/env bash
# `make windows` step 1: cross-builds the third-party libraries glassnat.exe
# and natdump.exe link (libyaml, zstd, libpcap without capture support,
# jansson) with mingw-w64, from Debian's own source packages, as static
# libraries into $W/third_party (include/, lib/). Nothing of it is
# committed: the sources are fetched with `apt-get source` into $W/src (the
# deb-src entry `make deps` adds), unpacked with dpkg-source (Debian's
# patches applied) and built out of tree.
#
# Idempotent: a library whose stamp file exists is not rebuilt; the stamp
# records the source version, so a new Debian version rebuilds it.
#
#   W=build-win scripts/windows-libs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

W=${W:-build-win}
HOST=x86_64-w64-mingw32
CC_W=${CC_W:-$HOST-gcc}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SRC=$PWD/$W/src
TP=$PWD/$W/third_party
# The build host's pkg-config must not offer Linux libraries (dbus...).
export PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH=
LOG=$PWD/$W/third_party/build.log
PKGS=(libyaml zstd libpcap jansson)

die() {
	echo "windows-libs: $*" >&2
	exit 1
}

command -v "$CC_W" >/dev/null || die "$CC_W not found (make deps installs mingw-w64)"
command -v dpkg-source >/dev/null || die "dpkg-source not found (make deps installs dpkg-dev)"
command -v cmake >/dev/null || die "cmake not found (make deps installs it)"
for t in flex bison; do
	command -v $t >/dev/null || die "$t not found (libpcap's BPF compiler needs it; make deps installs it)"
done
mkdir -p "$SRC" "$TP/include" "$TP/lib"
: >>"$LOG"

# fetch PKG: the .dsc and its tarballs, once.
fetch() {
	local pkg=$1
	if ! ls "$SRC"/"$pkg"_*.dsc "$SRC"/lib"$pkg"_*.dsc >/dev/null 2>&1; then
		(cd "$SRC" && apt-get source --download-only "$pkg" >>"$LOG" 2>&1) ||
			die "apt-get source $pkg failed: no deb-src entry? (make deps adds /etc/apt/sources.list.d/glassnat-src.sources; see docs/windows.md). Log: $LOG"
	fi
}

# unpack DSC: prints the unpacked directory (Debian patches applied).
unpack() {
	local dsc=$1 dir
	dir=$SRC/$(basename "$dsc" .dsc)
	if [ ! -d "$dir" ]; then
		dpkg-source --no-check -x "$dsc" "$dir" >>"$LOG" 2>&1 ||
			die "dpkg-source -x $dsc failed (log: $LOG)"
	fi
	echo "$dir"
}

stamp_ok() { [ -f "$TP/.stamp-$1" ] && [ "$(cat "$TP/.stamp-$1")" = "$2" ]; }
stamp() { echo "$2" >"$TP/.stamp-$1"; }

for p in "${PKGS[@]}"; do fetch "$p"; done

# ---- libyaml (cmake; Debian's tarball is git's, without configure) -------
dsc=$(ls "$SRC"/libyaml_*.dsc | tail -1)
if ! stamp_ok yaml "$(basename "$dsc")"; then
	echo "windows-libs: libyaml from $(basename "$dsc")"
	d=$(unpack "$dsc")
	b=$PWD/$W/obj-yaml
	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && cmake "$d" -DCMAKE_SYSTEM_NAME=Windows \
		-DCMAKE_C_COMPILER="$CC_W" -DCMAKE_BUILD_TYPE=Release \
		-DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF &&
		make -j"$JOBS" yaml) \
		>>"$LOG" 2>&1 || die "libyaml build failed (log: $LOG)"
	cp "$b/libyaml.a" "$TP/lib/"
	cp "$d/include/yaml.h" "$TP/include/"
	stamp yaml "$(basename "$dsc")"
fi

# ---- zstd (its own Makefile; the library only) --------------------------
dsc=$(ls "$SRC"/libzstd_*.dsc | tail -1)
if ! stamp_ok zstd "$(basename "$dsc")"; then
	echo "windows-libs: zstd from $(basename "$dsc")"
	d=$(unpack "$dsc")
	(make -C "$d/lib" clean && make -j"$JOBS" -C "$d/lib" libzstd.a \
		CC="$CC_W" AR=$HOST-ar ZSTD_LEGACY_SUPPORT=0 \
		ZSTD_NO_ASM=1 CFLAGS="-O2" MOREFLAGS="") \
		>>"$LOG" 2>&1 || die "zstd build failed (log: $LOG)"
	cp "$d/lib/libzstd.a" "$TP/lib/"
	cp "$d/lib/zstd.h" "$d/lib/zstd_errors.h" "$d/lib/zdict.h" "$TP/include/"
	stamp zstd "$(basename "$dsc")"
fi

# ---- libpcap (cmake; PCAP_TYPE null: BPF, offline reading, no capture) --
# BUILD_SHARED_LIBS stays ON only because its MinGW branch configures the
# shared target unconditionally; only pcap_static is built.
dsc=$(ls "$SRC"/libpcap_*.dsc | tail -1)
if ! stamp_ok pcap "$(basename "$dsc")"; then
	echo "windows-libs: libpcap (no capture) from $(basename "$dsc")"
	d=$(unpack "$dsc")
	b=$PWD/$W/obj-pcap
	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && cmake "$d" -DCMAKE_SYSTEM_NAME=Windows \
		-DCMAKE_C_COMPILER="$CC_W" -DCMAKE_RC_COMPILER=$HOST-windres \
		-DCMAKE_FIND_ROOT_PATH=/usr/$HOST \
		-DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER \
		-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY \
		-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY \
		-DCMAKE_BUILD_TYPE=Release -DPCAP_TYPE=null \
		-DBUILD_SHARED_LIBS=ON -DENABLE_REMOTE=OFF -DINET6=ON \
		-DDISABLE_DPDK=ON -DDISABLE_RDMA=ON -DDISABLE_DAG=ON \
		-DDISABLE_SEPTEL=ON -DDISABLE_SNF=ON -DDISABLE_TC=ON \
		-DDISABLE_BLUETOOTH=ON -DDISABLE_NETMAP=ON -DDISABLE_DBUS=ON \
		-DCMAKE_INSTALL_PREFIX="$TP" &&
		make -j"$JOBS" pcap_static) \
		>>"$LOG" 2>&1 || die "libpcap build failed (log: $LOG)"
	cp "$b/libpcap.a" "$TP/lib/libpcap.a"
	rm -rf "$TP/include/pcap"
	cp -r "$d/pcap" "$TP/include/pcap"
	cp "$d/pcap.h" "$TP/include/"
	stamp pcap "$(basename "$dsc")"
fi

# ---- jansson (cmake) ----------------------------------------------------
dsc=$(ls "$SRC"/jansson_*.dsc | tail -1)
if ! stamp_ok jansson "$(basename "$dsc")"; then
	echo "windows-libs: jansson from $(basename "$dsc")"
	d=$(unpack "$dsc")
	b=$PWD/$W/obj-jansson
	rm -rf "$b" && mkdir -p "$b"
	(cd "$b" && cmake "$d" -DCMAKE_SYSTEM_NAME=Windows \
		-DCMAKE_C_COMPILER="$CC_W" -DCMAKE_BUILD_TYPE=Release \
		-DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_BUILD_DOCS=OFF \
		-DJANSSON_WITHOUT_TESTS=ON -DJANSSON_EXAMPLES=OFF \
		-DCMAKE_INSTALL_PREFIX="$TP" &&
		make -j"$JOBS" && make install) \
		>>"$LOG" 2>&1 || die "jansson build failed (log: $LOG)"
	stamp jansson "$(basename "$dsc")"
fi

echo "windows-libs: $TP ready ($(cd "$TP/lib" && ls *.a | tr '\n' ' '))"
