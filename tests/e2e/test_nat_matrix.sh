#!/usr/bin/env bash
# The NAT matrix (issue 4), for the cases that connect directly without a relay:
#   none x symmetric  -> direct (the NATed side reaches out; the public side follows it)
#   cone x none       -> direct
#   cone x symmetric  -> direct (one hard NAT: birthday spray, agreed through the coordinator)
# (cone x cone and the same LAN: test_nat_cone; symmetric x symmetric -> relay: test_nat_relay.)
# Each case: nodes joined with tokens, the path `ovl status --json` reports, ping, and a
# short iperf3; the time from b's join to a direct path (both ways) is printed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init nat_matrix
need_ovl

run_case() { # NAT_A NAT_B
  local na=$1 nb=$2 t0 a_ip b_ip p
  check "$na x $nb"
  natlab_up "$na" "$nb"
  hub_up m 100.93.0.0/16
  local token
  token=$(reusable_token)
  ovl_daemon a join "$token" --name a
  wait_for joined a --timeout 15 || fail "a did not join"
  t0=$(now_ms)
  ovl_daemon b join "$token" --name b
  wait_for joined b --timeout 15 || fail "b did not join"
  local t_joined; t_joined=$(now_ms)
  a_ip=$(overlay_ip a); b_ip=$(overlay_ip b)
  wait_for --timeout 20 ping_once b "$a_ip" || fail "$na x $nb: b cannot ping a"
  log "  b joined and reached a in $(( $(now_ms) - t0 )) ms"
  # Direct both ways; the pings keep a session up while the paths settle.
  direct_both() { ping_once b "$a_ip"; [ "$(peer_path a b)" = direct ] && [ "$(peer_path b a)" = direct ]; }
  wait_for --timeout 30 direct_both || fail "$na x $nb: not direct: a -> b '$(peer_path a b)', b -> a '$(peer_path b a)'"
  log "  join -> direct both ways: $(( $(now_ms) - t0 )) ms (enrolled after $(( t_joined - t0 )) ms)"
  if [ "$na x $nb" = "cone x symmetric" ]; then
    # The hard side reaches a through one of its spray sockets; both say the spray worked.
    ovl_cli b --json status | python3 -c '
import json, sys
p = [p for p in json.load(sys.stdin)["peers"] if p["name"] == "a"][0]
assert p.get("via_spray_socket") is True and p.get("spray") == "succeeded", p
assert p.get("direct") == "public" and p.get("nat") == "endpoint-independent", p' || fail "b -> a is not over a spray socket"
    [ "$(ovl_cli a --json status | python3 -c 'import json,sys; print([p.get("spray") for p in json.load(sys.stdin)["peers"] if p["name"]=="b"][0])')" = succeeded ] \
      || fail "a does not report the spray as succeeded"
    log "  b reaches a over a birthday-spray socket"
  fi
  wait_for --timeout 10 ping_once a "$b_ip" || fail "$na x $nb: a cannot ping b"
  for pair in "a b" "b a"; do
    set -- $pair
    p=$(peer_path "$1" "$2")
    [ "$p" = direct ] || fail "$na x $nb: $1 -> $2 path is '$p', expected direct"
  done
  nsx b iperf3 -s -1 -D >/dev/null 2>&1
  wait_for --timeout 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :5201' | grep -q ."
  local gbps
  gbps=$(nsx a timeout 20 iperf3 -c "$b_ip" -t 2 -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,3))') \
    || fail "$na x $nb: iperf3 failed"
  log "  direct both ways; iperf3 a -> b $gbps Gbit/s"
  lab_reset
}

# lab_reset: tear the namespaces of one case down before the next.
lab_reset() {
  local n p
  for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${LAB_PIDS[@]}"; do wait_for pid_gone "$p" --timeout 5 || kill -9 "$p" 2>/dev/null; done
  for n in "${LAB_NS[@]}"; do ip netns pids "$(ns "$n")" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$(ns "$n")"; done
  LAB_NS=(); LAB_PIDS=(); LAB_LOGS=()
  rm -rf "$WORK"/state-* "$WORK"/*.out "$WORK"/*.log
}

run_case none symmetric
run_case cone none
run_case cone symmetric
pass
