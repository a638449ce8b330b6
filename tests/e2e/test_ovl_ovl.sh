#!/usr/bin/env bash
# Two ovl tunnels over one veth between two namespaces:
#
#   a: ovl tunnel a/ovlt.conf (no -i: device "ovlt")  10.77.0.1  overlay 10.100.0.1/24
#   b: ovl tunnel b.conf -i ovl1                      10.77.0.2  overlay 10.100.0.2/24
#
# Checks: the device gets name, address, MTU and a route for a peer's extra AllowedIPs;
# ping both ways (a initiates, b has no endpoint; a starts first, so its first handshake
# is lost and must be retried); iperf3 TCP ~3 s each way without an empty interval;
# SIGTERM and SIGINT end ovl with status 0 and remove its device.
# Then dual stack: IPv6 underlay endpoint, IPv4+IPv6 inside, no ListenPort on a,
# PersistentKeepalive = 1 making the handshake by itself (b pings first) and keeping on
# while idle; a second tunnel on a used port or device name fails without side effects.
# Finally bad configs exit 2 promptly, name the offending line, never print the private
# key, and leave no device behind.
# shellcheck source=tests/e2e/lib.sh disable=SC2154,SC2015  # keys come from *_keypair (printf -v)
. "$(dirname "$0")/lib.sh"
lab_init ovl_ovl
need_ovl
T=${IPERF_SECONDS:-3}

two_hosts
ovl_keypair A
ovl_keypair B
PSK=$("$OVL_BIN" genkey)   # any 32 random bytes make a preshared key

mkdir -p "$WORK/a"
CA="$WORK/a/ovlt.conf"; CB="$WORK/b.conf"
write_conf "$CA" "$A_priv" 51820 10.100.0.1/24 1420
add_peer "$CA" "$B_pub" "10.100.0.2/32, 10.101.0.0/24" 10.77.0.2:51821 "$PSK" 25
write_conf "$CB" "$B_priv" 51821 10.100.0.2/24 1420
add_peer "$CB" "$A_pub" 10.100.0.1/32 "" "$PSK"
# b also answers on 10.101.0.1, which a routes into the tunnel (the AllowedIPs route).
check "device name, address, MTU and AllowedIPs route"
start_ovl a "$CA"          # no -i: the device is named after the file
PA=$OVL_PID
start_ovl b "$CB" ovl1
PB=$OVL_PID
nsx b ip addr add 10.101.0.1/32 dev lo
mtu=$(nsx a cat /sys/class/net/ovlt/mtu)
[ "$mtu" = 1420 ] || fail "ovlt has MTU $mtu, config says 1420"
grep -q "dev ovlt" <<<"$(nsx a ip route show 10.101.0.0/24)" \
  || fail "no route for AllowedIPs 10.101.0.0/24 via ovlt: $(nsx a ip route show)"
log "  ok: ovlt 10.100.0.1/24 mtu 1420, route 10.101.0.0/24 dev ovlt; ovl1 10.100.0.2/24"

check "ping both ways (a initiates; b learns a's endpoint)"
ping_ok a 10.100.0.2
ping_ok b 10.100.0.1
ping_ok a 10.101.0.1 3

check "iperf3 TCP ${T}s each way, every 0.5 s interval carries data"
iperf_server b
iperf_run a 10.100.0.2 "$T";    iperf_check "$IPERF_JSON" "a -> b"
iperf_run a 10.100.0.2 "$T" -R; iperf_check "$IPERF_JSON" "b -> a"
iperf_server_stop

check "SIGTERM (a) and SIGINT (b) end ovl with status 0 and remove the device"
stop_pid "$PA" 10 TERM
[ "$STOP_RC" = 0 ] || fail "ovl exited with status $STOP_RC after SIGTERM (want 0)"
link_gone a ovlt || fail "device ovlt still exists after ovl exited"
stop_pid "$PB" 10 INT
[ "$STOP_RC" = 0 ] || fail "ovl exited with status $STOP_RC after SIGINT (want 0)"
link_gone b ovl1 || fail "device ovl1 still exists after ovl exited"
log "  ok: both exited 0, devices gone"

