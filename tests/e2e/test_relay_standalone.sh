#!/usr/bin/env bash
# A standalone relay (`ovl relay`, issue 4) in its own namespace on the lab's internet,
# a coordinator told about it with --relay and the shared secret file, and two nodes
# behind symmetric NATs that can only meet through it:
#   * both report the pair as relayed, through the standalone relay's endpoint, and the
#     relay answers the stock `stun` client on its port;
#   * an ALLOCATE captured on the relay's wire and replayed from another host earns
#     only a challenge (fewer bytes than it sent), and that host cannot SEND (issue 7);
#   * kill -9 of the relay: the direct paths to the hub are unaffected, and the relayed
#     pair moves to the coordinator's embedded relay (the second in the map's list, where
#     the nodes hold leases too); restarted, the pair moves back to it;
#   * a node removed by the admin loses the standalone relay within 5 s: the
#     coordinator sends it a REVOKE under the shared secret (issue 7), and sends it
#     again every 30 s while the node's grant may be valid, so a relay restarted later
#     refuses it too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init relay_standalone
need_ovl
natlab_up symmetric symmetric
ns_new relay
natlab_wan_link relay p-relay 203.0.113.5
ns_new thief
natlab_wan_link thief p-thief 203.0.113.66
RELAY=203.0.113.5:51822
TOOLS=$(dirname "$0")/tools

check "ovl relay refuses to start without its secret"
rc=0; nsx relay "$OVL_BIN" --state-dir "$WORK/state-relay" relay --listen "$RELAY" 2>"$WORK/nosecret.err" || rc=$?
[ "$rc" = 2 ] || fail "ovl relay without a secret file exited $rc, expected 2"
grep -q "no relay secret" "$WORK/nosecret.err" || fail "unclear error: $(cat "$WORK/nosecret.err")"

check "a standalone relay and a coordinator that lists it"
"$OVL_BIN" genkey >"$WORK/relay.key"   # umask 077 (lib.sh): mode 0600
start_relay() {
  ovl_daemon relay relay --listen "$RELAY" --secret-file "$WORK/relay.key"
  wait_for --timeout 10 bash -c "ip netns exec $(ns relay) ss -Hlun 'sport = :51822' | grep -q ." \
    || fail "the relay does not listen: $(cat "$WORK/relay.log")"
}
start_relay
grep -qF "$(cat "$WORK/relay.key")" "$WORK/relay.log" && fail "the relay logged its secret"
hub_up rs 100.95.0.0/16 --relay "$RELAY" --relay-secret-file "$WORK/relay.key"
wait_for has_overlay_ip coord --timeout 10 || fail "the hub did not come up"
TOKEN=$(reusable_token)
join_ab "$TOKEN"; HUB_IP=$(overlay_ip coord)

check "symmetric x symmetric goes through the standalone relay"
wait_for --timeout 30 ping_once b "$A_IP" || fail "b cannot reach a"
wait_for --timeout 10 ping_once a "$B_IP" || fail "a cannot reach b"
# peer_field HOST PEER FIELD: a field of PEER in HOST's `ovl status --json`
peer_field() {
  ovl_cli "$1" --json status | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    if p["name"] == sys.argv[1]: print(p.get(sys.argv[2], ""))' "$2" "$3"
}
for pair in "a b" "b a"; do
  set -- $pair
  wait_for --timeout 10 bash -c "[ \"\$(ip netns exec $(ns "$1") $OVL_BIN --state-dir $WORK/state-$1 --json status | python3 -c 'import json,sys; print([p[\"path\"] for p in json.load(sys.stdin)[\"peers\"] if p[\"name\"]==\"$2\"][0])')\" = relay ]" \
    || fail "$1 -> $2 is not reported as relayed: $(peer_path "$1" "$2")"
  ep=$(peer_field "$1" "$2" endpoint)
  [ "$ep" = "$RELAY" ] || fail "$1 -> $2 is relayed through '$ep', expected the standalone relay $RELAY"
done
[ "$(peer_path a hub)" = direct ] || fail "a -> hub should be direct, is $(peer_path a hub)"
log "  a <-> b relayed through $RELAY; a -> hub direct"

