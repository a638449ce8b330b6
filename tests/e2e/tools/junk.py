#!/usr/bin/env python3
"""Bounded garbage for ovl's listening sockets (used by tests/e2e/test_hostile.sh).

  junk.py udp  --seed S --count N --duration SECS HOST:PORT...
  junk.py tcp  --seed S --conns N --hold SECS [--big-len L --big-send B] HOST:PORT
  junk.py unix --seed S --count N [--hold-silent K] PATH

Every subcommand is bounded in count and time and prints one JSON summary line on
stdout. Targets must be inside the lab (203.0.113.0/24 or 10.0.0.0/8): the tool
refuses anything else, so a typo cannot spray junk at a real network. Python
stdlib only.
"""
import argparse
import ipaddress
import json
import os
import random
import select
import socket
import struct
import sys
import time

LAB_NETS = [ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("10.0.0.0/8")]


def lab_target(s):
    host, _, port = s.rpartition(":")
    ip = ipaddress.ip_address(host)
    if not any(ip in n for n in LAB_NETS):
        raise SystemExit("junk.py: refusing to send to %s: not a lab address" % host)
    return host, int(port)


# ----------------------------------------------------------------------------- UDP

STUN_MAGIC = 0x2112A442


def stun_header(rng, mtype=0x0001, length=0, magic=STUN_MAGIC):
    return struct.pack(">HHI", mtype, length, magic) + rng.randbytes(12)


def stun_attr(atype, value):
    pad = (-len(value)) % 4
    return struct.pack(">HH", atype, len(value)) + value + b"\0" * pad


