#!/usr/bin/env bash
# bench/relay_bench.sh [SECONDS] [RUNS] [--standalone]
#
# Relayed throughput: two nodes behind symmetric NATs in the project's NAT lab (so no
# direct path exists) talk through a relay; iperf3 TCP, one stream, SECONDS (default 5)
# a->b and b->a, RUNS times (default 3). The relay is the one embedded in a
# coordinator-only process (`ovl coordinator`, no node of its own to share its thread),
# or with --standalone an `ovl relay` in its own namespace. Reports each run, the median,
# and the relay process's CPU (100% = one core) and CPU time per MB relayed, all and
# user-space only (the kernel part includes the lab's veth/bridge/NAT path that the
# relay's sends run through); one machine-readable RESULT line.
# OVL_BIN selects the binary, so two builds can be compared on the same machine.
# Not a pass/fail test; numbers on a loaded machine vary, compare runs made together.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
. "$(dirname "$0")/../tests/e2e/natlab.sh"
. "$(dirname "$0")/../tests/e2e/ovl_net.sh"

T=5; RUNS=3; STANDALONE=0; pos=0
for arg in "$@"; do
  case $arg in
    --standalone) STANDALONE=1 ;;
    ''|*[!0-9]*) echo "usage: $0 [seconds] [runs] [--standalone]" >&2; exit 2 ;;
    *) if [ $pos = 0 ]; then T=$arg; else RUNS=$arg; fi; pos=$((pos + 1)) ;;
  esac
done
[ "$T" -ge 1 ] && [ "$T" -le 60 ] && [ "$RUNS" -ge 1 ] && [ "$RUNS" -le 10 ] \
  || { echo "seconds must be 1..60, runs 1..10" >&2; exit 2; }

lab_init relay_bench
need_ovl
command -v iperf3 >/dev/null || fail "missing tool: iperf3"
natlab_up symmetric symmetric
relay_flags=()
if [ $STANDALONE = 1 ]; then
  ns_new relay
  natlab_wan_link relay p-relay 203.0.113.5
  "$OVL_BIN" genkey >"$WORK/relay.key"
  ovl_daemon relay relay --listen 203.0.113.5:51822 --secret-file "$WORK/relay.key"
  relay_flags=(--relay 203.0.113.5:51822 --relay-secret-file "$WORK/relay.key")
fi
ovl_daemon coord coordinator --network rb --cidr 100.96.0.0/16 --advertise-endpoint 203.0.113.1:51820 --json "${relay_flags[@]}"
wait_for test -s "$WORK/coord.out" --timeout 15 || fail "the coordinator printed nothing: $(cat "$WORK/coord.log")"
TOKEN=$(ovl_cli coord --json invite --reusable --expires 1h | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
RELAY_PID=$PID_coord
[ $STANDALONE = 1 ] && RELAY_PID=$PID_relay
ovl_daemon a join "$TOKEN" --name a
ovl_daemon b join "$TOKEN" --name b
wait_for joined a --timeout 15 || fail "a did not join"
wait_for joined b --timeout 15 || fail "b did not join"
A_IP=$(overlay_ip a); B_IP=$(overlay_ip b)
wait_for --timeout 30 ping_once a "$B_IP" || fail "a cannot reach b"
[ "$(peer_path a b)" = relay ] || fail "a -> b is not relayed: $(peer_path a b)"
nsx b iperf3 -s -D >/dev/null 2>&1
wait_for --timeout 5 bash -c "ip netns exec $(ns b) ss -Hltn 'sport = :5201' | grep -q ."

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
results=()
for dir in "" -R; do
  for ((i = 1; i <= RUNS; i++)); do
    c0=$(cpu_ticks "$RELAY_PID"); u0=$(user_ticks "$RELAY_PID"); t0=$(date +%s%N)
    mbps=$(nsx a timeout $((T + 15)) iperf3 -c "$B_IP" -t "$T" $dir -J |
      python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))') \
      || fail "iperf3 failed"
    c1=$(cpu_ticks "$RELAY_PID"); u1=$(user_ticks "$RELAY_PID"); t1=$(date +%s%N)
    read -r cpu per_mb user_per_mb < <(awk -v t="$((c1 - c0))" -v u="$((u1 - u0))" -v hz="$(getconf CLK_TCK)" \
      -v ns="$((t1 - t0))" -v m="$mbps" 'BEGIN { s = t / hz; pct = s * 1e11 / ns; mb = m * ns / 8e9;
        printf "%.1f %d %d\n", pct, (mb > 0 ? s * 1e6 / mb : 0), (mb > 0 ? u / hz * 1e6 / mb : 0) }')
    label="a->b"; [ -n "$dir" ] && label="b->a"
    log "  $label run $i: $mbps Mbit/s, relay CPU $cpu% ($per_mb us/MB, of which user $user_per_mb)"
    results+=("${dir:-fwd}:$mbps:$cpu:$per_mb:$user_per_mb")
  done
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
fwd=$(printf '%s\n' "${results[@]}" | awk -F: '$1=="fwd"{print $2}' | median)
rev=$(printf '%s\n' "${results[@]}" | awk -F: '$1=="-R"{print $2}' | median)
cpu=$(printf '%s\n' "${results[@]}" | awk -F: '{print $3}' | median)
per_mb=$(printf '%s\n' "${results[@]}" | awk -F: '{print $4}' | median)
user_per_mb=$(printf '%s\n' "${results[@]}" | awk -F: '{print $5}' | median)
mode=embedded; batch=""
if [ $STANDALONE = 1 ]; then
  mode=standalone
  kill -TERM "$PID_relay"; wait_for pid_gone "$PID_relay" --timeout 5
  batch=$(sed -n 's/.* \([0-9.]*\) datagrams per receive call.*/\1/p' "$WORK/relay.log")
  log "  the relay took $batch datagrams per receive call on average"
  batch=" datagrams_per_recv=$batch"
fi
echo "RESULT relay=$mode a_to_b_mbps=$fwd b_to_a_mbps=$rev relay_cpu_pct=$cpu relay_cpu_us_per_mb=$per_mb relay_user_us_per_mb=$user_per_mb$batch seconds=$T runs=$RUNS bin=$OVL_BIN"
