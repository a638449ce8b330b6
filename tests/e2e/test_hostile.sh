#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2015  # PID_<host> come from ovl_daemon (printf -v); `a && b || fail` is meant
# Garbage at every listening port (issue 7, "Bad input"): a coordinator (`ovl up`) and two
# joined nodes on a lab LAN; an attacker on the same LAN sends
#   (a) ~20,000 UDP datagrams (random bytes of 0..1500, bent WireGuard, STUN and relay
#       headers) to every UDP port the coordinator host and a node listen on;
#   (b) ~200 TCP connections to the control port: random bytes, 0xFFFFFFFF and other
#       impossible length prefixes, half frames then silence, a slow drip, silence; all
#       closed by the attacker after a few seconds;
#   (c) garbage requests on the local API sockets (unix).
# Throughout, the real nodes keep pinging each other over the overlay, a new node can
# still join, `ovl status` answers, every daemon stays alive; afterwards memory (VmRSS)
# has not grown by more than HOSTILE_RSS_MARGIN_KB and the coordinator's file descriptors
# are back to their baseline. Every packet goes to addresses inside the lab's namespaces.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/ovl_net.sh
. "$(dirname "$0")/ovl_net.sh"
lab_init hostile
need_ovl

JUNK=(python3 "$E2E_DIR/tools/junk.py")
SEED=${HOSTILE_SEED:-$RANDOM}
UDP_COUNT=${HOSTILE_UDP_COUNT:-20000}
UDP_SECONDS=${HOSTILE_UDP_SECONDS:-10}
TCP_CONNS=${HOSTILE_TCP_CONNS:-200}
TCP_HOLD=${HOSTILE_TCP_HOLD:-5}
RSS_MARGIN_KB=${HOSTILE_RSS_MARGIN_KB:-20480}   # +20 MiB
BIG_LEN=${HOSTILE_BIG_LEN:-16777200}    # "half_big" junk links announce a frame this long...
BIG_SEND=${HOSTILE_BIG_SEND:-4194304}   # ...send this much of it before the handshake, and hang (20 x 4 MiB: fails if pre-auth frames are buffered)
FD_SLACK=${HOSTILE_FD_SLACK:-3}
log "seed $SEED (rerun with HOSTILE_SEED=$SEED)"

# --- the lab: a bridge; the coordinator, nodes a, b, c and the attacker x on 203.0.113.0/24
bridge_lan sw
declare -A LAN=([coord]=203.0.113.1 [a]=203.0.113.2 [b]=203.0.113.3 [c]=203.0.113.4 [x]=203.0.113.66)
for h in coord a b c x; do bridge_host "$h" "${LAN[$h]}/24"; done

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
alive() { # NAME PID
  kill -0 "$2" 2>/dev/null || fail "the $1 daemon (pid $2) died: $(tail -5 "$WORK/$1.log")"
}
all_alive() { alive coord "$PID_coord"; alive a "$PID_a"; alive b "$PID_b"; }
status_answers() { # HOST: `ovl status --json` answers with this node in it
  local out
  out=$(timeout 5 ip netns exec "$(ns "$1")" "$OVL_BIN" --state-dir "$WORK/state-$1" --json status) \
    || fail "ovl status on $1 did not answer"
  python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["self"]["ip"]' <<<"$out" \
    || fail "ovl status on $1 answered without this node: $out"
}
control_connected() {
  [ "$(ovl_cli "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["control"])')" = connected ]
}
# ping_bg NAME NS DST COUNT: a ping stream in the background (0.2 s apart), output in $WORK/ping-NAME
ping_bg() {
  nsx "$2" ping -n -i 0.2 -W 1 -c "$4" "$3" >"$WORK/ping-$1" 2>&1 &
  printf -v "PINGPID_$1" '%s' "$!"
  LAB_PIDS+=("$!")
}
# ping_result NAME MAX_LOSS_PCT: waits for the stream, demands at most MAX_LOSS_PCT % lost
ping_result() {
  local pid_var="PINGPID_$1" tx rx loss
  wait "${!pid_var}" || true
  read -r tx rx < <(awk '/packets transmitted/{print $1, $4}' "$WORK/ping-$1")
  [ -n "${tx:-}" ] && [ "$tx" -gt 0 ] || fail "ping $1: no summary: $(tail -3 "$WORK/ping-$1")"
  loss=$(( (tx - rx) * 100 / tx ))
  log "  ping $1: $rx/$tx answered (${loss}% lost, at most $2% allowed)"
  [ "$loss" -le "$2" ] || fail "ping $1 lost $loss% during the attack: $(tail -3 "$WORK/ping-$1")"
}

