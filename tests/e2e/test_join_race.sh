#!/usr/bin/env bash
# Concurrent enrollment (issues 3, 7):
#   20 joins race for one single-use invite: exactly one gets in.
#   50 concurrent joins while the coordinator is killed with SIGKILL and restarted: the
#   database passes integrity_check, every join completed or was refused cleanly, no
#   single-use invite was used twice, no address was handed out twice.
. "$(dirname "$0")/lib.sh"
lab_init join_race
need_ovl

ns_new coord
ns_new x
veth_link coord 10.89.0.1 x 10.89.0.2
CDIR=$WORK/coord

start_coord() {
  # `ip netns exec` directly (not through a shell function) so that $! is ovl's own pid
  ip netns exec "$(ns coord)" "$OVL_BIN" --state-dir "$CDIR" coordinator --network race --cidr 100.91.0.0/16 \
    --advertise-endpoint 10.89.0.1:51820 --json >>"$WORK/coord.out" 2>>"$WORK/coord.log" &
  COORD_PID=$!
  LAB_PIDS+=("$COORD_PID")
}
coord_api() { nsx coord "$OVL_BIN" --state-dir "$CDIR" --json "$@"; }
token_of() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])'; }
db() { python3 - "$CDIR/ovl.db" "$@"; }
LAB_LOGS+=("$WORK/coord.log")

start_coord
wait_for test -s "$WORK/coord.out" --timeout 15 || fail "the coordinator did not start"
SINGLE=$(token_of <"$WORK/coord.out")

# join_bg ID TOKEN: a provisioning-style join in the background; exit code in $WORK/rc.ID
join_bg() {
  ( rc=0
    nsx x timeout 120 "$OVL_BIN" --state-dir "$WORK/n$1" join "$2" --name "n$1" --listen-port 0 --no-start \
      >"$WORK/out.$1" 2>&1 || rc=$?
    echo "$rc" >"$WORK/rc.$1" ) &
}
all_done() { local i; for i in "$@"; do [ -s "$WORK/rc.$i" ] || return 1; done; }

check "20 joins race for one single-use invite: exactly one is admitted"
for i in $(seq 1 20); do join_bg "$i" "$SINGLE"; done
wait_for --timeout 90 all_done $(seq 1 20) || fail "joins did not finish"
ok=0; used=0
for i in $(seq 1 20); do
  case $(cat "$WORK/rc.$i") in
    0) ok=$((ok + 1));;
    2) grep -q "already been used" "$WORK/out.$i" || fail "join $i refused for another reason: $(cat "$WORK/out.$i")"
       used=$((used + 1));;
    *) fail "join $i: exit $(cat "$WORK/rc.$i"): $(cat "$WORK/out.$i")";;
  esac
done
[ "$ok" = 1 ] && [ "$used" = 19 ] || fail "$ok admitted, $used refused (expected 1 and 19)"
db <<'PY' || fail "database check failed"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n = c.execute("select count(*) from nodes").fetchone()[0]
assert n == 1, n
PY
log "  1 admitted, 19 refused with 'already been used'"

check "50 concurrent joins while the coordinator is killed (-9) and restarted"
MANY=$(coord_api invite --reusable --expires 1h | token_of)
SINGLE2=$(coord_api invite | token_of)
for i in $(seq 201 205); do join_bg "$i" "$SINGLE2"; done
# The kill lands in the middle: half the joins are started before it, half after.
for i in $(seq 101 150); do
  join_bg "$i" "$MANY"
  if [ "$i" = 125 ]; then
    kill -9 "$COORD_PID"
    wait_for pid_gone "$COORD_PID" --timeout 5
  fi
done
log "  coordinator killed with $(db <<<'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from nodes").fetchone()[0])') nodes enrolled, 25 joins still to start"
start_coord
wait_for --timeout 120 all_done $(seq 101 150) $(seq 201 205) || fail "joins did not finish after the restart"

ok=0; refused=0
for i in $(seq 101 150) $(seq 201 205); do
  rc=$(cat "$WORK/rc.$i")
  case $rc in
    0) ok=$((ok + 1));;
    1|2) [ -s "$WORK/out.$i" ] || fail "join $i failed (exit $rc) without saying why"
         refused=$((refused + 1));;
    *) fail "join $i ended with exit $rc (a crash or a timeout): $(cat "$WORK/out.$i")";;
  esac
done
db "$ok" <<'PY' || fail "database check after the restart failed"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
ok = int(sys.argv[2])
assert c.execute("pragma integrity_check").fetchone()[0] == "ok"
ips = [r[0] for r in c.execute("select ip from nodes")]
assert len(ips) == len(set(ips)), "an address was handed out twice"
names = [r[0] for r in c.execute("select name from nodes")]
assert len(names) == len(set(names)), "a name was handed out twice"
used = {r[0]: (r[1], r[2]) for r in c.execute("select id, used, uses_left from invites")}
assert all(u <= 1 or left < 0 for u, left in used.values()), ("a single-use invite was used twice", used)
n = c.execute("select count(*) from nodes").fetchone()[0]
# every admitted join is in the database (1 from the first round)
assert n >= ok + 1, (n, ok)
print(f"  integrity ok, {n} nodes, {len(set(ips))} distinct addresses")
PY
single_ok=0
for i in $(seq 201 205); do [ "$(cat "$WORK/rc.$i")" = 0 ] && single_ok=$((single_ok + 1)); done
[ "$single_ok" -le 1 ] || fail "$single_ok joins got in with one single-use invite"
log "  $ok joined, $refused refused or failed cleanly; single-use invite admitted $single_ok"
pass
