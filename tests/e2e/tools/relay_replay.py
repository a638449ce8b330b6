#!/usr/bin/env python3
"""Capture a node's relay ALLOCATE and replay it from elsewhere (tests/e2e/test_relay_standalone.sh).

  relay_replay.py capture --iface IF --port P --timeout SECS OUTFILE
      Sniffs IF (AF_PACKET, run it in the relay's namespace) for a proved ALLOCATE
      (125 bytes, "OVR1" type 1, a non-zero cookie) sent to UDP port P and writes
      its payload and source to OUTFILE as JSON.
  relay_replay.py replay --timeout SECS CAPTURE HOST:PORT
      Sends the captured bytes to the relay from this host, then a SEND to the
      captured node's own key, and prints one JSON line: what came back to each
      and how many bytes were sent and received.

Bounded in packets and time. The relay must be inside the lab (203.0.113.0/24):
anything else is refused. Python stdlib only.
"""
import argparse
import ipaddress
import json
import socket
import struct
import sys
import time

LAB = ipaddress.ip_network("203.0.113.0/24")
MAGIC = b"OVR1"
ALLOCATE_SIZE = 125
TYPES = {1: "allocate", 2: "allocated", 3: "send", 4: "data", 5: "refused", 6: "challenge"}


def capture(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    s.bind((a.iface, 0))
    s.settimeout(0.5)
    deadline = time.monotonic() + a.timeout
    seen = 0
    while time.monotonic() < deadline and seen < 100000:
        try:
            frame = s.recv(65535)
        except socket.timeout:
            continue
        seen += 1
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue
        sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
        payload = ip[ihl + 8:ihl + ulen]
        if dport != a.port or len(payload) != ALLOCATE_SIZE or payload[:5] != MAGIC + b"\x01":
            continue
        cookie = payload[77:93]
        if cookie == bytes(16):
            continue  # a first contact: not yet proved
        src = socket.inet_ntoa(ip[12:16])
        with open(a.out, "w") as f:
            json.dump({"hex": payload.hex(), "source": f"{src}:{sport}", "node": payload[5:37].hex()}, f)
        print(json.dumps({"captured": True, "source": f"{src}:{sport}"}))
        return 0
    print(json.dumps({"captured": False}))
    return 1


def reply(sock, timeout):
    sock.settimeout(timeout)
    try:
        data = sock.recv(65535)
    except socket.timeout:
        return None, 0
    kind = TYPES.get(data[4], "?") if len(data) >= 5 and data[:4] == MAGIC else "other"
    if kind == "refused" and len(data) == 6:
        kind += f"/{data[5]}"
    return kind, len(data)


def replay(a):
    host, _, port = a.relay.rpartition(":")
    if ipaddress.ip_address(host) not in LAB:
        print(f"relay_replay.py: {host} is outside the lab (203.0.113.0/24)", file=sys.stderr)
        return 2
    cap = json.load(open(a.capture))
    allocate = bytes.fromhex(cap["hex"])
    node = bytes.fromhex(cap["node"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = (host, int(port))
    sent = received = 0
    sock.sendto(allocate, target)
    sent += len(allocate)
    kind, n = reply(sock, a.timeout)
    received += n
    # Then use the place the replay would have won: a SEND (WireGuard-sized junk).
    send = MAGIC + b"\x03" + node[:8] + bytes(64)  # to the node's own id
    sock.sendto(send, target)
    sent += len(send)
    send_kind, n2 = reply(sock, a.timeout)
    received += n2
    print(json.dumps({"allocate_reply": kind, "allocate_reply_len": n, "send_reply": send_kind,
                      "sent": sent, "received": received}))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--iface", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--timeout", type=float, default=30)
    c.add_argument("out")
    r = sub.add_parser("replay")
    r.add_argument("--timeout", type=float, default=3)
    r.add_argument("capture")
    r.add_argument("relay")
    a = p.parse_args()
    return capture(a) if a.cmd == "capture" else replay(a)


if __name__ == "__main__":
    sys.exit(main())
