#!/usr/bin/env bash
# Keeps man/ovl.1 and the bash/zsh/fish completions in step with the CLI.
#
# The truth is `$OVL_BIN --help`: its subcommands (and theirs, e.g. `invite
# list`), each one's long options from `$OVL_BIN CMD --help`, and the global
# options. The test fails when
#   man/ovl.1      lacks a ".SS ovl CMD" subsection under COMMANDS, or an option
#                  of CMD as a ".TP" item inside that subsection, or a global
#                  option under GLOBAL OPTIONS, or a command in SYNOPSIS; or
#                  documents a command or an option the binary does not have;
#   ovl.bash       (run in bash) does not offer exactly the binary's commands,
#                  and every option of each command, or offers options the
#                  command does not have, or does not complete files for
#                  `tunnel FILE` and directories for `--state-dir`;
#   _ovl (zsh)     lacks a command in its command lists, or an option in the
#                  command's function _ovl_CMD, or has extra ones;
#   ovl.fish       lacks a command or an option line for it (-n '__ovl_using
#                  CMD' ... -l OPT), or has extra ones (and, if fish is
#                  installed, the same checks by asking fish to complete);
#   dist/ovl.service runs an ovl command that does not exist.
# Needs only bash, grep, awk and sed; zsh, fish, groff and systemd-analyze are
# used for extra checks when installed.
#
# Usage: OVL_BIN=build/ovl bash tests/cli/test_docs_in_step.sh
set -u
export LC_ALL=C

OVL_BIN=${OVL_BIN:-}
if [[ -z $OVL_BIN || ! -x $OVL_BIN ]]; then
  echo "FAIL: set OVL_BIN to the ovl binary (got \"$OVL_BIN\")"
  exit 1
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MAN=$ROOT/man/ovl.1
BASH_COMP=$ROOT/completions/ovl.bash
ZSH_COMP=$ROOT/completions/_ovl
FISH_COMP=$ROOT/completions/ovl.fish
UNIT=$ROOT/dist/ovl.service

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

failures=0
checks=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
check() {  # check CONDITION-EXIT-STATUS MESSAGE-ON-FAILURE
  checks=$((checks + 1))
  [[ $1 == 0 ]] || fail "$2"
}
# in_list WORD LIST...: exact membership.
in_list() {
  local w=$1 x
  shift
  for x in "$@"; do [[ $x == "$w" ]] && return 0; done
  return 1
}

for f in "$MAN" "$BASH_COMP" "$ZSH_COMP" "$FISH_COMP" "$UNIT"; do
  [[ -f $f ]] || fail "missing file $f"
done
((failures == 0)) || { echo "FAIL docs_in_step"; exit 1; }

# ---------------------------------------------------------------------------
# What the binary says.

# help_text CMD...: `ovl CMD... --help`, or nothing (and a failure) if that
# fails or prints some other command's help (its Usage line must name CMD...).
help_text() {
  local out rc
  out=$("$OVL_BIN" "$@" --help 2>&1)
  rc=$?
  if ((rc != 0)) || ! grep -qE "^Usage: [^ ]*ovl${*:+ $*}( |\$)" <<<"$out"; then
    echo "\"ovl${*:+ $*} --help\" failed or printed another command's help (exit status $rc)" >>"$TMP/help_failures"
    return 1
  fi
  printf '%s\n' "$out"
}
# help_commands CMD...: the subcommands listed by `ovl CMD... --help`.
help_commands() {
  help_text "$@" | awk '
    /^[^ ].*:$/ { in_sub = ($0 == "Subcommands:"); next }
    /^$/ { in_sub = 0; next }
    in_sub && /^  [a-z]/ { print $1 }'
}
# help_long_opts CMD...: the long options (without --help) of `ovl CMD... --help`.
help_long_opts() {
  help_text "$@" | awk '/^  -/ { print $1 }' | tr ',' '\n' | grep -E '^--[a-z]' | grep -vx -- '--help' | sort -u
}

if ! help_text >/dev/null; then
  echo "FAIL: $(cat "$TMP/help_failures")"
  echo "FAIL docs_in_step"
  exit 1
fi

mapfile -t TOP < <(help_commands)
# Every command path: "up", "invite", "invite list", ...
COMMANDS=()
for c in "${TOP[@]}"; do
  COMMANDS+=("$c")
  while read -r s; do [[ -n $s ]] && COMMANDS+=("$c $s"); done < <(help_commands "$c")
