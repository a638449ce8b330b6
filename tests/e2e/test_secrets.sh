#!/usr/bin/env bash
# shellcheck disable=SC2154,SC2015  # PID_<host> come from daemon (printf -v); `a && b || fail` is meant
# Secrets never leak and key files are protected (issue 7, "Secrets"; issue 3, state dir):
#  * a network (`ovl -v up`, two `ovl -v join`s, pings, invites, a refused join, restarts)
#    with every stdout/stderr of every ovl process kept; then none of it, nor any
#    `--json` output (status, nodes, invite list), holds a private key (node.key,
#    coordinator.key), the relay secret (relay.key) or an invite's secret (bytes 57..72 of the decoded token) in base64,
#    base64url or hex, nor a whole token -- except the one output of `ovl up` and
#    `ovl invite` that shows each token, once;
#  * the databases (ovl.db and its -wal/-shm) hold no token secret and no private key,
#    raw or encoded;
#  * modes: state dir 0700, ovl.db* / node.key / coordinator.key / relay.key 0600, ovl.sock 0600 or
#    0660, nothing in a state dir accessible to others;
#  * node.key or coordinator.key readable by others: `ovl up` refuses with a message that
#    says "chmod 600", a non-zero exit, no device, and starts again once fixed;
#  * kill -9 of a node and of the coordinator: no ovl0 left behind, and `ovl up` on the same
#    state dir comes back with the same address and public key.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/ovl_net.sh
. "$(dirname "$0")/ovl_net.sh"
lab_init secrets
need_ovl

bridge_lan sw
declare -A LAN=([coord]=203.0.113.1 [a]=203.0.113.2 [b]=203.0.113.3 [x]=203.0.113.9)
for h in coord a b x; do bridge_host "$h" "${LAN[$h]}/24"; done

