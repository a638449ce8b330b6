#!/usr/bin/env bash
# The batched, offloaded data path keeps every byte intact (issue 6, Proof):
#
#   a: ovl tunnel  10.77.0.1:51820  overlay 10.100.0.1/24, fd00:100::1/64
#   b: ovl tunnel  10.77.0.2:51821  overlay 10.100.0.2/24, fd00:100::2/64
#
# Checks, each with exact content verification (tools/dataplane.py):
#   * packets larger than the MTU: ping -s 3000 (IPv4 and IPv6, fragmented inside);
#   * TCP with big writes (64 KB TSO super-packets, segmented in userspace, sent with UDP
#     GSO, received with GRO, coalesced back for TUN): 24 MB each way, IPv4 and IPv6,
#     SHA-256 compared;
#   * a burst of tiny packets: 400 UDP datagrams of 4..64 bytes back to back, each
#     arrives once and intact; and 1-64 byte TCP writes with TCP_NODELAY;
#   * out-of-order delivery: a's peer endpoint is a UDP shuffler in b that releases
#     datagrams in shuffled groups of 8 both ways (sch_netem is not needed); the same
#     TCP checks pass through it, and the shuffler must really have reordered;
#   * the same TCP check with every offload off (OVL_OFFLOAD=off: the fallback path).
# shellcheck source=tests/e2e/lib.sh disable=SC2154  # keys come from *_keypair (printf -v)
. "$(dirname "$0")/lib.sh"
lab_init dataplane
need_ovl
TOOL="python3 $E2E_DIR/tools/dataplane.py"
MB=${DATAPLANE_MB:-24}

two_hosts
ovl_keypair A
ovl_keypair B
CA="$WORK/a.conf"; CB="$WORK/b.conf"

# conf A_ENDPOINT_FOR_B: b's config is fixed; a points at b directly or at the shuffler.
make_confs() {
  write_conf "$CA" "$A_priv" 51820 "10.100.0.1/24, fd00:100::1/64" 1420
  add_peer "$CA" "$B_pub" "10.100.0.2/32, fd00:100::2/128" "$1"
  write_conf "$CB" "$B_priv" 51821 "10.100.0.2/24, fd00:100::2/64" 1420
  add_peer "$CB" "$A_pub" "10.100.0.1/32, fd00:100::1/128" 10.77.0.1:51820
}

start_pair() {
  start_ovl b "$CB" ovb; PB=$OVL_PID
  start_ovl a "$CA" ova; PA=$OVL_PID
  ping_ok a 10.100.0.2
}
stop_pair() {
  stop_pid "$PA" 10; stop_pid "$PB" 10
  wait_for link_gone a ova --timeout 10; wait_for link_gone b ovb --timeout 10
}

# tcp_check FROM TO_NS DST_IP LABEL [tcp-send options]: one stream, SHA-256 compared.
tcp_check() {
  local from=$1 to=$2 dst=$3 label=$4 port=$((7000 + RANDOM % 1000)) out srv
  shift 4
  local bind=$dst
  [[ $dst == *:* ]] && bind="[$dst]"
  nsx "$to" $TOOL tcp-serve --bind "$bind:$port" --timeout 60 >"$WORK/srv.json" 2>&1 &
  srv=$!
  wait_for tcp_listening "$to" "$port" --timeout 10
  out=$(nsx "$from" timeout 90 $TOOL tcp-send --to "$bind:$port" --timeout 60 "$@" 2>&1) \
    || fail "$label: $out (server: $(cat "$WORK/srv.json"))"
  wait "$srv" || fail "$label: server: $(cat "$WORK/srv.json")"
  log "  ok: $label: $out"
}
tcp_listening() { [ -n "$(nsx "$1" ss -Hltn "sport = :$2")" ]; }
udp_listening() { [ -n "$(nsx "$1" ss -Hlun "sport = :$2")" ]; }

