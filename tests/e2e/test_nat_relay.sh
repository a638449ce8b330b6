#!/usr/bin/env bash
# Symmetric x symmetric (issue 4): no direct path exists, so the pair talks through the
# coordinator's embedded relay, which only ever sees WireGuard ciphertext. Each node
# still reaches the public hub directly. Killing the relay (the coordinator process)
# leaves direct pairs alone; after a restart the relayed pair recovers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init nat_relay
need_ovl
natlab_up symmetric symmetric

hub_up r 100.94.0.0/16
wait_for has_overlay_ip coord --timeout 10 || fail "the hub did not come up"
TOKEN=$(reusable_token)
ovl_daemon a join "$TOKEN" --name a
wait_for joined a --timeout 15 || fail "a did not join"

check "symmetric x symmetric: b joins and reaches a through the relay"
t0=$(now_ms)
ovl_daemon b join "$TOKEN" --name b
wait_for joined b --timeout 15 || fail "b did not join"
A_IP=$(overlay_ip a); B_IP=$(overlay_ip b); HUB_IP=$(overlay_ip coord)
wait_for --timeout 30 ping_once b "$A_IP" || fail "b cannot reach a"
log "  b joined and reached a in $(( $(now_ms) - t0 )) ms"
wait_for --timeout 10 ping_once a "$B_IP" || fail "a cannot reach b"
for pair in "a b" "b a"; do
  set -- $pair
  wait_for --timeout 10 bash -c "[ \"\$(ip netns exec $(ns "$1") $OVL_BIN --state-dir $WORK/state-$1 --json status | python3 -c 'import json,sys; print([p[\"path\"] for p in json.load(sys.stdin)[\"peers\"] if p[\"name\"]==\"$2\"][0])')\" = relay ]" \
    || fail "$1 -> $2 is not reported as relayed: $(peer_path "$1" "$2")"
done
reason=$(ovl_cli a --json status | python3 -c 'import json,sys; print([p.get("relay_reason","") for p in json.load(sys.stdin)["peers"] if p["name"]=="b"][0])')
log "  a -> b: relay ($reason)"
[ "$reason" = "both sides behind endpoint-dependent NAT" ] || fail "relay reason '$reason' does not name the NAT types"
[ "$(peer_path a hub)" = direct ] || fail "a -> hub should be direct, is $(peer_path a hub)"

nc=$(ovl_cli a --json netcheck)
mapping=$(echo "$nc" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mapping"])')
[ "$mapping" = endpoint-dependent ] || fail "netcheck on a says mapping '$mapping', expected endpoint-dependent"
# Latency to the relay: the round trip of the lease request it accepted.
relay_rtt=$(echo "$nc" | python3 -c 'import json,sys; r=json.load(sys.stdin)["relays"]; print(r[0]["rtt_ms"] if r and r[0]["ready"] else "none")')
case $relay_rtt in none|None) fail "netcheck on a reports no ready relay with a latency: $nc" ;; esac
log "  netcheck: relay RTT $relay_rtt ms"
out=$(ovl_cli a ping b -c 2) || fail "ovl ping b failed: $out"
echo "$out" | grep -q "via relay 203.0.113.1:51822" || fail "ping did not report the relay: $out"
log "  netcheck: $mapping; $(echo "$out" | tail -1)"

check "iperf3 over the relay"
nsx b iperf3 -s -1 -D >/dev/null 2>&1
wait_for --timeout 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :5201' | grep -q ."
gbps=$(nsx a timeout 20 iperf3 -c "$B_IP" -t 2 -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,3))') \
  || fail "iperf3 over the relay failed"
log "  a -> b relayed: $gbps Gbit/s"

check "the relay killed: direct paths unaffected; restarted: the relayed pair recovers"
kill -9 "$PID_coord"
wait_for pid_gone "$PID_coord" --timeout 5
nsx coord ip link show ovl0 >/dev/null 2>&1 && fail "kill -9 left the hub's TUN device"
ping_once a "$B_IP" && log "  (a still reached b: the relay's death is not noticed instantly)"
wait_for --timeout 15 bash -c "! ip netns exec $(ns a) ping -c1 -W1 $B_IP >/dev/null 2>&1" || fail "a reaches b without the relay?"
ovl_daemon coord up
wait_for has_overlay_ip coord --timeout 10 || fail "the hub did not come back"
t0=$(now_ms)
wait_for --timeout 40 ping_once a "$B_IP" || fail "the relayed pair did not recover"
log "  relayed pair recovered $(( $(now_ms) - t0 )) ms after the relay came back"
wait_for --timeout 15 ping_once a "$HUB_IP" || fail "a cannot reach the restarted hub"
pass