def udp_payload(rng):
    """One datagram: (kind, bytes). Mostly plausible-looking headers cut or bent in
    the ways parsers get wrong, the rest plain random bytes of random size 0..1500."""
    r = rng.random()
    if r < 0.30:
        return "random", rng.randbytes(rng.randint(0, 1500))
    if r < 0.60:  # WireGuard: type 1..4, three zero bytes, then garbage
        t = rng.randint(1, 4)
        full = {1: 148, 2: 92, 3: 64, 4: 32 + 16 * rng.randint(0, 90)}[t]
        size = rng.choice([full, full, full - 1, full + 1, full // 2, 4, 5, 16, 31, rng.randint(0, 1500)])
        body = bytes([t, 0, 0, 0]) + rng.randbytes(max(0, size - 4))
        body = body[:size]
        if rng.random() < 0.1 and len(body) >= 4:  # reserved bytes not zero
            body = body[:1] + rng.randbytes(3) + body[4:]
        if t == 4 and len(body) >= 16 and rng.random() < 0.3:  # small receiver indexes, counter 0
            body = body[:4] + struct.pack("<IQ", rng.randint(0, 16), 0) + body[16:]
        return "wg%d" % t, body
    if r < 0.85:  # STUN: valid, lying lengths, bad attributes, truncated, responses
        k = rng.randint(0, 9)
        if k == 0:
            return "stun", stun_header(rng)  # a real Binding request (answered)
        if k == 1:
            return "stun", stun_header(rng, length=rng.choice([4, 100, 0xFFFC, 0xFFFF]))
        if k == 2:
            return "stun", stun_header(rng)[: rng.randint(0, 19)]
        if k == 3:  # an attribute running past the end
            attr = struct.pack(">HH", rng.choice([0x0001, 0x0020, 0x8028, 0x0003]), 0xFFFF) + rng.randbytes(8)
            return "stun", stun_header(rng, length=len(attr)) + attr
        if k == 4:  # CHANGE-REQUEST / RESPONSE-ADDRESS (must not be answered to a third party)
            attrs = stun_attr(0x0003, struct.pack(">I", 6)) + stun_attr(0x0002, b"\x00\x01\x04\xd2\x0a\x00\x00\x01")
            return "stun", stun_header(rng, length=len(attrs)) + attrs
        if k == 5:  # responses nobody asked for
            xma = stun_attr(0x0020, b"\x00\x01" + rng.randbytes(6))
            return "stun", stun_header(rng, mtype=rng.choice([0x0101, 0x0111]), length=len(xma)) + xma
        if k == 6:  # wrong FINGERPRINT, not last
            attrs = stun_attr(0x8028, rng.randbytes(4)) + stun_attr(0x8022, b"junk")
            return "stun", stun_header(rng, length=len(attrs)) + attrs
        if k == 7:  # classic RFC 3489, odd lengths
            return "stun", struct.pack(">HH", 0x0001, rng.choice([0, 3, 8])) + rng.randbytes(16)
        if k == 8:  # many tiny attributes
            attrs = b"".join(stun_attr(rng.randint(0, 0xFFFF), rng.randbytes(rng.randint(0, 7))) for _ in range(60))
            return "stun", stun_header(rng, length=len(attrs)) + attrs
        body = rng.randbytes(rng.randint(0, 1480))
        return "stun", stun_header(rng, mtype=rng.randint(0, 0x3FFF), length=len(body)) + body
    # ovl relay messages ("OVR1" + type): bogus allocations, sends without one, truncations
    t = rng.randint(0, 6)
    size = {1: 77, 2: 13, 3: 38 + rng.randint(0, 1400), 4: 38 + rng.randint(0, 100), 5: 6}.get(t, rng.randint(5, 200))
    body = b"OVR1" + bytes([t]) + rng.randbytes(size - 5)
    if rng.random() < 0.3:
        body = body[: rng.randint(0, len(body))]
    return "relay", body


def cmd_udp(a):
    rng = random.Random(a.seed)
    targets = [lab_target(t) for t in a.targets]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.setblocking(False)
    sent = sent_bytes = errors = replies = reply_bytes = max_reply = 0
    kinds = {}
    per_target = {"%s:%d" % t: 0 for t in targets}
    t0 = time.monotonic()

    def drain():
        nonlocal replies, reply_bytes, max_reply
        while True:
            try:
                d = s.recv(65536)
            except (BlockingIOError, ConnectionRefusedError):
                return
            replies += 1
            reply_bytes += len(d)
            max_reply = max(max_reply, len(d))

    for i in range(a.count):
        # pace evenly over the duration
        due = t0 + a.duration * i / a.count
        while True:
            now = time.monotonic()
            if now >= due:
                break
            select.select([s], [], [], due - now)
            drain()
        kind, data = udp_payload(rng)
        tgt = targets[i % len(targets)]
        try:
            s.sendto(data, tgt)
            sent += 1
            sent_bytes += len(data)
            kinds[kind] = kinds.get(kind, 0) + 1
            per_target["%s:%d" % tgt] += 1
        except (BlockingIOError, ConnectionRefusedError, OSError):
            errors += 1
        if i % 64 == 0:
            drain()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        select.select([s], [], [], 0.05)
        drain()
    print(json.dumps({"sent": sent, "bytes": sent_bytes, "send_errors": errors, "replies": replies,
                      "reply_bytes": reply_bytes, "max_reply": max_reply, "kinds": kinds,
                      "per_target": per_target, "seconds": round(time.monotonic() - t0, 1)}))


# ----------------------------------------------------------------------------- TCP

TCP_MODES = ["random", "huge_len", "zero_len", "over_max", "bad_init", "half_init", "wg_transport",
             "half_big", "slow", "silent"]
# The coordinator must hang up on these by itself (a frame it can never accept).
MUST_CLOSE = {"huge_len", "zero_len", "over_max", "bad_init", "wg_transport"}


def frame(body):
    return struct.pack(">I", len(body)) + body


def tcp_first_bytes(mode, rng, big_len, big_send):
    if mode == "random":
        return rng.randbytes(rng.randint(1, 4096))
    if mode == "huge_len":
        return b"\xff\xff\xff\xff" + rng.randbytes(rng.randint(0, 64))
    if mode == "zero_len":
        return b"\x00\x00\x00\x00" + rng.randbytes(rng.randint(0, 64))
    if mode == "over_max":  # one byte above the 16 MiB frame limit
        return struct.pack(">I", (16 << 20) + 1) + rng.randbytes(16)
    if mode == "bad_init":  # a whole handshake-initiation-sized frame with a wrong MAC
        return frame(bytes([1, 0, 0, 0]) + rng.randbytes(144))
    if mode == "half_init":  # half of an initiation, then silence
        return struct.pack(">I", 148) + bytes([1, 0, 0, 0]) + rng.randbytes(70)
    if mode == "wg_transport":  # a transport message before any handshake
        return frame(bytes([4, 0, 0, 0]) + rng.randbytes(60))
    if mode == "half_big":  # announce a large frame, send part of it, hang
        return struct.pack(">I", big_len) + rng.randbytes(big_send)
    return b""  # slow (dripped later), silent


def cmd_tcp(a):
    rng = random.Random(a.seed)
    host, port = lab_target(a.target)
    stats = {m: {"opened": 0, "refused": 0, "closed_by_server": 0} for m in TCP_MODES}
    conns = []  # [sock, mode, pending bytes, closed]
    t0 = time.monotonic()
    for i in range(a.conns):
        mode = TCP_MODES[i % len(TCP_MODES)]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, port))
        except OSError:
            stats[mode]["refused"] += 1
            s.close()
            continue
        s.setblocking(False)
        stats[mode]["opened"] += 1
        conns.append([s, mode, tcp_first_bytes(mode, rng, a.big_len, a.big_send), False])
    slow_bytes = struct.pack(">I", 148) + bytes([1, 0, 0, 0])
    deadline = t0 + a.hold
    next_drip = 0.0
    drip_i = 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        # push pending bytes (large ones go out as the socket drains)
        for c in conns:
            s, mode, pending, closed = c
            if closed or not pending:
                continue
            try:
                while pending:
                    n = s.send(pending[:1 << 20])
                    pending = pending[n:]
            except BlockingIOError:
                pass
            except OSError:
                c[3] = True
                stats[mode]["closed_by_server"] += 1
            c[2] = pending
        if now >= next_drip:  # slowloris: one byte a second
            next_drip = now + 1.0
            if drip_i < len(slow_bytes):
                b = slow_bytes[drip_i:drip_i + 1]
                drip_i += 1
                for c in conns:
                    if c[1] == "slow" and not c[3]:
                        try:
                            c[0].send(b)
                        except OSError:
                            pass
        live = [c[0] for c in conns if not c[3]]
        if not live:
            time.sleep(min(0.1, max(0.0, deadline - now)))
            continue
        r, _, _ = select.select(live, [], [], min(0.1, max(0.0, deadline - now)))
        for s in r:
            c = next(c for c in conns if c[0] is s)
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if not d:  # EOF or reset: the server hung up
                c[3] = True
                stats[c[1]]["closed_by_server"] += 1
            # anything else the server says to junk is read and ignored
    for c in conns:
        c[0].close()
    unsent = sum(len(c[2]) for c in conns if not c[3])
    must_close_open = sum(stats[m]["opened"] - stats[m]["closed_by_server"] for m in MUST_CLOSE)
    print(json.dumps({"conns": a.conns, "opened": sum(v["opened"] for v in stats.values()),
                      "refused": sum(v["refused"] for v in stats.values()),
                      "closed_by_server": sum(v["closed_by_server"] for v in stats.values()),
                      "must_close_still_open": must_close_open, "unsent_bytes": unsent,
                      "modes": stats, "seconds": round(time.monotonic() - t0, 1)}))


