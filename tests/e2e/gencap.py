#!/usr/bin/env python3
"""Writes a deterministic pcapng capture for glassnat's replay tests.

The capture is what a NAT gateway configured with configs/hyper-nat.yaml
(nat_ip 192.168.45.57, inside 172.17.240.0/24) would see: packets from the
inside hosts before translation, and packets from the outside addressed the
way they arrive (to nat_ip, or to the inside host for bypassed flows).

Format: pcapng, one section, LINKTYPE_RAW (101), two interfaces "inside"
(id 0) and "outside" (id 1), nanosecond timestamps. Every Enhanced Packet
Block carries the direction flag glassnat reads (outbound = 2 for packets
from inside hosts, inbound = 1 for packets arriving from the outside) and
a comment describing the packet. All IP, TCP, UDP and ICMP checksums are
correct.

Python 3 standard library only.
"""

import argparse
import random
import struct
import sys

LINKTYPE_RAW = 101
IN_IF, OUT_IF = 0, 1          # interface ids
FLAG_INBOUND, FLAG_OUTBOUND = 1, 2
BASE_NS = 1_700_000_000 * 10**9  # fixed start time: 2023-11-14T22:13:20Z
STEP_NS = 1_000_000              # 1 ms between packets

NAT_IP = "192.168.45.57"
HOST21, HOST22, HOST23 = "172.17.240.21", "172.17.240.22", "172.17.240.23"
WEB, DNS, STRANGER = "198.51.100.10", "203.0.113.7", "203.0.113.99"
HOSTNET_SRV = "192.168.45.100"   # on the host network: rule 2, bypass

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def csum(data):
    """RFC 1071 Internet checksum, complemented, as stored in headers."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


class IpIds:
    """Deterministic IP identification numbers, one counter per source."""

    def __init__(self):
        self.next = {}

    def __call__(self, src):
        n = self.next.get(src, 0x1000 + ip4(src)[3] * 0x100)
        self.next[src] = n + 1
        return n & 0xFFFF


IP_IDS = IpIds()


def ipv4(src, dst, proto, payload, ttl=64, df=True):
    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, IP_IDS(src),
                      0x4000 if df else 0, ttl, proto, 0, ip4(src), ip4(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def pseudo(src, dst, proto, length):
    return ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, length)


def tcp(src, sport, dst, dport, seq, ack, flags, data=b"", mss=None):
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    off = (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags,
                      64240, 0, 0) + opts
    seg = hdr + data
    c = csum(pseudo(src, dst, 6, len(seg)) + seg)
    seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return ipv4(src, dst, 6, seg)


def udp(src, sport, dst, dport, data):
    length = 8 + len(data)
    dgram = struct.pack("!HHHH", sport, dport, length, 0) + data
    c = csum(pseudo(src, dst, 17, length) + dgram) or 0xFFFF
    dgram = dgram[:6] + struct.pack("!H", c) + dgram[8:]
    return ipv4(src, dst, 17, dgram, df=False)


def icmp(src, dst, typ, code, rest, data):
    msg = struct.pack("!BBH", typ, code, 0) + rest + data
    msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
    return ipv4(src, dst, 1, msg, df=False)


def echo(src, dst, typ, ident, seq):
    data = bytes((seq + i) & 0xFF for i in range(32))  # ping-like payload
    return icmp(src, dst, typ, 0, struct.pack("!HH", ident, seq), data)


def dns_query(qid, name):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + b"\0" + \
        struct.pack("!HH", 1, 1)


def dns_answer(qid, name, addr):
    query = dns_query(qid, name)
    hdr = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    answer = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 300, 4, ip4(addr))
    return hdr + query[12:] + answer


def scenario_basic():
    """Yields (outbound?, comment, packet) in capture order."""
    out, inn = True, False

    # 1. TCP through the NAT: .21:51000 <-> 198.51.100.10:443, port kept.
    c_isn, s_isn = 0x1000_0000, 0x2000_0000
    req = b"GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    c, s = c_isn + 1, s_isn + 1
    yield out, "tcp syn", tcp(HOST21, 51000, WEB, 443, c_isn, 0, TCP_SYN,
                              mss=1460)
    yield inn, "tcp syn-ack", tcp(WEB, 443, NAT_IP, 51000, s_isn, c,
                                  TCP_SYN | TCP_ACK, mss=1460)
    yield out, "tcp ack", tcp(HOST21, 51000, WEB, 443, c, s, TCP_ACK)
    yield out, "tcp request", tcp(HOST21, 51000, WEB, 443, c, s,
                                  TCP_PSH | TCP_ACK, req)
    c += len(req)
    yield inn, "tcp response", tcp(WEB, 443, NAT_IP, 51000, s, c,
                                   TCP_PSH | TCP_ACK, resp)
    s += len(resp)
    yield out, "tcp ack of response", tcp(HOST21, 51000, WEB, 443, c, s,
                                          TCP_ACK)
    yield out, "tcp fin from inside", tcp(HOST21, 51000, WEB, 443, c, s,
                                          TCP_FIN | TCP_ACK)
    c += 1
    yield inn, "tcp fin from outside", tcp(WEB, 443, NAT_IP, 51000, s, c,
                                           TCP_FIN | TCP_ACK)
    s += 1
    yield out, "tcp last ack", tcp(HOST21, 51000, WEB, 443, c, s, TCP_ACK)

    # 2. Bypass: .21:51001 -> 192.168.45.100:22 keeps its inside source;
    # the reply comes back to the inside host itself.
    c, s = 0x3000_0000, 0x4000_0000
    banner = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
    yield out, "bypass tcp syn", tcp(HOST21, 51001, HOSTNET_SRV, 22, c, 0,
                                     TCP_SYN, mss=1460)
    yield inn, "bypass tcp syn-ack", tcp(HOSTNET_SRV, 22, HOST21, 51001, s,
                                         c + 1, TCP_SYN | TCP_ACK, mss=1460)
    yield out, "bypass tcp ack", tcp(HOST21, 51001, HOSTNET_SRV, 22, c + 1,
                                     s + 1, TCP_ACK)
    yield inn, "bypass tcp banner", tcp(HOSTNET_SRV, 22, HOST21, 51001,
                                        s + 1, c + 1, TCP_PSH | TCP_ACK,
                                        banner)

    # 3. UDP DNS-like exchange: .22:53000 <-> 203.0.113.7:53.
    yield out, "udp dns query", udp(HOST22, 53000, DNS, 53,
                                    dns_query(0xBEEF, "www.example.test"))
    yield inn, "udp dns answer", udp(DNS, 53, NAT_IP, 53000,
                                     dns_answer(0xBEEF, "www.example.test",
                                                WEB))

    # 4. ICMP echo: .23 id 0x1234, three pings.
    for seq in (1, 2, 3):
        yield out, "icmp echo request %d" % seq, echo(HOST23, WEB, 8,
                                                      0x1234, seq)
        yield inn, "icmp echo reply %d" % seq, echo(WEB, NAT_IP, 0,
                                                    0x1234, seq)

    # 5. A second query on the UDP flow, refused with an ICMP port
    # unreachable that embeds the datagram as it left the NAT.
    q2 = udp(HOST22, 53000, DNS, 53, dns_query(0xCAFE, "mail.example.test"))
    yield out, "udp dns query 2", q2
    natted = udp(NAT_IP, 53000, DNS, 53, dns_query(0xCAFE,
                                                   "mail.example.test"))
    yield inn, "icmp port unreachable about udp 53000", icmp(
        DNS, NAT_IP, 3, 3, b"\0\0\0\0", natted)

    # 6. Unsolicited: no flow, no forward -> dropped (no_mapping).
    yield inn, "unsolicited tcp syn", tcp(STRANGER, 33333, NAT_IP, 40123,
                                          0x5000_0000, 0, TCP_SYN, mss=1460)


def fragment(pkt, chunk):
    """Cuts an IPv4 packet (20-byte header) into fragments of `chunk`
    payload bytes (a multiple of 8), keeping its IP id."""
    hdr, pay = pkt[:20], pkt[20:]
    out = []
    for off in range(0, len(pay), chunk):
        part = pay[off:off + chunk]
        more = 0x2000 if off + chunk < len(pay) else 0
        h = hdr[:2] + struct.pack("!H", 20 + len(part)) + hdr[4:6] + \
            struct.pack("!H", more | off // 8) + hdr[8:10] + b"\0\0" + \
            hdr[12:]
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        out.append(h + part)
    return out


def big(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def scenario_fragments():
    """Fragments and bad input (issue 17 items 4 and 12): yields
    (outbound?, comment, packet) in capture order."""
    out, inn = True, False

    # 1. A 4,000-byte UDP datagram out, on a 1500-byte MTU: 3 fragments,
    # in order; its 4,000-byte reply comes back last fragment first.
    q = fragment(udp(HOST22, 53001, DNS, 53, big(3992, 1)), 1480)
    for i, f in enumerate(q):
        yield out, "udp 4000 out fragment %d" % (i + 1), f
    r = fragment(udp(DNS, 53, NAT_IP, 53001, big(3992, 2)), 1480)
    for i in (2, 1, 0):
        yield inn, "udp 4000 reply fragment %d" % (i + 1), r[i]

    # 2. A later fragment whose first never comes: held, then dropped
    # (fragment_timeout) when the replay ends.
    lone = fragment(udp(HOST23, 53002, DNS, 53, big(2000, 3)), 1480)
    yield out, "udp later fragment, first never sent", lone[1]

    # 3. An overlapping fragment: the first is translated, the second
    # (moved 8 bytes back) and the rest are dropped (fragment_overlap).
    ov = fragment(udp(HOST21, 53003, DNS, 53, big(3992, 4)), 1480)
    bad = bytearray(ov[1])
    bad[6:8] = struct.pack("!H", 0x2000 | (1480 // 8 - 1))
    bad[10:12] = b"\0\0"
    bad[10:12] = struct.pack("!H", csum(bytes(bad[:20])))
    yield out, "udp overlap first fragment", ov[0]
    yield out, "udp overlapping fragment", bytes(bad)
    yield out, "udp fragment after the overlap", ov[2]

    # 4. Bad input: UDP length 4 (udp_length) and an ICMP error with a
    # wrong checksum (icmp_checksum).
    u = bytearray(udp(HOST21, 53004, DNS, 53, b"12345678"))
    u[24:26] = struct.pack("!H", 4)
    yield out, "udp length 4", bytes(u)
    natted = udp(NAT_IP, 53001, DNS, 53, b"x")
    e = bytearray(icmp(DNS, NAT_IP, 3, 3, b"\0\0\0\0", natted))
    e[22] ^= 0x10
    yield inn, "icmp port unreachable, bad checksum", bytes(e)


def scenario_rules():
    """The seeds' rule model (issue 16), for tests/e2e/replay_rules_test.sh
    and its config there: forwards matched by source and on a second
    address, a DNS redirect, two inside networks. Yields (outbound?,
    comment, packet) in capture order."""
    out, inn = True, False
    nat2, office, resolver = "192.168.45.58", "172.17.240.150", "198.51.100.53"

    # 1. Forward "ssh" admits 198.51.100.0/24 only.
    yield inn, "ssh syn from the admitted network", tcp(
        WEB, 50000, NAT_IP, 2222, 0x6000_0000, 0, TCP_SYN, mss=1460)
    yield inn, "ssh syn from another network", tcp(
        STRANGER, 50001, NAT_IP, 2222, 0x6100_0000, 0, TCP_SYN, mss=1460)
    # 2. Forward "web2" listens on the second address.
    yield inn, "web2 syn to the second address", tcp(
        STRANGER, 50002, nat2, 8080, 0x6200_0000, 0, TCP_SYN, mss=1460)
    yield out, "web2 syn-ack from inside", tcp(
        HOST21, 80, STRANGER, 50002, 0x6300_0000, 0x6200_0001,
        TCP_SYN | TCP_ACK, mss=1460)
    # 3. DNS to 203.0.113.7:53 redirected to 198.51.100.53:5353.
    yield out, "dns query to 203.0.113.7", udp(
        HOST22, 53000, DNS, 53, dns_query(0xD00D, "www.example.test"))
    yield inn, "dns answer from the resolver", udp(
        resolver, 5353, NAT_IP, 53000,
        dns_answer(0xD00D, "www.example.test", WEB))
    # 4. The lab (172.17.240.0/25, max_flows 4) opens 3 more flows: its
    # 2 oldest are evicted. The office opens 2 and keeps them.
    for i in range(3):
        yield out, "lab udp %d" % (i + 1), udp(HOST23, 54000 + i, WEB,
                                              9000 + i, b"lab")
    for i in range(2):
        yield out, "office udp %d" % (i + 1), udp(office, 55000 + i, WEB,
                                                 9100 + i, b"office")


# The scenarios below are for configs written by the tests themselves,
# with this NAT address (tests/e2e/{diskfull,translate}_test.sh).
NAT2 = "203.0.113.1"
R1, R2 = "198.51.100.10", "198.51.100.20"
S_NS = 10**9


def scenario_diskfull():
    """8,000 outbound 1,000-byte UDP datagrams that do not compress
    (seeded pseudo-random payloads, the same on every run): about 16 MB of
    trace (before and after), to fill a small disk."""
    rng = random.Random(19)
    for i in range(8000):
        yield True, "udp bulk %d" % i, udp("172.17.240.%d" % (21 + i % 8),
                                          50000 + i % 50, R1, 9,
                                          rng.randbytes(1000))


def scenario_ports():
    """Port collisions: three inside hosts use source port 51000 (UDP and
    TCP) and ICMP echo id 7 towards R1, host .21 also towards R2 (the same
    mapping: endpoint-independent), each gets a reply; then hosts .24 to
    .27 take the rest of a four-port range and exhaust it. The payload
    names each packet (tshark data.text)."""
    out, inn = True, False
    hosts = ["172.17.240.%d" % h for h in (21, 22, 23)]
    for h in hosts:
        yield out, "udp out " + h, udp(h, 51000, R1, 443, b"out " + h.encode())
    yield out, "udp out .21 to R2", udp(hosts[0], 51000, R2, 53, b"out2 .21")
    for h in hosts:
        yield out, "tcp syn " + h, tcp(h, 52000, R1, 80, 1000, 0, TCP_SYN,
                                       mss=1460)
    for h in hosts:
        yield out, "echo " + h, echo(h, R1, 8, 7, 1)
    for h in ["172.17.240.%d" % h for h in (24, 25, 26, 27)]:
        yield out, "udp fill " + h, udp(h, 51000, R1, 443, b"fill " +
                                        h.encode())


def scenario_ports_replies(mapped):
    """The replies to scenario_ports for `mapped` (per host: udp, tcp,
    icmp outside port / id), as the test computes them."""
    inn = False
    for h, (u, t, i) in mapped.items():
        yield inn, "udp reply " + h, udp(R1, 443, NAT2, u, b"reply " +
                                         h.encode())
        yield inn, "tcp syn-ack " + h, tcp(R1, 80, NAT2, t, 5000, 1001,
                                           TCP_SYN | TCP_ACK, mss=1460)
        yield inn, "echo reply " + h, echo(R1, NAT2, 0, i, 1)
    u21 = mapped["172.17.240.21"][0]
    yield inn, "udp reply R2 .21", udp(R2, 53, NAT2, u21, b"reply2 .21")


def scenario_filtering():
    """One mapping (.21:5000 -> R1:53), then inbound to it from R1:53,
    from R1:54 and from R2:53 (payloads a, b, c): which pass depends on
    the filtering mode."""
    out, inn = True, False
    yield out, "udp out", udp("172.17.240.21", 5000, R1, 53, b"query")
    yield inn, "a: same address and port", udp(R1, 53, NAT2, 5000, b"a")
    yield inn, "b: same address, other port", udp(R1, 54, NAT2, 5000, b"b")
    yield inn, "c: other address", udp(R2, 53, NAT2, 5000, b"c")


def scenario_expiry():
    """Idle timeouts (the test's config: udp 5 s, icmp 3 s, tcp_transitory
    4 s), with replay timestamps: each fourth element is the gap before
    the packet in seconds. Payloads name the packets."""
    out, inn = True, False
    h = "172.17.240.21"
    yield out, "udp out", udp(h, 6000, R1, 53, b"u0"), 0
    yield inn, "udp reply after 3 s", udp(R1, 53, NAT2, 6000, b"u1"), 3
    yield inn, "udp reply 4 s later", udp(R1, 53, NAT2, 6000, b"u2"), 4
    yield inn, "udp reply 7 s later", udp(R1, 53, NAT2, 6000, b"u3"), 7
    yield out, "echo", echo(h, R1, 8, 9, 1), 1
    yield inn, "echo reply after 2 s", echo(R1, NAT2, 0, 9, 1), 2
    yield inn, "echo reply 5 s later", echo(R1, NAT2, 0, 9, 2), 5
    yield out, "tcp syn", tcp(h, 7000, R1, 80, 1000, 0, TCP_SYN), 1
    yield inn, "tcp syn-ack after 6 s", tcp(R1, 80, NAT2, 7000, 5000, 1001,
                                            TCP_SYN | TCP_ACK), 6


SCENARIOS = {"basic": scenario_basic, "fragments": scenario_fragments,
             "rules": scenario_rules, "diskfull": scenario_diskfull,
             "ports": scenario_ports, "filtering": scenario_filtering,
             "expiry": scenario_expiry}


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def option(code, value):
    return struct.pack("<HH", code, len(value)) + pad4(value)


def block(btype, body):
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def shb():
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    body += option(4, b"glassnat tests/e2e/gencap.py") + option(0, b"")
    return block(0x0A0D0D0A, body)


def idb(name):
    body = struct.pack("<HHI", LINKTYPE_RAW, 0, 0)
    body += option(2, name.encode())            # if_name
    body += option(9, bytes([9]))               # if_tsresol: ns
    body += option(0, b"")
    return block(1, body)


def epb(ifid, ts_ns, pkt, flags, comment):
    body = struct.pack("<IIIII", ifid, ts_ns >> 32, ts_ns & 0xFFFFFFFF,
                       len(pkt), len(pkt)) + pad4(pkt)
    body += option(1, comment.encode())          # opt_comment
    body += option(2, struct.pack("<I", flags))  # epb_flags
    body += option(0, b"")
    return block(6, body)


def build(scenario, packets=None):
    out = [shb(), idb("inside"), idb("outside")]
    lines = []
    ts = BASE_NS
    for n, item in enumerate(packets or SCENARIOS[scenario](), 1):
        outbound, comment, pkt = item[:3]
        ts += STEP_NS + (item[3] * S_NS if len(item) > 3 else 0)
        if outbound:
            out.append(epb(IN_IF, ts, pkt, FLAG_OUTBOUND, comment))
        else:
            out.append(epb(OUT_IF, ts, pkt, FLAG_INBOUND, comment))
        lines.append("%3d %-3s %s" % (n, "out" if outbound else "in",
                                      comment))
    return b"".join(out), lines


def main():
    ap = argparse.ArgumentParser(
        description="Write a deterministic pcapng capture for glassnat's "
                    "replay tests (raw IPv4, interfaces inside/outside, "
                    "EPB direction flags).",
        epilog="example: tests/e2e/gencap.py --out /tmp/in.pcapng")
    ap.add_argument("--out", "-o", required=True,
                    help="the pcapng file to write")
    ap.add_argument("--scenario", default="basic", choices=sorted(SCENARIOS),
                    help="which traffic to generate (default: basic)")
    ap.add_argument("--list", action="store_true",
                    help="also print one line per packet on stdout")
    ap.add_argument("--replies", metavar="HOST=UDP,TCP,ICMP", nargs="+",
                    help="with --scenario ports: the outside port / id the "
                         "test expects for each host; the capture adds a "
                         "reply to each after the outbound packets")
    args = ap.parse_args()
    packets = None
    if args.replies:
        mapped = {}
        for r in args.replies:
            host, ports = r.split("=")
            mapped[host] = tuple(int(x) for x in ports.split(","))
        packets = list(scenario_ports()) + \
            list(scenario_ports_replies(mapped))
    data, lines = build(args.scenario, packets)
    try:
        with open(args.out, "wb") as f:
            f.write(data)
    except OSError as e:
        print("gencap.py: %s: %s" % (args.out, e.strerror), file=sys.stderr)
        return 1
    if args.list:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
