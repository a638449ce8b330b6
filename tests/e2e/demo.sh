#!/usr/bin/env bash
# The README demo: a small internet in network namespaces, a coordinator on a public
# host, and homes behind NAT routers. `ovl up` creates the network; every other machine
# joins with one invite token; they ping each other by name over encrypted direct tunnels.
#
#   scripts/run.sh demo          or      sudo bash tests/e2e/demo.sh [--hold]
#
# --hold keeps the network up until you press Enter, so you can poke at it from another
# shell (the commands are printed). Everything is deleted at the end, also on Ctrl-C.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/natlab.sh"
. "$(dirname "$0")/ovl_net.sh"
HOLD=0; [ "${1:-}" = --hold ] && HOLD=1
lab_init demo
need_ovl

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '    %s$ %s\n' "$1" "${*:2}"; }

say "A small internet: a public server (203.0.113.1), two homes behind NAT routers"
natlab_up cone cone
cat <<'TXT'
      server 203.0.113.1 (public)
      home A: router 203.0.113.10, NAT  ->  laptop 192.168.1.2, desktop 192.168.1.3
      home B: router 203.0.113.20, NAT  ->  phone 192.168.2.2
    (network namespaces; nothing here touches your real network)
TXT

say "On the server: 'ovl up' creates the network and prints a one-time invite"
show server "ovl up --network home --name server"
ovl_daemon coord up --network home --name server --advertise-endpoint 203.0.113.1:51820
wait_for grep -q '^  ovl1-' "$WORK/coord.out" --timeout 15 || fail "ovl up printed no invite: $(cat "$WORK/coord.log")"
sed 's/^/      /' "$WORK/coord.out"
TOKEN=$(grep -m1 '^  ovl1-' "$WORK/coord.out" | tr -d ' ')

say "The laptop joins with that token"
show laptop "ovl join ovl1-... --name laptop"
ovl_daemon a join "$TOKEN" --name laptop
wait_for joined a --timeout 15 || fail "laptop did not join: $(tail -3 "$WORK/a.log")"
sed 's/^/      /' "$WORK/a.out"

say "An invite for two more machines: 'ovl invite --uses 2'"
show server "ovl invite --uses 2 --expires 1h"
TOKEN2=$(ovl_cli coord --json invite --uses 2 --expires 1h | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "      ${TOKEN2:0:40}..."
ovl_daemon a2 join "$TOKEN2" --name desktop
ovl_daemon b join "$TOKEN2" --name phone
wait_for joined a2 --timeout 15 || fail "desktop did not join"
wait_for joined b --timeout 15 || fail "phone did not join"
sed 's/^/      /' "$WORK/a2.out" "$WORK/b.out"

declare -A IP NAME=([coord]=server [a]=laptop [a2]=desktop [b]=phone)
for h in coord a a2 b; do IP[$h]=$(overlay_ip "$h"); done

say "Everyone pings everyone by name (every node answers DNS for NAME.home.ovl at 100.100.100.100)"
# Point each machine's resolver at ovl (a per-namespace resolv.conf; the host's is untouched).
for h in coord a a2 b; do ns_resolv "$h" "nameserver 100.100.100.100" "search home.ovl"; done
show laptop "ping phone"
for x in coord a a2 b; do
  for y in coord a a2 b; do
    [ "$x" = "$y" ] && continue
    wait_for --timeout 15 ping_once "$x" "${NAME[$y]}" || fail "${NAME[$x]} cannot reach ${NAME[$y]} by name"
    out=$(nsx "$x" ping -c1 -W1 "${NAME[$y]}.home.ovl")
    rtt=$(echo "$out" | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p')
    addr=$(echo "$out" | sed -n '1s/^PING [^ ]* (\([0-9.]*\)).*/\1/p')
    printf '      %-8s -> %-17s %-14s %s ms\n' "${NAME[$x]}" "${NAME[$y]}.home.ovl" "$addr" "$rtt"
  done
done

say "The phone's view: 'ovl status' (paths are direct, through both NATs)"
show phone "ovl status"
ovl_cli b status | sed 's/^/      /'

say "The server's view: 'ovl nodes'"
show server "ovl nodes"
ovl_cli coord nodes | sed 's/^/      /'

if [ "$HOLD" = 1 ]; then
  say "Holding the network up. Try, from another shell:"
  echo "      ip netns exec $(ns b) ping ${IP[a]}"
  echo "      ip netns exec $(ns b) $OVL_BIN --state-dir $WORK/state-b status"
  read -r -p "    press Enter to tear it all down " _
fi

say "Done; removing every namespace"
pass