check "the stock stun client against the relay's port reports the caller's address"
out=$(nsx thief timeout 30 stun "$RELAY" -v 2>&1 || true)
echo "$out" | grep -q "MappedAddress = 203.0.113.66:" || fail "stun did not report 203.0.113.66: $(echo "$out" | head -20)"

check "an ALLOCATE replayed from another host is refused"
# Nodes renew their lease every 10 s: a proved ALLOCATE passes the relay's wire soon.
nsx relay python3 "$TOOLS/relay_replay.py" capture --iface wan0 --port 51822 --timeout 30 "$WORK/allocate.json" >/dev/null \
  || fail "no proved ALLOCATE seen on the relay's wire in 30 s"
out=$(nsx thief python3 "$TOOLS/relay_replay.py" replay "$WORK/allocate.json" "$RELAY") || fail "replay tool failed"
log "  replay from 203.0.113.66: $out"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$out" "$1"; }
[ "$(field allocate_reply)" = challenge ] || fail "the replayed ALLOCATE got '$(field allocate_reply)', expected only a challenge"
[ "$(field send_reply)" = refused/3 ] || fail "a SEND after the replay got '$(field send_reply)', expected REFUSED 3 (not allocated)"
[ "$(field received)" -lt "$(field sent)" ] || fail "the relay sent the replaying host more than it received: $out"
wait_for --timeout 10 ping_once a "$B_IP" || fail "the replay disturbed the relayed pair"

check "the standalone relay killed: direct paths unaffected; the relayed pair fails over to the embedded relay and back"
EMBEDDED=203.0.113.1:51822
kill -9 "$PID_relay"
t0=$(now_ms)
wait_for pid_gone "$PID_relay" --timeout 5
for i in 1 2 3; do
  ping_once a "$HUB_IP" || fail "a -> hub (direct) broke when the relay died"
  ping_once b "$HUB_IP" || fail "b -> hub (direct) broke when the relay died"
done
# both ways through RELAY_EP, and a ping answered
pair_via() { [ "$(peer_field a b endpoint)" = "$1" ] && [ "$(peer_field b a endpoint)" = "$1" ] && ping_once a "$B_IP"; }
wait_for --timeout 40 pair_via "$EMBEDDED" || fail "the relayed pair did not move to the embedded relay: a -> b via $(peer_field a b endpoint), b -> a via $(peer_field b a endpoint)"
log "  relayed pair through the embedded relay $(( $(now_ms) - t0 )) ms after the standalone one died"
nsx a "$OVL_BIN" --state-dir "$WORK/state-a" netcheck | grep -q "relay $RELAY: not ready - the relay does not answer" \
  || fail "netcheck does not say the standalone relay is down: $(nsx a "$OVL_BIN" --state-dir "$WORK/state-a" netcheck)"
start_relay
t0=$(now_ms)
wait_for --timeout 40 pair_via "$RELAY" || fail "the relayed pair did not go back to $RELAY: a -> b via $(peer_field a b endpoint)"
log "  relayed pair back on the standalone relay $(( $(now_ms) - t0 )) ms after it came back"

check "a node removed on the coordinator is refused by the standalone relay within 5 s"
grep -q "refused from now on" "$WORK/relay.log" && fail "the relay revoked someone before any removal"
t0=$(now_ms)
ovl_cli coord remove b >/dev/null || fail "ovl remove b failed"
wait_for --timeout 5 grep -q "refused from now on" "$WORK/relay.log" \
  || fail "the standalone relay did not learn of b's removal within 5 s: $(tail -5 "$WORK/relay.log")"
log "  relay revoked b $(( $(now_ms) - t0 )) ms after ovl remove"

check "a restarted relay is told again: it refuses the removed node within 35 s"
kill -9 "$PID_relay"; wait_for pid_gone "$PID_relay" --timeout 5
start_relay
t0=$(now_ms)
wait_for --timeout 35 grep -q "refused from now on" "$WORK/relay.log" \
  || fail "the restarted relay was not told of b's removal: $(tail -5 "$WORK/relay.log")"
log "  the restarted relay refuses b again $(( $(now_ms) - t0 )) ms after it started"
pass
