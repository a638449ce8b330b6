# shellcheck shell=bash
# Helpers for ovl's end-to-end tests. Source it from a test:
#
#   . "$(dirname "$0")/lib.sh"
#   lab_init NAME                 # root check, work dir, cleanup trap, `log` and `fail`
#   ns_new a; ns_new b            # namespaces; `ns a` is the full name ("ovl<pid>-a"),
#                                 # `nsx a CMD...` runs CMD inside it
#   veth_link a 10.77.0.1 b 10.77.0.2      # underlay: one veth pair, a /24 in 10.x
#   ovl_keypair A; write_conf F "$A_priv" PORT ADDR MTU; add_peer F PUB ALLOWED [EP] [PSK] [KA]
#   start_ovl a F [IF]; start_wggo b F IF  # tunnels in the background, waited for
#   ping_ok a 10.100.0.2; iperf_server b; iperf_run a DST SECS [-R]; iperf_check "$IPERF_JSON" L
#   wait_for CMD... --timeout S;  check "what is verified next";  fail "why"
#   pass                          # prints "PASS NAME"
#
# Everything the test makes lives in namespaces named after this shell's pid and in one
# mktemp directory; the EXIT/INT/TERM trap kills every process in those namespaces,
# deletes them and removes the directory, whether the test passed or not. Nothing is
# routed to the host's network: namespaces get only the links made here, and tests only
# send to addresses inside them (10.x and 203.0.113.0/24). Every wait polls a condition
# against a deadline (wait_for); every load is bounded (ping -c, iperf3 -t, timeout).
#
# OVL_BIN selects the binary under test (default: build/ovl in the repo). The special
# value OVL_BIN=wggo-shim replaces ovl by a small script around stock wireguard-go + wg
# that speaks the same command line (genkey, pubkey, tunnel FILE [-i IF]); it exists to
# check the lab itself and is not a test of ovl.

# shellcheck disable=SC2015  # `test && test || fail` is meant: fail when either is false
set -eEuo pipefail
umask 077

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/../.." && pwd)
OVL_BIN=${OVL_BIN:-$REPO_ROOT/build/ovl}

LAB_NAME=unnamed
LAB_PREFIX="ovl$$-"   # namespace prefix, unique per run
LAB_NS=()             # short names of namespaces we made
LAB_PIDS=()           # background processes we started
LAB_LOGS=()           # log files worth showing when a test fails
LAB_SEQ=0
WORK=""

log() { printf '[%s %s] %s\n' "$LAB_NAME" "$(date +%H:%M:%S)" "$*"; }
fail() { printf '[%s] FAIL: %s\n' "$LAB_NAME" "$*" >&2; exit 1; }
check() { log "check: $*"; }   # announce what the next lines verify
pass() { echo "PASS $LAB_NAME"; }

# ---------------------------------------------------------------------------- setup

lab_init() { # NAME
  LAB_NAME=$1
  [ "$(id -u)" = 0 ] || fail "must run as root (network namespaces, veth, TUN); CI runs as root"
  [ -c /dev/net/tun ] || fail "/dev/net/tun is missing"
  local t
  for t in ip ping wg wireguard-go python3 timeout; do
    command -v "$t" >/dev/null || fail "missing tool: $t (scripts/run.sh deps installs it)"
  done
  sweep_stale_namespaces
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovl-e2e.$$.XXXXXX")
  chmod 700 "$WORK"
  trap 'lab_cleanup' EXIT
  trap 'lab_err $? "${BASH_SOURCE[0]##*/}:$LINENO" "$BASH_COMMAND"' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  WGGO_TUNNEL=$WORK/wggo-tunnel
  write_wggo_tunnel "$WGGO_TUNNEL"
  if [ "$OVL_BIN" = wggo-shim ]; then
    OVL_BIN=$WGGO_TUNNEL
    log "NOTE: OVL_BIN=wggo-shim: the 'ovl' side is wireguard-go behind a shim (lab self-check)"
  fi
}

