#!/usr/bin/env python3
"""Traffic checks for the tunnel data plane (used by tests/e2e/test_dataplane.sh).

  dataplane.py tcp-serve  --bind IP:PORT --timeout S
  dataplane.py tcp-send   --to IP:PORT --bytes N --seed S --write W [--nodelay] --timeout S
  dataplane.py udp-recv   --bind IP:PORT --count N --seed S --timeout S
  dataplane.py udp-send   --to IP:PORT --count N --seed S
  dataplane.py shuffle    --listen IP:PORT --backend IP:PORT --group G --seed S --duration S
                          --stats FILE

tcp-send sends N seeded random bytes in writes of W bytes (W=1..64 with --nodelay gives
a flood of tiny segments; W=1048576 gives 64 KB TSO super-packets), half-closes, and
compares the SHA-256 that tcp-serve sends back with its own. udp-send sends N datagrams
of 4..64 bytes (a sequence number and seeded bytes) back to back; udp-recv checks that
each arrives once and intact. shuffle is a UDP relay between one peer and a backend that
releases datagrams in each direction in groups of G, shuffled, so the tunnel behind it
sees out-of-order delivery; it writes how many datagrams it moved and reordered.
Everything prints one JSON line and exits non-zero on a mismatch. Bounded in count and
time; addresses must be inside the lab (10.0.0.0/8, fd00::/8). Python stdlib only.
"""
import argparse
import hashlib
import ipaddress
import json
import random
import select
import signal
import socket
import struct
import sys
import time

LAB_NETS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def addr(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    ip = ipaddress.ip_address(host)
    if not any(ip.version == n.version and ip in n for n in LAB_NETS):
        raise argparse.ArgumentTypeError(f"{host} is not a lab address")
    return (host, int(port))


def family(a):
    return socket.AF_INET6 if ":" in a[0] else socket.AF_INET


def seeded(seed, n):
    return random.Random(seed).randbytes(n)


def done(ok, **kw):
    print(json.dumps(dict(ok=ok, **kw)))
    sys.exit(0 if ok else 1)


def tcp_serve(a):
    s = socket.socket(family(a.bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(a.bind)
    s.listen(1)
    s.settimeout(a.timeout)
    c, _ = s.accept()
    c.settimeout(a.timeout)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(json.dumps({"sha256": h.hexdigest(), "bytes": n}).encode())
    c.close()
    done(True, received=n)


def tcp_send(a):
    data = seeded(a.seed, a.bytes)
    s = socket.create_connection(a.to, timeout=a.timeout)
    if a.nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    deadline = time.monotonic() + a.timeout
    for off in range(0, len(data), a.write):
        if time.monotonic() > deadline:
            done(False, error="send timed out", sent=off)
        s.sendall(data[off:off + a.write])
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        reply += b
    got = json.loads(reply)
    want = hashlib.sha256(data).hexdigest()
    done(got["sha256"] == want and got["bytes"] == len(data), bytes=len(data), received=got["bytes"],
         sha_match=got["sha256"] == want)


def datagram(seed, i):
    r = random.Random(seed * 100003 + i)
    return struct.pack("!I", i) + r.randbytes(r.randrange(0, 61))


def udp_recv(a):
    s = socket.socket(family(a.bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: hold the whole burst
    s.bind(a.bind)
    print(json.dumps({"listening": True}), flush=True)
    seen, bad, dup = set(), 0, 0
    deadline = time.monotonic() + a.timeout
    while len(seen) < a.count and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        b = s.recv(2048)
        if len(b) < 4:
            bad += 1
            continue
        (i,) = struct.unpack("!I", b[:4])
        if i >= a.count or b != datagram(a.seed, i):
            bad += 1
        elif i in seen:
            dup += 1
        else:
            seen.add(i)
    done(len(seen) == a.count and bad == 0 and dup == 0, received=len(seen), want=a.count, corrupt=bad,
         duplicates=dup)


def udp_send(a):
    s = socket.socket(family(a.to), socket.SOCK_DGRAM)
    for i in range(a.count):
        s.sendto(datagram(a.seed, i), a.to)
    done(True, sent=a.count)


def shuffle(a):
    fam = family(a.listen)
    front = socket.socket(fam, socket.SOCK_DGRAM)
    front.bind(a.listen)
    back = socket.socket(family(a.backend), socket.SOCK_DGRAM)
    back.bind((a.listen[0], 0))
    for so in (front, back):
        so.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
        so.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)  # SO_SNDBUFFORCE
    rng = random.Random(a.seed)
    peer = None
    queues = {front: [], back: []}   # datagrams received on a socket, waiting to go out the other
    first = {front: 0.0, back: 0.0}
    moved = reordered = 0
    end = time.monotonic() + a.duration
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def release(src):
        nonlocal moved, reordered
        q = queues[src]
        order = list(range(len(q)))
        rng.shuffle(order)
        reordered += sum(1 for pos, i in enumerate(order) if pos != i)
        for i in order:
            if src is front:
                back.sendto(q[i], a.backend)
            elif peer is not None:
                front.sendto(q[i], peer)
        moved += len(q)
        q.clear()

    while time.monotonic() < end and not stop:
        try:
            r, _, _ = select.select([front, back], [], [], 0.002)
        except InterruptedError:
            continue
        now = time.monotonic()
        for so in r:
            for _ in range(64):
                try:
                    b, src = so.recvfrom(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if so is front:
                    peer = src
                if not queues[so]:
                    first[so] = now
                queues[so].append(b)
                if len(queues[so]) >= a.group:
                    release(so)
        for so in (front, back):
            # Nothing waits more than 2 ms: handshakes and the tail of a burst get through.
            if queues[so] and now - first[so] > 0.002:
                release(so)
    with open(a.stats, "w") as f:
        json.dump({"moved": moved, "reordered": reordered}, f)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("tcp-serve"); c.add_argument("--bind", type=addr, required=True)
    c.add_argument("--timeout", type=float, default=60)
    c = sub.add_parser("tcp-send"); c.add_argument("--to", type=addr, required=True)
    c.add_argument("--bytes", type=int, required=True); c.add_argument("--seed", type=int, default=1)
    c.add_argument("--write", type=int, default=1 << 20); c.add_argument("--nodelay", action="store_true")
    c.add_argument("--timeout", type=float, default=60)
    c = sub.add_parser("udp-recv"); c.add_argument("--bind", type=addr, required=True)
    c.add_argument("--count", type=int, required=True); c.add_argument("--seed", type=int, default=1)
    c.add_argument("--timeout", type=float, default=20)
    c = sub.add_parser("udp-send"); c.add_argument("--to", type=addr, required=True)
    c.add_argument("--count", type=int, required=True); c.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("shuffle"); c.add_argument("--listen", type=addr, required=True)
    c.add_argument("--backend", type=addr, required=True); c.add_argument("--group", type=int, default=8)
    c.add_argument("--seed", type=int, default=1); c.add_argument("--duration", type=float, required=True)
    c.add_argument("--stats", required=True)
    a = p.parse_args()
    if getattr(a, "bytes", 0) > 256 << 20 or getattr(a, "count", 0) > 100000:
        p.error("load too large for a test")
    if getattr(a, "duration", 0) > 300:
        p.error("duration over 300 s")
    {"tcp-serve": tcp_serve, "tcp-send": tcp_send, "udp-recv": udp_recv, "udp-send": udp_send,
     "shuffle": shuffle}[a.cmd](a)


if __name__ == "__main__":
    main()
