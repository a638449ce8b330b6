#!/usr/bin/env bash
# shellcheck disable=SC2154  # PID_<host> come from ovl_daemon (printf -v)
# Soak (issue 7, "Long run"): a coordinator and two nodes behind cone NATs run for
# OVL_SOAK_SECONDS (default 60; the `soak` CTest label runs 600) under continuous traffic
# (three ping streams at 5/s, an iperf3 burst of 2 s at <= 100 Mbit/s every ~12 s). Every
# minute of the run is one cycle of faults:
#   +15 s  a roams: its home router's public address changes (.10 <-> .11)
#   +30 s  the coordinator restarts (SIGTERM, then `ovl up` on the same state dir)
#   +45 s  a roams back
# and all along sessions rekey: with OVL_TEST_REKEY_AFTER_S, a test-only knob of the
# daemon (default here 10 s for runs under 300 s; longer runs leave it unset and see
# WireGuard's real 120 s) -- counted as distinct handshake times that a reports for b.
# Asserts:
#   * no lost session: every 10 s window of the run has replies on the a<->b streams (both
#     ways), and after each restart a's stream to the coordinator's node is back within 30 s;
#   * flat memory: each daemon's RSS at the end (for the coordinator: at the end of each of
#     its lives) is within max(2 MiB, 10%) of its RSS after warm-up (a's and b's after the
#     first two iperf bursts; each coordinator life's 8 s after its start);
#   * no fd growth: open fds at those points are not above the warm-up count.
# All loads are bounded (ping -w, iperf3 -t/-b, timeout); everything stays in the lab.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init soak
need_ovl
command -v iperf3 >/dev/null || fail "missing tool: iperf3"

D=${OVL_SOAK_SECONDS:-60}
case $D in ''|*[!0-9]*) fail "OVL_SOAK_SECONDS must be a whole number of seconds" ;; esac
[ "$D" -ge 60 ] || fail "OVL_SOAK_SECONDS must be at least 60 (one cycle of faults)"
if [ "$D" -lt 300 ]; then export OVL_TEST_REKEY_AFTER_S=${OVL_TEST_REKEY_AFTER_S:-10}; fi
REKEY=${OVL_TEST_REKEY_AFTER_S:-120}
WINDOW=10
log "soak for $D s, sessions rekey after $REKEY s"

