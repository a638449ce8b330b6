#!/usr/bin/env bash
# Groups and access policies (issue 5), enforced by the receiving node:
#   a network starts with the policy `default` (everything between all nodes); bad policy
#   input is refused with exit 2 and a clear message, leaving `ovl policy list` unchanged;
#   with `default` removed and "clients may reach servers on tcp/8000": the allowed port
#   works, another port is unreachable, ICMP is denied until an icmp policy allows it,
#   replies to a flow the server opened pass, nodes no policy covers are isolated; a
#   policy change (and a group change) applies within 2 s (measured and printed);
#   `ovl status --json` counts denied packets per peer and in total.
# Nodes: server (the coordinator's node, no group), alpha (group clients, from its
# invite), bravo (group servers, by `ovl group add`), charlie (no group).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ovl_net.sh"
lab_init policy
need_ovl

bridge_lan sw
bridge_hosts 203.0.113 coord a b c


# A TCP service that answers "ok" on each given port, and a client that checks it.
cat >"$WORK/tcp.py" <<'PY'
import socket, sys, threading
if sys.argv[1] == "serve":
    def serve(port):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(16)
        while True:
            c, _ = s.accept(); c.sendall(b"ok\n"); c.close()
    ts = [threading.Thread(target=serve, args=(int(p),), daemon=True) for p in sys.argv[2:]]
    for t in ts: t.start()
    for t in ts: t.join()
else:  # connect HOST PORT
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=0.5)
    s.settimeout(2)
    sys.exit(0 if s.recv(3) == b"ok\n" else 1)
PY
tcp_ok() { nsx "$1" timeout 5 python3 "$WORK/tcp.py" connect "$2" "$3" >/dev/null 2>&1; }
tcp_fails() { ! tcp_ok "$@"; }
ping_fast() { nsx "$1" ping -c1 -W0.5 "$2" >/dev/null 2>&1; }
ping_fails() { ! ping_fast "$@"; }
serve_tcp() { local h=$1; shift; nsx "$h" python3 "$WORK/tcp.py" serve "$@" & LAB_PIDS+=("$!"); }
policies() { ovl_cli coord --json policy list; }
# elapsed_until T0 CMD...: waits (2 s deadline) for CMD, prints ms since T0 or fails
within_2s() {
  local what=$1 t0=$2; shift 2
  if ! wait_for --timeout 2 "$@"; then
    local h
    for h in coord a b c; do log "  $h: $(ovl_cli "$h" --json status | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["policy"], [(p["name"], p["denied_packets"]) for p in s["peers"]])')"; done
    fail "$what: not applied within 2 s"
  fi
  log "  $what: applied after $(($(now_ms) - t0)) ms"
}

check "a network starts with the policy default, allowing everything"
coord_up pol 100.91.0.0/16 203.0.113.1:51820
wait_for has_overlay_ip coord --timeout 10 || fail "the coordinator's node did not come up"
policies >"$WORK/pol0.json"
python3 - "$WORK/pol0.json" <<'PY' || fail "unexpected initial policies: $(cat "$WORK/pol0.json")"
import json, sys
p = json.load(open(sys.argv[1]))["policies"]
assert [(x["name"], x["from"], x["to"], x["proto"], x["ports"]) for x in p] == [("default", "*", "*", "any", "")], p
PY

check "alpha joins into group clients (invite), bravo and charlie without groups"
TA=$(ovl_cli coord --json invite --group clients | json_field token)
TB=$(ovl_cli coord --json invite | json_field token)
TC=$(ovl_cli coord --json invite | json_field token)
ovl_daemon a join "$TA" --name alpha
ovl_daemon b join "$TB" --name bravo
ovl_daemon c join "$TC" --name charlie
for h in a b c; do wait_for has_overlay_ip "$h" --timeout 15 || fail "$h did not join: $(tail -5 "$WORK/$h.log")"; done
S_IP=$(overlay_ip coord); A_IP=$(overlay_ip a); B_IP=$(overlay_ip b); C_IP=$(overlay_ip c)
serve_tcp b 8000 9000
serve_tcp a 7000
for x in a b c; do wait_for --timeout 10 ping_fast "$x" "$S_IP" || fail "$x cannot ping the server under default"; done
wait_for --timeout 10 tcp_ok c "$B_IP" 9000 || fail "charlie cannot reach bravo:9000 under default"
log "  everyone reaches everyone under default"

check "ovl group add / list; bad group input exits 2"
ovl_cli coord group add bravo servers >/dev/null || fail "group add failed"
ovl_cli coord --json group list >"$WORK/groups.json"
python3 - "$WORK/groups.json" <<'PY' || fail "group list: $(cat "$WORK/groups.json")"
import json, sys
g = {x["name"]: x["nodes"] for x in json.load(open(sys.argv[1]))["groups"]}
assert g == {"clients": ["alpha"], "servers": ["bravo"]}, g
PY
expect_bad coord "no node named" group add nosuch servers
expect_bad coord "not in group" group remove alpha nosuch
expect_bad coord "not a valid group name" group add alpha "bad:name"

