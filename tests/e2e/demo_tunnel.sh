#!/usr/bin/env bash
# The README demo: two machines (network namespaces "alice" and "bob") joined by one
# cable (a veth, 10.77.0.0/24), then an encrypted ovl tunnel between them
# (10.55.0.0/24 inside the tunnel), ping across, show that the cable carries only
# encrypted UDP, tidy up.
#
#   sudo bash tests/e2e/demo_tunnel.sh [--hold]
#
# --hold keeps the network up until you press Enter, so you can poke at it from another
# shell (the commands are printed). Everything is deleted at the end, also on Ctrl-C.
# shellcheck source=tests/e2e/lib.sh disable=SC2154,SC2015  # keys come from *_keypair (printf -v)
. "$(dirname "$0")/lib.sh"
HOLD=0; [ "${1:-}" = --hold ] && HOLD=1
lab_init demo
need_ovl

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run_in() { local n=$1; shift; printf '    %s$ %s\n' "$n" "$*"; nsx "$n" "$@" 2>&1 | sed 's/^/      /'; }

say "Two machines, alice and bob, connected by a plain cable (10.77.0.1 <-> 10.77.0.2)"
ns_new alice; ns_new bob
veth_link alice 10.77.0.1 bob 10.77.0.2
echo "    (network namespaces $(ns alice) and $(ns bob); nothing here touches your real network)"

say "Each makes a key pair with 'ovl genkey' / 'ovl pubkey' (private keys never leave their files)"
ovl_keypair ALICE; ovl_keypair BOB
echo "    alice public key: $ALICE_pub"
echo "    bob   public key: $BOB_pub"

say "Each writes a wg-quick style file; alice knows where bob is, bob just waits"
CA="$WORK/alice.conf"; CB="$WORK/bob.conf"
write_conf "$CA" "$ALICE_priv" 51820 10.55.0.1/24
add_peer "$CA" "$BOB_pub" 10.55.0.2/32 10.77.0.2:51820
write_conf "$CB" "$BOB_priv" 51820 10.55.0.2/24
add_peer "$CB" "$ALICE_pub" 10.55.0.1/32
sed 's/^PrivateKey = .*/PrivateKey = (hidden)/; s/^/      /' "$CA"

say "Both start 'ovl tunnel FILE -i ovl0' (it runs in the foreground; here in the background)"
start_ovl alice "$CA" ovl0
start_ovl bob "$CB" ovl0
run_in alice ip -br addr show dev ovl0

say "alice pings bob through the tunnel (10.55.0.1 -> 10.55.0.2)"
wait_for nsx alice ping -c1 -W1 10.55.0.2 --timeout 15 || fail "the tunnel did not come up"
run_in alice ping -c 3 -i 0.3 10.55.0.2

say "bob pings back (he learned alice's address from her handshake)"
run_in bob ping -c 3 -i 0.3 10.55.0.1

say "What crosses the cable? nftables counters on bob's side of it:"
nsx bob nft -f - <<'NFT'
table inet demo {
  counter clear_icmp {}
  counter wireguard_udp {}
  chain input {
    type filter hook input priority 0;
    iifname "eth0" ip protocol icmp counter name clear_icmp
    iifname "eth0" udp dport 51820 counter name wireguard_udp
  }
}
NFT
nsx alice ping -c 5 -i 0.2 -q 10.55.0.2 >/dev/null
for c in clear_icmp wireguard_udp; do
  printf '      %-14s %s\n' "$c" "$(nsx bob nft list counter inet demo $c | grep -o 'packets [0-9]*')"
done
echo "    5 pings went through: none of them in the clear, all inside WireGuard UDP."

if [ $HOLD = 1 ] && [ -t 0 ]; then
  say "The network stays up. Try, in another shell:"
  echo "    sudo ip netns exec $(ns alice) ping 10.55.0.2"
  echo "    sudo ip netns exec $(ns bob) ip addr"
  read -r -p "    press Enter to tear it down " _
fi

say "Tearing down: ovl removes its device on SIGTERM"
stop_pid "$OVL_PID_alice"; stop_pid "$OVL_PID_bob"
link_gone alice ovl0 && link_gone bob ovl0 || fail "a device stayed behind"
echo "    alice and bob have no ovl0 any more; the namespaces go away at exit."
pass