# A run killed with SIGKILL (e.g. a CTest timeout) cannot clean up; the next run deletes
# namespaces named like ours ("ovl<pid>-name") and work dirs ("ovl-e2e.<pid>.XXXXXX")
# whose shell <pid> no longer exists.
sweep_stale_namespaces() {
  local n pid
  for n in $(ip netns list | awk '{print $1}' | grep -E '^ovl[0-9]+-[A-Za-z0-9_]+$' || true); do
    pid=${n#ovl}; pid=${pid%%-*}
    [ -d "/proc/$pid" ] && continue
    echo "[$LAB_NAME] removing stale namespace $n (its test shell $pid is gone)" >&2
    ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
  done
  local d
  for d in "${TMPDIR:-/tmp}"/ovl-e2e.*.*; do
    [ -d "$d" ] || continue
    pid=${d##*/ovl-e2e.}; pid=${pid%%.*}
    case $pid in ''|*[!0-9]*) continue ;; esac
    [ -d "/proc/$pid" ] || rm -rf "$d"
  done
}

need_ovl() {
  [ -x "$OVL_BIN" ] || fail "ovl binary not found at $OVL_BIN (build it: scripts/run.sh build, or set OVL_BIN)"
}

# The ERR trap reports the first failing command once (not again in every enclosing
# function or subshell that fails because of it).
lab_err() {
  [ -e "$WORK/.err" ] && return
  : >"$WORK/.err"
  printf '[%s] FAIL: command failed (status %s) at %s: %s\n' "$LAB_NAME" "$1" "$2" "$3" >&2
}

lab_cleanup() {
  local rc=$?
  set +eE
  trap - EXIT ERR
  # Finish the cleanup even if our output pipe is gone or the user presses Ctrl-C again.
  trap '' PIPE INT TERM HUP
  if [ "$rc" != 0 ] && [ ${#LAB_LOGS[@]} -gt 0 ]; then
    local f
    for f in "${LAB_LOGS[@]}"; do
      [ -s "$f" ] || continue
      echo "----- last lines of $(basename "$f") -----" >&2
      tail -n 25 "$f" >&2
    done
  fi
  local p n mine=()
  # Only pids that are still our children: an old pid may belong to someone else by now.
  # (Processes inside our namespaces are found through the namespaces anyway.)
  for p in "${LAB_PIDS[@]}"; do
    [ "$(awk '/^PPid:/{print $2}' "/proc/$p/status" 2>/dev/null)" = "$$" ] && mine+=("$p")
  done
  for p in "${mine[@]}"; do kill "$p" 2>/dev/null; done
  for n in "${LAB_NS[@]}"; do ip netns pids "$LAB_PREFIX$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
  # Give them up to 3 s to finish (ovl removes its device on SIGTERM), then force.
  local deadline=$((SECONDS + 3)) left
  while :; do
    left=""
    for n in "${LAB_NS[@]}"; do left+=$(ip netns pids "$LAB_PREFIX$n" 2>/dev/null); done
    for p in "${mine[@]}"; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
    [ -z "$left" ] && break
    if [ $SECONDS -ge $deadline ]; then
      for n in "${LAB_NS[@]}"; do ip netns pids "$LAB_PREFIX$n" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
      for p in "${mine[@]}"; do kill -9 "$p" 2>/dev/null; done
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  for n in "${LAB_NS[@]}"; do ip netns del "$LAB_PREFIX$n" 2>/dev/null; rm -rf "/etc/netns/$LAB_PREFIX$n"; done
  [ -n "$WORK" ] && rm -rf "$WORK"
  exit "$rc"
}

# wait_for CMD... [--timeout S]   (or: wait_for --timeout S CMD...)
# Runs CMD every 0.1 s until it succeeds; returns 1 if S seconds (default 10, fractions
# allowed) pass first. CMD's output is discarded.
wait_for() {
  local timeout=10
  if [ "${1:-}" = --timeout ]; then timeout=$2; shift 2; fi
  local n=$#
  if [ "$n" -ge 2 ] && [ "${*: -2:1}" = --timeout ]; then
    timeout=${*: -1}
    set -- "${@:1:$((n - 2))}"
  fi
  local deadline ms
  ms=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')
  deadline=$(($(date +%s%N) + ms * 1000000))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(date +%s%N)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------- namespaces

ns() { echo "$LAB_PREFIX$1"; }            # full namespace name of short name
nsx() { local n=$1; shift; ip netns exec "$LAB_PREFIX$n" "$@"; }   # run in namespace

# ns_resolv SHORT LINE...: the resolv.conf that processes started in the namespace see
# (`ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf); the
# host's own /etc/resolv.conf is never touched, and lab_cleanup removes the file.
ns_resolv() {
  local n=$1; shift
  mkdir -p "/etc/netns/$LAB_PREFIX$n"
  printf '%s\n' "$@" >"/etc/netns/$LAB_PREFIX$n/resolv.conf"
}

# ns_ensure_resolv SHORT: makes sure the namespace has its own resolv.conf (an empty one
# unless ns_resolv wrote one), so that `ip netns exec` bind-mounts it over /etc/resolv.conf
# and anything ovl writes there stays in the lab. Refuses to go on if the bind mount does
# not happen (the file seen inside would be the host's).
ns_ensure_resolv() {
  local n=$1 f="/etc/netns/$LAB_PREFIX$1/resolv.conf"
  if [ ! -e "$f" ]; then
    mkdir -p "/etc/netns/$LAB_PREFIX$n"
    printf '# resolv.conf of the lab namespace %s\n' "$LAB_PREFIX$n" >"$f"
  fi
  local inside outside
  inside=$(nsx "$n" stat -Lc '%d:%i' /etc/resolv.conf)
  outside=$(stat -Lc '%d:%i' "$f")
  [ "$inside" = "$outside" ] || fail "ip netns exec $LAB_PREFIX$n does not bind-mount $f over /etc/resolv.conf"
}

ns_new() { # SHORT
  ip netns add "$LAB_PREFIX$1" || fail "cannot create namespace $LAB_PREFIX$1"
  LAB_NS+=("$1")
  nsx "$1" ip link set lo up
}

# bridge_lan SW: a bridge namespace SW (made here) that bridge_host plugs hosts into.
bridge_lan() { ns_new "$1"; nsx "$1" ip link add br0 type bridge; nsx "$1" ip link set br0 up; BRIDGE_NS=$1; }
# bridge_host HOST ADDR/LEN: a new namespace HOST with eth0 on the bridge, addressed ADDR/LEN
# (an IPv6 address is usable at once: no duplicate address detection).
bridge_host() {
  ns_new "$1"
  ip link add eth0 netns "$(ns "$1")" type veth peer name "p-$1" netns "$(ns "$BRIDGE_NS")"
  nsx "$BRIDGE_NS" ip link set "p-$1" master br0 up
  case "$2" in
    *:*) addr6 "$1" eth0 "$2" ;;
    *) nsx "$1" ip addr add "$2" dev eth0 ;;
  esac
  nsx "$1" ip link set eth0 up
}
# bridge_hosts PREFIX HOST...: bridge_host for each, at PREFIX.1, PREFIX.2, ... (/24).
bridge_hosts() {
  local prefix=$1 i=1 h; shift
  for h in "$@"; do bridge_host "$h" "$prefix.$i/24"; i=$((i + 1)); done
}

# veth_link NS_A ADDR_A NS_B ADDR_B [PREFIXLEN=24]: device "eth0" unless taken, then eth1...
# The devices' names are left in VETH_A and VETH_B (for addr6).
veth_link() {
  local a=$1 ia=$2 b=$3 ib=$4 len=${5:-24}
  case "$ia$ib" in *10.*|*203.0.113.*) ;; *) fail "veth_link: use 10.x or 203.0.113.x";; esac
  local da db
  da=$(free_ifname "$a" eth); db=$(free_ifname "$b" eth)
  ip link add "$da" netns "$(ns "$a")" type veth peer name "$db" netns "$(ns "$b")" \
    || fail "cannot create veth $a/$da <-> $b/$db"
  nsx "$a" ip addr add "$ia/$len" dev "$da"
  nsx "$b" ip addr add "$ib/$len" dev "$db"
  nsx "$a" ip link set "$da" up
  nsx "$b" ip link set "$db" up
  VETH_A=$da; VETH_B=$db
}

