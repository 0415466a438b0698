#!/usr/bin/env python3
"""Traffic ends for the live tests (tests/e2e/live_test.sh, scripts/demo.sh).

Every command is bounded by its own timeout; servers also run under
timeout(1) in the scripts. Output is one line a result, easy to grep.

  tcp-serve PORT            per connection: read to EOF, answer
                            "peer=IP:PORT bytes=N sha256=HEX"
  tcp-send HOST PORT BYTES  send BYTES pseudo-random bytes, check the
                            server's sha256: "ok peer=..." or "bad ..."
  tcp-probe HOST PORT       "connected" | "refused" | "timeout"
  udp-serve PORT            answer each datagram "peer=IP:PORT data=..."
  udp-ask HOST PORT MSG     print the answer; "refused" on ICMP port
                            unreachable; "timeout"
  ping HOST [--ttl N] [--id ID]
                            ICMP echo on a raw socket: "reply from IP id=ID"
                            or "time-exceeded from IP id=ID" or "timeout"
  ping-many HOST            --count echoes: "n=N p50_us=X p99_us=Y"
  conn-rate HOST PORT       new TCP connections a second: "conn_per_s=N"
  icmp-sniff N              print "src=IP id=ID" for the next N echo
                            requests received (raw socket)
"""
import argparse
import hashlib
import os
import random
import select
import socket
import struct
import sys
import time


def data_of(n):
    rnd = random.Random(20240611)
    return rnd.randbytes(n)


def tcp_serve(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", a.port))
    s.listen(64)
    print("listening", flush=True)
    while True:
        c, peer = s.accept()
        c.settimeout(30)
        h = hashlib.sha256()
        n = 0
        try:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                h.update(b)
                n += len(b)
            c.sendall(("peer=%s:%d bytes=%d sha256=%s\n"
                       % (peer[0], peer[1], n, h.hexdigest())).encode())
        except OSError:
            pass
        c.close()


def tcp_send(a):
    data = data_of(a.bytes)
    want = hashlib.sha256(data).hexdigest()
    try:
        c = socket.create_connection((a.host, a.port), timeout=a.timeout)
        c.settimeout(a.timeout)
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            got += b
    except OSError as e:
        print("error %s" % e)
        return 1
    line = got.decode(errors="replace").strip()
    ok = ("sha256=%s" % want) in line and ("bytes=%d" % a.bytes) in line
    print(("ok " if ok else "bad ") + line)
    return 0 if ok else 1


def tcp_probe(a):
    try:
        c = socket.create_connection((a.host, a.port), timeout=a.timeout)
        c.close()
        print("connected")
    except ConnectionRefusedError:
        print("refused")
    except (socket.timeout, TimeoutError):
        print("timeout")
    except OSError as e:
        print("error %s" % e)
    return 0


def udp_serve(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.port))
    print("listening", flush=True)
    while True:
        b, peer = s.recvfrom(65535)
        s.sendto(("peer=%s:%d data=%s" % (peer[0], peer[1],
                                          b.decode(errors="replace"))).encode(),
                 peer)


def udp_ask(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    if a.sport:
        # One flow across several asks (the fast path tests).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", a.sport))
    s.connect((a.host, a.port))
    try:
        s.send(a.msg.encode())
        print(s.recv(65535).decode(errors="replace"))
        return 0
    except ConnectionRefusedError:
        print("refused")
        return 3
    except (socket.timeout, TimeoutError):
        print("timeout")
        return 1


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ping(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    if a.ttl:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.ttl)
    payload = b"glassnat-e2e-ping"
    hdr = struct.pack("!BBHHH", 8, 0, 0, a.id, 1)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), a.id, 1) + payload
    s.sendto(pkt, (a.host, 0))
    end = time.time() + a.timeout
    while time.time() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.time()))
        if not r:
            break
        b, src = s.recvfrom(65535)
        ihl = (b[0] & 15) * 4
        t, code = b[ihl], b[ihl + 1]
        if t == 0:
            rid = struct.unpack("!H", b[ihl + 4:ihl + 6])[0]
            if rid == a.id:
                ok = csum(b[ihl:]) == 0
                print("reply from %s id=%d csum=%s" % (src[0], rid,
                                                       "ok" if ok else "bad"))
                return 0
        elif t in (3, 11):
            inner = b[ihl + 8:]
            iihl = (inner[0] & 15) * 4
            if inner[9] == 1 and len(inner) >= iihl + 8:
                rid = struct.unpack("!H", inner[iihl + 4:iihl + 6])[0]
                if rid == a.id:
                    name = "time-exceeded" if t == 11 else "unreachable"
                    print("%s from %s id=%d" % (name, src[0], rid))
                    return 0
    print("timeout")
    return 1


