#!/usr/bin/env bash
# A network whose underlay is IPv6 only (issue 5: "outer transport over IPv6 works where
# the underlay has it"): the coordinator advertises [2001:db8:60::1]:51820, the invite
# token carries it, nodes join over IPv6, their tunnels run directly between IPv6
# endpoints, a pair whose direct UDP is blocked talks through the embedded relay over
# IPv6, and names resolve as anywhere.
# No host here has an IPv4 address outside the overlay.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init underlay6
need_ovl

bridge_lan sw
bridge_host coord 2001:db8:60::1/64
bridge_host a 2001:db8:60::2/64
bridge_host b 2001:db8:60::3/64
bridge_host c 2001:db8:60::4/64
for h in coord a b c; do
  [ -z "$(nsx "$h" ip -4 addr show dev eth0)" ] || fail "$h has an IPv4 underlay address"
done

# peer_endpoint HOST PEERNAME: the endpoint HOST's status reports for PEERNAME
peer_endpoint() {
  ovl_cli "$1" --json status | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    if p["name"] == sys.argv[1]: print(p["endpoint"] or "")' "$2"
}
relay_ready() { ovl_cli "$1" --json netcheck | python3 -c '
import json, sys
r = json.load(sys.stdin).get("relays", [])
sys.exit(0 if r and r[0]["ready"] and r[0]["endpoint"].startswith("[2001:db8:60::1]") else 1)'; }

check "ovl up with an IPv6 endpoint; a and b join with the token"
coord_up u6 100.93.0.0/16 "[2001:db8:60::1]:51820"
TOKEN=$(reusable_token)
ovl_daemon a -v join "$TOKEN" --name alpha
ovl_daemon b -v join "$TOKEN" --name bravo
wait_for has_overlay_ip a --timeout 15 || fail "a did not join over IPv6: $(tail -5 "$WORK/a.log")"
wait_for has_overlay_ip b --timeout 15 || fail "b did not join over IPv6: $(tail -5 "$WORK/b.log")"
A_IP=$(overlay_ip a); B_IP=$(overlay_ip b); S_IP=$(overlay_ip coord)

check "every pair pings over the overlay, IPv4 and IPv6 inside"
for pair in "a $B_IP" "b $A_IP" "a $S_IP" "coord $B_IP"; do
  set -- $pair
  wait_for --timeout 10 ping_once "$1" "$2" || fail "$1 cannot ping $2"
done
wait_for --timeout 10 nsx a ping -6 -c1 -W1 "$(self_field b ip6)" >/dev/null || fail "a cannot ping6 b"

check "the tunnels are direct between IPv6 endpoints; the relay is reached over IPv6"
direct() { [ "$(peer_path a bravo)" = direct ]; }
wait_for --timeout 10 direct || fail "a -> b path is $(peer_path a bravo)"
case "$(peer_endpoint a bravo)" in "[2001:db8:60::3]:"*) ;; *) fail "a reaches b at $(peer_endpoint a bravo)";; esac
wait_for --timeout 10 relay_ready a || fail "a's relay: $(ovl_cli a --json netcheck)"
log "  a -> bravo at $(peer_endpoint a bravo)"

check "c cannot reach a directly (a firewall drops their UDP): they talk through the relay, over IPv6"
nsx c nft -f - <<'NFT' || fail "cannot install c's firewall"
table inet t {
  chain out { type filter hook output priority 0; ip6 daddr 2001:db8:60::2 meta l4proto udp drop; }
  chain in { type filter hook input priority 0; ip6 saddr 2001:db8:60::2 meta l4proto udp drop; }
}
NFT
ovl_daemon c -v join "$TOKEN" --name charlie
wait_for has_overlay_ip c --timeout 15 || fail "c did not join"
wait_for --timeout 15 ping_once c "$A_IP" || fail "c cannot ping a through the relay"
relayed() { [ "$(peer_path c alpha)" = relay ]; }
wait_for --timeout 10 relayed || fail "c -> a path is $(peer_path c alpha), expected relay"
wait_for --timeout 10 ping_once c "$B_IP" || fail "c cannot ping b"

check "names resolve over the IPv6-carried network"
wait_for --timeout 10 ping_once a bravo.u6.ovl || fail "a cannot ping bravo.u6.ovl"

pass