# Every output of every ovl process lands in $OUT (scanned for secrets at the end), except
# the outputs that show a token on purpose, which land in $SHOWN (checked separately).
OUT=$WORK/out; SHOWN=$WORK/shown
mkdir -p "$OUT" "$SHOWN"
SEQ=0
# daemon HOST ARGS...: `ovl ARGS` in the background; sets PID_HOST
daemon() {
  local h=$1; shift
  SEQ=$((SEQ + 1))
  ip netns exec "$(ns "$h")" "$OVL_BIN" --state-dir "$WORK/state-$h" "$@" \
    >"$OUT/$SEQ.$h.daemon.out" 2>"$OUT/$SEQ.$h.daemon.err" &
  printf -v "PID_$h" '%s' "$!"
  LAB_PIDS+=("$!")
  LAB_LOGS+=("$OUT/$SEQ.$h.daemon.err")
  LAST_OUT=$OUT/$SEQ.$h.daemon.out; LAST_ERR=$OUT/$SEQ.$h.daemon.err
}
# cli HOST ARGS...: the CLI in the foreground; stdout and stderr kept in $OUT, stdout also
# printed; exit status passed on.
# (Often run inside $(...): the file names come from mktemp, not from a counter.)
cli() {
  local h=$1; shift
  local f rc=0
  f=$(mktemp "$OUT/cli.$h.XXXXXX")
  nsx "$h" timeout 20 "$OVL_BIN" --state-dir "$WORK/state-$h" "$@" >"$f.out" 2>"$f.err" || rc=$?
  cat "$f.out"
  cat "$f.err" >&2
  return $rc
}
# shown HOST ARGS...: like cli, for the commands whose job is to show a token once
shown() {
  local h=$1; shift
  local f
  f=$(mktemp "$OUT/cli.$h.XXXXXX")
  nsx "$h" timeout 20 "$OVL_BIN" --state-dir "$WORK/state-$h" "$@" >"$SHOWN/${f##*/}.out" 2>"$f.err"
  cat "$SHOWN/${f##*/}.out"
}
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }
ip_of() { cli "$1" --json status | jget self.ip; }
pub_of() { cli "$1" --json status | jget self.public_key; }
has_ip() { [ -n "$(ip_of "$1" 2>/dev/null)" ]; }
ping1() { nsx "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
mode_of() { stat -c %a "$1"; }

check "a network with debug logs: ovl -v up on coord, a and b join with two tokens"
daemon coord -v up --name server --network secrets --cidr 100.92.0.0/16 --advertise-endpoint "${LAN[coord]}:51820" --json
UP_OUT=$LAST_OUT
wait_for test -s "$UP_OUT" --timeout 15 || fail "ovl up printed nothing"
mv "$UP_OUT" "$SHOWN/up.json"   # its job is to show the first token
T1=$(token_from "$SHOWN/up.json")
wait_for has_ip coord --timeout 10 || fail "the coordinator's node did not come up"
T2=$(shown coord --json invite --expires 1h | jget token)
T3=$(shown coord invite --reusable --expires 2h --group ops | grep -o 'ovl1-[A-Za-z0-9_-]*' | head -1)
[ -n "$T3" ] || fail "ovl invite printed no token"
daemon a -v join "$T1" --name alpha
daemon b -v --json join "$T2" --name bravo
wait_for has_ip a --timeout 10 || fail "a did not join"
wait_for has_ip b --timeout 10 || fail "b did not join"
IP_coord=$(ip_of coord); IP_a=$(ip_of a); IP_b=$(ip_of b)
for p in "a $IP_b" "b $IP_a" "a $IP_coord" "coord $IP_b"; do
  # shellcheck disable=SC2086
  wait_for --timeout 10 ping1 $p || fail "no ping: $p"
done
log "  coord $IP_coord, a $IP_a, b $IP_b; all ping"

check "errors, too, keep the token to themselves: a used, a revoked and a mangled token"
rc=0; cli x -v join "$T1" --name xx --no-start >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a used token: exit $rc"
read -r T4_ID T4 < <(shown coord --json invite | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["id"], j["token"])')
cli coord invite revoke "$T4_ID" >/dev/null
rc=0; cli x -v join "$T4" --name xx --no-start >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a revoked token: exit $rc"
r=Q; [ "${T3:60:1}" = Q ] && r=R
rc=0; cli x -v join "${T3:0:60}$r${T3:61}" --name xx --no-start >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a mangled token: exit $rc"
rm -rf "$WORK/state-x"

check "what operators look at: status, nodes, invite list (text and --json) everywhere"
for h in coord a b; do cli "$h" status >/dev/null; cli "$h" --json status >/dev/null; done
cli coord nodes >/dev/null; cli coord --json nodes >/dev/null
cli coord invite list >/dev/null; cli coord --json invite list >/dev/null
cli a --json nodes >/dev/null 2>&1 || true   # not the coordinator: an error, also kept

check "modes: state dirs 0700, databases and keys 0600, sockets 0600/0660, nothing for others"
for h in coord a b; do
  d=$WORK/state-$h
  [ "$(mode_of "$d")" = 700 ] || fail "$d is mode $(mode_of "$d"), expected 700"
  for f in "$d"/ovl.db "$d"/ovl.db-wal "$d"/ovl.db-shm "$d"/node.key; do
    [ -e "$f" ] || { [ "${f##*/}" = ovl.db-shm ] || [ "${f##*/}" = ovl.db-wal ] || fail "$f is missing"; continue; }
    [ "$(mode_of "$f")" = 600 ] || fail "$f is mode $(mode_of "$f"), expected 600"
  done
  [ -S "$d/ovl.sock" ] || fail "$d/ovl.sock is not a socket"
  case $(mode_of "$d/ovl.sock") in 600|660) ;; *) fail "$d/ovl.sock is mode $(mode_of "$d/ovl.sock")";; esac
  others=$(find "$d" -perm /o+rwx -printf '%m %p\n')
  [ -z "$others" ] || fail "accessible to others in $d: $others"
  log "  $h: dir $(mode_of "$d"), $(cd "$d" && for f in *; do printf '%s %s  ' "$f" "$(mode_of "$f")"; done)"
done
[ -e "$WORK/state-coord/coordinator.key" ] || fail "coord has no coordinator.key"
[ "$(mode_of "$WORK/state-coord/coordinator.key")" = 600 ] || fail "coordinator.key is mode $(mode_of "$WORK/state-coord/coordinator.key")"
[ "$(mode_of "$WORK/state-coord/relay.key")" = 600 ] || fail "relay.key (the relays' shared secret) is mode $(mode_of "$WORK/state-coord/relay.key")"
for h in a b; do [ ! -e "$WORK/state-$h/coordinator.key" ] || fail "$h, a mere node, holds a coordinator.key"; done

