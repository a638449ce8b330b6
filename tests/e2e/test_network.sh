#!/usr/bin/env bash
# A whole network bootstrapped with invite tokens (issue 3):
#   `ovl up` on a coordinator host; three nodes join with tokens (one single-use, one
#   reusable used twice); every pair pings over the overlay; `ovl status --json` lists the
#   right peers; a used token is refused; `ovl remove` cuts a node off; the coordinator is
#   killed and the remaining nodes keep pinging, a node restarted meanwhile comes back from
#   its cached map; the coordinator restarts and a new node can join.
# Hosts share one LAN segment here (NAT traversal has its own test).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init network
need_ovl

# --- the lab: one bridge, the coordinator and four hosts on 203.0.113.0/24
bridge_lan sw
bridge_hosts 203.0.113 coord a b c d

status_json() { ovl_cli "$1" --json status; }

check "ovl up creates the network and prints a one-time invite"
coord_up lab 100.90.0.0/16 203.0.113.1:51820
TOKEN1=$(json_field token <"$WORK/coord.out")
case "$TOKEN1" in ovl1-*) ;; *) fail "no token in: $(cat "$WORK/coord.out")";; esac
wait_for has_overlay_ip coord --timeout 10 || fail "the coordinator's own node did not come up"
SERVER_IP=$(overlay_ip coord)
[ "$SERVER_IP" = 100.90.0.1 ] || fail "first node got $SERVER_IP, expected 100.90.0.1"
log "  network up, server is $SERVER_IP"

check "a joins with the single-use token; time from join to the first ping answer"
t0=$(now_ms)
ovl_daemon a -v join "$TOKEN1" --name alpha
wait_for grep -q joined "$WORK/a.out" --timeout 10 || fail "a did not join: $(cat "$WORK/a.log")"
t_ip=$(now_ms)
A_IP=$(sed -n 's/.*(\(.*\))$/\1/p' "$WORK/a.out")
wait_for --timeout 10 ping_once a "$SERVER_IP" || fail "a cannot ping the server over the overlay"
t1=$(now_ms)
[ "$A_IP" = "$(overlay_ip a)" ] || fail "join printed $A_IP, status says $(overlay_ip a)"
log "  join -> first ping answer: $((t1 - t0)) ms (joined after $((t_ip - t0)) ms; a is $A_IP)"

check "a used single-use token is refused with exit code 2, nothing joins"
rc=0
out=$(ovl_cli d join "$TOKEN1" --name delta --no-start 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "reusing a single-use token: exit $rc, expected 2 ($out)"
echo "$out" | grep -qi "already been used" || fail "unclear refusal: $out"
log "  ok: $out"
rm -rf "$WORK/state-d"

check "b and c join with one reusable token"
TOKEN2=$(ovl_cli coord --json invite --reusable --expires 1h | json_field token)
ovl_daemon b join "$TOKEN2" --name bravo
ovl_daemon c join "$TOKEN2" --name charlie
wait_for has_overlay_ip b --timeout 10 || fail "b did not join"
wait_for has_overlay_ip c --timeout 10 || fail "c did not join"
B_IP=$(overlay_ip b); C_IP=$(overlay_ip c)

check "every pair pings over the overlay"
declare -A IP=([coord]=$SERVER_IP [a]=$A_IP [b]=$B_IP [c]=$C_IP)
for x in coord a b c; do
  for y in coord a b c; do
    [ "$x" = "$y" ] && continue
    wait_for --timeout 10 ping_once "$x" "${IP[$y]}" || fail "$x cannot ping $y (${IP[$y]})"
  done
done
log "  12 directions ok"

check "ovl status --json on a lists exactly the other three, with paths"
status_json a >"$WORK/a.status"
python3 - "$WORK/a.status" <<'PY' || fail "status check failed: $(cat "$WORK/a.status")"
import json, sys
s = json.load(open(sys.argv[1]))
names = sorted(p["name"] for p in s["peers"])
assert s["self"]["name"] == "alpha", s["self"]
assert names == ["bravo", "charlie", "server"], names
for p in s["peers"]:
    for k in ("name", "ip", "public_key", "path", "endpoint", "last_handshake", "rx_bytes", "tx_bytes"):
        assert k in p, (k, p)
    assert p["path"] in ("direct", "relay", "connecting", "offline"), p
    assert p["path"] == "direct", p
PY
ovl_cli coord nodes | grep -q charlie || fail "ovl nodes does not list charlie"

check "peer names resolve through the node's resolver (100.100.100.100), full and short"
ns_resolv a "nameserver 100.100.100.100" "search lab.ovl"
got=$(nsx a getent ahostsv4 bravo.lab.ovl | awk 'NR==1{print $1}')  # (`getent hosts` shows AAAA first)
[ "$got" = "$B_IP" ] || fail "bravo.lab.ovl resolved to '$got', expected $B_IP"
nsx a ping -c1 -W2 server >/dev/null || fail "a cannot ping the server by its short name"
rc=0; nsx a getent hosts nosuch.lab.ovl >/dev/null || rc=$?
[ "$rc" != 0 ] || fail "a name that does not exist resolved"
log "  bravo.lab.ovl -> $got; 'ping server' works"

check "ovl remove cuts a node off everywhere within 2 s"
ovl_cli coord remove charlie >/dev/null
t0=$(now_ms)
wait_for --timeout 5 bash -c "! ip netns exec $(ns a) ping -c1 -W1 $C_IP >/dev/null 2>&1" || fail "a still reaches c"
t1=$(now_ms)
wait_for --timeout 5 pid_gone "$PID_c" || fail "c's daemon did not stop after removal"
grep -qi "removed" "$WORK/c.log" || fail "c did not say it was removed: $(tail -3 "$WORK/c.log")"
log "  c unreachable after $((t1 - t0)) ms; c's daemon exited"

check "the coordinator killed (-9): the other nodes keep pinging"
kill -9 "$PID_coord"
wait_for pid_gone "$PID_coord" --timeout 5
nsx coord ip link show ovl0 >/dev/null 2>&1 && fail "kill -9 left the TUN device behind"
for i in 1 2 3; do
  ping_once a "$B_IP" || { sleep 1; ping_once a "$B_IP"; } || fail "a lost b after the coordinator died"
  ping_once b "$A_IP" || fail "b lost a after the coordinator died"
done

check "b restarted while the coordinator is down comes back from its cached map"
stop_pid "$PID_b" 10
ovl_daemon b up
wait_for --timeout 10 ping_once b "$A_IP" || fail "restarted b cannot reach a from its cache"
log "  ok"

check "the coordinator restarts and a new node can join"
ovl_daemon coord up
wait_for has_overlay_ip coord --timeout 10 || fail "the coordinator did not come back"
TOKEN3=$(ovl_cli coord --json invite | json_field token)
ovl_daemon d join "$TOKEN3" --name delta
wait_for has_overlay_ip d --timeout 10 || fail "d did not join after the restart"
D_IP=$(overlay_ip d)
wait_for --timeout 10 ping_once d "$A_IP" || fail "d cannot ping a"
wait_for --timeout 10 ping_once a "$D_IP" || fail "a cannot ping d"
log "  d ($D_IP) joined and pings a"

check "ovl down stops the local daemon and removes its device"
ovl_cli d down >/dev/null || fail "ovl down failed"
wait_for pid_gone "$PID_d" --timeout 10 || fail "d's daemon still runs after ovl down"
nsx d ip link show ovl0 >/dev/null 2>&1 && fail "ovl0 is still there after ovl down"
rc=0; ovl_cli d status >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "ovl status after ovl down: exit $rc, expected 1 (not running)"
log "  ok"

pass