# ----------------------------------------------------------------------------- unix

def unix_requests(rng, n):
    """(kind, bytes, expects_answer): one request per connection, as the API takes them."""
    fixed = [
        ("empty_line", b"\n", True),
        ("not_object", b"[1,2,3]\n", True),
        ("not_object", b"\"status\"\n", True),
        ("not_object", b"42\n", True),
        ("not_object", b"null\n", True),
        ("bad_json", b"{\"cmd\":\n", True),
        ("bad_json", b"{\"cmd\":\"st\xffatus\"}\n", True),  # invalid UTF-8
        ("bad_json", b"{\"cmd\":\"\\ud800\"}\n", True),  # lone surrogate
        ("wrong_type", b"{\"cmd\":5}\n", True),
        ("wrong_type", b"{\"cmd\":null}\n", True),
        ("wrong_type", b"{\"cmd\":{\"a\":[]}}\n", True),
        ("wrong_type", b"{\"cmd\":\"invite.create\",\"uses\":\"many\"}\n", True),
        ("wrong_type", b"{\"cmd\":\"invite.create\",\"uses\":1e300}\n", True),
        ("wrong_type", b"{\"cmd\":\"invite.create\",\"expires_s\":-5}\n", True),
        ("wrong_type", b"{\"cmd\":\"invite.create\",\"groups\":\"x\"}\n", True),
        ("wrong_type", b"{\"cmd\":\"invite.create\",\"name\":\"NOT A NAME\"}\n", True),
        ("wrong_type", b"{\"cmd\":\"invite.revoke\",\"id\":[1]}\n", True),
        ("wrong_type", b"{\"cmd\":\"remove\",\"node\":\"no-such-node\"}\n", True),
        ("wrong_type", b"{\"cmd\":\"rename\",\"node\":\"no-such-node\",\"name\":7}\n", True),
        ("unknown_cmd", b"{\"cmd\":\"\\u0000\"}\n", True),
        ("unknown_cmd", b"{\"cmd\":\"" + b"A" * 60000 + b"\"}\n", True),
        ("deep_nesting", b"[" * 30000 + b"]" * 30000 + b"\n", True),
        ("deep_nesting", b"{\"a\":" * 12000 + b"1" + b"}" * 12000 + b"\n", True),
        ("too_large", b"{" + b" " * (70 * 1024), True),  # no newline within the 64 KiB limit
        ("half_line", b"{\"cmd\":\"sta", False),  # then close
        ("nothing", b"", False),  # connect, close
    ]
    out = list(fixed)
    while len(out) < n:
        d = rng.randbytes(rng.randint(1, 2048)).replace(b"\n", b" ")
        out.append(("random", d + b"\n", True))
    return out[:max(n, len(fixed))]