natlab_up cone cone
hub_up soak 100.96.0.0/16
TOKEN=$(reusable_token)
join_ab "$TOKEN"; HUB_IP=$(overlay_ip coord)
wait_for --timeout 15 ping_once a "$B_IP" || fail "a cannot reach b"
wait_for --timeout 15 ping_once b "$A_IP" || fail "b cannot reach a"
wait_for --timeout 15 ping_once a "$HUB_IP" || fail "a cannot reach the hub"
[ "$REKEY" = 120 ] || grep -q "TEST ONLY: OVL_TEST_REKEY_AFTER_S" "$WORK/a.log" \
  || fail "a did not take the test rekey interval"

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
# Open fds; the smallest of three looks, so that a status request in flight does not count.
fds() {
  local m=999999 n i
  for i in 1 2 3; do n=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l); [ "$n" -lt "$m" ] && m=$n; sleep 0.2; done
  echo "$m"
}
# a's view of its session with b: the last handshake time (unix s)
hs_a_b() {
  ovl_cli a --json status | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    if p["name"] == "b": print(p["last_handshake"] or "")'
}
connected() { [ "$(ovl_cli "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["control"])')" = connected ]; }
iperf_burst() { # FLAGS...: 2 s, at most 100 Mbit/s; counted, the pings judge the session
  timeout 15 ip netns exec "$(ns a)" iperf3 -c "$B_IP" -p 5201 -t 2 -b 100M --connect-timeout 3000 "$@" \
    >>"$WORK/iperf.log" 2>&1 && BURSTS=$((BURSTS + 1)) || BURST_FAIL=$((BURST_FAIL + 1))
}
# flat WHAT RSS0 FD0 RSS FD: RSS <= RSS0 + max(2 MiB, 10%) and FD <= FD0
flat() {
  local slack=$(($2 / 10)); [ "$slack" -lt 2048 ] && slack=2048
  log "  $1: rss $2 -> $4 kB, fds $3 -> $5"
  [ "$4" -le $(($2 + slack)) ] || fail "$1: memory grew from $2 kB to $4 kB"
  [ "$5" -le "$3" ] || fail "$1: open fds grew from $3 to $5"
}
roam() { # FROM TO: rA's public address
  nsx rA ip addr del "203.0.113.$1/24" dev wan0
  nsx rA ip addr add "203.0.113.$2/24" dev wan0
}

check "continuous traffic; warm-up, then baselines for memory and fds"
ip netns exec "$(ns b)" iperf3 -s -p 5201 >"$WORK/iperf-server.log" 2>&1 &
LAB_PIDS+=("$!")
wait_for iperf_listening b --timeout 5 || fail "iperf3 server did not start"
T0=$(date +%s)
# Three ping streams, 5/s each, bounded by -w; -D stamps every reply.
for s in "a $B_IP ab" "b $A_IP ba" "a $HUB_IP ahub"; do
  read -r h dst name <<<"$s"
  nsx "$h" ping -D -n -i 0.2 -w $((D + 60)) "$dst" >"$WORK/ping-$name.log" 2>&1 &
  LAB_PIDS+=("$!"); PINGS+=("$!")
done
BURSTS=0; BURST_FAIL=0
iperf_burst
iperf_burst -R
sleep 2   # let the allocator settle after the bursts (nothing is timed here)
declare -A RSS0 FD0
for h in coord a b; do p="PID_$h"; RSS0[$h]=$(rss_kb "${!p}"); FD0[$h]=$(fds "${!p}"); done
log "  warm-up: rss kB coord=${RSS0[coord]} a=${RSS0[a]} b=${RSS0[b]}; fds coord=${FD0[coord]} a=${FD0[a]} b=${FD0[b]}"

check "the run: $((D / 60)) cycle(s) of roam (+15 s), coordinator restart (+30 s), roam back (+45 s)"
declare -A HS=()
RESTARTS=(); UPS=()        # when each restart began (stop) and when the new daemon started
COORD_RSS0=${RSS0[coord]}; COORD_FD0=${FD0[coord]}; coord_life=1; coord_measured=1
done_events=""
next_burst=12
while :; do
  t=$(($(date +%s) - T0))
  [ "$t" -ge "$D" ] && break
  h=$(hs_a_b 2>/dev/null || true)
  [ -n "$h" ] && HS[$h]=1
  cycle=$((t / 60)); at=$((t % 60))
  # Each event once per cycle, and only if the cycle has room to see its effect.
  if [ "$at" -ge 15 ] && [[ $done_events != *" r1.$cycle "* ]] && [ $((cycle * 60 + 45)) -le "$D" ]; then
    done_events+=" r1.$cycle "
    log "  t=${t}s: rA's public address 203.0.113.10 -> .11"
    roam 10 11
  elif [ "$at" -ge 30 ] && [[ $done_events != *" cr.$cycle "* ]] && [[ $done_events == *" r1.$cycle "* ]]; then
    done_events+=" cr.$cycle "
    log "  t=${t}s: coordinator restart"
    flat "coord (life $coord_life)" "$COORD_RSS0" "$COORD_FD0" "$(rss_kb "$PID_coord")" "$(fds "$PID_coord")"
    RESTARTS+=("$(date +%s.%N)")
    stop_pid "$PID_coord" 10
    ovl_daemon coord up
    UPS+=("$(date +%s.%N)")
    coord_life=$((coord_life + 1)); coord_measured=0; coord_up_t=$t
    wait_for has_overlay_ip coord --timeout 10 || fail "the coordinator did not come back"
    wait_for --timeout 15 connected a || fail "a's control link did not come back after the restart"
    wait_for --timeout 15 connected b || fail "b's control link did not come back after the restart"
  elif [ $coord_measured = 0 ] && [ "$t" -ge $((coord_up_t + 8)) ]; then
    COORD_RSS0=$(rss_kb "$PID_coord"); COORD_FD0=$(fds "$PID_coord"); coord_measured=1
    log "  coordinator life $coord_life after warm-up: rss $COORD_RSS0 kB, $COORD_FD0 fds"
  elif [ "$at" -ge 45 ] && [[ $done_events == *" cr.$cycle "* ]] && [[ $done_events != *" r2.$cycle "* ]]; then
    done_events+=" r2.$cycle "
    log "  t=${t}s: rA's public address 203.0.113.11 -> .10"
    roam 11 10
  elif [ "$t" -ge "$next_burst" ]; then
    if [ $((next_burst / 12 % 2)) = 0 ]; then iperf_burst; else iperf_burst -R; fi
    next_burst=$((t + 12))
  fi
  sleep 1
done
T_END=$(date +%s)
kill "${PINGS[@]}" 2>/dev/null || true
[ ${#RESTARTS[@]} -ge 1 ] || fail "the run had no coordinator restart"
[ $coord_measured = 1 ] || fail "the run ended before the last coordinator life was measured"

check "no lost session: every ${WINDOW} s window has replies a->b and b->a"
windows() { # LOG FROM TO: prints the number of windows without a reply, the reply count, where
  python3 - "$@" "$WINDOW" <<'PY'
import re, sys
log, t0, t1, w = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ts = [float(m.group(1)) for m in (re.match(r"\[(\d+\.\d+)\].*bytes from", l) for l in open(log)) if m]
empty, k = [], 0
while t0 + (k + 1) * w <= t1:
    lo, hi = t0 + k * w, t0 + (k + 1) * w
    if not any(lo <= t < hi for t in ts): empty.append(int(k * w))
    k += 1
print(len(empty), len(ts), ",".join(map(str, empty)) or "-")
PY
}
for s in ab ba; do
  read -r nempty nreplies where <<<"$(windows "$WORK/ping-$s.log" "$T0" "$T_END")"
  log "  $s: $nreplies replies; windows without a reply: $nempty (at s: $where)"
  [ "$nempty" = 0 ] || fail "stream $s lost its session: no reply in the windows starting at $where s"
done
for i in "${!RESTARTS[@]}"; do
  # No reply can come from the hub between its stop and its new start: the first reply
  # after the new start ends the outage that began at the stop.
  back=$(awk -v t="${UPS[$i]}" -F'[][]' '/bytes from/ && $2 > t {print $2; exit}' "$WORK/ping-ahub.log")
  [ -n "$back" ] || fail "a's stream to the hub never came back after restart $((i + 1))"
  gap=$(python3 -c "print(round($back - ${RESTARTS[$i]}, 1))")
  log "  a -> hub, restart $((i + 1)): no replies for ${gap} s (stop to first reply)"
  python3 -c "import sys; sys.exit(0 if $gap < 30 else 1)" || fail "a -> hub took ${gap} s to come back (bound 30 s)"
done

check "rekeys happened"
want=$((D / (REKEY + 10)))
[ "$want" -ge 1 ] || want=1
log "  distinct handshake times a reports for b: ${#HS[@]} (need >= $want); iperf bursts ok=$BURSTS failed=$BURST_FAIL"
[ "${#HS[@]}" -ge "$want" ] || fail "only ${#HS[@]} distinct handshakes in $D s with rekey after $REKEY s"

check "flat memory and no fd growth"
for h in a b; do
  p="PID_$h"
  kill -0 "${!p}" 2>/dev/null || fail "$h's daemon died"
  flat "$h" "${RSS0[$h]}" "${FD0[$h]}" "$(rss_kb "${!p}")" "$(fds "${!p}")"
done
flat "coord (life $coord_life)" "$COORD_RSS0" "$COORD_FD0" "$(rss_kb "$PID_coord")" "$(fds "$PID_coord")"
pass
