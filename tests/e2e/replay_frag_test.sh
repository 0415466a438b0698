#!/usr/bin/env bash
# Fragments and bad input through the offline path (issue 17 items 4 and
# 12): the "fragments" capture of tests/e2e/gencap.py is replayed through
# configs/hyper-nat.yaml. A 4,000-byte UDP datagram leaves in three
# fragments and its 4,000-byte reply comes back last fragment first; both
# are checked byte for byte after reassembly (python3 reads the output).
# A later fragment whose first never comes, an overlapping fragment, a UDP
# length of 4 and an ICMP error with a bad checksum must be dropped and
# counted by reason; no packet may leave with an inside source.
#
#   BUILD=build tests/e2e/replay_frag_test.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD:-build}
GLASSNAT=$BUILD/glassnat
CONFIG=configs/hyper-nat.yaml

. tests/e2e/lib.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/glassnat-frag.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
IN=$TMP/in.pcapng
OUT=$TMP/out.pcapng

if ! command -v python3 >/dev/null; then
	not_ok "python3 is installed (make deps)"
	finish
fi
if [ ! -x "$GLASSNAT" ]; then
	not_ok "$GLASSNAT exists (run make first)"
	finish
fi
if ! tests/e2e/gencap.py --scenario fragments --out "$IN" >"$TMP/gen" 2>&1; then
	not_ok "gencap.py writes the fragments capture" "$(cat "$TMP/gen")"
	finish
fi
if "$GLASSNAT" replay -c "$CONFIG" "$IN" -o "$OUT" >"$TMP/sum" 2>&1; then
	ok "replay of the fragments capture exits 0"
else
	not_ok "replay of the fragments capture exits 0" "$(cat "$TMP/sum")"
	finish
fi

# summary NAME: the number on the summary line named NAME; fsummary: the
# same within the "fragments:" block (the tracker's counters).
summary() {
	awk -v k="$1" '{ v = $NF; $NF = ""; sub(/ +$/, ""); sub(/^ +/, "");
		if ($0 == k) { print v; exit } }' "$TMP/sum"
}
fsummary() {
	sed -n '/^  fragments:$/,$p' "$TMP/sum" >"$TMP/fsum"
	awk -v k="$1" '{ v = $NF; $NF = ""; sub(/ +$/, ""); sub(/^ +/, "");
		if ($0 == k) { print v; exit } }' "$TMP/fsum"
}
check "12 records read" 12 "$(summary "records read")"
check "7 packets written: 3 out, 3 reply, the overlapped datagram's first" \
	7 "$(summary "packets written")"
check "udp length 4 dropped as udp_length" 1 "$(summary udp_length)"
check "ICMP error with a bad checksum dropped as icmp_checksum" 1 \
	"$(summary icmp_checksum)"
check "the overlapping fragment and the one after it: fragment_overlap" 2 \
	"$(summary fragment_overlap)"
check "a fragment whose first never came: fragment_timeout" 1 \
	"$(summary fragment_timeout)"
check "held: two reply fragments before their first, and the lone one" 3 \
	"$(fsummary held)"
check "the two reply fragments released when their first came" 2 \
	"$(fsummary released)"
check "the lone one expired when the replay ended" 1 \
	"$(fsummary expired_held)"
check "later fragments that found their first at once" 2 \
	"$(fsummary translated)"

# The output, read back and reassembled by python3 (pcapng EPBs, raw IP).
cat >"$TMP/check.py" <<'EOF'
import struct, sys
sys.path.insert(0, "tests/e2e")
import gencap

NAT, DNS = gencap.NAT_IP, gencap.DNS
def ip(s): return ".".join(str(b) for b in s)
data = open(sys.argv[1], "rb").read()
pkts, off = [], 0
while off < len(data):
    btype, blen = struct.unpack_from("<II", data, off)
    if btype == 6:
        caplen = struct.unpack_from("<I", data, off + 20)[0]
        pkts.append(data[off + 28: off + 28 + caplen])
    off += blen
print("packets %d" % len(pkts))
print("inside sources out %d" % sum(
    1 for p in pkts if ip(p[12:16]).startswith("172.17.240.") and
    ip(p[16:20]) == DNS))
bad_ip = sum(1 for p in pkts if gencap.csum(p[:20]) != 0)
print("bad ip checksums %d" % bad_ip)
dgrams = {}
for p in pkts:
    key = (p[12:16], p[16:20], p[4:6])
    frag = struct.unpack("!H", p[6:8])[0]
    dgrams.setdefault(key, []).append(((frag & 0x1fff) * 8, frag & 0x2000, p))
def whole(src, dst, sport, dport, seed):
    want = gencap.udp(src, sport, dst, dport, gencap.big(3992, seed))[20:]
    for (s, d, _), frags in dgrams.items():
        if ip(s) != src or ip(d) != dst:
            continue
        frags.sort()
        buf, end = b"", 0
        for o, more, p in frags:
            if o != len(buf):
                return "gap at %d" % o
            buf += p[20:]
        if frags[-1][1]:
            return "no last fragment"
        if buf != want:
            return "differs from what %s:%d -> %s:%d sends" % (
                src, sport, dst, dport)
        ph = gencap.pseudo(src, dst, 17, len(buf))
        return "ok" if gencap.csum(ph + buf) == 0 else "bad UDP checksum"
    return "missing"
print("out datagram %s" % whole(NAT, DNS, 53001, 53, 1))
print("reply datagram %s" % whole(DNS, "172.17.240.22", 53, 53001, 2))
EOF
if ! python3 "$TMP/check.py" "$OUT" >"$TMP/res" 2>&1; then
	not_ok "the output can be read back" "$(cat "$TMP/res")"
	finish
fi
res() { sed -n "s/^$1 //p" "$TMP/res"; }
check "7 packets in the output" 7 "$(res packets)"
check "no packet leaves with an inside source" 0 "$(res "inside sources out")"
check "every IP header checksum valid" 0 "$(res "bad ip checksums")"
check "the 4,000-byte datagram leaves from NAT:53001, byte for byte, UDP checksum valid" \
	ok "$(res "out datagram")"
check "its 4,000-byte reply (last fragment first) reaches 172.17.240.22:53001 byte for byte" \
	ok "$(res "reply datagram")"

# Deterministic: a second replay writes the same bytes.
"$GLASSNAT" replay -c "$CONFIG" "$IN" -o "$TMP/out2.pcapng" >/dev/null 2>&1
if cmp -s "$OUT" "$TMP/out2.pcapng"; then
	ok "a second replay writes the same bytes"
else
	not_ok "a second replay writes the same bytes"
fi
finish