check "a network: ovl up on coord, a and b join"
ovl_daemon coord -v up --name server --network hostile --cidr 100.91.0.0/16 \
  --advertise-endpoint "${LAN[coord]}:51820" --json
wait_for test -s "$WORK/coord.out" --timeout 15 || fail "ovl up printed nothing: $(cat "$WORK/coord.log")"
wait_for has_overlay_ip coord --timeout 10 || fail "the coordinator's node did not come up"
TOKEN=$(reusable_token)
ovl_daemon a -v join "$TOKEN" --name alpha
ovl_daemon b -v join "$TOKEN" --name bravo
wait_for has_overlay_ip a --timeout 10 || fail "a did not join"
wait_for has_overlay_ip b --timeout 10 || fail "b did not join"
IP_coord=$(overlay_ip coord); IP_a=$(overlay_ip a); IP_b=$(overlay_ip b)
for pair in "a $IP_b" "b $IP_a" "a $IP_coord" "coord $IP_b"; do
  # shellcheck disable=SC2086
  ping_ok $pair 3
done
wait_for --timeout 10 control_connected a || fail "a's control link is not connected"
wait_for --timeout 10 control_connected b || fail "b's control link is not connected"

# Every port the daemons listen on, as the kernel sees them (not as we expect them).
udp_ports() { nsx "$1" ss -Hlun | awk '{n=split($4,p,":"); print p[n]}' | sort -un | tr '\n' ' '; }
tcp_ports() { nsx "$1" ss -Hltn | awk '{n=split($4,p,":"); print p[n]}' | sort -un | tr '\n' ' '; }
COORD_UDP=$(udp_ports coord); A_UDP=$(udp_ports a); COORD_TCP=$(tcp_ports coord)
log "  coordinator listens on UDP $COORD_UDP and TCP $COORD_TCP; node a on UDP $A_UDP"
for p in 51820 51821; do
  grep -qw "$p" <<<"$COORD_UDP" || fail "the coordinator host does not listen on UDP $p: $COORD_UDP"
done
grep -qw 51820 <<<"$COORD_TCP" || fail "the coordinator does not listen on TCP 51820: $COORD_TCP"
grep -qw 51820 <<<"$A_UDP" || fail "node a does not listen on UDP 51820: $A_UDP"
UDP_TARGETS=()
for p in $COORD_UDP; do UDP_TARGETS+=("${LAN[coord]}:$p"); done
for p in $A_UDP; do UDP_TARGETS+=("${LAN[a]}:$p"); done

sleep 1   # let start-up allocations settle before the baseline
declare -A RSS0 FD0
for h in coord a b; do
  pv="PID_$h"; RSS0[$h]=$(rss_kb "${!pv}"); FD0[$h]=$(fds "${!pv}")
done
log "  baseline: VmRSS coord ${RSS0[coord]} kB, a ${RSS0[a]} kB, b ${RSS0[b]} kB;" \
  "fds coord ${FD0[coord]}, a ${FD0[a]}, b ${FD0[b]}"

# Samples VmRSS and fds of every daemon every 0.2 s while the attack lasts (peaks reported).
sample() {
  while :; do
    for h in coord a b; do
      pv="PID_$h"
      echo "$h $(rss_kb "${!pv}" 2>/dev/null || echo 0) $(fds "${!pv}" 2>/dev/null || echo 0)"
    done
    sleep 0.2
  done
}
sample >"$WORK/samples" 2>/dev/null &
SAMPLER=$!
LAB_PIDS+=("$SAMPLER")
peak() { awk -v h="$1" -v c="$2" '$1==h && $c>m {m=$c} END {print m+0}' "$WORK/samples"; }

