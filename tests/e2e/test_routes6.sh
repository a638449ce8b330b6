#!/usr/bin/env bash
# IPv6 subnet routes and IPv6 through exit nodes (issue 5):
#   * gw advertises an IPv6 LAN; once approved, laptop reaches a host on it (ping6 and TCP,
#     masqueraded behind gw's LAN address), and gw's nft table forwards only that prefix;
#   * `ovl route advertise ::/0` makes gw an exit node in both families: one approval
#     (of 0.0.0.0/0) covers both, and laptop then reaches a lab "internet" host over IPv4
#     and IPv6 through gw while its own IPv6 LAN stays direct;
#   * the IPv6 routing rules are gone after `ovl set --exit-node none`, survive a kill -9
#     only until the next start, and gw puts IPv6 forwarding back when it stops.
#
#   coord 10.20.0.1 ─┐                      ┌── lanhost 10.77.1.10  fd00:77:1::10
#   gw    10.20.0.2 ─┤ (bridge sw)      gw ─┤
#   laptop 10.20.0.3 ┘                      └── inet 203.0.113.200  2001:db8:113::200
#     └── ylan 10.88.0.2  fd00:88::2   (laptop's own LAN)
# Only gw reaches lanhost and inet; they have no default route, so an answer proves gw
# masqueraded the request.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init routes6
need_ovl
command -v nft >/dev/null || fail "missing tool: nft (the nftables package)"

bridge_lan sw
bridge_hosts 10.20.0 coord gw laptop
for h in lanhost inet ylan; do ns_new "$h"; done
veth_link gw 10.77.1.1 lanhost 10.77.1.10
addr6 gw "$VETH_A" fd00:77:1::1/64; addr6 lanhost "$VETH_B" fd00:77:1::10/64
veth_link gw 203.0.113.1 inet 203.0.113.200
addr6 gw "$VETH_A" 2001:db8:113::1/64; addr6 inet "$VETH_B" 2001:db8:113::200/64
veth_link laptop 10.88.0.1 ylan 10.88.0.2
addr6 laptop "$VETH_A" fd00:88::1/64; addr6 ylan "$VETH_B" fd00:88::2/64
for h in gw laptop; do nsx "$h" sysctl -qw net.ipv6.conf.all.forwarding=0; done

route_is() { [ "$(route_state "$1" "$2")" = "$3" ]; }
gw_rules() { nsx gw nft list table inet ovl 2>&1; }
ping6_once() { nsx "$1" ping -6 -c1 -W1 "$2" >/dev/null 2>&1; }
no_ping6() { ! ping6_once "$@"; }
rule6_count() { nsx "$1" ip -6 rule show | grep -c "$2" || true; }
exit_families() { ovl_cli laptop --json status | python3 -c '
import json, sys
e = json.load(sys.stdin)["exit_node"]
print("none" if e is None else ",".join(e.get("families", [])) or "inactive")'; }
# tcp_from HOST ADDR: what a one-shot TCP server on lanhost [ADDR]:8080 saw as the client
tcp_from() {
  nsx lanhost timeout 10 python3 -c '
import socket, sys; s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080)); s.listen(1); c, a = s.accept(); c.sendall(("from %s" % a[0]).encode()); c.close()' "$2" &
  LAB_PIDS+=("$!")
  listening() { grep -q "$2\]:8080" <<<"$(nsx lanhost ss -ltn)"; }
  wait_for --timeout 5 listening "$@" || fail "lanhost server did not start"
  nsx "$1" timeout 5 python3 -c '
import socket, sys; s = socket.create_connection((sys.argv[1], 8080), timeout=3); print(s.recv(100).decode())' "$2"
}

check "a network of three; every node has an IPv6 overlay address"
coord_up lab6 100.91.0.0/16 10.20.0.1:51820
TOKEN=$(reusable_token)
ovl_daemon gw -v join "$TOKEN" --name gw
ovl_daemon laptop -v join "$TOKEN" --name laptop
has_ip6() { [ -n "$(self_field "$1" ip6 2>/dev/null)" ]; }
wait_for has_ip6 gw --timeout 15 || fail "gw has no IPv6 overlay address"
wait_for has_ip6 laptop --timeout 15 || fail "laptop has no IPv6 overlay address"
GW_IP6=$(self_field gw ip6)
# the network's ULA /48, and a /64 inside it
ULA=$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1] + "/48", strict=False))' "$GW_IP6")
IN_ULA=$(python3 -c 'import ipaddress, sys; print(list(ipaddress.ip_network(sys.argv[1]).subnets(new_prefix=64))[5])' "$ULA")
wait_for --timeout 10 ping6_once laptop "$GW_IP6" || fail "laptop cannot ping6 gw over the overlay"
no_ping6 laptop fd00:77:1::10 || fail "lanhost reachable over IPv6 before any route exists"

