# bash completion for ovl(1)
#
# Install as /usr/share/bash-completion/completions/ovl, or source it from
# ~/.bashrc. Self-contained: does not need the bash-completion package.
# Kept in step with the CLI by tests/cli/test_docs_in_step.sh.

_ovl_commands="genkey pubkey tunnel up coordinator join relay status nodes invite remove rename group policy down config ping netcheck route set"
_ovl_invite_commands="list revoke"
_ovl_route_commands="advertise withdraw approve unapprove list"
_ovl_config_commands="show"
_ovl_group_commands="add remove list"
_ovl_policy_commands="add list rm"
_ovl_global_opts="--state-dir --config -v --verbose --json --version -h --help"
# Options that take a value (the next word is not a command).
_ovl_value_opts="--state-dir --config -i --interface --network --cidr --listen-port --advertise-endpoint --relay --relay-secret-file --listen --secret-file --name --uses --expires --group -c --count --timeout --from --to --proto --ports --dns --exit-node"

# Options of each command ("invite list" and "invite revoke" for the nested ones).
_ovl_command_opts() {
  case "$1" in
    tunnel) echo "-i --interface" ;;
    up) echo "--network --cidr --listen-port --advertise-endpoint --relay --relay-secret-file --name -i --interface --dns --advertise-exit-node --exit-node" ;;
    coordinator) echo "--network --cidr --listen-port --advertise-endpoint --relay --relay-secret-file" ;;
    relay) echo "--listen --secret-file" ;;
    join) echo "--name -i --interface --listen-port --dns --no-start" ;;
    invite) echo "--uses --reusable --expires --group --ephemeral --name" ;;
    "invite list" | "invite revoke") echo "" ;;
    config | "config show") echo "" ;;
    group | "group add" | "group remove" | "group list") echo "" ;;
    policy | "policy list" | "policy rm") echo "" ;;
    "policy add") echo "--from --to --proto --ports" ;;
    ping) echo "-c --count --until-direct --timeout" ;;
    route | "route advertise" | "route withdraw" | "route approve" | "route unapprove" | "route list") echo "" ;;
    set) echo "--exit-node" ;;
    genkey | pubkey | status | nodes | remove | rename | down | netcheck) echo "" ;;
  esac
}

_ovl() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev=""
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()

  # The command (and invite's, config's, group's or policy's subcommand) typed so far, skipping options and
  # their values; npos counts the positional arguments after the command.
  local cmd="" sub="" npos=0 i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case "$w" in
      --*=*) continue ;;
      -*)
        [[ " $_ovl_value_opts " == *" $w "* ]] && i=$((i + 1))
        continue
        ;;
    esac
    if [[ -z $cmd ]]; then
      cmd=$w
    elif [[ $cmd == invite && -z $sub && " $_ovl_invite_commands " == *" $w "* ]]; then
      sub=$w
    elif [[ $cmd == config && -z $sub && " $_ovl_config_commands " == *" $w "* ]]; then
      sub=$w
    elif [[ $cmd == route && -z $sub && " $_ovl_route_commands " == *" $w "* ]]; then
      sub=$w
    elif [[ $cmd == group && -z $sub && " $_ovl_group_commands " == *" $w "* ]]; then
      sub=$w
    elif [[ $cmd == policy && -z $sub && " $_ovl_policy_commands " == *" $w "* ]]; then
      sub=$w
    else
      npos=$((npos + 1))
    fi
  done

  # The value of an option.
  case "$prev" in
    --state-dir)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      return 0
      ;;
    --config | --relay-secret-file | --secret-file)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return 0
      ;;
    --expires)
      mapfile -t COMPREPLY < <(compgen -W "90m 24h 7d 30d" -- "$cur")
      return 0
      ;;
    --dns)
      mapfile -t COMPREPLY < <(compgen -W "auto resolv.conf resolved off" -- "$cur")
      return 0
      ;;
    --proto)
      mapfile -t COMPREPLY < <(compgen -W "tcp udp icmp any" -- "$cur")
      return 0
      ;;
    -i | --interface | --network | --cidr | --listen-port | --advertise-endpoint | --relay | --listen | --name | --uses | --group | -c | --count | --timeout | --from | --to | --ports)
      return 0
      ;;
    --exit-node)
      mapfile -t COMPREPLY < <(compgen -W "none" -- "$cur")
      return 0
      ;;
  esac
  if [[ $cur == --state-dir=* ]]; then
    compopt -o filenames 2>/dev/null
    local d
    while IFS= read -r d; do COMPREPLY+=("--state-dir=$d"); done < <(compgen -d -- "${cur#--state-dir=}")
    return 0
  fi

  if [[ $cur == -* ]]; then
    local opts=$_ovl_global_opts
    [[ -n $cmd ]] && opts="$(_ovl_command_opts "$cmd${sub:+ $sub}") $opts"
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    return 0
  fi

  if [[ -z $cmd ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$_ovl_commands" -- "$cur")
    return 0
  fi
  case "$cmd" in
    tunnel)
      if ((npos == 0)); then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      fi
      ;;
    invite)
      [[ -z $sub ]] && mapfile -t COMPREPLY < <(compgen -W "$_ovl_invite_commands" -- "$cur")
      ;;
    config)
      [[ -z $sub ]] && mapfile -t COMPREPLY < <(compgen -W "$_ovl_config_commands" -- "$cur")
      ;;
    route)
      [[ -z $sub ]] && mapfile -t COMPREPLY < <(compgen -W "$_ovl_route_commands" -- "$cur")
      ;;
    group)
      [[ -z $sub ]] && mapfile -t COMPREPLY < <(compgen -W "$_ovl_group_commands" -- "$cur")
      ;;
    policy)
      [[ -z $sub ]] && mapfile -t COMPREPLY < <(compgen -W "$_ovl_policy_commands" -- "$cur")
      ;;
  esac
  return 0
}

complete -F _ovl ovl
