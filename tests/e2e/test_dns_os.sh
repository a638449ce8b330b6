#!/usr/bin/env bash
# The node points the OS resolver at the overlay's names (issue 5 "Names", issue 7 "kill -9
# repairs any DNS change"): on a node whose /etc/resolv.conf is a plain file naming a lab
# nameserver, `ping NAME` and `getent hosts NAME.NETWORK.ovl` work while ovl runs, the lab's
# own name resolves the same before, during and after; a clean stop gives the file back byte
# for byte; after kill -9 the lab name still resolves (an unreachable route ovl left next to
# its block makes glibc skip 100.100.100.100 at once), a restart repairs the stale block
# (exactly one block, names work) and a stop restores the file. The host's /etc/resolv.conf
# is checked byte-identical before and after.
#
# Why the lab name keeps working with 100.100.100.100 first in the file: the node's responder
# answers REFUSED for names outside NETWORK.ovl (checked here on the wire) and glibc then
# asks the next nameserver.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init dns_os
need_ovl

HOST_RESOLV_SUM=$(sha256sum /etc/resolv.conf)
host_resolv_unchanged() {
  [ "$(sha256sum /etc/resolv.conf)" = "$HOST_RESOLV_SUM" ] || fail "the host's /etc/resolv.conf changed!"
}

# --- the lab: coordinator, node a and a lab nameserver on one bridge (10.78.0.0/24)
bridge_lan sw
bridge_hosts 10.78.0 coord a labdns
LABDNS=10.78.0.3
# a has a default route, as a real host does (to labdns, which forwards nothing): a query
# to 100.100.100.100 with the node dead would follow it and time out, were it not for the
# unreachable route ovl keeps next to its block.
nsx a ip route add default via "$LABDNS"
resolver_unreachable() { ! nsx a ip route get 100.100.100.100 >/dev/null 2>&1; }
resolver_via_default() { nsx a ip route get 100.100.100.100 2>/dev/null | grep -q "via $LABDNS"; }

# A tiny stand-in for the LAN's recursive resolver: other.lab.test A 10.78.0.99 (NODATA for
# other types), NXDOMAIN for every other name, as a recursive resolver says for a made-up
# TLD like .ovl. It logs each query's name.
cat >"$WORK/labdns.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
log = open(sys.argv[2], "a", buffering=1)
while True:
    q, peer = s.recvfrom(1500)
    if len(q) < 12: continue
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace").lower()); i += 1 + q[i]
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    name = ".".join(labels)
    log.write(name + "\n")
    ans, rcode = b"", 0
    if name == "other.lab.test":
        if qtype == 1:
            ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("10.78.0.99")
    elif name != "lab.test":
        rcode = 3
    hdr = struct.pack("!HHHHHH", qid, 0x8400 | 0x0100 | rcode, 1, 1 if ans else 0, 0, 0)
    s.sendto(hdr + question + ans, peer)
PY
ip netns exec "$(ns labdns)" python3 "$WORK/labdns.py" "$LABDNS" "$WORK/labdns.queries" >"$WORK/labdns.log" 2>&1 &
LAB_PIDS+=("$!")
LAB_LOGS+=("$WORK/labdns.log")
wait_for --timeout 5 bash -c "[ -n \"\$(ip netns exec $(ns labdns) ss -Hlun 'sport = :53')\" ]" \
  || fail "the lab nameserver did not start"

# a's plain resolv.conf, as a DHCP client would write it.
ns_resolv a "# written by the lab's DHCP client" "search lab.test" "nameserver $LABDNS" "options edns0"
RESOLV_A="/etc/netns/$(ns a)/resolv.conf"
cp "$RESOLV_A" "$WORK/resolv.orig"
blocks() { grep -c '^# ovl begin' "$RESOLV_A" || true; }
has_block() { [ "$(blocks)" = 1 ]; }
no_block() { cmp -s "$RESOLV_A" "$WORK/resolv.orig"; }
lab_name_ok() { # the lab name, full and through the lab's own search domain
  [ "$(nsx a getent hosts other.lab.test | awk '{print $1}')" = 10.78.0.99 ] || return 1
  [ "$(nsx a getent hosts other | awk '{print $1}')" = 10.78.0.99 ]
}

check "before ovl: the lab name resolves on a"
lab_name_ok || fail "the lab nameserver does not answer other.lab.test"
host_resolv_unchanged

check "ovl up (coordinator node) and a joins with --dns resolv.conf"
ovl_daemon coord up --name server --network dnsos --cidr 100.97.0.0/16 --advertise-endpoint 10.78.0.1:51820 --json
wait_for test -s "$WORK/coord.out" --timeout 20 || fail "ovl up printed nothing"
TOKEN=$(json_field token <"$WORK/coord.out")
wait_for has_overlay_ip coord --timeout 10 || fail "the coordinator's node did not come up"
SERVER_IP=$(overlay_ip coord)
ovl_daemon a -v join "$TOKEN" --name alpha --dns resolv.conf
wait_for --timeout 15 joined a || fail "a did not join"
wait_for --timeout 10 has_block || fail "no ovl block in a's resolv.conf: $(cat "$RESOLV_A")"
log "  a's resolv.conf while ovl runs:"; sed 's/^/    | /' "$RESOLV_A"
head -n 4 "$RESOLV_A" | grep -qx 'nameserver 100.100.100.100' || fail "100.100.100.100 is not in the block at the top"
grep -qx 'search dnsos.ovl lab.test' "$RESOLV_A" || fail "the search line does not keep lab.test after dnsos.ovl"
dns_status=$(ovl_cli a --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["self"]["dns"])')
[ "$dns_status" = resolv.conf ] || fail "ovl status says dns '$dns_status', expected resolv.conf"