done
mapfile -t GLOBAL_OPTS < <(help_long_opts)
declare -A OPTS  # "invite list" -> "--a --b"
for c in "${COMMANDS[@]}"; do
  # shellcheck disable=SC2086
  OPTS[$c]=$(help_long_opts $c | tr '\n' ' ')
done
# subcommands_of PATH: the nested commands of a command path.
subcommands_of() {
  local p=$1 c
  for c in "${COMMANDS[@]}"; do
    [[ $c == "$p "* && ${c#"$p "} != *" "* ]] && echo "${c#"$p "}"
  done
}

if ((${#TOP[@]} < 5 || ${#GLOBAL_OPTS[@]} < 2)); then
  echo "FAIL: could not parse $OVL_BIN --help (commands: ${TOP[*]:-none}; options: ${GLOBAL_OPTS[*]:-none})"
  exit 1
fi
echo "binary: ${#COMMANDS[@]} commands: $(printf '[%s] ' "${COMMANDS[@]}")"
echo "binary: global options: ${GLOBAL_OPTS[*]}"
for c in "${COMMANDS[@]}"; do echo "binary: ovl $c: ${OPTS[$c]:-(no options)}"; done

# ---------------------------------------------------------------------------
# man/ovl.1

# One record per line, roff escapes removed:
#   SEC  <section>                     every .SH
#   SS   <section> <TAB> <subsection>  every .SS
#   TAG  <section> <TAB> <subsection> <TAB> <option>  long options in .TP tags
#   SYN  <text>                        lines of SYNOPSIS
awk '
  function norm(s) {
    gsub(/\\-/, "-", s); gsub(/\\f\(../, "", s); gsub(/\\f[BIRP]/, "", s)
    gsub(/\\&/, "", s); gsub(/\\ /, " ", s); gsub(/"/, "", s)
    sub(/^ +/, "", s); sub(/ +$/, "", s); gsub(/  +/, " ", s)
    return s
  }
  /^\.\\"/ { next }
  /^\.SH/ { sec = norm(substr($0, 4)); subsec = ""; print "SEC\t" sec; next }
  /^\.SS/ { subsec = norm(substr($0, 4)); print "SS\t" sec "\t" subsec; next }
  /^\.TP/ { tag = 1; next }
  tag {
    tag = 0; line = norm($0)
    while (match(line, /--[a-z][a-z0-9-]*/)) {
      print "TAG\t" sec "\t" subsec "\t" substr(line, RSTART, RLENGTH)
      line = substr(line, RSTART + RLENGTH)
    }
  }
  sec == "SYNOPSIS" && !/^\.(nf|fi|PP|RS|RE)/ { print "SYN\t" norm($0) }
' "$MAN" > "$TMP/man"

for s in NAME SYNOPSIS DESCRIPTION "GLOBAL OPTIONS" COMMANDS "JSON OUTPUT" FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
  grep -qxF "SEC"$'\t'"$s" "$TMP/man"
  check $? "man: no section $s"
done

man_tags() {  # man_tags SECTION SUBSECTION: long options in .TP tags there
  awk -F'\t' -v sec="$1" -v ss="$2" '$1 == "TAG" && $2 == sec && $3 == ss { print $4 }' "$TMP/man" | sort -u
}

mapfile -t MAN_CMDS < <(awk -F'\t' '$1 == "SS" && $2 == "COMMANDS" { print $3 }' "$TMP/man")
for c in "${COMMANDS[@]}"; do
  in_list "ovl $c" "${MAN_CMDS[@]}"
  check $? "man: no subsection \".SS ovl $c\" under COMMANDS"
  grep -qE "^SYN"$'\t'".*ovl $c( |\$)" "$TMP/man"
  check $? "man: \"ovl $c\" is not in SYNOPSIS"
  mapfile -t tags < <(man_tags COMMANDS "ovl $c")
  for o in ${OPTS[$c]}; do
    in_list "$o" "${tags[@]}"
    check $? "man: option $o of \"ovl $c\" is not a .TP item in its subsection"
  done
  for o in "${tags[@]}"; do
    [[ " ${OPTS[$c]} " == *" $o "* ]]
    check $? "man: subsection \"ovl $c\" documents $o, which \"ovl $c\" does not have"
  done
done
for m in "${MAN_CMDS[@]}"; do
  in_list "${m#ovl }" "${COMMANDS[@]}" && [[ $m == "ovl "* ]]
  check $? "man: documents command \"$m\", which the binary does not have"
done
mapfile -t tags < <(man_tags "GLOBAL OPTIONS" "")
for o in "${GLOBAL_OPTS[@]}"; do
  in_list "$o" "${tags[@]}"
  check $? "man: global option $o is not a .TP item under GLOBAL OPTIONS"
done
for o in "${tags[@]}"; do
  in_list "$o" "${GLOBAL_OPTS[@]}" --help
  check $? "man: GLOBAL OPTIONS documents $o, which the binary does not have"
done
echo "man: checked ${#MAN_CMDS[@]} command subsections and their options"

if command -v groff >/dev/null 2>&1; then
  warnings=$(groff -man -ww -z "$MAN" 2>&1)
  [[ -z $warnings ]]
  check $? "man: groff warnings: $warnings"
  echo "man: groff -ww renders it without warnings"
fi

# ---------------------------------------------------------------------------
# bash: ask the completion function itself.

# bash_complete WORD...: what _ovl offers for the command line "ovl WORD...",
# the last word being the one completed; one candidate per line.
bash_complete() {
  (
    cd "$TMP/cwd" || exit 1
    # shellcheck disable=SC1090
    source "$BASH_COMP" >/dev/null 2>&1 || exit 1
    COMP_WORDS=(ovl "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _ovl ovl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" >/dev/null 2>&1
    printf '%s\n' "${COMPREPLY[@]}"
  )
}
mkdir -p "$TMP/cwd/somedir" && touch "$TMP/cwd/wg9.conf"

registered=$(bash -c 'source "$1" >/dev/null 2>&1; complete -p ovl' _ "$BASH_COMP" 2>/dev/null)
[[ $registered == *"-F _ovl"* ]]
check $? "bash: the file does not register \"complete -F _ovl ovl\" (got: $registered)"

# compare_sets WHERE WHAT EXPECTED-LIST -- OFFERED-LIST
compare_sets() {
  local where=$1 what=$2 x
  shift 2
  local -a exp=() got=()
  while (($#)) && [[ $1 != -- ]]; do exp+=("$1"); shift; done
  shift
  got=("$@")
  for x in "${exp[@]}"; do
    in_list "$x" "${got[@]}"
    check $? "$where: does not offer $what $x"
  done
  for x in "${got[@]}"; do
    in_list "$x" "${exp[@]}"
    check $? "$where: offers $what $x, which the binary does not have"
  done
}

mapfile -t got < <(bash_complete "")
compare_sets "bash: ovl <TAB>" command "${TOP[@]}" -- "${got[@]}"
for c in "${COMMANDS[@]}"; do
  mapfile -t subs < <(subcommands_of "$c")
  if ((${#subs[@]})); then
    # shellcheck disable=SC2086
    mapfile -t got < <(bash_complete $c "")
    compare_sets "bash: ovl $c <TAB>" subcommand "${subs[@]}" -- "${got[@]}"
  fi
  # shellcheck disable=SC2086
  mapfile -t got < <(bash_complete $c -- | grep -E '^--')
  # shellcheck disable=SC2086
  compare_sets "bash: ovl $c --<TAB>" option ${OPTS[$c]} "${GLOBAL_OPTS[@]}" --help -- "${got[@]}"
done
mapfile -t got < <(bash_complete --state-dir "")
in_list somedir "${got[@]}" && ! in_list wg9.conf "${got[@]}"
check $? "bash: --state-dir <TAB> does not complete directories only (got: ${got[*]})"
if in_list tunnel "${TOP[@]}"; then
  mapfile -t got < <(bash_complete tunnel "")
  in_list wg9.conf "${got[@]}"
  check $? "bash: ovl tunnel <TAB> does not complete files (got: ${got[*]})"
fi
echo "bash: checked what ovl.bash completes for ${#COMMANDS[@]} commands, tunnel FILE and --state-dir"

# ---------------------------------------------------------------------------
# zsh: one function per command, _ovl_CMD (_ovl_invite_list for nested ones);
# command lists are 'name:description' entries in _ovl_commands and in the
# parent's function.

zsh_body() {  # zsh_body FUNCTION-NAME
  awk -v f="$1" '$0 ~ "^" f "\\(\\) *\\{" { on = 1; next } on && /^}/ { exit } on { print }' "$ZSH_COMP"
}
zsh_opts() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
zsh_names() { grep -oE "^[[:space:]]*'[a-z][a-z0-9-]*:" | tr -d " \t':"; }

mapfile -t got < <(zsh_body _ovl_commands | zsh_names)
compare_sets "zsh: _ovl_commands" command "${TOP[@]}" -- "${got[@]}"
mapfile -t got < <(awk '/^_ovl_globals=\(/ { on = 1; next } on && /^\)/ { exit } on { print }' "$ZSH_COMP" | zsh_opts)
compare_sets "zsh: _ovl_globals" option "${GLOBAL_OPTS[@]}" --help -- "${got[@]}"
for c in "${COMMANDS[@]}"; do
  fn=_ovl_${c// /_}
  body=$(zsh_body "$fn")
  [[ -n $body ]]
  check $? "zsh: no function $fn() for \"ovl $c\""
  # shellcheck disable=SC2016  # the literal text $_ovl_globals
  [[ $body == *'$_ovl_globals'* ]]
  check $? "zsh: $fn does not offer the global options (\$_ovl_globals)"
  mapfile -t got < <(zsh_opts <<<"$body")
  # shellcheck disable=SC2086
  compare_sets "zsh: $fn" option ${OPTS[$c]} -- "${got[@]}"
  mapfile -t subs < <(subcommands_of "$c")
  if ((${#subs[@]})); then
    mapfile -t got < <(zsh_names <<<"$body")
    compare_sets "zsh: $fn" subcommand "${subs[@]}" -- "${got[@]}"
  fi
done
if command -v zsh >/dev/null 2>&1; then
  zsh -n "$ZSH_COMP"
  check $? "zsh: _ovl has syntax errors (zsh -n)"
  echo "zsh: zsh -n accepts _ovl"
fi
echo "zsh: checked _ovl_commands, _ovl_globals and ${#COMMANDS[@]} command functions"

# ---------------------------------------------------------------------------
# fish: one `complete -c ovl` line per option or command; the condition
# -n '__ovl_using CMD' says which command it belongs to (none: global).

# Records: OPT <TAB> condition <TAB> --long   and   ARG <TAB> condition <TAB> word
awk '
  /^[[:space:]]*complete -c ovl/ {
    cond = "-"
    if (match($0, /-n .__ovl_using[^'\''"]*/)) {
      cond = substr($0, RSTART, RLENGTH); sub(/^-n .__ovl_using */, "", cond); sub(/ +$/, "", cond)
    }
    n = split($0, w, /[[:space:]]+/)
    long = 0
    for (i = 1; i < n; i++) if (w[i] == "-l" || w[i] == "--long-option") { print "OPT\t" cond "\t--" w[i + 1]; long = 1 }
    if (!long) for (i = 1; i < n; i++) if ((w[i] == "-a" || w[i] == "--arguments") && w[i + 1] ~ /^[a-z][a-z0-9-]*$/) print "ARG\t" cond "\t" w[i + 1]
  }' "$FISH_COMP" > "$TMP/fish"
fish_recs() { awk -F'\t' -v k="$1" -v c="$2" '$1 == k && $2 == c { print $3 }' "$TMP/fish" | sort -u; }

mapfile -t got < <(fish_recs ARG "")
compare_sets "fish: -n '__ovl_using'" command "${TOP[@]}" -- "${got[@]}"
mapfile -t got < <(fish_recs OPT -)
compare_sets "fish: global" option "${GLOBAL_OPTS[@]}" --help -- "${got[@]}"
for c in "${COMMANDS[@]}"; do
  mapfile -t got < <(fish_recs OPT "$c")
  # shellcheck disable=SC2086
  compare_sets "fish: -n '__ovl_using $c'" option ${OPTS[$c]} -- "${got[@]}"
  mapfile -t subs < <(subcommands_of "$c")
  if ((${#subs[@]})); then
    mapfile -t got < <(fish_recs ARG "$c")
    compare_sets "fish: -n '__ovl_using $c'" subcommand "${subs[@]}" -- "${got[@]}"
  fi
done
# Conditions for commands the binary does not have.
while read -r cond; do
  in_list "$cond" "${COMMANDS[@]}" ""
  check $? "fish: condition '__ovl_using $cond' names a command the binary does not have"
done < <(awk -F'\t' '$2 != "-" { print $2 }' "$TMP/fish" | sort -u)
grep -qE "__ovl_using tunnel'.* (-F|--force-files)( |$)" "$FISH_COMP"
check $? "fish: ovl tunnel does not complete files (-F)"
grep -qE -- "-l state-dir .*__fish_complete_directories" "$FISH_COMP"
check $? "fish: --state-dir does not complete directories"

if command -v fish >/dev/null 2>&1; then
  # fish_complete LINE: candidates fish offers for the command line LINE.
  fish_complete() {
    # shellcheck disable=SC2016  # $argv is fish's
    (cd "$TMP/cwd" && fish --no-config -c 'source $argv[1]; complete -C $argv[2]' "$FISH_COMP" "$1" 2>/dev/null) | cut -f1
  }
  mapfile -t got < <(fish_complete "ovl ")
  compare_sets "fish (run): ovl <TAB>" command "${TOP[@]}" -- "${got[@]}"
  for c in "${COMMANDS[@]}"; do
    mapfile -t subs < <(subcommands_of "$c")
    if ((${#subs[@]})); then
      mapfile -t got < <(fish_complete "ovl $c ")
      compare_sets "fish (run): ovl $c <TAB>" subcommand "${subs[@]}" -- "${got[@]}"
    fi
    mapfile -t got < <(fish_complete "ovl $c --")
    # shellcheck disable=SC2086
    compare_sets "fish (run): ovl $c --<TAB>" option ${OPTS[$c]} "${GLOBAL_OPTS[@]}" --help -- "${got[@]}"
  done
  mapfile -t got < <(fish_complete "ovl --state-dir ")
  in_list somedir/ "${got[@]}" && ! in_list wg9.conf "${got[@]}"
  check $? "fish (run): --state-dir <TAB> does not complete directories only (got: ${got[*]})"
  if in_list tunnel "${TOP[@]}"; then
    mapfile -t got < <(fish_complete "ovl tunnel ")
    in_list wg9.conf "${got[@]}"
    check $? "fish (run): ovl tunnel <TAB> does not complete files (got: ${got[*]})"
  fi
  echo "fish: also checked by running fish's own completion"
fi
echo "fish: checked the complete lines of ${#COMMANDS[@]} commands and the global options"

# ---------------------------------------------------------------------------
# dist/ovl.service: the ovl commands it runs exist.

while read -r c; do
  in_list "$c" "${TOP[@]}"
  check $? "dist/ovl.service runs \"ovl $c\", which the binary does not have"
  echo "unit: runs ovl $c"
done < <(grep -E '^Exec[A-Za-z]*=' "$UNIT" | grep -oE '/ovl [a-z][a-z0-9-]*' | awk '{ print $2 }')
grep -qE '^ExecStart=[^ ]*/ovl up( |$)' "$UNIT"
check $? "dist/ovl.service: ExecStart is not \"ovl up\""
if command -v systemd-analyze >/dev/null 2>&1; then
  # Verify a copy that runs the binary under test (the installed path may not exist).
  mkdir -p "$TMP/unit" "$TMP/manpath/man1"
  cp "$MAN" "$TMP/manpath/man1/ovl.1"
  sed -e "s#/usr/local/bin/ovl#$OVL_BIN#g" "$UNIT" > "$TMP/unit/ovl.service"
  command -v man >/dev/null 2>&1 || sed -i '/^Documentation=/d' "$TMP/unit/ovl.service"
  out=$(cd "$TMP/unit" && MANPATH=$TMP/manpath systemd-analyze verify ./ovl.service 2>&1)
  check $? "dist/ovl.service: systemd-analyze verify: $out"
  echo "unit: systemd-analyze verify accepts it"
fi

# ---------------------------------------------------------------------------
if [[ -s $TMP/help_failures ]]; then
  while read -r line; do fail "$line"; done < <(sort -u "$TMP/help_failures")
fi
echo "$checks checks, $failures failed"
if ((failures)); then
  echo "FAIL docs_in_step"
  exit 1
fi
echo "PASS docs_in_step"
