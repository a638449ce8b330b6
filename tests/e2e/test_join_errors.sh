#!/usr/bin/env bash
# Bad invite tokens and a coordinator that does not hold the pinned key (issues 3, 7):
# each is refused with its own clear message and exit code 2, and nothing is written.
. "$(dirname "$0")/lib.sh"
lab_init join_errors
need_ovl

ns_new coord
ns_new x
veth_link coord 10.88.0.1 x 10.88.0.2

ip netns exec "$(ns coord)" "$OVL_BIN" --state-dir "$WORK/coord" coordinator --network errs --advertise-endpoint 10.88.0.1:51820 --json \
  >"$WORK/coord.out" 2>"$WORK/coord.log" &
LAB_PIDS+=("$!"); LAB_LOGS+=("$WORK/coord.log")
wait_for test -s "$WORK/coord.out" --timeout 15 || fail "the coordinator printed no invite"
GOOD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/coord.out")

# token_edit TOKEN MODE: re-encodes the token with one thing changed and a valid checksum.
token_edit() {
  python3 - "$1" "$2" <<'PY'
import base64, hashlib, sys
tok, mode = sys.argv[1], sys.argv[2]
body = tok[len("ovl1-"):]
raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))[:-4]
if mode == "key":
    for i in range(17, 49): raw[i] ^= 0x5a          # another coordinator key
elif mode == "version":
    raw[0] = 2
raw += hashlib.blake2s(bytes(raw)).digest()[:4]
print("ovl1-" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="))
PY
}

# expect_refused NAME TOKEN PATTERN: join must exit 2, print PATTERN, write nothing
n=0
expect_refused() {
  local what=$1 token=$2 pattern=$3 out rc=0
  n=$((n + 1))
  local dir=$WORK/x$n
  out=$(nsx x timeout 30 "$OVL_BIN" --state-dir "$dir" join "$token" --name x --no-start 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "$what: exit $rc, expected 2 ($out)"
  echo "$out" | grep -qiE "$pattern" || fail "$what: message does not say /$pattern/: $out"
  echo "$out" | grep -qF "${GOOD:5:40}" && fail "$what: the error echoes the token"
  nsx x ip link show ovl0 >/dev/null 2>&1 && fail "$what: left a TUN device behind"
  log "  ok: $what -> $(echo "$out" | tail -1)"
}

check "malformed, truncated, corrupted and wrong-version tokens are refused before anything is written"
for t in "hello" "" "ovl1-" "${GOOD:0:40}" "${GOOD}x" "${GOOD:0:30}A${GOOD:31}" "ovl9-${GOOD:5}" "$(token_edit "$GOOD" version)"; do
  case "$t" in
    ovl9-*|"$(token_edit "$GOOD" version)") pat="version";;
    ovl1-*) pat="corrupt|truncat";;
    *) pat="not an ovl invite|token";;
  esac
  expect_refused "token '${t:0:12}...'" "$t" "$pat"
  [ ! -e "$WORK/x$n" ] || fail "a bad token created the state dir"
done

check "a token whose pinned key is not the coordinator's is refused (man in the middle)"
expect_refused "wrong coordinator key" "$(token_edit "$GOOD" key)" "does not hold the key"

check "the good token still works once, then is used up"
nsx x timeout 30 "$OVL_BIN" --state-dir "$WORK/ok" join "$GOOD" --name x --no-start >/dev/null \
  || fail "the good token was refused"
expect_refused "reused single-use token" "$GOOD" "already been used"

check "a revoked and an expired invite are refused with their own reasons"
R=$(nsx coord "$OVL_BIN" --state-dir "$WORK/coord" --json invite | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["id"], j["token"])')
nsx coord "$OVL_BIN" --state-dir "$WORK/coord" invite revoke "${R%% *}" >/dev/null
expect_refused "revoked invite" "${R#* }" "revoked"
E=$(nsx coord "$OVL_BIN" --state-dir "$WORK/coord" --json invite --expires 1s | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["expires"], j["token"])')
wait_for --timeout 5 bash -c "[ \$(date +%s) -gt ${E%% *} ]" || fail "the clock did not pass the expiry"
E=${E#* }
expect_refused "expired invite" "$E" "expired"

pass
