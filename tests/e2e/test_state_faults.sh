#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2015  # PID_<host> come from ovl_daemon; `a && b || fail` is meant
# State dir on a full or read-only filesystem (issue 7, "Faults"). The coordinator's
# state dir is a small ext4 (a loop-mounted image, errors=remount-ro), nodes b and d have
# theirs on small tmpfs mounts; all made inside a private mount namespace, so they vanish
# with the test however it ends (the loop device detaches with its last mount). Checked:
#   coordinator's disk full: `ovl invite` fails with a message that says the disk is full
#     (non-zero exit, no token printed); a join with a token made before fails cleanly and
#     does not use the token up; the coordinator keeps running, its nodes stay connected and
#     ping each other without a loss; after space is freed `PRAGMA integrity_check` is ok
#     and the same single-use token joins;
#   coordinator's disk turns read-only under it (an ext4 error, as a failing disk does):
#     `ovl invite` and a join say so; the coordinator keeps running and pings go on; after
#     `ovl down`, e2fsck and a fresh mount, `ovl up` brings it back with an intact database
#     and its nodes reconnect;
#   a node's disk full: `ovl join` fails clearly (no device left, token not used up), works
#     once space is freed; while the running node b's disk is full it still learns of a new
#     peer and reaches it (the map cache is best effort);
#   a node's disk read-only: `ovl up` fails clearly, no device left; writable again, b
#     comes back with the same address and key, and pings;
#   no error output holds a token or a private key; every database passes integrity_check.
if [ -z "${OVL_STATE_FAULTS_MNTNS:-}" ]; then
  OVL_STATE_FAULTS_MNTNS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init state_faults
need_ovl
# The tmpfs mounts go first on the way out (lazily: daemons may still hold files there),
# so that lab_cleanup can remove the work dir; the mount namespace ends with the test anyway.
MOUNTS=()
# (`(exit $st)` hands the test's status on to lab_cleanup; -e and the ERR trap are off
# first so that it neither ends the trap nor counts as a failure.)
trap 'st=$?; set +eE; trap - ERR; for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done; (exit $st); lab_cleanup' EXIT

bridge_lan sw
bridge_hosts 203.0.113 coord a b c d e