# addr6 NS DEV ADDR/LEN: an IPv6 address, usable at once (no duplicate address detection).
# Lab addresses only: ULA (fd..) or documentation (2001:db8::/32).
addr6() {
  case "$3" in fd*|2001:db8:*) ;; *) fail "addr6: use fd00::/8 or 2001:db8::/32";; esac
  nsx "$1" ip -6 addr add "$3" dev "$2" nodad || fail "cannot add $3 to $1/$2"
}

free_ifname() { # NS BASE
  local i=0
  while nsx "$1" ip link show "$2$i" >/dev/null 2>&1; do i=$((i + 1)); done
  echo "$2$i"
}

# Two hosts on one veth: namespaces a (10.77.0.1) and b (10.77.0.2).
two_hosts() {
  ns_new a; ns_new b
  veth_link a 10.77.0.1 b 10.77.0.2
}

link_exists() { nsx "$1" ip link show dev "$2" >/dev/null 2>&1; }
link_gone() { ! link_exists "$@"; }
# (No `cmd | grep -q` here: with pipefail, grep quitting early can fail the pipeline.)
link_up() { local o; o=$(nsx "$1" ip -o link show dev "$2" 2>/dev/null) && grep -q '[<,]UP[,>]' <<<"$o"; }
has_addr() { local o; o=$(nsx "$1" ip -o addr show dev "$2" 2>/dev/null) && grep -qw "inet6\? $3" <<<"$o"; }
links_of() { nsx "$1" ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }

