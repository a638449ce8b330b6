#!/usr/bin/env bash
# ovl <-> stock wireguard-go, over one veth between two namespaces:
#
#   a: ovl tunnel      10.77.0.1  overlay 10.100.0.1/24  (keys from ovl genkey/pubkey)
#   b: wireguard-go    10.77.0.2  overlay 10.100.0.2/24  (keys from wg genkey/pubkey)
#
# Checks: `ovl pubkey` equals `wg pubkey` byte for byte (wg keys and raw random keys);
# ping both ways with ovl as initiator (only ovl knows an endpoint) and as responder (only
# wireguard-go knows one), each with and without a PresharedKey; a mismatched
# PresharedKey must not connect; iperf3 TCP ~3 s each way without an empty interval.
# shellcheck source=tests/e2e/lib.sh disable=SC2154,SC2015  # keys come from *_keypair (printf -v)
. "$(dirname "$0")/lib.sh"
lab_init interop_wggo
need_ovl
T=${IPERF_SECONDS:-3}

check "ovl pubkey == wg pubkey, byte for byte"
for i in 1 2 3; do
  if [ $i = 3 ]; then
    k=$(head -c 32 /dev/urandom | base64)   # not clamped: both must clamp the same way
  else
    k=$(wg genkey)
  fi
  cmp -s <(printf '%s\n' "$k" | "$OVL_BIN" pubkey) <(printf '%s\n' "$k" | wg pubkey) \
    || fail "ovl pubkey differs from wg pubkey: ovl '$(printf '%s\n' "$k" | "$OVL_BIN" pubkey | od -c | head -3)' wg '$(printf '%s\n' "$k" | wg pubkey)'"
done
k=$("$OVL_BIN" genkey)
cmp -s <(printf '%s\n' "$k" | "$OVL_BIN" pubkey) <(printf '%s\n' "$k" | wg pubkey) \
  || fail "wg pubkey of an 'ovl genkey' key differs from ovl pubkey"
[ "$("$OVL_BIN" genkey)" != "$k" ] || fail "ovl genkey returned the same key twice"
log "  ok: 3 wg/raw keys and 1 ovl key agree"

two_hosts
ovl_keypair O      # O_priv, O_pub (ovl side)
wg_keypair W       # W_priv, W_pub (wireguard-go side)
PSK=$(wg genpsk)

# run_case ROLE PSK|"" [iperf]: ROLE is who initiates: "ovl", "wggo", or "ovl-keepalive"
# (ovl has the endpoint and PersistentKeepalive = 1 but sends no data: its keepalive
# alone must make the handshake, so that wireguard-go, which has no endpoint, can ping).
run_case() {
  local role=$1 psk=$2 ca="$WORK/ovl0.conf" cb="$WORK/wg0.conf" ep_a="" ep_b="" ka=""
  local what
  case $role in
    ovl) what="ovl initiator" ;;
    wggo) what="ovl responder" ;;
    ovl-keepalive) what="ovl initiator by PersistentKeepalive alone" ;;
  esac
  what+=", $( [ -n "$psk" ] && echo with || echo without ) PresharedKey"
  check "$what: ping both ways"
  case $role in
    ovl) ep_a=10.77.0.2:51820 ;;
    wggo) ep_b=10.77.0.1:51820 ;;
    ovl-keepalive) ep_a=10.77.0.2:51820; ka=1 ;;
  esac
  write_conf "$ca" "$O_priv" 51820 10.100.0.1/24 1420
  add_peer "$ca" "$W_pub" 10.100.0.2/32 "$ep_a" "$psk" "$ka"
  write_conf "$cb" "$W_priv" 51820 10.100.0.2/24 1420
  add_peer "$cb" "$O_pub" 10.100.0.1/32 "$ep_b" "$psk"
  # wireguard-go first, so that ovl's first handshake is not lost (that case has its
  # own 5 s retry and is covered in test_ovl_ovl.sh)
  start_wggo b "$cb" wg0
  local wpid=$WGGO_PID
  start_ovl a "$ca" ovl0
  local opid=$OVL_PID
  if [ "$role" = ovl ]; then
    ping_ok a 10.100.0.2; ping_ok b 10.100.0.1
  else
    ping_ok b 10.100.0.1; ping_ok a 10.100.0.2
  fi
  if [ "${3:-}" = iperf ]; then
    check "$what: iperf3 TCP ${T}s each way, every 0.5 s interval carries data"
    iperf_server b
    iperf_run a 10.100.0.2 "$T";    iperf_check "$IPERF_JSON" "ovl -> wireguard-go"
    iperf_run a 10.100.0.2 "$T" -R; iperf_check "$IPERF_JSON" "wireguard-go -> ovl"
    iperf_server_stop
  fi
  stop_pid "$opid"
  [ "$STOP_RC" = 0 ] || fail "ovl tunnel exited with status $STOP_RC after SIGTERM (want 0)"
  wait_for link_gone a ovl0 --timeout 5 || fail "ovl0 still present after ovl exited"
  stop_pid "$wpid"
  wait_for link_gone b wg0 --timeout 5 || fail "wg0 still present after wireguard-go exited"
}

run_case ovl  ""
run_case ovl  "$PSK"
run_case wggo ""
run_case wggo "$PSK" iperf
run_case ovl-keepalive "$PSK"

check "mismatched PresharedKey: no connection"
write_conf "$WORK/ovl0.conf" "$O_priv" 51820 10.100.0.1/24 1420
add_peer "$WORK/ovl0.conf" "$W_pub" 10.100.0.2/32 10.77.0.2:51820 "$PSK"
write_conf "$WORK/wg0.conf" "$W_priv" 51820 10.100.0.2/24 1420
add_peer "$WORK/wg0.conf" "$O_pub" 10.100.0.1/32 "" "$(wg genpsk)"
start_ovl a "$WORK/ovl0.conf" ovl0
start_wggo b "$WORK/wg0.conf" wg0
for _ in 1 2 3; do no_ping a 10.100.0.2 || fail "ping passed although the PresharedKeys differ"; done
log "  ok: 3 pings unanswered"

pass
