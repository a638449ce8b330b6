#!/usr/bin/env bash
# bench/relayed.sh SECONDS RESULTS_FILE: the "ovl-relayed" row of bench/bench.sh.
#
# Two nodes behind symmetric NATs (tests/e2e/natlab.sh), so no direct path exists and
# their traffic goes through the coordinator's embedded relay; measured like the other
# rows (bench/measure.sh): ping RTT, iperf3 one stream each way, CPU of the two nodes'
# ovl processes. Appends one line to RESULTS_FILE. Namespaces are its own (per pid) and
# deleted on exit. The path also crosses two NAT routers (kernel forwarding + conntrack).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
. "$(dirname "$0")/../tests/e2e/natlab.sh"
. "$(dirname "$0")/../tests/e2e/ovl_net.sh"
. "$(dirname "$0")/measure.sh"
T=${1:?seconds}; RES=${2:?results file}
lab_init bench-relayed
need_ovl
HZ=$(getconf CLK_TCK)
natlab_up symmetric symmetric
ovl_daemon coord up --name hub --network br --cidr 100.95.0.0/16 --advertise-endpoint 203.0.113.1:51820 --json
wait_for test -s "$WORK/coord.out" --timeout 15 || fail "ovl up printed nothing"
wait_for has_overlay_ip coord --timeout 10 || fail "the hub did not come up"
TOKEN=$(ovl_cli coord --json invite --reusable --expires 1h | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
ovl_daemon a join "$TOKEN" --name a
ovl_daemon b join "$TOKEN" --name b
wait_for joined a --timeout 15 || fail "a did not join"
wait_for joined b --timeout 15 || fail "b did not join"
B_IP=$(overlay_ip b)
wait_for --timeout 30 ping_once a "$B_IP" || fail "a cannot reach b"
relayed() { [ "$(peer_path a b)" = relay ]; }
wait_for relayed --timeout 15 || fail "a -> b is not relayed: $(peer_path a b)"
iperf_server b
measure ovl-relayed "$B_IP" "$PID_a" "$PID_b"
