#!/usr/bin/env bash
# IPv6 inside the overlay (issue 5): the network has a ULA /48, every node gets
# ULA::IPV4 on its TUN device, ping6 and TCP over IPv6 work between nodes, names
# answer AAAA (through the OS resolver ovl configured), and a restarted node keeps
# its IPv6 address. The underlay here is IPv4 only: the inner and outer families
# are independent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init ipv6
need_ovl
HOST_RESOLV_SUM=$(sha256sum /etc/resolv.conf)

bridge_lan sw
bridge_hosts 10.79.0 coord a b
has_ip6() { [ -n "$(self_field "$1" ip6 2>/dev/null)" ]; }

check "a network with three nodes; each has an IPv6 address from the network's ULA"
ovl_daemon coord up --name server --network v6net --cidr 100.98.0.0/16 --advertise-endpoint 10.79.0.1:51820 --json
wait_for test -s "$WORK/coord.out" --timeout 20 || fail "ovl up printed nothing"
TOKEN=$(reusable_token)
ovl_daemon a join "$TOKEN" --name alpha
ovl_daemon b join "$TOKEN" --name bravo
for h in coord a b; do wait_for --timeout 15 has_ip6 "$h" || fail "$h has no IPv6 overlay address"; done
ULA=$(self_field coord ula)
declare -A IP4 IP6
for h in coord a b; do
  IP4[$h]=$(self_field "$h" ip); IP6[$h]=$(self_field "$h" ip6)
  [ "$(self_field "$h" ula)" = "$ULA" ] || fail "$h sees another ULA than the coordinator"
  python3 - "$ULA" "${IP4[$h]}" "${IP6[$h]}" <<'PY' || fail "$h: ${IP6[$h]} is not $ULA with ${IP4[$h]} last"
import ipaddress, sys
ula, v4, v6 = ipaddress.ip_network(sys.argv[1]), ipaddress.ip_address(sys.argv[2]), ipaddress.ip_address(sys.argv[3])
assert ula.prefixlen == 48 and str(ula).startswith("fd"), ula
assert v6 in ula and (int(v6) >> 64) == (int(ula.network_address) >> 64), (v6, ula)   # subnet 0
assert int(v6) & 0xffffffff == int(v4), (v6, v4)
PY
  has_addr "$h" ovl0 "${IP6[$h]}/64" || fail "$h's ovl0 does not carry ${IP6[$h]}/64: $(nsx "$h" ip -o addr show dev ovl0)"
done
log "  ULA $ULA; a ${IP6[a]}, b ${IP6[b]}, server ${IP6[coord]}"

check "ping6 between every pair of nodes"
for x in coord a b; do
  for y in coord a b; do
    [ "$x" = "$y" ] && continue
    wait_for --timeout 15 ping_once "$x" "${IP6[$y]}" || fail "$x cannot ping6 $y (${IP6[$y]})"
  done
done
ping_ok a "${IP6[b]}" 5

check "peers reach each other directly (not through the relay)"
wait_for --timeout 15 bash -c "[ \"\$(ip netns exec $(ns a) $OVL_BIN --state-dir $WORK/state-a --json status | python3 -c 'import json,sys; print(sorted(p[\"path\"] for p in json.load(sys.stdin)[\"peers\"]))')\" = \"['direct', 'direct']\" ]" \
  || fail "a's paths are not direct: $(peer_path a bravo) $(peer_path a server)"

check "names answer AAAA: getent ahostsv6, ping -6 NAME"
wait_for --timeout 10 bash -c "ip netns exec $(ns a) getent ahostsv6 bravo.v6net.ovl | grep -q '^${IP6[b]} '" \
  || fail "bravo.v6net.ovl has no AAAA ${IP6[b]}: $(nsx a getent ahostsv6 bravo.v6net.ovl)"
got4=$(nsx a getent ahostsv4 bravo.v6net.ovl | awk 'NR==1{print $1}')
[ "$got4" = "${IP4[b]}" ] || fail "bravo.v6net.ovl A is '$got4', expected ${IP4[b]}"
nsx a ping -6 -c1 -W2 bravo >/dev/null || fail "ping -6 bravo (short name) fails on a"

check "TCP over IPv6: 1 MiB echoed back from b to a"
cat >"$WORK/echo6.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7007)); s.listen(1)
c, _ = s.accept()
while True:
    d = c.recv(65536)
    if not d: break
    c.sendall(d)
c.close()
PY
ip netns exec "$(ns b)" timeout 60 python3 "$WORK/echo6.py" "${IP6[b]}" >"$WORK/echo6.log" 2>&1 &
LAB_PIDS+=("$!")
wait_for --timeout 5 bash -c "[ -n \"\$(ip netns exec $(ns b) ss -Hltn 'sport = :7007')\" ]" || fail "echo server did not start"
out=$(nsx a timeout 30 python3 - "${IP6[b]}" <<'PY'
import hashlib, os, socket, sys
data = os.urandom(1 << 20)
s = socket.create_connection((sys.argv[1], 7007), timeout=10)
peer = s.getpeername()[0]
got = bytearray()
s.sendall(data); s.shutdown(socket.SHUT_WR)
while True:
    d = s.recv(65536)
    if not d: break
    got += d
print("ok" if bytes(got) == data else "mismatch %d" % len(got), peer)
PY
) || fail "TCP over IPv6 failed: $out"
[ "$out" = "ok ${IP6[b]}" ] || fail "TCP over IPv6: $out"
log "  $out"

check "a restarted node keeps its IPv6 address"
stop_pid "$PID_b" 10
ovl_daemon b up
wait_for --timeout 15 has_ip6 b || fail "b has no IPv6 address after the restart"
[ "$(self_field b ip6)" = "${IP6[b]}" ] || fail "b's IPv6 address changed: $(self_field b ip6) != ${IP6[b]}"
wait_for --timeout 15 ping_once a "${IP6[b]}" || fail "a cannot ping6 b after b's restart"

[ "$(sha256sum /etc/resolv.conf)" = "$HOST_RESOLV_SUM" ] || fail "the host's /etc/resolv.conf changed!"
pass