# ------------------------------------------------------------------------------ (a) UDP
check "(a) $UDP_COUNT junk UDP datagrams in ${UDP_SECONDS}s to ${UDP_TARGETS[*]}; the nodes keep pinging"
NPINGS=$((UDP_SECONDS * 5))
ping_bg udp_a_b a "$IP_b" "$NPINGS"
ping_bg udp_b_a b "$IP_a" "$NPINGS"
ping_bg udp_a_coord a "$IP_coord" "$NPINGS"
nsx x timeout $((UDP_SECONDS + 30)) "${JUNK[@]}" udp --seed "$SEED" --count "$UDP_COUNT" --duration "$UDP_SECONDS" \
  "${UDP_TARGETS[@]}" >"$WORK/udp.json" &
JUNK_UDP=$!
LAB_PIDS+=("$JUNK_UDP")
sleep $((UDP_SECONDS / 2))
for h in coord a b; do status_answers "$h"; done   # in the middle of the flood
log "  mid-flood: ovl status answers on coord, a and b"
wait "$JUNK_UDP" || fail "the UDP junk sender failed: $(cat "$WORK/udp.json")"
ping_result udp_a_b 10
ping_result udp_b_a 10
ping_result udp_a_coord 10
read -r UDP_SENT UDP_BYTES UDP_REPLIES UDP_REPLY_BYTES UDP_MAX_REPLY < <(python3 -c '
import json,sys; j=json.load(open(sys.argv[1]))
print(j["sent"], j["bytes"], j["replies"], j["reply_bytes"], j["max_reply"])' "$WORK/udp.json")
log "  sent $UDP_SENT datagrams ($UDP_BYTES bytes): $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["kinds"], "in", j["seconds"], "s")' "$WORK/udp.json")"
log "  answers to the attacker: $UDP_REPLIES datagrams, $UDP_REPLY_BYTES bytes (largest $UDP_MAX_REPLY)"
[ "$UDP_SENT" -ge $((UDP_COUNT * 95 / 100)) ] || fail "only $UDP_SENT of $UDP_COUNT datagrams went out"
[ "$UDP_REPLY_BYTES" -le "$UDP_BYTES" ] || fail "junk drew more bytes back ($UDP_REPLY_BYTES) than it sent ($UDP_BYTES)"
all_alive
for h in coord a b; do status_answers "$h"; done

# ------------------------------------------------------------------------------ (b) TCP
check "(b) $TCP_CONNS junk TCP connections to the control port, held ${TCP_HOLD}s; c joins meanwhile"
nsx x timeout $((TCP_HOLD + 60)) "${JUNK[@]}" tcp --seed "$SEED" --conns "$TCP_CONNS" --hold "$TCP_HOLD" \
  --big-len "$BIG_LEN" --big-send "$BIG_SEND" "${LAN[coord]}:51820" >"$WORK/tcp.json" &
JUNK_TCP=$!
LAB_PIDS+=("$JUNK_TCP")
ping_bg tcp_a_b a "$IP_b" $((TCP_HOLD * 5))
# while the junk connections are open: the coordinator still enrolls a new node
sleep 1
T2=$(ovl_cli coord --json invite | json_field token)
ovl_daemon c join "$T2" --name charlie
wait_for has_overlay_ip c --timeout 10 || fail "c could not join while the control port was under attack"
IP_c=$(overlay_ip c)
wait_for --timeout 10 ping_once c "$IP_a" || fail "c cannot ping a"
wait_for --timeout 10 ping_once a "$IP_c" || fail "a cannot ping c"
status_answers coord
log "  c ($IP_c) joined and pings a while the junk links were open"
wait "$JUNK_TCP" || fail "the TCP junk sender failed: $(cat "$WORK/tcp.json")"
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true
FD_PEAK=$(peak coord 3)
log "  peaks during the attack: coordinator $FD_PEAK fds, VmRSS $(peak coord 2) kB; a $(peak a 3) fds, $(peak a 2) kB; b $(peak b 3) fds, $(peak b 2) kB"
ping_result tcp_a_b 10
python3 - "$WORK/tcp.json" <<'PY' || fail "TCP junk: $(cat "$WORK/tcp.json")"
import json, sys
j = json.load(open(sys.argv[1]))
print("[hostile] opened %d, refused %d, closed by the coordinator %d, %.1f s" %
      (j["opened"], j["refused"], j["closed_by_server"], j["seconds"]))
for m, v in j["modes"].items():
    print("[hostile]    %-13s opened %3d  closed by server %3d" % (m, v["opened"], v["closed_by_server"]))
assert j["refused"] == 0, "connections were refused"
assert j["must_close_still_open"] == 0, "connections with impossible frames were left open by the coordinator"
PY
# the held junk links were counted (the measurement sees connections at all)
[ "$FD_PEAK" -gt "${FD0[coord]}" ] || fail "no extra fds while junk connections were open ($FD_PEAK): is the fd count measured?"
check "the coordinator's fds return to the baseline once the junk links are closed"
# baseline + c's control link + slack
fd_back() { [ "$(fds "$PID_coord")" -le $((FD0[coord] + 1 + FD_SLACK)) ]; }
wait_for --timeout 10 fd_back || fail "coordinator fds: ${FD0[coord]} before, $FD_PEAK during, $(fds "$PID_coord") after (allowed $((FD0[coord] + 1 + FD_SLACK)))"
log "  coordinator fds: ${FD0[coord]} before, $FD_PEAK during, $(fds "$PID_coord") after (c's link included)"
all_alive

# ------------------------------------------------------------------------------ (c) unix
check "(c) garbage on the local API sockets of coord and a: an error answer each, nothing else"
for h in coord a; do
  nsx "$h" timeout 60 "${JUNK[@]}" unix --seed "$SEED" --count 100 --hold-silent 5 "$WORK/state-$h/ovl.sock" \
    >"$WORK/unix-$h.json" || fail "the API junk sender failed on $h: $(cat "$WORK/unix-$h.json")"
  python3 - "$WORK/unix-$h.json" "$h" <<'PY' || fail "API junk on $h: $(cat "$WORK/unix-$h.json")"
import json, sys
j = json.load(open(sys.argv[1]))
print("[hostile]   %s: %d requests, %d problems %s" % (sys.argv[2], j["requests"], j["problem_count"], j["problems"][:3]))
assert j["problem_count"] == 0
PY
  alive "$h" "$(v="PID_$h"; echo "${!v}")"
  status_answers "$h"
done
# the junk must not have changed anything: no node removed or renamed, no invite created
ovl_cli coord --json nodes | python3 -c '
import json,sys; n=sorted(x["name"] for x in json.load(sys.stdin)["nodes"])
assert n == ["alpha","bravo","charlie","server"], n' || fail "the node list changed: $(ovl_cli coord nodes)"
ovl_cli coord --json invite list | python3 -c '
import json,sys; n=len(json.load(sys.stdin)["invites"])
assert n == 3, n' || fail "the invite list changed: $(ovl_cli coord invite list)"

# ------------------------------------------------------------------------------ after
check "after the attack: every pair still pings, control links up, memory flat"
for pair in "a $IP_b" "b $IP_a" "a $IP_coord" "coord $IP_a" "c $IP_b"; do
  # shellcheck disable=SC2086
  ping_ok $pair 5
done
for h in a b c; do control_connected "$h" || fail "$h's control link is down after the attack"; done
all_alive
sleep 1
for h in coord a b; do
  pv="PID_$h"; r=$(rss_kb "${!pv}"); f=$(fds "${!pv}")
  log "  $h: VmRSS ${RSS0[$h]} kB before, $r kB after ($((r - RSS0[$h])) kB, at most +$RSS_MARGIN_KB); fds ${FD0[$h]} -> $f"
  [ "$r" -le $((RSS0[$h] + RSS_MARGIN_KB)) ] || fail "$h grew by $((r - RSS0[$h])) kB under junk"
done
for h in coord a b; do   # and not even for a moment while the junk was coming in
  p=$(peak "$h" 2)
  [ $((p - RSS0[$h])) -le "$RSS_MARGIN_KB" ] || fail "$h grew by $((p - RSS0[$h])) kB (peak) during the attack"
done
for h in coord a b; do
  pv="PID_$h"; f=$(fds "${!pv}"); extra=0
  [ "$h" = coord ] && extra=1   # c's control link
  [ "$f" -le $((FD0[$h] + extra + FD_SLACK)) ] || fail "$h holds $f fds, ${FD0[$h]} before the attack"
done
if grep -aiE 'terminate|abort|sanitizer|segfault|core dumped' "$WORK"/{coord,a,b,c}.log; then
  fail "a daemon log shows a crash"
fi
log "  totals: $UDP_SENT UDP datagrams, $TCP_CONNS TCP connections, 200 API requests; all daemons alive"
pass
