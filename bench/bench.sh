#!/usr/bin/env bash
# bench/bench.sh [SECONDS] [--no-mixed] [--no-relayed]
#
# Throughput and latency of ovl beside stock wireguard-go and the raw veth, in ONE run on
# the same two namespaces (a 10.77.0.1 <-> b 10.77.0.2, one veth):
#
#   raw veth            iperf3/ping straight over the veth (the ceiling)
#   wireguard-go        wireguard-go <-> wireguard-go, overlay 10.100.0.0/24, MTU 1420
#   ovl                 ovl tunnel  <-> ovl tunnel, same addresses and MTU
#   ovl -> wg-go        ovl in a, wireguard-go in b (skip with --no-mixed)
#   ovl-relayed         two `ovl join` nodes behind symmetric NATs, through the
#                       coordinator's relay (bench/relayed.sh, own namespaces; --no-relayed)
#
# For each: iperf3 TCP, one stream, SECONDS (default 5) a->b and then b->a (-R); the
# tunnel processes' CPU use during each run (from /proc/PID/stat, 100% = one core); ping
# RTT (20 x 50 ms) and the first ping's time including the handshake. Prints a table, the
# ratio ovl / wireguard-go, and one machine-readable RESULT line. Not a pass/fail test.
# OVL_BIN selects ovl (default build/ovl); rows whose tunnel cannot start say n/a.
# OVL_VARIANTS="off tso gso,gro" adds one ovl row per word, run with OVL_OFFLOAD=word
# (which offloads the data plane may use; see src/engine/io/system_env.hpp), to show
# what each technique gives in the same run.
# Then the coordinator table from ovl-coord-bench (OVL_COORD_NODES, default 1000,10000).
# shellcheck source=tests/e2e/lib.sh disable=SC2154,SC2015  # keys come from *_keypair (printf -v)
. "$(dirname "$0")/../tests/e2e/lib.sh"

T=5; MIXED=1; RELAYED=1
for arg in "$@"; do
  case $arg in
    --no-mixed) MIXED=0 ;;
    --no-relayed) RELAYED=0 ;;
    ''|*[!0-9]*) echo "usage: $0 [seconds] [--no-mixed] [--no-relayed]" >&2; exit 2 ;;
    *) T=$arg ;;
  esac
done
[ "$T" -ge 1 ] && [ "$T" -le 60 ] || { echo "seconds must be 1..60" >&2; exit 2; }

lab_init bench
command -v iperf3 >/dev/null || fail "missing tool: iperf3"
HZ=$(getconf CLK_TCK)
RES="$WORK/results"; : >"$RES"

two_hosts
iperf_server b

# shellcheck source=bench/measure.sh
. "$(dirname "$0")/measure.sh"   # cpu_ticks, measure

# tunnel_row NAME KIND_A KIND_B: KIND is ovl or wggo; a has b's endpoint and vice versa.
tunnel_row() {
  local name=$1 ka=$2 kb=$3 ca="$WORK/ta.conf" cb="$WORK/tb.conf" pa pb
  if [ "$ka" = ovl ]; then ovl_keypair KA; else wg_keypair KA; fi
  if [ "$kb" = ovl ]; then ovl_keypair KB; else wg_keypair KB; fi
  write_conf "$ca" "$KA_priv" 51820 10.100.0.1/24 1420
  add_peer "$ca" "$KB_pub" 10.100.0.2/32 10.77.0.2:51820
  write_conf "$cb" "$KB_priv" 51820 10.100.0.2/24 1420
  add_peer "$cb" "$KA_pub" 10.100.0.1/32 10.77.0.1:51820
  if [ "$kb" = ovl ]; then start_ovl b "$cb" tun0; pb=$OVL_PID
  else start_wggo b "$cb" tun0; pb=$WGGO_PID; fi
  if [ "$ka" = ovl ]; then start_ovl a "$ca" tun0; pa=$OVL_PID
  else start_wggo a "$ca" tun0; pa=$WGGO_PID; fi
  measure "$name" 10.100.0.2 "$pa" "$pb"
}

env_row() { export OVL_OFFLOAD=$1; shift; "$@"; }  # only inside row's subshell

