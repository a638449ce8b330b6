#!/usr/bin/env bash
# Roaming (issue 4): a's home router gets a new public address in the middle of a ping
# stream (its NAT mappings change). Traffic between a and b recovers within 10 s: the
# dead direct path is noticed, the pair moves to the relay, and the peers follow a's new
# address from its authenticated packets.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init roaming
need_ovl
natlab_up cone cone

hub_up roam 100.95.0.0/16
TOKEN=$(reusable_token)
join_ab "$TOKEN"
wait_for --timeout 15 ping_once a "$B_IP" || fail "a cannot reach b"
wait_for --timeout 10 bash -c "[ \"\$(ip netns exec $(ns a) $OVL_BIN --state-dir $WORK/state-a --json status | python3 -c 'import json,sys; print([p[\"path\"] for p in json.load(sys.stdin)[\"peers\"] if p[\"name\"]==\"b\"][0])')\" = direct ]" \
  || fail "a -> b is not direct before the move"

check "rA's public address changes mid-stream; a <-> b recovers within 10 s"
# A bounded ping stream: 5 per second for at most 40 s, timestamps per reply.
nsx a ping -D -i 0.2 -w 40 "$B_IP" >"$WORK/ping.log" 2>&1 &
PING_PID=$!; LAB_PIDS+=("$PING_PID")
wait_for --timeout 5 grep -q "bytes from" "$WORK/ping.log" || fail "the ping stream did not start"
nsx rA ip addr del 203.0.113.10/24 dev wan0
nsx rA ip addr add 203.0.113.11/24 dev wan0
t_move=$(date +%s.%N)
lines_at_move=$(grep -c "bytes from" "$WORK/ping.log")
# Recovered: replies arrive again after the move.
recovered() { [ "$(grep -c "bytes from" "$WORK/ping.log")" -gt $((lines_at_move + 3)) ]; }
wait_for --timeout 20 recovered || fail "no replies within 20 s of the move"
# The first reply timestamp after the move (ping -D prints [epoch.frac]).
t_back=$(awk -v t="$t_move" -F'[][]' '/bytes from/ && $2 > t {print $2; exit}' "$WORK/ping.log")
gap=$(python3 -c "print(round($t_back - $t_move, 2))")
log "  replies resumed ${gap} s after the move (path now: $(peer_path a b))"
python3 -c "import sys; sys.exit(0 if $gap < 10 else 1)" || fail "recovery took ${gap} s (goal: under 10 s)"
kill "$PING_PID" 2>/dev/null || true
pass
