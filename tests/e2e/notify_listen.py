#!/usr/bin/env python3
"""A stand-in for systemd's notify socket (sd_notify(3)): binds an AF_UNIX
datagram socket at PATH ('@name': the abstract namespace), and writes each
datagram it receives as one line "SECONDS_SINCE_START KEY=value KEY=value"
to OUT, flushed, until SECONDS pass. Used by tests/e2e/service_test.sh.

    notify_listen.py PATH OUT SECONDS
"""
import os
import socket
import sys
import time


def main():
    path, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = "\0" + path[1:] if path.startswith("@") else path
    s.bind(addr)
    if not path.startswith("@"):
        os.chmod(path, 0o666)
    start = time.monotonic()
    with open(out, "w") as f:
        f.write("listening\n")
        f.flush()
        while True:
            left = secs - (time.monotonic() - start)
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data = s.recv(4096)
            except socket.timeout:
                break
            kv = data.decode(errors="replace").strip().split("\n")
            f.write("%.3f %s\n" % (time.monotonic() - start, " ".join(kv)))
            f.flush()


if __name__ == "__main__":
    main()