def ping_many(a):
    """--count N echoes --interval apart; prints p50/p99 RTT in us."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    rtts = []
    for seq in range(a.count):
        hdr = struct.pack("!BBHHH", 8, 0, 0, a.id, seq & 0xffff)
        pkt = struct.pack("!BBHHH", 8, 0, csum(hdr), a.id, seq & 0xffff)
        t0 = time.perf_counter()
        s.sendto(pkt, (a.host, 0))
        end = t0 + 1.0
        while time.perf_counter() < end:
            r, _, _ = select.select([s], [], [], end - time.perf_counter())
            if not r:
                break
            b, _ = s.recvfrom(2048)
            ihl = (b[0] & 15) * 4
            if b[ihl] == 0 and struct.unpack("!HH", b[ihl + 4:ihl + 8]) == \
                    (a.id, seq & 0xffff):
                rtts.append((time.perf_counter() - t0) * 1e6)
                break
        time.sleep(a.interval)
    rtts.sort()
    if not rtts:
        print("timeout")
        return 1
    pct = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))]
    print("n=%d p50_us=%.0f p99_us=%.0f" % (len(rtts), pct(0.5), pct(0.99)))
    return 0


def conn_rate(a):
    """New TCP connections per second for --seconds (connect, one byte,
    answer, close): prints "conn_per_s=N"."""
    n = 0
    t0 = time.perf_counter()
    end = t0 + a.seconds
    while time.perf_counter() < end:
        try:
            c = socket.create_connection((a.host, a.port), timeout=2)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            c.sendall(b"x")
            c.shutdown(socket.SHUT_WR)
            c.recv(256)
            c.close()
            n += 1
        except OSError:
            pass
    print("conn_per_s=%.0f" % (n / (time.perf_counter() - t0)))
    return 0


def icmp_sniff(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("listening", flush=True)
    seen = 0
    end = time.time() + a.timeout
    while seen < a.count and time.time() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.time()))
        if not r:
            break
        b, src = s.recvfrom(65535)
        ihl = (b[0] & 15) * 4
        if b[ihl] == 8:
            rid = struct.unpack("!H", b[ihl + 4:ihl + 6])[0]
            print("src=%s id=%d" % (src[0], rid), flush=True)
            seen += 1
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    x = sub.add_parser("tcp-serve"); x.add_argument("port", type=int)
    x = sub.add_parser("tcp-send"); x.add_argument("host")
    x.add_argument("port", type=int); x.add_argument("bytes", type=int)
    x.add_argument("--timeout", type=float, default=10)
    x = sub.add_parser("tcp-probe"); x.add_argument("host")
    x.add_argument("port", type=int)
    x.add_argument("--timeout", type=float, default=2)
    x = sub.add_parser("udp-serve"); x.add_argument("port", type=int)
    x = sub.add_parser("udp-ask"); x.add_argument("host")
    x.add_argument("port", type=int); x.add_argument("msg")
    x.add_argument("--timeout", type=float, default=2)
    x.add_argument("--sport", type=int, default=0)
    x = sub.add_parser("ping"); x.add_argument("host")
    x.add_argument("--ttl", type=int, default=0)
    x.add_argument("--id", type=int, default=4660)
    x.add_argument("--timeout", type=float, default=2)
    x = sub.add_parser("ping-many"); x.add_argument("host")
    x.add_argument("--count", type=int, default=200)
    x.add_argument("--interval", type=float, default=0.01)
    x.add_argument("--id", type=int, default=4662)
    x = sub.add_parser("conn-rate"); x.add_argument("host")
    x.add_argument("port", type=int)
    x.add_argument("--seconds", type=float, default=3)
    x = sub.add_parser("icmp-sniff"); x.add_argument("count", type=int)
    x.add_argument("--timeout", type=float, default=5)
    a = p.parse_args()
    fn = {"tcp-serve": tcp_serve, "tcp-send": tcp_send,
          "tcp-probe": tcp_probe, "udp-serve": udp_serve,
          "udp-ask": udp_ask, "ping": ping, "icmp-sniff": icmp_sniff,
          "ping-many": ping_many, "conn-rate": conn_rate}
    try:
        return fn[a.cmd](a) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