check "a private key readable by others: ovl up refuses, says chmod 600, creates nothing"
# refuse HOST FILE MODE
refuse() {
  local h=$1 f=$WORK/state-$1/$2 m=$3 rc=0 out
  chmod "$m" "$f"
  out=$(cli "$h" up 2>&1) || rc=$?
  chmod 600 "$f"
  [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "ovl up with $2 mode $m: exit $rc (expected a refusal, not a start or a hang)"
  grep -q "chmod 600" <<<"$out" || fail "ovl up with $2 mode $m: the message does not say 'chmod 600': $out"
  link_gone "$h" ovl0 || fail "ovl up with $2 mode $m left an ovl0 device"
  nsx "$h" timeout 5 "$OVL_BIN" --state-dir "$WORK/state-$h" status >/dev/null 2>&1 && fail "a daemon answers after the refusal"
  log "  $2 mode $m: exit $rc: $(head -1 <<<"$out")"
}
stop_pid "$PID_a" 10
link_gone a ovl0 || fail "a's ovl0 outlived SIGTERM"
refuse a node.key 644
refuse a node.key 640
refuse a node.key 604
cli coord down >/dev/null
wait_for --timeout 10 pid_gone "$PID_coord" || fail "ovl down did not stop the coordinator"
refuse coord coordinator.key 644
refuse coord node.key 640
check "with the modes fixed, both start again"
daemon coord -v up
daemon a -v up
wait_for has_ip coord --timeout 10 || fail "the coordinator did not come back after chmod 600"
wait_for has_ip a --timeout 10 || fail "a did not come back after chmod 600"
wait_for --timeout 10 ping1 a "$IP_b" || fail "a cannot reach b after the restart"

check "kill -9: no device left behind, same address and key after ovl up"
for h in a coord; do
  pv=PID_$h
  ip0=$(ip_of "$h"); pub0=$(pub_of "$h")
  file_pub=$(nsx "$h" "$OVL_BIN" pubkey <"$WORK/state-$h/node.key")
  [ "$pub0" = "$file_pub" ] || fail "$h: status says key $pub0, node.key holds $file_pub"
  [ "$h" = coord ] && cpub0=$(nsx coord "$OVL_BIN" pubkey <"$WORK/state-coord/coordinator.key")
  { kill -9 "${!pv}"; wait "${!pv}"; } 2>/dev/null || true   # (quiet: no "Killed" job notice)
  pid_gone "${!pv}" || fail "$h survived kill -9"
  wait_for --timeout 2 link_gone "$h" ovl0 || fail "kill -9 of $h left its ovl0 device: $(nsx "$h" ip -o link show ovl0)"
  routes=$(nsx "$h" ip route show | grep '^100\.92\.' || true)
  [ -z "$routes" ] || fail "kill -9 of $h left overlay routes: $routes"
  daemon "$h" -v up
  wait_for has_ip "$h" --timeout 10 || fail "$h did not come back after kill -9: $(tail -3 "$LAST_ERR")"
  ip1=$(ip_of "$h"); pub1=$(pub_of "$h")
  [ "$ip1" = "$ip0" ] || fail "$h came back as $ip1, was $ip0"
  [ "$pub1" = "$pub0" ] || fail "$h came back with key $pub1, was $pub0"
  if [ "$h" = coord ]; then
    cpub1=$(nsx coord "$OVL_BIN" pubkey <"$WORK/state-coord/coordinator.key")
    [ "$cpub1" = "$cpub0" ] || fail "the coordinator key changed"
  fi
  log "  $h: killed, no ovl0, back as $ip1 with the same key ${pub1:0:8}..."
done
wait_for --timeout 10 ping1 b "$IP_a" || fail "b cannot reach a after the restarts"
wait_for --timeout 10 ping1 a "$IP_coord" || fail "a cannot reach coord after the restarts"
n=$(cli coord --json nodes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))')
[ "$n" = 3 ] || fail "the coordinator lists $n nodes after the restarts, expected 3"
for h in coord a b; do cli "$h" --json status >/dev/null; done

if grep -qaF "$T2" "/proc/$PID_b/cmdline" 2>/dev/null; then
  log "  NOTE: the join daemon's command line shows its token to every local user (ps, /proc/PID/cmdline)"
fi

# the databases as they are while running (with their -wal), and again after the shutdown
mkdir -p "$WORK/dbsnap"
for h in coord a b; do
  for f in "$WORK/state-$h"/ovl.db*; do cp "$f" "$WORK/dbsnap/$h.${f##*/}"; done
