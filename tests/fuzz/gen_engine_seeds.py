#!/usr/bin/env python3
"""Writes the seed files of fuzz_engine into tests/fuzz/seeds/fuzz_engine/.
Run from the repository root.

Each seed is a sequence of records [dir:1][gap:1][len:2 big endian][IPv4
packet], the input fuzz_engine feeds to one engine: dir 1 is from the
inside (172.17.240.0/24), 2 from the outside; gap advances the clock in
tenths of a second. The engine's config is fuzz_engine.c's setup():
nat_ip 203.0.113.1, bypass to 192.0.2.0/24, tcp/25 dropped, forward
tcp/8080 -> 172.17.240.21:80, port_range 40000-40003, 64 flows (4 a host),
udp 2 s, icmp 1 s, tcp transitory 3 s. Every packet has valid checksums,
so the seeds reach translation, not only the parser's refusals."""
import os
import struct

OUT = "tests/fuzz/seeds/fuzz_engine"
OUTD, IND = 1, 2
NAT = "203.0.113.1"
H1, H2 = "172.17.240.21", "172.17.240.22"
SRV = "198.51.100.10"


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(proto, src, dst, payload, ident=1, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0,
                    ttl, proto, 0, ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def l4sum(proto, src, dst, seg, off):
    ph = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(seg))
    c = csum(ph + seg)
    return seg[:off] + struct.pack("!H", c) + seg[off + 2:]


def tcp(src, sp, dst, dp, flags, seq=1000, ack=0, data=b""):
    seg = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535,
                      0, 0) + data
    return ipv4(6, src, dst, l4sum(6, src, dst, seg, 16))


def udp(src, sp, dst, dp, data):
    seg = struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data
    return ipv4(17, src, dst, l4sum(17, src, dst, seg, 6))


def icmp(src, dst, typ, code, rest, body):
    m = struct.pack("!BBH4s", typ, code, 0, rest) + body
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return ipv4(1, src, dst, m)


def echo(src, dst, typ, ident, seq):
    return icmp(src, dst, typ, 0, struct.pack("!HH", ident, seq), b"ping")


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def rec(d, gap, pkt):
    return struct.pack("!BBH", d, gap, len(pkt)) + pkt


def seed(name, recs):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"".join(recs))