def cmd_unix(a):
    rng = random.Random(a.seed)
    silent = []
    for _ in range(a.hold_silent):  # held open, saying nothing, while the rest goes on
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(a.path)
        silent.append(s)
    stats = {}
    bad = []
    for kind, data, expects in unix_requests(rng, a.count):
        st = stats.setdefault(kind, {"sent": 0, "error_answers": 0, "other_answers": 0, "no_answer": 0})
        st["sent"] += 1
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(a.path)
        try:
            if data:
                s.sendall(data)
            if not expects:
                s.close()
                continue
            buf = b""
            while not buf.endswith(b"\n"):
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        except OSError as e:
            buf = b""
            if kind != "too_large":  # the daemon may answer and close before reading it all
                bad.append("%s: %s" % (kind, e))
        s.close()
        try:
            j = json.loads(buf) if buf else None
        except ValueError:
            j = None
        if isinstance(j, dict) and "error" in j:
            st["error_answers"] += 1
        elif j is None:
            st["no_answer"] += 1
            bad.append("%s: no answer (%r)" % (kind, buf[:80]))
        else:
            st["other_answers"] += 1
            bad.append("%s: not an error: %r" % (kind, buf[:200]))
    for s in silent:
        s.close()
    print(json.dumps({"requests": sum(v["sent"] for v in stats.values()), "kinds": stats,
                      "problems": bad[:10], "problem_count": len(bad)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("udp")
    u.add_argument("--seed", type=int, default=1)
    u.add_argument("--count", type=int, default=20000)
    u.add_argument("--duration", type=float, default=8.0)
    u.add_argument("targets", nargs="+")
    t = sub.add_parser("tcp")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--conns", type=int, default=200)
    t.add_argument("--hold", type=float, default=4.0)
    t.add_argument("--big-len", type=int, default=1 << 20)
    t.add_argument("--big-send", type=int, default=256 << 10)
    t.add_argument("target")
    x = sub.add_parser("unix")
    x.add_argument("--seed", type=int, default=1)
    x.add_argument("--count", type=int, default=100)
    x.add_argument("--hold-silent", type=int, default=5)
    x.add_argument("path")
    a = p.parse_args()
    if a.cmd == "udp":
        if a.count > 200000 or a.duration > 60:
            raise SystemExit("junk.py: too much (bounded: count <= 200000, duration <= 60 s)")
        cmd_udp(a)
    elif a.cmd == "tcp":
        if a.conns > 2000 or a.hold > 60 or a.big_send > a.big_len or a.big_len > (16 << 20):
            raise SystemExit("junk.py: too much (conns <= 2000, hold <= 60 s, big-send <= big-len <= 16 MiB)")
        cmd_tcp(a)
    else:
        cmd_unix(a)


if __name__ == "__main__":
    sys.exit(main())
