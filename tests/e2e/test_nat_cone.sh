#!/usr/bin/env bash
# Nodes behind NATs (issue 4, first part): a coordinator on a public host; a behind a cone
# NAT, b behind another cone NAT, a2 on a's LAN. Every pair connects directly: cone x cone
# through the public mappings, a <-> a2 over their LAN (no hairpin through the router).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init nat_cone
need_ovl
natlab_up cone cone

hub_up natlab 100.92.0.0/16
wait_for has_overlay_ip coord --timeout 10 || fail "the hub did not come up"
TOKEN=$(reusable_token)

ovl_daemon a join "$TOKEN" --name a
wait_for joined a --timeout 15 || fail "a did not join: $(tail -3 "$WORK/a.log")"
check "cone x cone: time from b's join to b's first ping answer from a"
t0=$(now_ms)
ovl_daemon b join "$TOKEN" --name b
wait_for joined b --timeout 15 || fail "b did not join: $(tail -3 "$WORK/b.log")"
A_IP=$(overlay_ip a)
wait_for --timeout 15 ping_once b "$A_IP" || fail "b cannot ping a"
log "  b joined and reached a through both NATs in $(( $(now_ms) - t0 )) ms"
wait_for --timeout 15 bash -c "[ \"\$(ip netns exec $(ns b) $OVL_BIN --state-dir $WORK/state-b --json status | python3 -c 'import json,sys; print([p.get(\"direct\",\"\") for p in json.load(sys.stdin)[\"peers\"] if p[\"name\"]==\"a\"][0])')\" = public ]" \
  || fail "b -> a is not a disco-confirmed public path"
log "  join -> direct (disco-confirmed public path): $(( $(now_ms) - t0 )) ms"
ovl_daemon a2 join "$TOKEN" --name a2
wait_for joined a2 --timeout 15 || fail "a2 did not join: $(tail -3 "$WORK/a2.log")"
declare -A IP
for h in coord a b a2; do IP[$h]=$(overlay_ip "$h"); done

check "every pair pings over the overlay"
for x in coord a b a2; do
  for y in coord a b a2; do
    [ "$x" = "$y" ] && continue
    wait_for --timeout 15 ping_once "$x" "${IP[$y]}" || fail "$x cannot ping $y (${IP[$y]})"
  done
done
log "  12 directions ok"

check "the paths are direct, and a <-> a2 goes over the LAN"
for pair in "a b" "b a" "a a2" "a2 a" "a hub" "b hub"; do
  set -- $pair
  p=$(peer_path "$1" "$2")
  [ "$p" = direct ] || fail "$1 -> $2 path is '$p', expected direct"
done
ep=$(ovl_cli a --json status | python3 -c '
import json,sys
print([p["endpoint"] for p in json.load(sys.stdin)["peers"] if p["name"]=="a2"][0])')
case "$ep" in 192.168.1.3:*) log "  a reaches a2 at $ep (LAN)";; *) fail "a reaches a2 at $ep, not over the LAN";; esac
kind=$(ovl_cli a --json status | python3 -c '
import json,sys
print([p.get("direct", "") for p in json.load(sys.stdin)["peers"] if p["name"]=="a2"][0])')
[ "$kind" = lan ] || fail "a -> a2 is not reported as a LAN path: '$kind'"
ep=$(ovl_cli a --json status | python3 -c '
import json,sys
print([p["endpoint"] for p in json.load(sys.stdin)["peers"] if p["name"]=="b"][0])')
case "$ep" in 203.0.113.20:*) log "  a reaches b at $ep (b's public mapping)";; *) fail "a reaches b at $ep";; esac

check "ovl netcheck and ovl ping --until-direct"
nc=$(ovl_cli a --json netcheck)
echo "$nc" | python3 -c '
import json,sys
n = json.load(sys.stdin)
assert n["udp"] is True, n
assert n["public_address"].startswith("203.0.113.10:"), n
assert n["mapping"] == "endpoint-independent", n
assert n["relays"] and n["relays"][0]["ready"] is True, n
' || fail "unexpected netcheck: $nc"
out=$(ovl_cli a ping b --until-direct) || fail "ovl ping b --until-direct failed: $out"
echo "$out" | grep -q "via direct 203.0.113.20:" || fail "ping did not report the direct path: $out"
log "  $(echo "$out" | tail -1)"

check "the stock stun client (RFC 3489) against the coordinator's port reports a's public address"
out=$(nsx a timeout 30 stun 203.0.113.1:51820 -v 2>&1 || true)
echo "$out" | grep -q "MappedAddress = 203.0.113.10:" || fail "stun did not report 203.0.113.10: $(echo "$out" | head -20)"
log "  $(echo "$out" | grep -m1 MappedAddress)"

check "iperf3 between the two NATed nodes works"
nsx b iperf3 -s -1 -D >/dev/null 2>&1
wait_for --timeout 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :5201' | grep -q ."
out=$(nsx a timeout 20 iperf3 -c "${IP[b]}" -t 2 -J) || fail "iperf3 failed"
gbps=$(echo "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,3))')
log "  a -> b through two NATs: $gbps Gbit/s"

pass