def main():
    os.makedirs(OUT, exist_ok=True)
    # A TCP connection, opened, used and closed from both ends.
    seed("tcp_session", [
        rec(OUTD, 0, tcp(H1, 51000, SRV, 443, SYN)),
        rec(IND, 1, tcp(SRV, 443, NAT, 51000, SYN | ACK, 5000, 1001)),
        rec(OUTD, 1, tcp(H1, 51000, SRV, 443, ACK, 1001, 5001)),
        rec(OUTD, 1, tcp(H1, 51000, SRV, 443, PSH | ACK, 1001, 5001, b"GET /")),
        rec(IND, 1, tcp(SRV, 443, NAT, 51000, PSH | ACK, 5001, 1006, b"200 OK")),
        rec(OUTD, 1, tcp(H1, 51000, SRV, 443, FIN | ACK, 1006, 5007)),
        rec(IND, 1, tcp(SRV, 443, NAT, 51000, FIN | ACK, 5007, 1007)),
        rec(OUTD, 1, tcp(H1, 51000, SRV, 443, ACK, 1007, 5008)),
    ])
    # UDP out and back, an ICMP port unreachable quoting it, then expiry
    # (a gap of 25.5 s is past the 2 s UDP timeout) and a late reply.
    q = udp(H2, 53000, "203.0.113.7", 53, b"query")
    seed("udp_icmp_error", [
        rec(OUTD, 0, q),
        rec(IND, 1, udp("203.0.113.7", 53, NAT, 53000, b"answer")),
        rec(OUTD, 1, q),
        rec(IND, 1, icmp("203.0.113.7", NAT, 3, 3, b"\0" * 4,
                         udp("203.0.113.7", 53, NAT, 53000, b"")[:28])),
        rec(IND, 1, icmp("203.0.113.7", NAT, 3, 3, b"\0" * 4,
                         ipv4(17, NAT, "203.0.113.7",
                              struct.pack("!HHHH", 53000, 53, 13, 0)))),
        rec(IND, 255, udp("203.0.113.7", 53, NAT, 53000, b"late")),
    ])
    # ICMP echo both ways, a time exceeded quoting an echo, expiry.
    seed("icmp_echo", [
        rec(OUTD, 0, echo(H1, SRV, 8, 0x1234, 1)),
        rec(IND, 1, echo(SRV, NAT, 0, 0x1234, 1)),
        rec(OUTD, 1, echo(H1, SRV, 8, 0x1234, 2)),
        rec(IND, 1, icmp("198.51.100.1", NAT, 11, 0, b"\0" * 4,
                         echo(NAT, SRV, 8, 0x1234, 2)[:28])),
        rec(IND, 30, echo(SRV, NAT, 0, 0x1234, 2)),
    ])
    # The port forward from outside, a hairpin to it from inside, an
    # unsolicited SYN, the bypass and the tcp/25 drop rules.
    seed("forward_hairpin_rules", [
        rec(IND, 0, tcp(SRV, 5555, NAT, 8080, SYN)),
        rec(OUTD, 1, tcp(H1, 80, SRV, 5555, SYN | ACK, 7000, 1001)),
        rec(OUTD, 1, tcp(H2, 52000, NAT, 8080, SYN)),
        rec(OUTD, 1, tcp(H1, 80, NAT, 52000, SYN | ACK, 8000, 1001)),
        rec(IND, 1, tcp("203.0.113.99", 4444, NAT, 40001, SYN)),
        rec(OUTD, 1, udp(H1, 6000, "192.0.2.5", 123, b"ntp")),
        rec(OUTD, 1, tcp(H2, 52001, SRV, 25, SYN)),
        rec(IND, 1, tcp(SRV, 443, NAT, 51000, RST, 1, 0)),
    ])
    # Port collisions and exhaustion: 4 ports, 4 flows a host, two hosts
    # wanting the same source port, then more flows than ports.
    recs = []
    for i in range(6):
        recs.append(rec(OUTD, 0, udp(H1, 40000, "198.51.100.%d" % (20 + i),
                                     7, b"x")))
        recs.append(rec(OUTD, 0, udp(H2, 40000, "198.51.100.%d" % (20 + i),
                                     7, b"y")))
    for i in range(6):
        recs.append(rec(OUTD, 0, udp("172.17.240.%d" % (30 + i), 33000 + i,
                                     SRV, 9, b"z")))
    recs.append(rec(IND, 1, udp("198.51.100.20", 7, NAT, 40000, b"back")))
    seed("ports_exhausted", recs)
    # Classification by address (dir 0) and packets the parser refuses:
    # a truncated header, a bad IP checksum, options, a fragment.
    syn = tcp(H1, 51500, SRV, 80, SYN)
    badsum = syn[:10] + b"\0\0" + syn[12:]
    frag = bytearray(udp(H1, 51600, SRV, 9, b"A" * 24))
    frag[6:8] = struct.pack("!H", 0x2000)
    frag[10:12] = b"\0\0"
    frag[10:12] = struct.pack("!H", csum(bytes(frag[:20])))
    seed("classify_and_refuse", [
        rec(0, 0, syn),
        rec(0, 1, tcp(SRV, 80, NAT, 51500, SYN | ACK, 1, 1001)),
        rec(OUTD, 1, syn[:30]),
        rec(OUTD, 1, badsum),
        rec(OUTD, 1, bytes(frag)),
        rec(IND, 1, b"\x60" + b"\0" * 39),
    ])


if __name__ == "__main__":
    main()