# ---------------------------------------------------------------------------- keys

wg_keypair() { # VAR: sets VAR_priv, VAR_pub with stock wg
  local priv; priv=$(wg genkey)
  printf -v "${1}_priv" '%s' "$priv"
  printf -v "${1}_pub" '%s' "$(printf '%s\n' "$priv" | wg pubkey)"
}

ovl_keypair() { # VAR: sets VAR_priv, VAR_pub with ovl genkey/pubkey
  local priv pub
  priv=$("$OVL_BIN" genkey) || fail "ovl genkey failed"
  pub=$(printf '%s\n' "$priv" | "$OVL_BIN" pubkey) || fail "ovl pubkey failed"
  [ ${#priv} = 44 ] && [ ${#pub} = 44 ] || fail "ovl key has wrong length: priv ${#priv}, pub ${#pub} (want 44)"
  printf -v "${1}_priv" '%s' "$priv"
  printf -v "${1}_pub" '%s' "$pub"
}

# ---------------------------------------------------------------------------- configs

# write_conf FILE PRIVKEY PORT ADDR/LEN [MTU] -- then add_peer calls append [Peer] sections.
write_conf() {
  local f=$1
  : >"$f"; chmod 600 "$f"
  {
    echo "[Interface]"
    echo "PrivateKey = $2"
    [ -n "$3" ] && echo "ListenPort = $3"
    [ -n "$4" ] && echo "Address = $4"
    [ -n "${5:-}" ] && echo "MTU = $5"
    true
  } >>"$f"
}
# add_peer FILE PUBKEY ALLOWEDIPS [ENDPOINT] [PSK] [KEEPALIVE]
add_peer() {
  {
    echo
    echo "[Peer]"
    echo "PublicKey = $2"
    [ -n "${5:-}" ] && echo "PresharedKey = $5"
    echo "AllowedIPs = $3"
    [ -n "${4:-}" ] && echo "Endpoint = $4"
    [ -n "${6:-}" ] && echo "PersistentKeepalive = $6"
    true
  } >>"$1"
}

# ---------------------------------------------------------------------------- tunnels

# start_ovl NS CONF [IFNAME]: runs `ovl tunnel CONF [-i IFNAME]` in NS in the background with
# SIGINT/SIGTERM at their defaults, waits until the device exists, is up and carries the
# conf's first Address. Sets OVL_PID (and OVL_PID_<NS>). Without IFNAME the device name
# is the file's basename without .conf, and no -i is passed.
start_ovl() {
  local n=$1 conf=$2 ifn=${3:-} args=()
  need_ovl
  if [ -n "$ifn" ]; then args=(-i "$ifn"); else ifn=$(basename "$conf" .conf); fi
  local logf="$WORK/ovl-$n-$ifn.$((LAB_SEQ += 1)).log"
  LAB_LOGS+=("$logf")
  ip netns exec "$(ns "$n")" env --default-signal=INT,TERM "$OVL_BIN" tunnel "$conf" "${args[@]}" \
    >"$logf" 2>&1 &
  OVL_PID=$!
  LAB_PIDS+=("$OVL_PID")
  printf -v "OVL_PID_$n" '%s' "$OVL_PID"
  local addr; addr=$(conf_first_addr "$conf")
  wait_for tunnel_ready "$n" "$ifn" "$addr" "$OVL_PID" --timeout 15 \
    || { kill -0 "$OVL_PID" 2>/dev/null || fail "ovl tunnel in $n exited early (see its log below)"
         fail "ovl tunnel in $n: device $ifn not up with ${addr:-its address} after 15 s"; }
  log "ovl tunnel up in $n: $ifn ${addr} (pid $OVL_PID)"
}

tunnel_ready() { # NS IF ADDR PID
  kill -0 "$4" 2>/dev/null || return 1
  link_up "$1" "$2" || return 1
  [ -z "$3" ] || has_addr "$1" "$2" "$3"
}

conf_first_addr() {
  sed -n 's/^[[:space:]]*Address[[:space:]]*=[[:space:]]*\([^,[:space:]]*\).*/\1/Ip' "$1" | head -n1
}

# stop_pid PID [TIMEOUT] [SIGNAL]: signal (TERM by default) and wait until it has exited.
# Sets STOP_RC to its exit status.
# shellcheck disable=SC2034  # STOP_RC is read by the tests
stop_pid() {
  local pid=$1 t=${2:-10} sig=${3:-TERM}
  kill "-$sig" "$pid" 2>/dev/null || true
  wait_for pid_gone "$pid" --timeout "$t" || fail "process $pid did not exit within ${t}s of SIG$sig"
  STOP_RC=0
  wait "$pid" 2>/dev/null || STOP_RC=$?
}
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# start_wggo NS CONF IFNAME: stock wireguard-go configured from a wg-quick style file, via
# the wg-quick runner below (wg setconf, then Address/MTU/routes with ip, like wg-quick).
# Sets WGGO_PID (and WGGO_PID_<NS>). SIGTERM stops it and removes the device.
start_wggo() {
  local n=$1 conf=$2 ifn=$3
  local logf="$WORK/wggo-$n-$ifn.$((LAB_SEQ += 1)).log"
  LAB_LOGS+=("$logf")
  ip netns exec "$(ns "$n")" "$WGGO_TUNNEL" tunnel "$conf" -i "$ifn" >"$logf" 2>&1 &
  WGGO_PID=$!
  LAB_PIDS+=("$WGGO_PID")
  printf -v "WGGO_PID_$n" '%s' "$WGGO_PID"
  local addr; addr=$(conf_first_addr "$conf")
  wait_for tunnel_ready "$n" "$ifn" "$addr" "$WGGO_PID" --timeout 15 \
    || fail "wireguard-go in $n: device $ifn not up with ${addr:-its address} after 15 s"
  log "wireguard-go up in $n: $ifn $addr (pid $WGGO_PID)"
}

# ---------------------------------------------------------------------------- checks

# ping_ok NS DST [COUNT]: first waits (up to 15 s; a lost first handshake is retried after 5 s) for one reply (handshake), then sends
# COUNT (default 5) pings and demands every reply.
ping_ok() {
  local n=$1 dst=$2 c=${3:-5} out
  local t0 t1
  t0=$(date +%s%N)
  wait_for nsx "$n" ping -c1 -W1 "$dst" --timeout 15 || fail "no ping reply from $dst in $n within 15 s"
  t1=$(date +%s%N)
  out=$(nsx "$n" ping -n -q -c "$c" -i 0.2 -W 2 "$dst" 2>&1) || fail "ping $n -> $dst lost packets: $out"
  grep -q " 0% packet loss" <<<"$out" || fail "ping $n -> $dst: $out"
  log "  $n -> $dst: first reply after $(( (t1 - t0) / 1000000 )) ms, $c/$c replies, rtt avg $(echo "$out" | awk -F/ '/rtt/{print $5}') ms"
}

# no_ping NS DST: one ping must go unanswered (used for "this should not pass").
no_ping() { ! nsx "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }

# iperf_server NS: one iperf3 server (killed at cleanup), waits until it listens.
iperf_server() {
  local n=$1
  command -v iperf3 >/dev/null || fail "missing tool: iperf3"
  ip netns exec "$(ns "$n")" iperf3 -s -p 5201 >"$WORK/iperf-server-$n.log" 2>&1 &
  IPERF_SRV_PID=$!
  LAB_PIDS+=("$IPERF_SRV_PID")
  wait_for iperf_listening "$n" --timeout 5 || fail "iperf3 server in $n did not start"
}
iperf_server_stop() { stop_pid "$IPERF_SRV_PID" 5; }
iperf_listening() { [ -n "$(nsx "$1" ss -Hltn 'sport = :5201')" ]; }

# iperf_run NS DST SECONDS [-R] -> writes JSON to $IPERF_JSON. Bounded by timeout.
iperf_run() {
  local n=$1 dst=$2 t=$3; shift 3
  IPERF_JSON="$WORK/iperf-$n-$RANDOM.json"
  timeout $((t + 20)) ip netns exec "$(ns "$n")" iperf3 -c "$dst" -p 5201 -t "$t" -i 0.5 \
    --connect-timeout 3000 -J "$@" >"$IPERF_JSON" 2>&1 || {
      head -c 2000 "$IPERF_JSON" >&2
      fail "iperf3 $n -> $dst $* failed"; }
}

# iperf_check JSON LABEL: every interval moved bytes (no stall), total > 0; prints a summary.
# Sets IPERF_GBPS.
iperf_check() {
  local res
  res=$(python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if "error" in d:
    print("ERR iperf3: " + d["error"]); sys.exit(0)
iv = [i["sum"] for i in d.get("intervals", [])]
stalls = [round(s["start"], 1) for s in iv if s["bytes"] == 0]
end = d["end"]
recv = end["sum_received"]
cpu = end.get("cpu_utilization_percent", {})
retr = end.get("sum_sent", {}).get("retransmits", 0)
status = "OK" if iv and not stalls and recv["bytes"] > 0 else "ERR"
print(status, len(iv), ",".join(map(str, stalls)) or "-", recv["bytes"],
      "%.3f" % (recv["bits_per_second"] / 1e9), retr,
      "%.0f" % cpu.get("host_total", 0), "%.0f" % cpu.get("remote_total", 0))
PY
) || fail "cannot read iperf3 result"
  local st nint stalls bytes gbps retr hc rc
  read -r st nint stalls bytes gbps retr hc rc <<<"$res"
  [ "$st" = OK ] || fail "$2: iperf3 $res (intervals=$nint, stalled intervals at s: $stalls, bytes=$bytes)"
  # shellcheck disable=SC2034  # for callers
  IPERF_GBPS=$gbps
  log "  $2: $gbps Gbit/s, $bytes bytes in $nint intervals, none empty, $retr retransmits, cpu local ${hc}% remote ${rc}%"
}

# ---------------------------------------------------------------------------- wireguard-go

# write_wggo_tunnel FILE: a script with ovl's command line (genkey | pubkey |
# tunnel FILE [-i IF]) around stock wireguard-go + wg. It is how the tests run the
# wireguard-go side, and with OVL_BIN=wggo-shim it stands in for ovl to check the lab.
# wireguard-go and wg talk over /run/wireguard/IF.sock, which is NOT per network
# namespace: the script re-executes itself (same pid) in a private mount namespace with
# its own tmpfs there, so runs in different namespaces never see each other's sockets.
write_wggo_tunnel() {
  mkdir -p /run/wireguard
  cat >"$1" <<'SHIM'
#!/usr/bin/env bash
set -uo pipefail
case "${1:-}" in
  genkey) exec wg genkey ;;
  pubkey) exec wg pubkey ;;
  tunnel) ;;
  *) echo "usage: $0 genkey|pubkey|tunnel FILE [-i IF]" >&2; exit 2 ;;