check "dual stack: IPv6 endpoint, IPv4+IPv6 inside, no ListenPort, keepalive-only handshake"
nsx a ip addr add 2001:db8:77::1/64 dev eth0 nodad
nsx b ip addr add 2001:db8:77::2/64 dev eth0 nodad
write_conf "$CA" "$A_priv" "" "10.100.0.1/24, fd00:100::1/64" 1420
add_peer "$CA" "$B_pub" "10.100.0.2/32, fd00:100::2/128" "[2001:db8:77::2]:51821" "$PSK" 1
write_conf "$CB" "$B_priv" 51821 "10.100.0.2/24, fd00:100::2/64" 1420
add_peer "$CB" "$A_pub" "10.100.0.1/32, fd00:100::1/128" "" "$PSK"
nsx b nft -f - <<'NFT'
table inet ovltest {
  counter from_a {}
  chain input {
    type filter hook input priority 0;
    iifname "eth0" ip6 saddr 2001:db8:77::1 udp dport 51821 counter name from_a
  }
}
NFT
from_a() { nsx b nft list counter inet ovltest from_a | awk '/packets/{print $2}'; }
start_ovl b "$CB" ovl1
PB=$OVL_PID
start_ovl a "$CA"
PA=$OVL_PID
has_addr a ovlt fd00:100::1/64 || fail "ovlt lacks its IPv6 address fd00:100::1/64"
ping_ok b 10.100.0.1        # b has no endpoint: works only if a's keepalive shook hands
ping_ok a fd00:100::2
ping_ok b fd00:100::1
n0=$(from_a)
test_count_ge() { [ $(( $(from_a) - n0 )) -ge "$1" ]; }
wait_for test_count_ge 3 --timeout 6 || fail "PersistentKeepalive = 1: fewer than 3 packets from a in 6 idle seconds"
log "  ok: keepalives arrive while idle ($(( $(from_a) - n0 )) packets after the pings)"

check "a second tunnel on a busy UDP port or device name fails and leaves the first alone"
printf '[Interface]\nPrivateKey = %s\nListenPort = 51821\nAddress = 10.100.0.9/24\n' "$B_priv" >"$WORK/busy.conf"
before=$(links_of b)
rc=0; timeout 10 ip netns exec "$(ns b)" "$OVL_BIN" tunnel "$WORK/busy.conf" -i ovlbusy >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "UDP port in use: exit status $rc (want a prompt failure)"
[ "$(links_of b)" = "$before" ] || fail "UDP port in use: devices left behind: $(links_of b | tr '\n' ' ')"
printf '[Interface]\nPrivateKey = %s\nListenPort = 51830\nAddress = 10.100.0.9/24\n' "$B_priv" >"$WORK/busy.conf"
rc=0; timeout 10 ip netns exec "$(ns b)" "$OVL_BIN" tunnel "$WORK/busy.conf" -i ovl1 >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "device name in use: exit status $rc (want a prompt failure)"
has_addr b ovl1 10.100.0.2/24 && ! has_addr b ovl1 10.100.0.9/24 || fail "the failed start changed ovl1's addresses"
ping_ok a 10.100.0.2 3
log "  ok: both refused, the running tunnel still carries traffic"
stop_pid "$PA"; stop_pid "$PB"
link_gone a ovlt && link_gone b ovl1 || fail "a device stayed after SIGTERM"

# bad_conf NAME LINE FILE: ovl must exit 2 within 10 s, name LINE, leave no device.
bad_conf() {
  local name=$1 line=$2 f=$3 before after rc=0 err="$WORK/bad.err"
  before=$(links_of a)
  timeout 10 ip netns exec "$(ns a)" "$OVL_BIN" tunnel "$f" -i ovlbad >/dev/null 2>"$err" || rc=$?
  [ "$rc" != 124 ] || fail "$name: ovl still running 10 s after being given a bad config"
  [ "$rc" = 2 ] || fail "$name: exit status $rc, want 2 (stderr: $(head -c 300 "$err"))"
  if [ "$line" != - ]; then
    grep -Eiq "(line[ :]*|:)$line([^0-9]|$)" "$err" \
      || fail "$name: error does not name line $line: $(head -c 300 "$err")"
  fi
  ! grep -qF "$A_priv" "$err" || fail "$name: the error message prints the private key"
  after=$(links_of a)
  [ "$before" = "$after" ] || fail "$name: devices left behind: before [$before] after [$after]"
  log "  ok: $name -> exit 2, \"$(head -n1 "$err" | cut -c1-100)\""
}

check "bad configs exit 2, name the line, leave nothing behind"
f="$WORK/bad.conf"
printf '[Interface]\nListenPort = 51820\nPrivateKey = not-a-valid-key\nAddress = 10.100.0.9/24\n' >"$f"
bad_conf "PrivateKey not base64 (line 3)" 3 "$f"
printf '[Interface]\nListenPort = 51820\nPrivateKey = %s\n' "$(head -c 31 /dev/urandom | base64)" >"$f"
bad_conf "PrivateKey of 31 bytes (line 3)" 3 "$f"
write_conf "$f" "$A_priv" 51820 10.100.0.9/24
add_peer "$f" "$B_pub" 10.100.0.300/32 10.77.0.2:51820
bad_conf "AllowedIPs 10.100.0.300/32 (line 8)" 8 "$f"
write_conf "$f" "$A_priv" 51820 10.100.0.9/24
add_peer "$f" "${B_pub:0:40}" 10.100.0.2/32
bad_conf "short PublicKey (line 7)" 7 "$f"
write_conf "$f" "$A_priv" 70000 10.100.0.9/24
bad_conf "ListenPort 70000 (line 3)" 3 "$f"
rc=0; timeout 10 ip netns exec "$(ns a)" "$OVL_BIN" tunnel "$WORK/missing.conf" -i ovlbad >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "missing config file: exit status $rc"
link_gone a ovlbad || fail "missing config file left device ovlbad behind"
log "  ok: missing file -> exit $rc, no device"

pass