# Each row runs in a subshell: a tunnel that fails to start costs its row, not the bench.
# The subshell's tunnels are stopped by killing what it left in the namespaces.
row() {
  local name=$1; shift
  rm -f "$WORK/.err"
  # Without the ERR trap (lib.sh's lab_err would end the whole bench): a failed row
  # prints its reason and says n/a.
  # (Not `( ... ) || rc=$?`: inside an || list, set -e would be ignored in the subshell.)
  local saved_trap rc
  saved_trap=$(trap -p ERR)
  trap - ERR
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
  eval "$saved_trap"
  [ $rc = 0 ] || { grep -q "^$name " "$RES" || echo "$name n/a" >>"$RES"; }
  local p n
  for n in a b; do
    for p in $(ip netns pids "$(ns $n)"); do
      [ "$p" = "$IPERF_SRV_PID" ] || kill "$p" 2>/dev/null || true
    done
  done
  wait_for no_tunnels --timeout 10 || fail "tunnels of row $name did not stop"
}
# A tunnel's device can be gone a moment before its UDP port is free; the next row binds it.
no_tunnels() { link_gone a tun0 && link_gone b tun0 && port_free a && port_free b; }
port_free() { [ -z "$(nsx "$1" ss -Hlun 'sport = :51820')" ]; }

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench: ${T}s per direction, 1 TCP stream, $(nproc) CPUs, kernel $(uname -r), load $LOAD0"
row raw-veth measure raw-veth 10.77.0.2
row wireguard-go tunnel_row wireguard-go wggo wggo
if [ -x "$OVL_BIN" ]; then
  row ovl tunnel_row ovl ovl ovl
  for v in ${OVL_VARIANTS:-}; do
    row "ovl[$v]" env_row "$v" tunnel_row "ovl[$v]" ovl ovl
  done
  if [ $MIXED = 1 ]; then row "ovl->wg-go" tunnel_row "ovl->wg-go" ovl wggo; fi
  if [ $RELAYED = 1 ]; then row ovl-relayed bash "$(dirname "$0")/relayed.sh" "$T" "$RES"; fi
else
  log "no ovl binary at $OVL_BIN: ovl rows skipped"
  echo "ovl n/a" >>"$RES"
fi

echo
python3 - "$RES" "$T" "$(nproc)" "$(wireguard-go --version 2>/dev/null | head -n1)" \
  "$LOAD0 -> $(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
T, ncpu, wgv, load = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
print(f"ovl bench: iperf3 TCP 1 stream, {T}s each way; ping 20x; MTU 1420 in tunnels; {ncpu} CPUs")
print(f"(load average before -> after: {load}; other work on the machine skews the numbers)")
print(f"(wireguard-go: {wgv or 'unknown version'}; CPU = tunnel process, % of one core, sender/receiver)")
hdr = ("path", "a->b Gbit/s", "retr", "CPU% a/b", "b->a Gbit/s", "retr", "CPU% a/b", "RTT ms", "1st ping ms")
fmt = "{:<15} {:>11} {:>6} {:>9} {:>11} {:>6} {:>9} {:>7} {:>11}"
print(fmt.format(*hdr)); print("-" * 94)
by = {}
for r in rows:
    name = r[0]
    if len(r) < 11:
        print(fmt.format(name, "n/a", "", "", "n/a", "", "", "n/a", "n/a")); continue
    first, rtt, g1, re1, ca1, cb1, g2, re2, ca2, cb2 = r[1:11]
    by[name] = dict(ab=float(g1), ba=float(g2), rtt=float(rtt) if rtt != "n/a" else None)
    cpu1 = f"{ca1}/{cb1}" if ca1 != "-" else "-"
    cpu2 = f"{ca2}/{cb2}" if ca2 != "-" else "-"
    print(fmt.format(name, g1, re1, cpu1, g2, re2, cpu2, rtt, first))
print()
res = {}
for k, key in (("raw-veth", "raw"), ("wireguard-go", "wggo"), ("ovl", "ovl"), ("ovl->wg-go", "mixed"),
               ("ovl-relayed", "relayed")):
    if k in by:
        res[key + "_gbps"] = by[k]["ab"]; res[key + "_rev_gbps"] = by[k]["ba"]
        res[key + "_rtt_ms"] = by[k]["rtt"]
if "ovl" in by and "wireguard-go" in by and by["wireguard-go"]["ab"] > 0:
    w, o = by["wireguard-go"], by["ovl"]
    r1 = o["ab"] / w["ab"]; r2 = o["ba"] / w["ba"] if w["ba"] else 0
    res["ratio_ovl_wggo"] = round(r1, 2); res["ratio_ovl_wggo_rev"] = round(r2, 2)
    line = f"ratio ovl / wireguard-go: throughput {r1:.2f}x (a->b), {r2:.2f}x (b->a)"
    if o["rtt"] and w["rtt"]:
        line += f", RTT {o['rtt'] / w['rtt']:.2f}x"
    print(line)
else:
    print("ratio ovl / wireguard-go: n/a (no ovl result)")
print("RESULT " + " ".join(f"{k}={v}" for k, v in res.items()))
PY

# The coordinator table (bench/coord_load.cpp, README "Coordinator scale"):
# N simulated nodes over real control links on loopback, after the tunnels
# are done. OVL_COORD_NODES picks the sizes (default 1000,10000; empty skips).
COORD_NODES=${OVL_COORD_NODES-1000,10000}
COORD_BENCH=$(dirname "$OVL_BIN")/ovl-coord-bench
if [ -n "$COORD_NODES" ]; then
  if [ -x "$COORD_BENCH" ] && [ -x "$OVL_BIN" ]; then
    "$COORD_BENCH" --nodes "$COORD_NODES" --ovl "$OVL_BIN" || log "the coordinator bench failed"
  else
    log "no $COORD_BENCH: coordinator table skipped"
  fi
fi