esac
if [ -z "${WGGO_TUNNEL_PRIVATE:-}" ]; then
  WGGO_TUNNEL_PRIVATE=1 exec unshare --mount --propagation private "$0" "$@"
fi
mount -t tmpfs -o mode=0700 wgsock /run/wireguard || exit 1
shift; f=${1:?file}; shift; ifn=$(basename "$f" .conf)
[ "${1:-}" = -i ] && ifn=$2
[ -r "$f" ] || { echo "wggo-tunnel: cannot read $f" >&2; exit 2; }
python3 - "$f" <<'PY' || exit 2
import base64, ipaddress, sys
f = sys.argv[1]
for n, line in enumerate(open(f), 1):
    k, _, v = line.partition("=")
    k, v = k.strip(), v.strip()
    bad = False
    try:
        if k in ("PrivateKey", "PublicKey", "PresharedKey"):
            bad = len(base64.b64decode(v, validate=True)) != 32 or len(v) != 44
        elif k == "ListenPort":
            bad = not 0 <= int(v) <= 65535
        elif k in ("AllowedIPs", "Address"):
            for p in v.split(","):
                ipaddress.ip_interface(p.strip())
    except Exception:
        bad = True
    if bad:
        print("wggo-tunnel: %s:%d: bad %s" % (f, n, k), file=sys.stderr); sys.exit(2)
