# A small internet in namespaces, for tests and the demo. Source after lib.sh, then
#   natlab_up NAT_A NAT_B        NAT kinds: none | cone | symmetric
#
#   wan     bridge br0: the "internet", 203.0.113.0/24 (a documentation range)
#   coord   203.0.113.1                          a public host (coordinator, relay)
#   rA      wan 203.0.113.10, lan 192.168.1.1    home router A, NAT kind NAT_A
#   a       192.168.1.2 behind rA
#   a2      192.168.1.3 behind rA (same LAN as a)
#   rB      wan 203.0.113.20, lan 192.168.2.1    home router B, NAT kind NAT_B
#   b       192.168.2.2 behind rB
#
# cone      = masquerade + a stateful firewall that drops unsolicited inbound (a typical
#             home router: endpoint-independent mapping while the port is free)
# symmetric = masquerade random (a new random public port for every destination)
# none      = plain routing; the LAN is reachable from the internet
# The firewall rule matters: without it, conntrack keeps an entry for the first
# unsolicited packet and the next outbound mapping moves to another port, which real
# home routers do not do. Nothing here routes to the host's own network; lab_cleanup
# (lib.sh) deletes every namespace.

natlab_wan_link() { # NS PORTNAME ADDR: NS gets wan0 on the internet bridge
  ip link add wan0 netns "$(ns "$1")" type veth peer name "$2" netns "$(ns wan)"
  nsx wan ip link set "$2" master br0 up
  nsx "$1" ip addr add "$3/24" dev wan0
  nsx "$1" ip link set wan0 up
}

natlab_lan() { # ROUTER SUBNET HOST:OCTET...
  local r=$1 net=$2 hi h o; shift 2
  nsx "$r" ip link add lan0 type bridge
  nsx "$r" ip addr add "$net.1/24" dev lan0
  nsx "$r" ip link set lan0 up
  nsx "$r" sysctl -qw net.ipv4.ip_forward=1
  for hi in "$@"; do
    h=${hi%%:*}; o=${hi##*:}
    ip link add eth0 netns "$(ns "$h")" type veth peer name "p-$h" netns "$(ns "$r")"
    nsx "$r" ip link set "p-$h" master lan0 up
    nsx "$h" ip addr add "$net.$o/24" dev eth0
    nsx "$h" ip link set eth0 up
    nsx "$h" ip route add default via "$net.1"
  done
}

natlab_nat() { # ROUTER KIND SUBNET WANADDR
  local r=$1 kind=$2 net=$3 wan=$4 masq o
  case $kind in
    cone) masq="masquerade" ;;
    symmetric) masq="masquerade random" ;;
    none)
      for o in coord rA rB; do [ "$o" = "$r" ] || nsx "$o" ip route add "$net.0/24" via "$wan"; done
      return ;;
    *) fail "unknown NAT kind: $kind" ;;
  esac
  nsx "$r" nft -f - <<NFT
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "wan0" $masq
  }
}
table inet fw {
  chain input {
    type filter hook input priority 0;
    iifname "wan0" ct state new drop
  }
  chain forward {
    type filter hook forward priority 0;
    iifname "wan0" ct state new drop
  }
}
NFT
}

natlab_up() { # NAT_A NAT_B
  local n
  for n in wan coord rA a a2 rB b; do ns_new "$n"; done
  nsx wan ip link add br0 type bridge
  nsx wan ip link set br0 up
  natlab_wan_link coord p-coord 203.0.113.1
  natlab_wan_link rA p-rA 203.0.113.10
  natlab_wan_link rB p-rB 203.0.113.20
  natlab_lan rA 192.168.1 a:2 a2:3
  natlab_lan rB 192.168.2 b:2
  natlab_nat rA "$1" 192.168.1 203.0.113.10
  natlab_nat rB "$2" 192.168.2 203.0.113.20
}