check "IPv6 routes that can never work are refused with exit status 2"
expect_bad gw "host bits" route advertise fd00:77:1::1/64
expect_bad gw "link-local" route advertise fe80::/64
expect_bad gw "not a routable" route advertise ff05::/16
expect_bad gw "overlaps the overlay" route advertise "$IN_ULA"
expect_bad gw "too wide" route advertise 2000::/3
expect_bad coord "does not advertise" route approve gw fd00:77:1::/64

check "gw advertises fd00:77:1::/64; approved, laptop reaches lanhost over IPv6 through gw"
ovl_cli gw route advertise fd00:77:1::/64 >/dev/null
wait_for --timeout 5 route_is gw fd00:77:1::/64 "True False" || fail "coordinator sees: $(route_state gw fd00:77:1::/64)"
grep -q 'iifname "ovl0" meta nfproto ipv6 drop' <<<"$(gw_rules)" || fail "unapproved: gw forwards IPv6: $(gw_rules)"
[ "$(nsx gw sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] || fail "IPv6 forwarding on before an IPv6 route is approved"
no_ping6 laptop fd00:77:1::10 || fail "lanhost reachable before approval"
t0=$(now_ms)
ovl_cli coord route approve gw fd00:77:1::/64 >/dev/null
wait_for --timeout 10 ping6_once laptop fd00:77:1::10 || fail "laptop cannot ping6 lanhost after approval"
log "  approve -> first IPv6 answer from lanhost: $(($(now_ms) - t0)) ms"
grep -q "fd00:77:1::/64 dev ovl0" <<<"$(nsx laptop ip -6 route show)" || fail "laptop has no IPv6 route via ovl0"
[ "$(nsx gw sysctl -n net.ipv6.conf.all.forwarding)" = 1 ] || fail "gw did not turn on IPv6 forwarding"
grep -qE 'ip6 daddr != \{? ?fd00:77:1::/64 \}? ?drop' <<<"$(gw_rules)" || fail "gw forwards more than approved: $(gw_rules)"
got=$(tcp_from laptop fd00:77:1::10)
[ "$got" = "from fd00:77:1::1" ] || fail "TCP to lanhost: '$got' (expected it to come from gw's LAN address)"
no_ping6 laptop 2001:db8:113::200 || fail "the IPv6 internet host is reachable without an exit node"
# The other way (the default policy's "*" includes routed subnets): lanhost, routing the
# overlay's ULA via gw, reaches laptop.
nsx lanhost ip -6 route add "$ULA" via fd00:77:1::1
wait_for --timeout 5 ping6_once lanhost "$(self_field laptop ip6)" || fail "lanhost cannot reach laptop over IPv6"
nsx lanhost ip -6 route del "$ULA" via fd00:77:1::1

check "policies apply to routed IPv6 traffic: only TCP 8080 from laptop to gw (and its LAN)"
ovl_cli coord policy rm default >/dev/null
ovl_cli coord policy add web --from laptop --to gw --proto tcp --ports 8080 >/dev/null
wait_for --timeout 5 no_ping6 laptop fd00:77:1::10 || fail "ICMPv6 to the routed LAN still passes"
got=$(tcp_from laptop fd00:77:1::10)
[ "$got" = "from fd00:77:1::1" ] || fail "the allowed TCP port through the route: '$got'"
denied_from_laptop() { ovl_cli gw --json status | python3 -c '
import json, sys
print([p["denied_packets"] for p in json.load(sys.stdin)["peers"] if p["name"] == "laptop"][0])'; }
[ "$(denied_from_laptop)" -gt 0 ] || fail "gw counted no denied IPv6 packets from laptop"
ovl_cli coord policy rm web >/dev/null
ovl_cli coord policy add default --from '*' --to '*' >/dev/null
wait_for --timeout 5 ping6_once laptop fd00:77:1::10 || fail "the default policy back: lanhost still unreachable"

check "ovl route advertise ::/0 offers an exit node in both families; one approval covers both"
out=$(ovl_cli gw route advertise ::/0)
grep -q "this node advertises 0.0.0.0/0, ::/0, fd00:77:1::/64" <<<"$out" || fail "advertise ::/0 said: $out"
wait_for --timeout 5 route_is gw 0.0.0.0/0 "True False" || fail "0.0.0.0/0: $(route_state gw 0.0.0.0/0)"
[ "$(route_state gw ::/0)" = "True False" ] || fail "::/0: $(route_state gw ::/0)"
expect_bad laptop "not an approved exit node" set --exit-node gw
ovl_cli coord route approve gw 0.0.0.0/0 >/dev/null
[ "$(route_state gw ::/0)" = "True True" ] || fail "approving 0.0.0.0/0 did not approve ::/0: $(route_state gw ::/0)"
learned() { grep -q '::/0' <<<"$(ovl_cli laptop --json status)"; }
wait_for --timeout 5 learned || fail "laptop did not learn that gw is an IPv6 exit node"
ovl_cli laptop set --exit-node gw >/dev/null
wait_for --timeout 10 ping6_once laptop 2001:db8:113::200 || fail "laptop cannot reach the IPv6 internet host via gw"
ping_once laptop 203.0.113.200 || fail "laptop cannot reach the IPv4 internet host via gw"
ping6_once laptop fd00:88::2 || fail "laptop lost its own IPv6 LAN with the exit node on"
ping6_once laptop fd00:77:1::10 || fail "laptop lost the IPv6 subnet route with the exit node on"
grep -q "dev ovl0" <<<"$(nsx laptop ip -6 route get 2001:db8:113::200)" || fail "IPv6 internet not via ovl0"
[ "$(exit_families)" = "ipv4,ipv6" ] || fail "status: exit node families $(exit_families)"
[ "$(rule6_count laptop 'suppress_prefixlength 0')" = 1 ] || fail "IPv6 rules: $(nsx laptop ip -6 rule show)"
grep -q "exit node gw: in use (ipv4, ipv6)" <<<"$(ovl_cli laptop status)" || fail "ovl status: $(ovl_cli laptop status)"
[ "$(peer_path laptop gw)" = direct ] || fail "laptop's tunnel to gw is $(peer_path laptop gw), expected direct"

check "ovl set --exit-node none: IPv6 goes back to direct, the IPv6 rules are gone"
ovl_cli laptop set --exit-node none >/dev/null
wait_for --timeout 5 no_ping6 laptop 2001:db8:113::200 || fail "IPv6 internet still reachable without the exit node"
[ "$(rule6_count laptop 0x6f766c)" = 0 ] || fail "IPv6 exit rules left: $(nsx laptop ip -6 rule show)"
ping6_once laptop fd00:77:1::10 || fail "the IPv6 subnet route went with the exit node"

check "kill -9 with the exit node on: the next start removes the IPv6 rules; gw restores forwarding"
ovl_cli laptop set --exit-node gw >/dev/null
wait_for --timeout 10 ping6_once laptop 2001:db8:113::200 || fail "exit node did not come back"
kill -9 "$PID_laptop"; wait "$PID_laptop" 2>/dev/null || true
[ "$(rule6_count laptop 'suppress_prefixlength 0')" = 1 ] || fail "expected the IPv6 rules to outlive kill -9"
ovl_daemon laptop -v up --exit-node none
wait_for --timeout 15 ping6_once laptop "$GW_IP6" || fail "after the restart laptop cannot reach gw"
[ "$(rule6_count laptop 0x6f766c)" = 0 ] || fail "stale IPv6 rules not removed at start: $(nsx laptop ip -6 rule show)"
[ "$(rule6_count laptop 'suppress_prefixlength 0')" = 0 ] || fail "stale IPv6 rules: $(nsx laptop ip -6 rule show)"
ovl_cli gw down >/dev/null; wait_for pid_gone "$PID_gw" --timeout 10 || fail "gw did not stop"
[ "$(nsx gw sysctl -n net.ipv6.conf.all.forwarding)" = 0 ] || fail "gw did not restore IPv6 forwarding"
[ -z "$(nsx gw nft list tables 2>/dev/null)" ] || fail "gw left an nft table: $(nsx gw nft list tables)"

pass
