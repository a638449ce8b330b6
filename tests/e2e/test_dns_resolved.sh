#!/usr/bin/env bash
# The systemd-resolved path of the node's DNS setup (issue 5 "Names": "systemd-resolved
# (resolvectl) when it runs"). This machine has no systemd-resolved, so the node runs where
# it looks as if it did, and a stand-in `resolvectl` records what it is asked:
#   * its own PID namespace (so PID 1 shares its network namespace: the "host" view), a
#     private /run holding resolved's socket path, and an /etc/resolv.conf naming the stub
#     resolver 127.0.0.53, as systemd-resolved hosts have;
#   * `ovl up` then configures only its own link: `dns ovl0 100.100.100.100`, `domain ovl0
#     ~NETWORK.ovl`, `default-route ovl0 false` (so the host's other names never come to
#     ovl), and `revert ovl0` when it stops; /etc/resolv.conf is never written;
#   * if resolvectl fails, the node says so, reverts the link, and still runs; a kill -9
#     and a restart configure the link again (resolved drops a link's settings when the
#     link goes, so there is nothing else to repair).
# Everything runs inside one lab namespace; the private mounts end with the process.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init dns_resolved
need_ovl
HOST_RESOLV_SUM=$(sha256sum /etc/resolv.conf)

ns_new solo; ns_new lan
veth_link solo 10.99.0.1 lan 10.99.0.2
ns_ensure_resolv solo
RESOLV="/etc/netns/${LAB_PREFIX}solo/resolv.conf"
printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n' >"$RESOLV"
RESOLV_SUM=$(sha256sum <"$RESOLV")

mkdir -p "$WORK/bin"
cat >"$WORK/bin/resolvectl" <<'SH'
#!/bin/sh
# Records each call; fails the verb named in $FAKE_RESOLVECTL_FAIL.
echo "$*" >>"$FAKE_RESOLVECTL_LOG"
[ "$1" = "${FAKE_RESOLVECTL_FAIL:-}" ] && { echo "Failed to set $1: stand-in failure" >&2; exit 1; }
exit 0
SH
chmod +x "$WORK/bin/resolvectl"

# run_node NAME EXTRA-ENV...: `ovl up` in namespace solo under a private PID and mount
# namespace (see above), in the background; its log in $WORK/NAME.log, resolvectl's calls
# in $WORK/NAME.calls. Sets NODE_PID: ovl itself (PID 1 of its PID namespace, which a
# SIGTERM from here stops cleanly and a SIGKILL kills).
run_node() {
  local name=$1; shift
  : >"$WORK/$name.calls"
  ip netns exec "$(ns solo)" unshare --pid --fork --mount --mount-proc --propagation private \
    env "$@" FAKE_RESOLVECTL_LOG="$WORK/$name.calls" PATH="$WORK/bin:$PATH" OVL="$OVL_BIN" STATE="$WORK/state-solo" \
    sh -c 'mount -t tmpfs ovl-lab-run /run && mkdir -p /run/systemd/resolve &&
           touch /run/systemd/resolve/io.systemd.Resolve &&
           exec "$OVL" --state-dir "$STATE" -v up --name solo --network rs --cidr 100.94.0.0/16 \
             --advertise-endpoint 10.99.0.1:51820' >"$WORK/$name.out" 2>"$WORK/$name.log" &
  local unshare_pid=$!
  LAB_PIDS+=("$unshare_pid"); LAB_LOGS+=("$WORK/$name.log")
  ovl_started() { NODE_PID=$(pgrep -P "$1" -x ovl); [ -n "$NODE_PID" ]; }
  wait_for --timeout 5 ovl_started "$unshare_pid" || fail "ovl did not start: $(cat "$WORK/$name.log")"
  LAB_PIDS+=("$NODE_PID")
}
calls() { cat "$WORK/$1.calls"; }
resolv_untouched() { [ "$(sha256sum <"$RESOLV")" = "$RESOLV_SUM" ] || fail "/etc/resolv.conf was written: $(cat "$RESOLV")"; }

check "resolved in charge: ovl configures its link with resolvectl, never /etc/resolv.conf"
run_node run1
wait_for --timeout 15 grep -q "systemd-resolved sends \*.rs.ovl to 100.100.100.100 on ovl0" "$WORK/run1.log" \
  || fail "ovl did not take the resolved path: $(grep DNS "$WORK/run1.log")"
want="dns ovl0 100.100.100.100
domain ovl0 ~rs.ovl
default-route ovl0 false"
[ "$(calls run1)" = "$want" ] || fail "resolvectl calls: $(calls run1)"
resolv_untouched
log "  $(calls run1 | tr '\n' ';')"

check "a stop reverts the link"
stop_pid "$NODE_PID" 10
[ "$(calls run1 | tail -1)" = "revert ovl0" ] || fail "no revert at stop: $(calls run1)"
resolv_untouched

check "resolvectl failing: a clear warning, the link reverted, the node keeps running"
run_node run2 FAKE_RESOLVECTL_FAIL=domain
wait_for --timeout 15 grep -q "resolvectl could not configure ovl0" "$WORK/run2.log" \
  || fail "no warning: $(grep DNS "$WORK/run2.log")"
[ "$(calls run2)" = "dns ovl0 100.100.100.100
domain ovl0 ~rs.ovl
revert ovl0" ] || fail "resolvectl calls after a failure: $(calls run2)"
grep -q "overlay up" "$WORK/run2.log" || fail "the node did not come up"
kill -0 "$NODE_PID" 2>/dev/null || fail "the node died"
resolv_untouched

check "kill -9, then a restart configures the link again"
kill -9 "$NODE_PID"
wait_for --timeout 5 pid_gone "$NODE_PID" || fail "ovl survived kill -9"
run_node run3
wait_for --timeout 15 grep -q "systemd-resolved sends" "$WORK/run3.log" || fail "no DNS setup after the restart"
[ "$(calls run3)" = "$want" ] || fail "resolvectl calls after the restart: $(calls run3)"
stop_pid "$NODE_PID" 10
resolv_untouched
[ "$(sha256sum /etc/resolv.conf)" = "$HOST_RESOLV_SUM" ] || fail "the host's /etc/resolv.conf changed!"

pass
