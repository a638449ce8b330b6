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
hub_up br 100.95.0.0/16
wait_for has_overlay_ip coord --timeout 10 || fail "the hub did not come up"
TOKEN=$(reusable_token)
join_ab "$TOKEN"
wait_for --timeout 30 ping_once a "$B_IP" || fail "a cannot reach b"
relayed() { [ "$(peer_path a b)" = relay ]; }
wait_for relayed --timeout 15 || fail "a -> b is not relayed: $(peer_path a b)"
iperf_server b
measure ovl-relayed "$B_IP" "$PID_a" "$PID_b"