check "names work through the OS resolver: getent hosts NAME.NETWORK.ovl, ping NAME"
# `getent hosts` asks for AAAA first (glibc's getent), so it shows the IPv6 overlay address.
SERVER_IP6=$(ovl_cli coord --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["self"]["ip6"])')
wait_for --timeout 10 bash -c "[ \"\$(ip netns exec $(ns a) getent hosts server.dnsos.ovl | awk '{print \$1}')\" = $SERVER_IP6 ]" \
  || fail "getent hosts server.dnsos.ovl does not give $SERVER_IP6: $(nsx a getent hosts server.dnsos.ovl)"
got=$(nsx a getent ahostsv4 server.dnsos.ovl | awk 'NR==1{print $1}')
[ "$got" = "$SERVER_IP" ] || fail "getent ahostsv4 server.dnsos.ovl gives '$got', expected $SERVER_IP"
wait_for --timeout 10 nsx a ping -c1 -W1 server || fail "ping server (short name) fails on a"
log "  server.dnsos.ovl -> $SERVER_IP6 (hosts), $SERVER_IP (ahostsv4); ping server ok"

check "the node's resolver REFUSES the lab name (so glibc moves on), and the lab name still resolves"
rcode=$(nsx a python3 - <<'PY'
import socket, struct
q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x05other\x03lab\x04test\x00" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(q, ("100.100.100.100", 53))
print(struct.unpack("!H", s.recv(1500)[2:4])[0] & 0xF)
PY
)
[ "$rcode" = 5 ] || fail "100.100.100.100 answered other.lab.test with rcode $rcode, expected 5 (REFUSED)"
: >"$WORK/labdns.queries"
t0=$(now_ms)
lab_name_ok || fail "the lab name stopped resolving while ovl runs: $(cat "$RESOLV_A")"
t1=$(now_ms)
grep -qx other.lab.test "$WORK/labdns.queries" || fail "the lab nameserver was not asked"
log "  other.lab.test and 'other' resolved through REFUSED -> next nameserver in $((t1 - t0)) ms"
host_resolv_unchanged

check "a clean stop (ovl down) gives the file back byte for byte"
ovl_cli a down >/dev/null
wait_for pid_gone "$PID_a" --timeout 10 || fail "a did not stop"
no_block || { diff "$WORK/resolv.orig" "$RESOLV_A" >&2; fail "a's resolv.conf differs after a clean stop"; }
resolver_via_default || fail "the unreachable route to 100.100.100.100 stayed after a clean stop"
lab_name_ok || fail "the lab name does not resolve after the stop"

check "kill -9: the block stays, the lab name still resolves while the node is dead"
ovl_daemon a up --dns resolv.conf
wait_for --timeout 15 has_block || fail "no block after restart"
wait_for --timeout 10 nsx a ping -c1 -W1 server || fail "ping server fails after restart"
kill -9 "$PID_a"
wait_for pid_gone "$PID_a" --timeout 5
has_block || fail "expected the stale block to remain after kill -9"
resolver_unreachable || fail "100.100.100.100 is routable with the node dead: $(nsx a ip route get 100.100.100.100)"
t0=$(now_ms)
lab_name_ok || fail "the lab name does not resolve with ovl dead and its block in place"
t1=$(now_ms)
log "  lab name with a dead node's block: $((t1 - t0)) ms (100.100.100.100 is unreachable, glibc moves on)"

check "restart after kill -9 repairs: exactly one block, names work; then stop restores the file"
ovl_daemon a up --dns resolv.conf
wait_for --timeout 15 nsx a ping -c1 -W1 server || fail "ping server fails after the repair"
[ "$(blocks)" = 1 ] || fail "expected one block, found $(blocks): $(cat "$RESOLV_A")"
grep -q "removed the block a previous run left" "$WORK/a.log" || fail "the restart did not report the repair"
lab_name_ok || fail "the lab name does not resolve after the repair"
stop_pid "$PID_a" 10
no_block || { diff "$WORK/resolv.orig" "$RESOLV_A" >&2; fail "a's resolv.conf differs after stop"; }
resolver_via_default || fail "the unreachable route to 100.100.100.100 stayed after the stop"

check "a file another program rewrote while ovl ran (a DHCP renewal) is left as it is at stop"
ovl_daemon a up --dns resolv.conf
wait_for --timeout 15 has_block || fail "no block after restart"
ns_resolv a "# renewed by the lab's DHCP client" "search lab.test" "nameserver $LABDNS"
cp "$RESOLV_A" "$WORK/resolv.renewed"
stop_pid "$PID_a" 10
cmp -s "$RESOLV_A" "$WORK/resolv.renewed" || fail "ovl changed a file it no longer had a block in"
resolver_via_default || fail "the unreachable route to 100.100.100.100 stayed after the stop"
lab_name_ok || fail "the lab name does not resolve after the renewal"

check "a node in a namespace without its own resolv.conf refuses --dns resolv.conf and resolved"
ns_new bare   # no /etc/netns file: `ip netns exec` shows the host's /etc/resolv.conf
for mode in resolv.conf resolved; do
  rc=0
  out=$(ip netns exec "$(ns bare)" "$OVL_BIN" --state-dir "$WORK/state-bare" up --network bare --dns "$mode" 2>&1) || rc=$?
  [ "$rc" != 0 ] || fail "--dns $mode in a namespace sharing the host's file started"
  grep -q "refusing" <<<"$out" || fail "--dns $mode: unclear refusal: $out"
  nsx bare ip link show ovl0 >/dev/null 2>&1 && fail "--dns $mode left a TUN device"
done
log "  refused: $(tail -n1 <<<"$out")"
host_resolv_unchanged
log "  host /etc/resolv.conf byte-identical before and after"
pass