PY
WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go "$ifn" & wgp=$!
ours=0
stop() { kill "$wgp" 2>/dev/null; wait "$wgp"; [ $ours = 1 ] && ip link del "$ifn" 2>/dev/null; exit "${1:-0}"; }
trap stop INT TERM
for _ in $(seq 200); do
  [ -S "/run/wireguard/$ifn.sock" ] && break
  kill -0 "$wgp" 2>/dev/null || exit 1    # e.g. the device name is taken
  sleep 0.05
done
[ -S "/run/wireguard/$ifn.sock" ] || stop 1
ours=1
s=$(mktemp)
grep -Eiv '^[[:space:]]*(Address|MTU|DNS|Table|PreUp|PostUp|PreDown|PostDown|SaveConfig)[[:space:]]*=' "$f" >"$s"
wg setconf "$ifn" "$s" || { rm -f "$s"; stop 1; }
rm -f "$s"
for a in $(sed -n 's/^[[:space:]]*Address[[:space:]]*=//Ip' "$f" | tr ',' ' '); do
  ip addr add "$a" dev "$ifn" || stop 1
done
mtu=$(sed -n 's/^[[:space:]]*MTU[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/Ip' "$f" | head -n1)
ip link set "$ifn" mtu "${mtu:-1420}" up || stop 1
for a in $(sed -n 's/^[[:space:]]*AllowedIPs[[:space:]]*=//Ip' "$f" | tr ',' ' '); do
  ip route replace "$a" dev "$ifn" || stop 1
done
wait "$wgp"
SHIM
  chmod 700 "$1"
}
