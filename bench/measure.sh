# shellcheck shell=bash
# Measurement helpers shared by bench/bench.sh and bench/relayed.sh. Need lib.sh, and
# RES (results file), T (seconds per iperf3 run) and HZ (getconf CLK_TCK) set.

cpu_ticks() { # PID -> utime+stime of the process and its children (all threads), or 0
  [ -n "${1:-}" ] || { echo 0; return; }
  local p f=() t=0
  for p in "$1" $(pgrep -P "$1" || true); do [ -r "/proc/$p/stat" ] && f+=("/proc/$p/stat"); done
  [ ${#f[@]} -gt 0 ] && t=$(awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }' "${f[@]}")
  echo "$t"
}

# measure NAME DST PID_A PID_B: ping and iperf3 both ways from namespace a; appends one
# line to $RES:
#   NAME first_ms rtt_ms gbps_ab retr_ab cpu_a_ab cpu_b_ab gbps_ba retr_ba cpu_a_ba cpu_b_ba
measure() {
  local name=$1 dst=$2 pa=${3:-} pb=${4:-} first rtt line=()
  first=$(nsx a ping -n -c1 -W5 "$dst" | sed -n 's/.*time=\([0-9.]*\).*/\1/p')
  [ -n "$first" ] || { echo "$name n/a" >>"$RES"; log "$name: no ping reply"; return 1; }
  rtt=$(nsx a ping -n -q -c 20 -i 0.05 -W 2 "$dst" | awk -F/ '/rtt/{print $5}')
  line=("$name" "$first" "${rtt:-n/a}")
  local dir
  for dir in ab ba; do
    local ta0 tb0 t0 ta1 tb1 t1 r el rv
    ta0=$(cpu_ticks "$pa"); tb0=$(cpu_ticks "$pb"); t0=$(date +%s%N)
    if [ $dir = ab ]; then iperf_run a "$dst" "$T"; else iperf_run a "$dst" "$T" -R; fi
    ta1=$(cpu_ticks "$pa"); tb1=$(cpu_ticks "$pb"); t1=$(date +%s%N)
    r=$(python3 - "$IPERF_JSON" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if "error" in d:
    sys.exit("iperf3: " + d["error"])
e = d["end"]
print("%.3f %d" % (e["sum_received"]["bits_per_second"] / 1e9, e.get("sum_sent", {}).get("retransmits", 0)))
PY
)
    el=$(( (t1 - t0) / 1000000 ))   # ms
    read -r -a rv <<<"$r"
    line+=("${rv[@]}")
    if [ -n "$pa" ]; then
      line+=("$(( (ta1 - ta0) * 100000 / HZ / el ))" "$(( (tb1 - tb0) * 100000 / HZ / el ))")
    else
      line+=(- -)
    fi
  done
  echo "${line[*]}" >>"$RES"
  log "$name: first ping ${first} ms, rtt ${rtt} ms, a->b ${line[3]} Gbit/s, b->a ${line[7]} Gbit/s"
}