# small_fs HOST SIZE: HOST's state dir on its own tmpfs
# ext4_fs HOST SIZE: HOST's state dir on an ext4 image, mounted on a shared bind mount of
# the directory itself: the copies of it that `ip netns exec` makes for each process are
# slaves of that parent, so an umount here reaches them and really releases the
# filesystem (for e2fsck), and a new mount reaches them too.
ext4_fs() {
  mkdir -p "$WORK/state-$1"
  mount --bind "$WORK/state-$1" "$WORK/state-$1"
  mount --make-shared "$WORK/state-$1"
  MOUNTS+=("$WORK/state-$1")
  truncate -s "$2" "$WORK/$1.img"
  mkfs.ext4 -q -m 0 -F "$WORK/$1.img"
  ext4_mount "$1"
}
ext4_mount() {
  mount -o loop,errors=remount-ro "$WORK/$1.img" "$WORK/state-$1"
  chmod 700 "$WORK/state-$1"
  MOUNTS=("$WORK/state-$1" "${MOUNTS[@]}")   # unmounted before the bind mount below it
}
# ext4_error HOST: the kernel finds an error on HOST's ext4 and makes it read-only at once
ext4_error() {
  local dev; dev=$(findmnt -n -o SOURCE "$WORK/state-$1" | tail -1)
  echo "ovl e2e test" >"/sys/fs/ext4/${dev##*/}/trigger_fs_error"
}
small_fs() {
  mkdir -p "$WORK/state-$1"
  mount -t tmpfs -o "size=$2,mode=0700" "ovl-test-$1" "$WORK/state-$1"
  MOUNTS+=("$WORK/state-$1")
}
fill() { # HOST: fill HOST's state fs to the last block
  dd if=/dev/zero of="$WORK/state-$1/fill" bs=1M 2>/dev/null || true
  dd if=/dev/zero of="$WORK/state-$1/fill2" bs=512 2>/dev/null || true
  [ "$(df --output=avail -B1 "$WORK/state-$1" | tail -1 | tr -d ' ')" = 0 ] || fail "could not fill $1's disk"
}
unfill() { rm -f "$WORK/state-$1/fill" "$WORK/state-$1/fill2"; }
ro() { mount -o remount,ro "$WORK/state-$1"; }
rw() { mount -o remount,rw "$WORK/state-$1"; }
integrity() { # HOST
  local r
  r=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' \
      "$WORK/state-$1/ovl.db") || fail "cannot run integrity_check on $1's database"
  [ "$r" = ok ] || fail "$1's database: integrity_check says: $r"
  log "  $1's database: integrity_check ok"
}
# run HOST ARGS...: the CLI in the foreground, bounded; output in $OUT, status in $RC
run() {
  local h=$1; shift
  RC=0
  OUT=$(nsx "$h" timeout 30 "$OVL_BIN" --state-dir "$WORK/state-$h" "$@" 2>&1) || RC=$?
}
no_secret() { # WHAT: $OUT holds no token and no private key
  case "$OUT" in *ovl1-*) fail "$1 printed a token: $OUT" ;; esac
  local k key
  for k in "$WORK"/state-*/*.key; do
    [ -r "$k" ] || continue
    key=$(head -c 44 "$k")
    [ ${#key} = 44 ] || continue
    case "$OUT" in *"$key"*) fail "$1 printed a private key" ;; esac
  done
  true
}
json_token() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])'; }
ping_all() { # NS DST COUNT: every reply
  local out
  out=$(nsx "$1" ping -n -q -c "$3" -i 0.2 -W 2 "$2" 2>&1) || fail "ping $1 -> $2 lost packets: $out"
  grep -q " 0% packet loss" <<<"$out" || fail "ping $1 -> $2: $out"
}
connected() { [ "$(ovl_cli "$1" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["control"])')" = connected ]; }

ext4_fs coord 24M
small_fs b 8m
small_fs d 4m
# Is a remount seen by processes in the lab's namespaces? (`mount -o remount,ro` changes
# the filesystem itself, not one mount of it.)
ro b; nsx b touch "$WORK/state-b/probe" 2>/dev/null && fail "lab: remount,ro not seen inside the lab"; rw b

check "a network: coordinator (its state on a 24 MiB ext4), a, and b (state on 8 MiB)"
hub_up faults 100.97.0.0/16
TOKEN=$(json_token <"$WORK/coord.out")
ovl_daemon a join "$TOKEN" --name a
wait_for joined a --timeout 15 || fail "a did not join"
T_MULTI=$(ovl_cli coord --json invite --uses 2 --expires 1h | json_token)
ovl_daemon b join "$T_MULTI" --name b
wait_for joined b --timeout 15 || fail "b did not join"
T_C=$(ovl_cli coord --json invite --expires 1h | json_token)   # single use, for c
T_D=$(ovl_cli coord --json invite --expires 1h | json_token)   # single use, for d
A_IP=$(overlay_ip a); B_IP=$(overlay_ip b); HUB_IP=$(overlay_ip coord)
wait_for --timeout 15 ping_once a "$B_IP" || fail "a cannot reach b"
wait_for --timeout 15 ping_once a "$HUB_IP" || fail "a cannot reach the hub"

check "the coordinator's disk is full: clear errors, nothing lost, the network runs on"
fill coord
nsx a ping -n -q -c 40 -i 0.25 -W 2 "$B_IP" >"$WORK/ping-full.log" 2>&1 &
PING=$!
run coord invite --expires 1h
[ "$RC" != 0 ] || fail "ovl invite on a full disk succeeded: $OUT"
grep -qi "full" <<<"$OUT" || fail "ovl invite on a full disk: the message does not say the disk is full: $OUT"
no_secret "ovl invite (disk full)"
log "  ovl invite: exit $RC: $OUT"
run c join "$T_C" --name c --no-start
[ "$RC" != 0 ] || fail "a join against a coordinator with a full disk succeeded: $OUT"
no_secret "ovl join (coordinator's disk full)"
log "  ovl join: exit $RC: $OUT"
nsx c ip link show ovl0 >/dev/null 2>&1 && fail "the failed join left a device behind"
sleep 3   # the coordinator's periodic writes (last seen) meet the full disk meanwhile
kill -0 "$PID_coord" 2>/dev/null || fail "the coordinator died with a full disk: $(tail -5 "$WORK/coord.log")"
wait_for --timeout 10 connected a || fail "a lost its control link while the coordinator's disk was full"
wait_for --timeout 10 connected b || fail "b lost its control link while the coordinator's disk was full"
ping_all b "$HUB_IP" 10
wait "$PING" || fail "a -> b lost pings while the coordinator's disk was full: $(cat "$WORK/ping-full.log")"
log "  coordinator alive, a and b connected, $(grep -o '[0-9]* received' "$WORK/ping-full.log") of 40 a->b pings"

check "space freed: the database is intact, the single-use token was not used up"
unfill coord
integrity coord
rm -rf "$WORK/state-c"
ovl_daemon c join "$T_C" --name c
wait_for joined c --timeout 15 || fail "c could not join with its token after space was freed: $(cat "$WORK/c.log")"
C_IP=$(overlay_ip c)
wait_for --timeout 15 ping_once c "$A_IP" || fail "c cannot reach a"

check "the coordinator's disk turns read-only under it: clear errors; pings go on"
T_E=$(ovl_cli coord --json invite --expires 1h | json_token)   # single use, for e
ext4_error coord
run coord invite --expires 1h
[ "$RC" != 0 ] || fail "ovl invite on a read-only disk succeeded: $OUT"
grep -qiE "read-only|readonly" <<<"$OUT" || fail "ovl invite on a read-only disk: unclear message: $OUT"
no_secret "ovl invite (read-only)"
log "  ovl invite: exit $RC: $OUT"
run e join "$T_E" --name e --no-start
[ "$RC" != 0 ] || fail "a join against a coordinator with a read-only disk succeeded: $OUT"
grep -qiE "read-only" <<<"$OUT" || fail "the join refusal does not say the coordinator's disk is read-only: $OUT"
no_secret "ovl join (coordinator's disk read-only)"
log "  ovl join: exit $RC: $OUT"
ping_all a "$C_IP" 10
ping_all c "$B_IP" 10
kill -0 "$PID_coord" 2>/dev/null || fail "the coordinator died on a read-only disk: $(tail -5 "$WORK/coord.log")"
wait_for --timeout 10 connected a || fail "a lost its control link while the coordinator's disk was read-only"

check "repair: ovl down, e2fsck, mount; the coordinator comes back intact, nodes reconnect"
ovl_cli coord down >/dev/null || fail "ovl down on the coordinator failed"
wait_for pid_gone "$PID_coord" --timeout 10 || fail "the coordinator did not stop"
umount "$WORK/state-coord" || fail "cannot unmount the coordinator's disk (still in use?)"
rc=0; e2fsck -fy "$WORK/coord.img" >"$WORK/fsck.log" 2>&1 || rc=$?
[ "$rc" -le 1 ] || fail "e2fsck could not repair the image (exit $rc): $(tail -3 "$WORK/fsck.log")"
ext4_mount coord
integrity coord
ping_all a "$B_IP" 5   # the coordinator is down: tunnels run on
ovl_daemon coord up
wait_for --timeout 15 has_overlay_ip coord || fail "the coordinator did not come back"
wait_for --timeout 15 connected a || fail "a did not reconnect to the repaired coordinator"
wait_for --timeout 15 connected c || fail "c did not reconnect to the repaired coordinator"
rm -rf "$WORK/state-e"
ovl_daemon e join "$T_E" --name e
wait_for joined e --timeout 15 || fail "e could not join with its token after the repair: $(cat "$WORK/e.log")"
wait_for --timeout 15 ping_once e "$A_IP" || fail "e cannot reach a"

check "a node's disk is full: ovl join fails clearly and uses nothing up; works once freed"
fill d
run d join "$T_D" --name d
[ "$RC" != 0 ] || fail "ovl join onto a full disk succeeded: $OUT"
grep -qiE "full|no space" <<<"$OUT" || fail "ovl join onto a full disk: unclear message: $OUT"
no_secret "ovl join (node's disk full)"
log "  ovl join: exit $RC: $OUT"
nsx d ip link show ovl0 >/dev/null 2>&1 && fail "the failed join left a device behind"
unfill d

check "the running node b's disk is full: it still learns of d and reaches it"
fill b
ovl_daemon d join "$T_D" --name d
wait_for joined d --timeout 15 || fail "d could not join with its token after space was freed: $(cat "$WORK/d.log")"
D_IP=$(overlay_ip d)
wait_for --timeout 15 ping_once b "$D_IP" || fail "b (full disk) cannot reach the new node d"
ping_all b "$A_IP" 10
kill -0 "$PID_b" 2>/dev/null || fail "b died with a full disk"
unfill b
integrity d

check "b's disk is read-only: ovl up fails clearly, no device left; writable again, b is back"
B_PUB=$(ovl_cli b --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["self"]["public_key"])')
ovl_cli b down >/dev/null
wait_for pid_gone "$PID_b" --timeout 10 || fail "b did not stop"
ro b
run b up
[ "$RC" != 0 ] || fail "ovl up on a read-only state dir succeeded"
grep -qiE "read-only|readonly" <<<"$OUT" || fail "ovl up on a read-only state dir: unclear message: $OUT"
no_secret "ovl up (read-only)"
log "  ovl up: exit $RC: $OUT"
nsx b ip link show ovl0 >/dev/null 2>&1 && fail "the failed ovl up left a device behind"
rw b
integrity b
ovl_daemon b up
wait_for --timeout 15 has_overlay_ip b || fail "b did not come back once its disk was writable"
[ "$(overlay_ip b)" = "$B_IP" ] || fail "b came back with another address: $(overlay_ip b), was $B_IP"
[ "$(ovl_cli b --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["self"]["public_key"])')" = "$B_PUB" ] \
  || fail "b came back with another key"
wait_for --timeout 15 ping_once b "$A_IP" || fail "b cannot reach a after coming back"
integrity coord
pass
