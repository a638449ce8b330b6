# Helpers for tests that run ovl networks (coordinator + nodes). Source after lib.sh.
#
#   ovl_daemon HOST ARGS...   `ovl --state-dir $WORK/state-HOST ARGS` in HOST's namespace,
#                             in the background; stdout in $WORK/HOST.out, log in
#                             $WORK/HOST.log; its pid in PID_HOST. HOST always has its
#                             own /etc/netns/NS/resolv.conf first (ns_ensure_resolv), so
#                             the DNS block ovl writes lands there, never in the host's file
#   ovl_cli HOST ARGS...      the CLI against HOST's state dir (foreground)
#   overlay_ip HOST           HOST's overlay address, from `ovl status --json`
#   token_from FILE           the "token" field of the first JSON line in FILE
#   json_field KEY            field KEY of the JSON object on stdin's first line
#   self_field HOST KEY       field KEY of "self" in HOST's `ovl status --json` ("" if null)
#   coord_up NET CIDR EP [ARGS...]  `ovl up` as node "server" on host "coord" (network NET,
#                             range CIDR, advertised endpoint EP), waiting for its first output
#   hub_up NET CIDR [ARGS...] `ovl up` as node "hub" on host "coord" at the lab internet's
#                             203.0.113.1 (natlab.sh), waiting for its first output
#   join_ab TOKEN             nodes a and b join with TOKEN; sets A_IP and B_IP
#   reusable_token            a new reusable invite (1 h) from the coordinator on host "coord"
#   expect_bad HOST WHAT ARGS...  `ovl ARGS` on HOST exits 2 with an error matching WHAT (ERE)
#   route_state NODE PREFIX   "advertised approved" (True/False) as coord sees it, or "none"

ovl_daemon() {
  local h=$1; shift
  ns_ensure_resolv "$h"
  # `ip netns exec` directly (not through a shell function) so that $! is ovl's own pid
  ip netns exec "$(ns "$h")" "$OVL_BIN" --state-dir "$WORK/state-$h" "$@" >"$WORK/$h.out" 2>"$WORK/$h.log" &
  printf -v "PID_$h" '%s' "$!"
  LAB_PIDS+=("$!")
  LAB_LOGS+=("$WORK/$h.log")
}
ovl_cli() { local h=$1; shift; nsx "$h" "$OVL_BIN" --state-dir "$WORK/state-$h" "$@"; }
overlay_ip() { ovl_cli "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["self"]["ip"])'; }
has_overlay_ip() { [ -n "$(overlay_ip "$1" 2>/dev/null)" ]; }
json_field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
self_field() { ovl_cli "$1" --json status | python3 -c "import json,sys; print(json.load(sys.stdin)['self']['$2'] or '')"; }
coord_up() {
  ovl_daemon coord -v up --name server --network "$1" --cidr "$2" --advertise-endpoint "$3" --json "${@:4}"
  wait_for test -s "$WORK/coord.out" --timeout 15 || fail "ovl up printed nothing: $(tail -5 "$WORK/coord.log")"
}
hub_up() {
  ovl_daemon coord up --name hub --network "$1" --cidr "$2" --advertise-endpoint 203.0.113.1:51820 --json "${@:3}"
  wait_for test -s "$WORK/coord.out" --timeout 15 || fail "ovl up printed nothing: $(tail -5 "$WORK/coord.log")"
}
join_ab() {
  ovl_daemon a join "$1" --name a
  ovl_daemon b join "$1" --name b
  wait_for joined a --timeout 15 || fail "a did not join: $(tail -3 "$WORK/a.log")"
  wait_for joined b --timeout 15 || fail "b did not join: $(tail -3 "$WORK/b.log")"
  A_IP=$(overlay_ip a); B_IP=$(overlay_ip b)
}
reusable_token() { ovl_cli coord --json invite --reusable --expires 1h | json_field token; }
expect_bad() {
  local h=$1 what=$2 rc=0 out; shift 2
  out=$(ovl_cli "$h" "$@" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "ovl $* on $h: exit $rc, expected 2 ($out)"
  grep -Eqi -- "$what" <<<"$out" || fail "ovl $* on $h: unclear error: $out"
}
route_state() {
  ovl_cli coord --json route list | python3 -c '
import json, sys
for r in json.load(sys.stdin)["routes"]:
    if r["node"] == sys.argv[1] and r["prefix"] == sys.argv[2]:
        print(r["advertised"], r["approved"]); break
else: print("none")' "$1" "$2"
}
token_from() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["token"])' "$1"; }
joined() { grep -q joined "$WORK/$1.out"; }
ping_once() { nsx "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# peer_path HOST PEERNAME: the path `ovl status --json` on HOST reports for PEERNAME
peer_path() {
  ovl_cli "$1" --json status | python3 -c '
import json, sys
for p in json.load(sys.stdin)["peers"]:
    if p["name"] == sys.argv[1]: print(p["path"])' "$2"
}
