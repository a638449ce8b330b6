#!/usr/bin/env bash
# Relay <-> direct (issue 4): two cone-NATed nodes whose direct path is blocked start on
# the relay; when the block is lifted, disco pings find the direct path and the pair moves
# to it without waiting for the 15 s WireGuard probe; when the path is cut again, the pair
# drops back to the relay within seconds. The times are printed, not asserted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init nat_upgrade
need_ovl
natlab_up cone cone

# Blocks every datagram between the two home routers' WAN addresses (the hub stays reachable).
block() {
  nsx rA nft -f - <<'NFT'
table inet block {
  chain cut {
    type filter hook forward priority filter - 10;
    ip daddr 203.0.113.20 drop
    ip saddr 203.0.113.20 drop
  }
}
NFT
}
unblock() { nsx rA nft delete table inet block; }
path_is() { ping_once "$1" "$3" || true; [ "$(peer_path "$1" "$2")" = "$4" ]; }

block
hub_up up 100.96.0.0/16
TOKEN=$(reusable_token)
join_ab "$TOKEN"

check "the direct path blocked: a and b use the relay"
wait_for --timeout 30 path_is a b "$B_IP" relay || fail "a -> b is '$(peer_path a b)', expected relay"
wait_for --timeout 10 path_is b a "$A_IP" relay || fail "b -> a is '$(peer_path b a)', expected relay"
reason=$(ovl_cli a --json status | python3 -c 'import json,sys; print([p.get("relay_reason","") for p in json.load(sys.stdin)["peers"] if p["name"]=="b"][0])')
log "  relayed ($reason)"
[ "$reason" = "direct probes unanswered" ] || fail "unexpected relay reason '$reason'"

check "the block lifted: the pair moves to the direct path"
# Let the fast probing that follows a join (Prober::kFastFor, 10 s) end, so the time below
# is that of the steady state (a retry every 5 s while relayed). Nothing waits on it.
sleep 11
unblock
t0=$(now_ms)
direct_both() { path_is a b "$B_IP" direct && path_is b a "$A_IP" direct; }
wait_for --timeout 30 direct_both || fail "not direct after the block was lifted: a -> b '$(peer_path a b)', b -> a '$(peer_path b a)'"
log "  relay -> direct in $(( $(now_ms) - t0 )) ms"
ovl_cli a status | grep -E "^b " | grep -q "direct/public" || fail "ovl status does not show direct/public: $(ovl_cli a status)"

check "the direct path cut again: back on the relay, traffic flows"
nsx a ping -D -i 0.2 -w 30 "$B_IP" >"$WORK/ping.log" 2>&1 &
PING_PID=$!; LAB_PIDS+=("$PING_PID")
wait_for --timeout 5 grep -q "bytes from" "$WORK/ping.log" || fail "the ping stream did not start"
block
t_cut=$(date +%s.%N)
lines=$(grep -c "bytes from" "$WORK/ping.log")
resumed() { [ "$(grep -c "bytes from" "$WORK/ping.log")" -gt $((lines + 3)) ]; }
wait_for --timeout 20 resumed || fail "no replies within 20 s of the cut"
t_back=$(awk -v t="$t_cut" -F'[][]' '/bytes from/ && $2 > t {print $2; exit}' "$WORK/ping.log")
log "  replies resumed $(python3 -c "print(round($t_back - $t_cut, 2))") s after the cut (path: $(peer_path a b))"
[ "$(peer_path a b)" = relay ] || fail "a -> b is '$(peer_path a b)' after the cut, expected relay"
kill "$PING_PID" 2>/dev/null || true
pass
