#!/usr/bin/env bash
# bench/memory.sh [PEERS]: resident memory of idle ovl nodes (issue 6: an idle node with
# 10 peers under 15 MB RSS). `ovl up` on a coordinator host and PEERS (default 10) nodes
# that join it, all on one bridge in namespaces; once every node sees PEERS peers with a
# session to the coordinator, prints VmRSS/VmHWM of the coordinator's process (coordinator
# + relay + node) and of one plain node, idle and after a 3 s iperf3 run through it. Not a
# pass/fail test; bounded (PEERS <= 30, every wait has a timeout).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
. "$(dirname "$0")/../tests/e2e/ovl_net.sh"
N=${1:-10}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 30 ] || { echo "usage: $0 [peers 1..30]" >&2; exit 2; }
lab_init memory
need_ovl

ns_new sw
nsx sw ip link add br0 type bridge
nsx sw ip link set br0 up
hosts=(coord)
for i in $(seq 1 "$N"); do hosts+=("n$i"); done
i=1
for h in "${hosts[@]}"; do
  ns_new "$h"
  ip link add eth0 netns "$(ns "$h")" type veth peer name "p-$h" netns "$(ns sw)"
  nsx sw ip link set "p-$h" master br0 up
  nsx "$h" ip addr add "203.0.113.$i/24" dev eth0
  nsx "$h" ip link set eth0 up
  i=$((i + 1))
done

ovl_daemon coord up --name server --network mem --cidr 100.91.0.0/16 --advertise-endpoint 203.0.113.1:51820 --json
wait_for test -s "$WORK/coord.out" --timeout 15 || fail "ovl up printed nothing: $(cat "$WORK/coord.log")"
wait_for has_overlay_ip coord --timeout 10 || fail "the coordinator's node did not come up"
TOKEN=$(ovl_cli coord --json invite --reusable --expires 1h | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])')
for i in $(seq 1 "$N"); do ovl_daemon "n$i" join "$TOKEN" --name "node$i"; done
for i in $(seq 1 "$N"); do wait_for has_overlay_ip "n$i" --timeout 30 || fail "n$i did not join"; done
peers_of() { ovl_cli "$1" --json status | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))'; }
has_peers() { [ "$(peers_of "$1")" = "$N" ]; }
wait_for has_peers n1 --timeout 30 || fail "n1 sees $(peers_of n1) peers, want $N"
wait_for has_peers coord --timeout 30 || fail "coord sees $(peers_of coord) peers, want $N"
SERVER_IP=$(overlay_ip coord)
wait_for --timeout 10 ping_once n1 "$SERVER_IP" || fail "n1 cannot reach the server"
sleep 2  # settle: let start-up allocations finish before reading RSS
rss() { awk '/VmRSS|VmHWM/ { printf "%s %s kB  ", $1, $2 }' "/proc/$1/status"; }
echo "idle, $N peers:  coordinator+relay+node: $(rss "$PID_coord")"
echo "idle, $N peers:  node n1:                $(rss "$PID_n1")"
nsx coord iperf3 -s -D -1 -p 5201 >/dev/null 2>&1 || true
wait_for --timeout 10 test -n "$(nsx coord ss -Hltn 'sport = :5201')"
timeout 20 ip netns exec "$(ns n1)" iperf3 -c "$SERVER_IP" -t 3 >/dev/null 2>&1 || log "iperf3 failed"
echo "after 3 s iperf3: node n1:                $(rss "$PID_n1")"
echo "after 3 s iperf3: coordinator+relay+node: $(rss "$PID_coord")"