check "bad policy input: exit 2, a clear message, nothing stored"
policies >"$WORK/pol1.json"
expect_bad coord "no node or group named \"nosuch\"" policy add p1 --from nosuch --to servers
expect_bad coord "no group named \"nosuch\"" policy add p1 --from clients --to group:nosuch
expect_bad coord "start is above its end" policy add p1 --from clients --to servers --proto tcp --ports 9000-80
expect_bad coord "not a port" policy add p1 --from clients --to servers --proto tcp --ports 70000
expect_bad coord "not a port" policy add p1 --from clients --to servers --proto tcp --ports 22,,23
expect_bad coord "must be tcp, udp, icmp or any" policy add p1 --from clients --to servers --proto sctp
expect_bad coord "ICMP has no ports" policy add p1 --from clients --to servers --proto icmp --ports 22
expect_bad coord "already exists" policy add default --from clients --to servers
expect_bad coord "not a valid policy name" policy add "Bad Name" --from clients --to servers
expect_bad coord "no policy named" policy rm nosuch
policies >"$WORK/pol2.json"
cmp -s "$WORK/pol1.json" "$WORK/pol2.json" || fail "bad input changed the policies: $(cat "$WORK/pol2.json")"

check "clients -> servers tcp/8000 added, default removed: the network is default-deny"
ovl_cli coord policy add web --from clients --to servers --proto tcp --ports 8000 >/dev/null || fail "policy add web"
ovl_cli coord policy rm default >/dev/null || fail "policy rm default"
t0=$(now_ms)
within_2s "removing default isolates charlie" "$t0" ping_fails c "$B_IP"
ovl_cli coord policy list | grep -q "^web .*group:clients .*group:servers .*tcp .*8000" ||
  fail "policy list: $(ovl_cli coord policy list)"

check "the allowed port works, a denied port is unreachable, ICMP is denied"
wait_for --timeout 5 tcp_ok a "$B_IP" 8000 || fail "alpha cannot reach bravo:8000 (allowed)"
tcp_fails a "$B_IP" 9000 || fail "alpha reaches bravo:9000 (denied)"
ping_fails a "$B_IP" || fail "alpha pings bravo although no policy allows ICMP"
log "  8000 ok, 9000 refused, ping refused"

check "nodes no policy covers are isolated (charlie, and the server's node)"
tcp_fails c "$B_IP" 8000 || fail "charlie reaches bravo:8000"
for pair in "c $A_IP" "c $S_IP" "a $C_IP" "b $C_IP" "a $S_IP" "coord $A_IP"; do
  # shellcheck disable=SC2086
  ping_fails $pair || fail "ping $pair passed under default deny"
done
tcp_fails b "$A_IP" 7000 || fail "bravo reaches alpha:7000 with no policy for it"

check "ICMP follows the policy: an icmp policy is applied within 2 s"
ovl_cli coord policy add ping --from clients --to servers --proto icmp >/dev/null || fail "policy add ping"
t0=$(now_ms)
within_2s "icmp policy" "$t0" ping_fast a "$B_IP"
# From the two daemons' logs (one host clock): the coordinator accepting the policy to
# bravo installing its new rules.
python3 - "$WORK/coord.log" "$WORK/b.log" <<'PY' || fail "no trace of the icmp policy in the logs"
import re, sys
def ms(line):
    h, m, s = line.split()[0].split(":")
    return (int(h) * 3600 + int(m) * 60) * 1000 + round(float(s) * 1000)
added = [ms(l) for l in open(sys.argv[1]) if "policy ping added" in l][-1]
got = [ms(l) for l in open(sys.argv[2]) if "access policy:" in l and ms(l) >= added][0]
print("[policy]   icmp policy: coordinator -> bravo's filter in %d ms" % (got - added))
PY
ping_fails c "$B_IP" || fail "charlie pings bravo: the icmp policy is for clients only"
ping_fails b "$A_IP" || fail "bravo pings alpha: the icmp policy is clients -> servers only"

check "replies to a flow bravo opened pass bravo's filter (no rule admits them)"
ovl_cli coord policy add back --from servers --to clients --proto tcp --ports 7000 >/dev/null || fail "policy add back"
t0=$(now_ms)
within_2s "servers -> clients tcp/7000" "$t0" tcp_ok b "$A_IP" 7000

check "ovl status --json counts denied packets per peer and in total; replies are counted"
ovl_cli b --json status >"$WORK/b.status"
python3 - "$WORK/b.status" <<'PY' || fail "status: $(cat "$WORK/b.status")"
import json, sys
s = json.load(open(sys.argv[1]))
pol = s["policy"]
peers = {p["name"]: p for p in s["peers"]}
assert pol["enforcing"] and pol["rules"] == 2, pol
assert pol["denied_packets"] > 0 and pol["reply_packets"] > 0, pol
assert peers["alpha"]["denied_packets"] > 0 and peers["charlie"]["denied_packets"] > 0, peers
assert pol["denied_packets"] >= sum(p["denied_packets"] for p in peers.values()), (pol, peers)
print("bravo denied %d packets (alpha %d, charlie %d), %d reply packets"
      % (pol["denied_packets"], peers["alpha"]["denied_packets"], peers["charlie"]["denied_packets"], pol["reply_packets"]))
PY
ovl_cli b status | grep -q "packet(s) denied" || fail "ovl status shows no denied count"

check "a group change applies within 2 s: alpha leaves clients and loses bravo:8000"
ovl_cli coord group remove alpha clients >/dev/null || fail "group remove"
t0=$(now_ms)
within_2s "group remove" "$t0" tcp_fails a "$B_IP" 8000
ovl_cli coord group add charlie clients >/dev/null || fail "group add charlie"
t0=$(now_ms)
within_2s "group add" "$t0" tcp_ok c "$B_IP" 8000

check "removing the last policies leaves only replies: nothing new gets through"
for p in web ping back; do ovl_cli coord policy rm "$p" >/dev/null || fail "policy rm $p"; done
ovl_cli coord policy list | grep -q "default deny" || fail "empty policy list not explained"
t0=$(now_ms)
within_2s "empty policy set" "$t0" tcp_fails c "$B_IP" 8000

pass