done
check "stop everything (shutdown logs are scanned too)"
for h in b a coord; do pv=PID_$h; stop_pid "${!pv}" 10; done

check "no secret anywhere in what ovl printed or logged, nor in the databases"
python3 - "$WORK" "$OUT" "$SHOWN" "$T1" "$T2" "$T3" "$T4" <<'PY' || fail "a secret leaked (see above)"
import base64, binascii, hashlib, glob, os, sys

work, out_dir, shown_dir, tokens = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def b64(b): return base64.b64encode(b).decode().rstrip("=")
def b64url(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")

secrets = []   # (label, raw bytes, [text needles])
for i, tok in enumerate(tokens, 1):
    assert tok.startswith("ovl1-"), tok
    body = tok[5:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert raw[0] == 1, "token version %d: update this test's layout" % raw[0]
    assert hashlib.blake2s(raw[:-4]).digest()[:4] == raw[-4:], "token checksum mismatch: layout changed?"
    sec = raw[57:73]
    secrets.append(("token T%d secret" % i, sec, [b64(sec), b64url(sec), sec.hex(), body[76:97], body]))
for d in sorted(glob.glob(os.path.join(work, "state-*"))):
    for kf in ("node.key", "coordinator.key", "relay.key"):
        p = os.path.join(d, kf)
        if not os.path.exists(p):
            continue
        text = open(p).read().strip()
        raw = base64.b64decode(text)
        assert len(raw) == 32, p
        secrets.append(("%s/%s" % (os.path.basename(d), kf), raw, [b64(raw), b64url(raw), raw.hex()]))
print("[secrets]   %d secrets: %s" % (len(secrets), ", ".join(s[0] for s in secrets)))

def hits(data, label, raw, needles, raw_too):
    low = data.lower()
    found = []
    if raw_too and raw in data:
        found.append("raw bytes")
    for n in needles:
        nb = n.encode()
        hay = low if all(c in "0123456789abcdef" for c in n) else data   # hex: any case
        if nb in hay:
            found.append(n[:12] + "...")
    return found

leaks = 0
# positive controls: the scanner does find a token where it is meant to be shown, and a key in its file
up = open(os.path.join(shown_dir, "up.json"), "rb").read()
assert hits(up, *secrets[0], False), "scanner self-check: T1 not found in ovl up's output"
assert up.count(tokens[0].encode()) == 1, "ovl up shows its token %d times" % up.count(tokens[0].encode())
kf = os.path.join(work, "state-a", "node.key")
assert any(hits(open(kf, "rb").read(), *s, True) for s in secrets if s[0] == "state-a/node.key"), "self-check: key"

files = sorted(glob.glob(os.path.join(out_dir, "*")))
total = 0
for f in files:
    data = open(f, "rb").read()
    total += len(data)
    for label, raw, needles in secrets:
        h = hits(data, label, raw, needles, True)
        if h:
            leaks += 1
            print("[secrets] LEAK: %s in %s: %s" % (label, os.path.basename(f), h))
# the outputs that show a token show only their own, once, and nothing else secret
for f in sorted(glob.glob(os.path.join(shown_dir, "*"))):
    data = open(f, "rb").read()
    own = [t for t in tokens if t.encode() in data]
    if len(own) != 1 or data.count(own[0].encode()) != 1:
        leaks += 1
        print("[secrets] LEAK: %s shows %d tokens (expected its own, once)" % (os.path.basename(f), len(own)))
        continue
    rest = data.replace(own[0].encode(), b"<token>")
    for label, raw, needles in secrets:
        h = hits(rest, label, raw, needles, True)
        if h:
            leaks += 1
            print("[secrets] LEAK: %s in %s besides its token: %s" % (label, os.path.basename(f), h))
print("[secrets]   scanned %d outputs (%d bytes) of ovl processes" % (len(files), total))

dbs = sorted(glob.glob(os.path.join(work, "state-*", "ovl.db*")) + glob.glob(os.path.join(work, "dbsnap", "*")))
dbbytes = 0
for f in dbs:
    data = open(f, "rb").read()
    dbbytes += len(data)
    for label, raw, needles in secrets:
        h = hits(data, label, raw, needles, True)
        if h:
            leaks += 1
            print("[secrets] LEAK: %s in %s: %s" % (label, os.path.relpath(f, work), h))
print("[secrets]   scanned %d database files (%d bytes)" % (len(dbs), dbbytes))
sys.exit(1 if leaks else 0)
PY
pass
