#!/usr/bin/env bash
# Subnet routes and exit nodes (issue 5):
#   * a host on a LAN behind node gw (its own namespace, not running ovl) is reachable from
#     node laptop only once an admin approved the route gw advertises, and no longer once
#     the approval is taken back; bad input is refused with exit status 2 and stores nothing;
#   * gw, restarted with --advertise-exit-node and approved, carries laptop's default route
#     to a lab "internet" host that only gw can reach, while laptop's own LAN, its control
#     link to the coordinator (behind a router) and its direct tunnel to gw stay as they were;
#   * the exit route and gw's nft table are gone after `ovl set --exit-node none` / `ovl
#     down`, and a kill -9 leaves nothing a restart does not repair.
#
#   coord 10.20.1.10 ─┐            ┌─ 10.20.3.20 gw ─── 10.77.1.0/24 ── lanhost 10.77.1.10
#                     rt (router) ─┤               └─── 203.0.113.0/24 ─ inet 203.0.113.200
#   laptop 10.20.2.2 ─┘            (no route to 10.77.1.0/24 or 203.0.113.0/24 anywhere)
#      └── 10.88.0.0/24 ── ylan 10.88.0.2   (laptop's own LAN)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init routes
need_ovl
command -v nft >/dev/null || fail "missing tool: nft (the nftables package)"

for h in rt coord gw laptop lanhost inet ylan; do ns_new "$h"; done
veth_link rt 10.20.1.1 coord 10.20.1.10
veth_link rt 10.20.3.1 gw 10.20.3.20
veth_link rt 10.20.2.1 laptop 10.20.2.2
veth_link gw 10.77.1.1 lanhost 10.77.1.10
veth_link gw 203.0.113.1 inet 203.0.113.200
veth_link laptop 10.88.0.1 ylan 10.88.0.2
nsx rt sysctl -qw net.ipv4.ip_forward=1
nsx coord ip route add default via 10.20.1.1
nsx gw ip route add default via 10.20.3.1
nsx laptop ip route add default via 10.20.2.1
# lanhost, inet and ylan have no default route: they answer only their own segment, so a
# reply from lanhost or inet to laptop proves gw masqueraded the request.

