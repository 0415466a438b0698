#!/usr/bin/env python3
"""Writes the seed files of fuzz_capture (tiny valid captures) into
tests/fuzz/seeds/fuzz_capture/. Run from the repository root."""
import os
import struct

OUT = "tests/fuzz/seeds/fuzz_capture"
IP = bytes([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 192, 168, 1, 10,
            8, 8, 8, 8, 0x30, 0x39, 0, 53, 0, 8, 0, 0])


def pad(b):
    return b + b"\0" * (-len(b) % 4)


def opt(e, code, val):
    return struct.pack(e + "HH", code, len(val)) + pad(val)


def end(e):
    return struct.pack(e + "HH", 0, 0)


def block(e, btype, body):
    body = pad(body)
    total = len(body) + 12
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def shb(e, opts=b""):
    return block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + opts)


def idb(e, lt, snap, opts=b""):
    return block(e, 1, struct.pack(e + "HHI", lt, 0, snap) + opts)


def epb(e, ifid, ts, data, opts=b"", orig=None):
    return block(e, 6, struct.pack(e + "IIIII", ifid, ts >> 32, ts & 0xffffffff,
                                   len(data), orig or len(data)) + pad(data) + opts)


def spb(e, data, orig):
    return block(e, 3, struct.pack(e + "I", orig) + data)


def pb(e, ifid, ts, data, opts=b""):
    return block(e, 2, struct.pack(e + "HHIIII", ifid, 3, ts >> 32, ts & 0xffffffff,
                                   len(data), len(data)) + pad(data) + opts)


def pcap(e, magic, lt, recs):
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144, lt)
    for sec, frac, data in recs:
        out += struct.pack(e + "IIII", sec, frac, len(data), len(data)) + data
    return out


def write(name, data):
    assert len(data) < 4096
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    le, be = "<", ">"
    write("pcapng_le_options.pcapng",
          shb(le, opt(le, 4, b"glassnat") + opt(le, 1, b"hi") + end(le)) +
          idb(le, 101, 0, opt(le, 2, b"inside") + opt(le, 9, b"\x09") +
              opt(le, 14, struct.pack(le + "q", -1)) + end(le)) +
          epb(le, 0, 1700000000123456789, IP,
              opt(le, 2, struct.pack(le + "I", 2)) + opt(le, 1, b"flow=1 dir=out") +
              opt(le, 3, b"\x02\xde\xad\xbe\xef") + opt(le, 4, struct.pack(le + "Q", 5)) +
              opt(le, 5, struct.pack(le + "Q", 9)) + opt(le, 6, struct.pack(le + "I", 1)) +
              opt(le, 7, b"\x01abcdefgh") + opt(le, 2988, b"\0\0\x7e\xd9xy") + end(le)))
    write("pcapng_be_sections.pcapng",
          shb(be) + idb(be, 1, 64, opt(be, 2, b"outside") + opt(be, 9, b"\x8a") + end(be)) +
          spb(be, b"\0" * 12 + b"\x08\x00" + IP, 42) +
          block(be, 0xBAD, b"\0\0\x7e\xd9custom") + block(be, 4, b"\0\0\0\0") +
          shb(le) + idb(le, 113, 0) + idb(le, 276, 0) +
          pb(le, 1, 12345, IP, opt(le, 2, struct.pack(le + "I", 1)) + end(le)) +
          epb(le, 0, 99, IP[:10], b"", 28))
    write("pcap_le_us.pcap", pcap(le, 0xA1B2C3D4, 101, [(1, 2, IP), (3, 4, IP[:20])]))
    write("pcap_be_ns.pcap", pcap(be, 0xA1B23C4D, 0x10000001,
                                  [(5, 6, b"\xff" * 12 + b"\x08\x00" + IP)]))


if __name__ == "__main__":
    main()
