#!/usr/bin/env bash
# The configuration file: `ovl --config FILE config show` shows defaults <
# file < flags with their sources; a bad file exits 2 naming its line and
# starts nothing; and a coordinator and a joining node (no root needed:
# `coordinator` has no TUN device, `join --no-start` only enrolls) take their
# settings from the file, with flags winning over it.
#
# Usage: OVL_BIN=build/ovl bash tests/cli/test_config.sh
set -u
export LC_ALL=C

OVL_BIN=${OVL_BIN:-}
if [[ -z $OVL_BIN || ! -x $OVL_BIN ]]; then
  echo "FAIL: set OVL_BIN to the ovl binary (got \"$OVL_BIN\")"
  exit 1
fi
TMP=$(mktemp -d)
COORD_PID=""
cleanup() {
  if [[ -n $COORD_PID ]]; then
    "$OVL_BIN" --state-dir "$TMP/coord" down >/dev/null 2>&1
    sleep 0.3
    kill "$COORD_PID" 2>/dev/null
    wait "$COORD_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

failures=0
checks=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect DESCRIPTION TEXT PATTERN: TEXT has a line matching the ERE PATTERN.
expect() {
  checks=$((checks + 1))
  grep -qE -- "$3" <<<"$2" || fail "$1: no line matching /$3/ in:"$'\n'"$2"
}
# expect_rc DESCRIPTION GOT WANT
expect_rc() {
  checks=$((checks + 1))
  [[ $2 == "$3" ]] || fail "$1: exit status $2, want $3"
}

# ---------------------------------------------------------------------------
# config show: sources

cat >"$TMP/a.toml" <<EOF
# a comment
state_dir = "$TMP/from-file"

[up]
network = "home"
listen_port = 4000
advertise_endpoints = ["203.0.113.1:51820", "198.51.100.2"]

[join]
name = "laptop"

[relay]
listen = "203.0.113.9:3478"
EOF

out=$("$OVL_BIN" --config "$TMP/a.toml" config show 2>&1)
expect_rc "config show" $? 0
expect "config show" "$out" "^# Config file: $TMP/a.toml\$"
expect "file beats default" "$out" "^state_dir = \"$TMP/from-file\"  # file\$"
expect "default stays" "$out" '^verbose = false  # default$'
expect "[up] network" "$out" '^network = "home"  # file$'
expect "[up] listen_port" "$out" '^listen_port = 4000  # file$'
expect "[up] advertise_endpoints" "$out" '^advertise_endpoints = \["203.0.113.1:51820", "198.51.100.2"\]  # file$'
expect "[up] interface default" "$out" '^interface = "ovl0"  # default$'
expect "[up] cidr decided at run time" "$out" '^# cidr: a random /16 inside 100.64.0.0/10  # default$'
expect "[join] name" "$out" '^name = "laptop"  # file$'
expect "[join] listen_port default" "$out" '^listen_port = 51820  # default$'
expect "[up] relays default" "$out" '^# relays: none \(only the embedded relay\)  # default$'
expect "[relay] listen" "$out" '^listen = "203.0.113.9:3478"  # file$'
expect "[relay] secret_file default" "$out" '^# secret_file: STATE_DIR/relay.key  # default$'

# Flags beat the file, before or after the command.
out=$("$OVL_BIN" --config "$TMP/a.toml" --state-dir "$TMP/from-flag" config show -v 2>&1)
expect_rc "config show with flags" $? 0
expect "flag beats file" "$out" "^state_dir = \"$TMP/from-flag\"  # flag\$"
expect "flag -v" "$out" '^verbose = true  # flag$'
out=$("$OVL_BIN" config show --config "$TMP/a.toml" 2>&1)
expect "--config after the command" "$out" '^network = "home"  # file$'

# The same as JSON.
out=$("$OVL_BIN" --config "$TMP/a.toml" --state-dir /x config show --json 2>&1)
expect_rc "config show --json" $? 0
expect "json config_file" "$out" "\"config_file\":\"$TMP/a.toml\""
expect "json flag" "$out" '"state_dir":\{"source":"flag","value":"/x"\}'
expect "json file" "$out" '"listen_port":\{"source":"file","value":4000\}'
expect "json run-time default" "$out" '"cidr":\{"source":"default","value":null\}'
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["up"]["network"]["value"] == "home"' <<<"$out"
  expect_rc "config show --json is JSON" $? 0
fi

# An empty file: everything from the defaults.
: >"$TMP/empty.toml"
out=$("$OVL_BIN" --config "$TMP/empty.toml" config show 2>&1)
expect_rc "empty file" $? 0
expect "empty file: default" "$out" '^listen_port = 51820  # default$'

# What config show prints (without its comments) is itself a valid file.
"$OVL_BIN" --config "$TMP/a.toml" config show >"$TMP/shown.toml" 2>&1
out=$("$OVL_BIN" --config "$TMP/shown.toml" config show 2>&1)
expect_rc "config show output is a valid config file" $? 0
expect "config show output round-trips" "$out" '^network = "home"  # file$'

# ---------------------------------------------------------------------------
# Errors: exit 2, FILE:LINE, nothing started or created.

printf '[up]\nnetwork = "home"\nlisten-port = 1\n' >"$TMP/unknown.toml"
out=$("$OVL_BIN" --config "$TMP/unknown.toml" config show 2>&1)
expect_rc "unknown key" $? 2
expect "unknown key names its line" "$out" "^ovl: $TMP/unknown.toml:3: unknown key 'listen-port' in \[up\]; did you mean 'listen_port'\?\$"

printf '\n\n[join]\nlisten_port = 70000\n' >"$TMP/port.toml"
out=$("$OVL_BIN" --config "$TMP/port.toml" config show 2>&1)
expect_rc "bad port" $? 2
expect "bad port names its line" "$out" "^ovl: $TMP/port.toml:4: 'listen_port' in \[join\] must be a port number from 1 to 65535, not 70000\$"

printf '[up]\ncidr = "fd00::/64"\n' >"$TMP/cidr.toml"
out=$("$OVL_BIN" --config "$TMP/cidr.toml" config show 2>&1)
expect_rc "bad cidr" $? 2
expect "bad cidr names its line" "$out" "^ovl: $TMP/cidr.toml:2: 'cidr' in \[up\]"

printf '[relais]\n' >"$TMP/section.toml"
out=$("$OVL_BIN" --config "$TMP/section.toml" config show 2>&1)
expect_rc "unknown section" $? 2
expect "unknown section names its line" "$out" "^ovl: $TMP/section.toml:1: unknown section \[relais\]"

printf 'verbose = true\n[up\n' >"$TMP/syntax.toml"
out=$("$OVL_BIN" --config "$TMP/syntax.toml" config show 2>&1)
expect_rc "syntax error" $? 2
expect "syntax error names line and column" "$out" "^ovl: $TMP/syntax.toml:2:[0-9]+: "

out=$("$OVL_BIN" --config "$TMP/does-not-exist.toml" config show 2>&1)
expect_rc "missing --config file" $? 2
expect "missing --config file" "$out" "cannot read config file $TMP/does-not-exist.toml"

# A bad file starts nothing: no state dir is created.
out=$("$OVL_BIN" --config "$TMP/port.toml" --state-dir "$TMP/never" coordinator 2>&1)
expect_rc "coordinator with a bad file" $? 2
checks=$((checks + 1))
[[ ! -e $TMP/never ]] || fail "coordinator with a bad file created its state dir"
out=$("$OVL_BIN" --config "$TMP/port.toml" --state-dir "$TMP/never" join --no-start ovl1-x 2>&1)
expect_rc "join with a bad file" $? 2
expect "join with a bad file: the file's error, not the token's" "$out" "port.toml:4:"
checks=$((checks + 1))
[[ ! -e $TMP/never ]] || fail "join with a bad file created its state dir"

# ---------------------------------------------------------------------------
# The settings reach the commands: a coordinator and a joining node.

started=0
for _ in 1 2 3; do
  PORT=$((20000 + RANDOM % 30000))
  cat >"$TMP/net.toml" <<EOF
[up]
network = "fromfile"
cidr = "100.83.0.0/16"
listen_port = $PORT
advertise_endpoints = ["127.0.0.1"]

[join]
name = "joined-by-file"
listen_port = $((PORT + 10))
EOF
  rm -rf "$TMP/coord"
  # --cidr: a flag beats the file's cidr.
  "$OVL_BIN" --config "$TMP/net.toml" --state-dir "$TMP/coord" coordinator --cidr 10.77.0.0/16 \
    >"$TMP/coord.out" 2>"$TMP/coord.err" &
  COORD_PID=$!
  for _ in $(seq 100); do
    grep -q 'ovl1-' "$TMP/coord.out" 2>/dev/null && break
    kill -0 "$COORD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q 'ovl1-' "$TMP/coord.out"; then
    started=1
    break
  fi
  kill "$COORD_PID" 2>/dev/null
  wait "$COORD_PID" 2>/dev/null
  COORD_PID=""
done
if ((started)); then
  out=$(cat "$TMP/coord.out" "$TMP/coord.err")
  expect "coordinator: network from the file, cidr from the flag" "$out" '^network "fromfile" 10\.77\.0\.0/16'
  expect "coordinator: listen_port from the file" "$out" "coordinator listening on TCP port $PORT\$"
  token=$(grep -oE 'ovl1-[A-Za-z0-9_-]+' "$TMP/coord.out" | head -1)
  # The token points at 127.0.0.1:PORT (advertise_endpoints without a port,
  # listen_port from the file); the node's name comes from [join].
  out=$(timeout 30 "$OVL_BIN" --config "$TMP/net.toml" --state-dir "$TMP/node" join --no-start "$token" 2>&1)
  expect_rc "join --no-start with the file" $? 0
  expect "join: name from [join]" "$out" '^joined network "fromfile" as joined-by-file \(10\.77\.'
else
  fail "the coordinator did not start: $(cat "$TMP/coord.err" 2>/dev/null)"
fi

# ---------------------------------------------------------------------------
echo "$checks checks, $failures failed"
if ((failures)); then
  echo "FAIL config"
  exit 1
fi
echo "PASS config"