routes_json() { ovl_cli coord --json route list; }
# (no `cmd | grep -q` here: with pipefail, grep quitting early fails cmd with SIGPIPE)
gw_rules() { nsx gw nft list table inet ovl 2>&1; }
route_is() { [ "$(route_state "$1" "$2")" = "$3" ]; }
status_has() { local s; s=$(ovl_cli "$1" --json status) && grep -q -- "$2" <<<"$s"; }
no_route() { ! grep -q "$2" <<<"$(nsx "$1" ip route show)"; }
no_ping() { ! nsx "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
nft_table_count() { nsx "$1" nft list tables 2>/dev/null | grep -c '^table inet ovl$' || true; }
rule_count() { nsx "$1" ip rule show | grep -c "$2" || true; }
exit_status() { ovl_cli laptop --json route list | python3 -c '
import json, sys
r = json.load(sys.stdin)["routes"]
assert {"node": "gw", "prefix": "10.77.1.0/24", "advertised": True, "approved": True, "active": True,
        "exit": False} in r, r' || fail "route list on laptop does not show gw's active route"
ovl_cli laptop --json status | python3 -c '
import json, sys
s = json.load(sys.stdin); e = s["exit_node"]
print(s["control"], "none" if e is None else ("active" if e["active"] else "inactive"))'; }

check "a network: coordinator behind a router, gw and laptop join"
coord_up lab 100.90.0.0/16 10.20.1.10:51820
TOKEN=$(reusable_token)
ovl_daemon gw -v join "$TOKEN" --name gw
ovl_daemon laptop -v join "$TOKEN" --name laptop
wait_for has_overlay_ip gw --timeout 15 || fail "gw did not join"
wait_for has_overlay_ip laptop --timeout 15 || fail "laptop did not join"
GW_IP=$(overlay_ip gw)
wait_for --timeout 10 ping_once laptop "$GW_IP" || fail "laptop cannot ping gw over the overlay"
no_ping laptop 10.77.1.10 || fail "lanhost is reachable before any route exists"

check "bad input is refused with exit status 2 and nothing is stored"
expect_bad gw "host bits" route advertise 10.77.1.5/24
expect_bad gw "overlaps the overlay" route advertise 100.90.7.0/24
expect_bad gw "not a CIDR" route advertise banana
expect_bad gw "length is required" route advertise 10.77.1.0
expect_bad gw "does not advertise" route withdraw 10.77.1.0/24
expect_bad coord "no node named" route approve nosuch 10.77.1.0/24
expect_bad coord "does not advertise" route approve gw 10.77.1.0/24
expect_bad coord "not a CIDR" route approve gw 10.77.1.0/40
expect_bad laptop "not in the network|no node named" set --exit-node nosuch
expect_bad laptop "nothing to set" set
[ "$(routes_json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["routes"]))')" = 0 ] \
  || fail "something was stored: $(routes_json)"
[ "$(nft_table_count gw)" = 0 ] || fail "gw has an nft table before advertising anything"

check "gw advertises 10.77.1.0/24: forwarding is set up, but nobody routes it before approval"
ovl_cli gw route advertise 10.77.1.0/24 >/dev/null
wait_for --timeout 5 route_is gw 10.77.1.0/24 "True False" || fail "coordinator sees: $(route_state gw 10.77.1.0/24)"
[ "$(nft_table_count gw)" = 1 ] || fail "gw has no table inet ovl"
[ "$(nsx gw sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "gw did not turn on forwarding"
grep -q 'iifname "ovl0" meta nfproto ipv4 drop' <<<"$(gw_rules)" || fail "unapproved: gw should forward nothing: $(gw_rules)"
grep -q "awaiting approval" <<<"$(ovl_cli coord route list)" || fail "route list does not say it awaits approval"
no_ping laptop 10.77.1.10 || fail "lanhost reachable before approval"
no_route laptop 10.77.1.0 || fail "laptop has a route before approval"

check "approved on the coordinator: laptop reaches lanhost through gw (time from approval)"
t0=$(now_ms)
ovl_cli coord route approve gw 10.77.1.0/24 >/dev/null
wait_for --timeout 10 ping_once laptop 10.77.1.10 || fail "laptop cannot reach lanhost after approval"
t1=$(now_ms)
log "  approve -> first answer from lanhost: $((t1 - t0)) ms"
grep -q "10.77.1.0/24 dev ovl0" <<<"$(nsx laptop ip route show)" || fail "laptop has no route to 10.77.1.0/24 via ovl0"
has_filter() { grep -qE 'ip daddr != \{? ?10.77.1.0/24 \}? ?drop' <<<"$(gw_rules)"; }
wait_for --timeout 5 has_filter || fail "gw forward filter is not the approved set: $(gw_rules)"
[ "$(route_state gw 10.77.1.0/24)" = "True True" ] || fail "route list: $(route_state gw 10.77.1.0/24)"
ovl_cli laptop --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)
gw = [p for p in s["peers"] if p["name"] == "gw"][0]
assert gw["routes"] == ["10.77.1.0/24"], gw' || fail "laptop's status does not show gw's route"
# TCP too, not only ICMP
nsx lanhost timeout 10 python3 -c '
import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.1.10", 8080)); s.listen(1); c, a = s.accept(); c.sendall(("from %s" % a[0]).encode()); c.close()' &
LAB_PIDS+=("$!")
listening() { grep -q 10.77.1.10:8080 <<<"$(nsx lanhost ss -ltn)"; }
wait_for --timeout 5 listening || fail "lanhost server did not start"
got=$(nsx laptop timeout 5 python3 -c '
import socket; s = socket.create_connection(("10.77.1.10", 8080), timeout=3); print(s.recv(100).decode())')
[ "$got" = "from 10.77.1.1" ] || fail "TCP to lanhost: '$got' (expected the connection to come from gw's LAN address)"

check "the other way: lanhost, routing the overlay via gw, reaches laptop under the default policy"
nsx lanhost ip route add 100.90.0.0/16 via 10.77.1.1
LAPTOP_IP=$(overlay_ip laptop)
wait_for --timeout 5 ping_once lanhost "$LAPTOP_IP" || fail "lanhost cannot reach laptop through gw"
nsx lanhost ip route del 100.90.0.0/16 via 10.77.1.1

check "unapproved: the route disappears from laptop again"
ovl_cli coord route unapprove gw 10.77.1.0/24 >/dev/null
wait_for --timeout 10 no_ping laptop 10.77.1.10 || fail "laptop still reaches lanhost after unapprove"
wait_for --timeout 5 no_route laptop 10.77.1.0 || fail "route left on laptop"
ovl_cli coord route approve gw 10.77.1.0/24 >/dev/null
wait_for --timeout 10 ping_once laptop 10.77.1.10 || fail "re-approval did not restore the route"

check "gw restarts with --advertise-exit-node; laptop cannot use it before approval"
stop_pid "$PID_gw" 10
[ "$(nft_table_count gw)" = 0 ] || fail "gw left its nft table behind after SIGTERM"
[ "$(nsx gw sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "gw did not restore ip_forward"
ovl_daemon gw -v up --advertise-exit-node
wait_for --timeout 10 ping_once laptop 10.77.1.10 || fail "the subnet route did not survive gw's restart"
wait_for --timeout 10 route_is gw 0.0.0.0/0 "True False" || fail "exit route: $(route_state gw 0.0.0.0/0)"
expect_bad laptop "not an approved exit node" set --exit-node gw
no_ping laptop 203.0.113.200 || fail "the internet host is reachable without an exit node"

check "approved exit node: laptop reaches the internet host through gw; LAN, control link and tunnel stay direct"
ovl_cli coord route approve gw 0.0.0.0/0 >/dev/null
wait_for --timeout 5 status_has laptop 0.0.0.0/0 || fail "laptop did not learn that gw is an exit node"
ovl_cli laptop set --exit-node gw >/dev/null
wait_for --timeout 10 ping_once laptop 203.0.113.200 || fail "laptop cannot reach the internet host through gw"
ping_once laptop 10.88.0.2 || fail "laptop lost its own LAN (ylan) with the exit node on"
ping_once laptop 10.77.1.10 || fail "laptop lost the subnet route with the exit node on"
grep -q "dev ovl0" <<<"$(nsx laptop ip route get 203.0.113.200)" || fail "internet not via ovl0: $(nsx laptop ip route get 203.0.113.200)"
grep -q "via 10.20.2.1 dev eth0" <<<"$(nsx laptop ip route get 10.20.1.10 mark 0x6f766c)" \
  || fail "ovl's own traffic to the coordinator would not take the original route"
[ "$(exit_status)" = "connected active" ] || fail "laptop status: $(exit_status)"
st=$(ovl_cli laptop status)
grep -q "exit node gw: in use" <<<"$st" || fail "ovl status does not say the exit node is in use: $st"
grep -q "routes via gw: 0.0.0.0/0, 10.77.1.0/24, ::/0" <<<"$st" || fail "ovl status does not list gw's routes: $st"
[ "$(peer_path laptop gw)" = direct ] || fail "laptop's tunnel to gw is $(peer_path laptop gw), expected direct"
# The control link still carries deltas: a rename reaches laptop.
ovl_cli coord rename server hub >/dev/null
wait_for --timeout 5 status_has laptop '"hub"' || fail "a rename did not reach laptop while it uses the exit node"
for i in 1 2 3; do ping_once laptop 203.0.113.200 || fail "exit path lost (round $i)"; done
log "  internet via gw, ylan direct, control connected, gw path direct"

check "ovl set --exit-node none: back to the direct route, rules gone"
ovl_cli laptop set --exit-node none >/dev/null
wait_for --timeout 5 no_ping laptop 203.0.113.200 || fail "the internet host still reachable without the exit node"
[ "$(rule_count laptop 0x6f766c)" = 0 ] || fail "exit rules left: $(nsx laptop ip rule show)"

check "kill -9 with the exit node on: a restart repairs; ovl down removes everything"
ovl_cli laptop set --exit-node gw >/dev/null
wait_for --timeout 10 ping_once laptop 203.0.113.200 || fail "exit node did not come back"
kill -9 "$PID_laptop" "$PID_gw"
wait "$PID_laptop" "$PID_gw" 2>/dev/null || true
[ "$(nft_table_count gw)" = 1 ] || fail "expected gw's table to outlive kill -9 (the test needs it)"
[ "$(rule_count laptop 'suppress_prefixlength 0')" = 1 ] || fail "expected the rules to outlive kill -9"
ovl_daemon gw -v up
ovl_daemon laptop -v up --exit-node none
wait_for --timeout 15 ping_once laptop "$GW_IP" || fail "after restarts laptop cannot reach gw"
[ "$(rule_count laptop 0x6f766c)" = 0 ] || fail "stale exit rules not removed at start: $(nsx laptop ip rule show)"
[ "$(rule_count laptop 'suppress_prefixlength 0')" = 0 ] || fail "stale rules: $(nsx laptop ip rule show)"
one_masquerade() { [ "$(grep -c 'ip saddr .* masquerade' <<<"$(gw_rules)")" = 1 ]; }
wait_for --timeout 5 one_masquerade || fail "gw's stale table was not replaced: $(gw_rules)"
ovl_cli laptop set --exit-node gw >/dev/null
wait_for --timeout 10 ping_once laptop 203.0.113.200 || fail "after restarts laptop cannot use the exit node"
[ "$(rule_count laptop 'fwmark 0x6f766c lookup')" = 1 ] || fail "rules: $(nsx laptop ip rule show)"
[ "$(rule_count laptop 'suppress_prefixlength 0')" = 1 ] || fail "rules: $(nsx laptop ip rule show)"
ovl_cli laptop down >/dev/null; wait_for pid_gone "$PID_laptop" --timeout 10 || fail "laptop did not stop"
[ "$(rule_count laptop 0x6f766c)" = 0 ] || fail "ovl down left exit rules: $(nsx laptop ip rule show)"
ovl_cli gw down >/dev/null; wait_for pid_gone "$PID_gw" --timeout 10 || fail "gw did not stop"
[ "$(nft_table_count gw)" = 0 ] || fail "ovl down left gw's nft table"

check "without the nft command, advertising fails clearly and stores nothing"
ip netns exec "$(ns gw)" env PATH=/nonexistent "$OVL_BIN" --state-dir "$WORK/state-gw" up >"$WORK/gw2.out" 2>"$WORK/gw2.log" &
PID_gw=$!; LAB_PIDS+=("$PID_gw"); LAB_LOGS+=("$WORK/gw2.log")
wait_for has_overlay_ip gw --timeout 10 || fail "gw did not restart"
wait_for --timeout 5 grep -q "nft command was not found" "$WORK/gw2.log" || fail "no clear error at start without nft: $(tail -5 "$WORK/gw2.log")"
rc=0; out=$(ovl_cli gw route advertise 10.66.0.0/24 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "advertise without nft: exit $rc ($out)"
grep -q "nft command was not found" <<<"$out" || fail "unclear error: $out"
[ "$(route_state gw 10.66.0.0/24)" = none ] || fail "stored anyway: $(route_state gw 10.66.0.0/24)"
log "  ok: $out"

pass