# udp_burst FROM TO_NS DST_IP COUNT
udp_burst() {
  local from=$1 to=$2 dst=$3 n=$4 port=$((8000 + RANDOM % 1000)) out
  nsx "$to" $TOOL udp-recv --bind "$dst:$port" --count "$n" --seed 5 --timeout 20 >"$WORK/udp.json" 2>&1 &
  local rcv=$!
  wait_for grep -q listening "$WORK/udp.json" --timeout 10
  nsx "$from" $TOOL udp-send --to "$dst:$port" --count "$n" --seed 5 >/dev/null
  wait "$rcv" || fail "UDP burst $from -> $dst: $(tail -n1 "$WORK/udp.json")"
  log "  ok: UDP burst $from -> $dst: $(tail -n1 "$WORK/udp.json")"
}

big_pings() {
  local ip
  for ip in 10.100.0.2 fd00:100::2; do
    out=$(nsx a ping -n -c 3 -i 0.2 -W 3 -s 3000 "$ip" 2>&1) || fail "ping -s 3000 $ip: $out"
    grep -q " 0% packet loss" <<<"$out" || fail "ping -s 3000 $ip lost packets: $out"
  done
  log "  ok: ping -s 3000 over IPv4 and IPv6, 3/3 each"
}

bytes=$((MB << 20))
check "direct path, all offloads: big pings, big and tiny TCP writes both ways, UDP burst"
make_confs 10.77.0.2:51821
start_pair
big_pings
tcp_check a b 10.100.0.2 "TCP a->b ${MB} MB, 1 MB writes" --bytes "$bytes" --seed 1
tcp_check b a 10.100.0.1 "TCP b->a ${MB} MB, 1 MB writes" --bytes "$bytes" --seed 2
tcp_check a b fd00:100::2 "TCP6 a->b ${MB} MB" --bytes "$bytes" --seed 3
tcp_check a b 10.100.0.2 "TCP a->b 200 KB in 1..64 byte writes (nodelay)" --bytes 200000 --write 37 --nodelay --seed 4
udp_burst a b 10.100.0.2 400
udp_burst b a 10.100.0.1 400
stop_pair

check "out-of-order delivery: a reaches b through a shuffler (groups of 8, both ways)"
# Started without a wrapper shell, so $! is the shuffler itself and gets the SIGTERM.
ip netns exec "$(ns b)" python3 "$E2E_DIR/tools/dataplane.py" shuffle --listen 10.77.0.2:51900 --backend 10.77.0.2:51821 --group 8 --seed 9 \
  --duration 120 --stats "$WORK/shuffle.json" &
SHUF=$!
LAB_PIDS+=("$SHUF")
wait_for udp_listening b 51900 --timeout 10
make_confs 10.77.0.2:51900
start_pair
big_pings
tcp_check a b 10.100.0.2 "TCP a->b ${MB} MB through the shuffler" --bytes "$bytes" --seed 11
tcp_check b a 10.100.0.1 "TCP b->a ${MB} MB through the shuffler" --bytes "$bytes" --seed 12
udp_burst a b 10.100.0.2 400
stop_pair
stop_pid "$SHUF" 10   # SIGTERM: it writes its statistics and exits
[ -s "$WORK/shuffle.json" ] || fail "the shuffler wrote no statistics"
reordered=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["reordered"])' "$WORK/shuffle.json")
[ "$reordered" -gt 1000 ] || fail "the shuffler reordered only $reordered datagrams: $(cat "$WORK/shuffle.json")"
log "  ok: the shuffler moved and reordered: $(cat "$WORK/shuffle.json")"

check "every offload off (fallback path): same TCP and UDP checks"
make_confs 10.77.0.2:51821
export OVL_OFFLOAD=off
start_pair
big_pings
tcp_check a b 10.100.0.2 "TCP a->b ${MB} MB, offloads off" --bytes "$bytes" --seed 21
tcp_check b a 10.100.0.1 "TCP b->a ${MB} MB, offloads off" --bytes "$bytes" --seed 22
udp_burst a b 10.100.0.2 400
stop_pair
unset OVL_OFFLOAD
pass
