# fish completion for ovl(1)
#
# Install as ~/.config/fish/completions/ovl.fish or
# /usr/share/fish/vendor_completions.d/ovl.fish.
# Kept in step with the CLI by tests/cli/test_docs_in_step.sh: each option of a
# command is one line with -n '__ovl_using COMMAND' (global options have no -n).

# Prints the command typed so far ("", "up", "invite", "invite list",
# "config show", ...), skipping options and their values.
function __ovl_command
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmd
    set -l skip 0
    for t in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $t
            case --state-dir --config -i --interface --network --cidr --listen-port --advertise-endpoint --relay --relay-secret-file --listen --secret-file --name --uses --expires --group -c --count --timeout --from --to --proto --ports --dns --exit-node
                set skip 1
                continue
            case '-*'
                continue
        end
        if test (count $cmd) -eq 0
            set cmd $t
        else if test "$cmd" = invite; and contains -- $t list revoke
            set cmd invite $t
        else if test "$cmd" = config; and contains -- $t show
            set cmd config $t
        else if test "$cmd" = route; and contains -- $t advertise withdraw approve unapprove list
            set cmd route $t
        else if test "$cmd" = group; and contains -- $t add remove list
            set cmd group $t
        else if test "$cmd" = policy; and contains -- $t add list rm
            set cmd policy $t
        end
    end
    echo $cmd
end

# True if the command typed so far is exactly the arguments ("" for none yet).
function __ovl_using
    set -l cmd (__ovl_command)
    test "$cmd" = "$argv"
end

complete -c ovl -f

# Global options
complete -c ovl -l state-dir -x -a '(__fish_complete_directories)' -d 'state directory (default: /var/lib/ovl)'
complete -c ovl -l config -r -F -d 'TOML config file (default: /etc/ovl/ovl.toml if it exists)'
complete -c ovl -s v -l verbose -d 'debug log output'
complete -c ovl -l json -d 'print data as JSON'
complete -c ovl -l version -d 'print the version and exit'
complete -c ovl -s h -l help -d 'print help and exit'

# Commands
complete -c ovl -n '__ovl_using' -a genkey -d 'print a new private key (base64), like wg genkey'
complete -c ovl -n '__ovl_using' -a pubkey -d 'read a private key on stdin, print its public key'
complete -c ovl -n '__ovl_using' -a tunnel -d 'run a standalone tunnel from a wg-quick style file'
complete -c ovl -n '__ovl_using' -a up -d 'create a network (first run) or resume this node'
complete -c ovl -n '__ovl_using' -a coordinator -d 'run only the coordinator (no TUN device, no root needed)'
complete -c ovl -n '__ovl_using' -a join -d 'join a network with an invite token'
complete -c ovl -n '__ovl_using' -a relay -d "run only a relay for a coordinator's nodes (and STUN on its port)"
complete -c ovl -n '__ovl_using' -a status -d 'this node, its peers and the path to each'
complete -c ovl -n '__ovl_using' -a nodes -d "list the network's nodes (on the coordinator)"
complete -c ovl -n '__ovl_using' -a invite -d 'create an invite token (on the coordinator)'
complete -c ovl -n '__ovl_using' -a remove -d 'remove a node from the network (on the coordinator)'
complete -c ovl -n '__ovl_using' -a rename -d 'rename a node (on the coordinator)'
complete -c ovl -n '__ovl_using' -a group -d 'node groups, for access policies (on the coordinator)'
complete -c ovl -n '__ovl_using' -a policy -d 'access policies: who may reach whom (on the coordinator)'
complete -c ovl -n '__ovl_using' -a down -d 'stop the local ovl daemon'
complete -c ovl -n '__ovl_using' -a config -d 'the configuration file and flags'
complete -c ovl -n '__ovl_using' -a ping -d 'ping a peer over the overlay and say which path answered'
complete -c ovl -n '__ovl_using' -a netcheck -d 'UDP reachability, public address, NAT mapping, relays'
complete -c ovl -n '__ovl_using' -a route -d 'subnet routes: advertise on a node, approve on the coordinator'
complete -c ovl -n '__ovl_using' -a set -d 'change a setting of the running node'

# ovl tunnel [-i IFACE] FILE
complete -c ovl -n '__ovl_using tunnel' -F -d 'wg-quick style config file'
complete -c ovl -n '__ovl_using tunnel' -s i -l interface -x -d 'TUN device name (default: from the file name)'

# ovl up
complete -c ovl -n '__ovl_using up' -l network -x -d 'network name (default: the hostname)'
complete -c ovl -n '__ovl_using up' -l cidr -x -d 'overlay IPv4 range (default: a random /16 in 100.64.0.0/10)'
complete -c ovl -n '__ovl_using up' -l listen-port -x -d 'UDP (WireGuard) and TCP (control) port (default: 51820)'
complete -c ovl -n '__ovl_using up' -l advertise-endpoint -x -d 'IP[:PORT] that invites point to (repeatable)'
complete -c ovl -n '__ovl_using up' -l relay -x -d 'a standalone relay the map lists, IP[:PORT] (repeatable)'
complete -c ovl -n '__ovl_using up' -l relay-secret-file -r -F -d 'secret shared with the relays (default: STATE_DIR/relay.key)'
complete -c ovl -n '__ovl_using up' -l name -x -d "this node's name (default: the hostname)"
complete -c ovl -n '__ovl_using up' -s i -l interface -x -d 'TUN device name (default: ovl0)'
complete -c ovl -n '__ovl_using up' -l advertise-exit-node -d 'offer this node as an exit node (needs approval)'
complete -c ovl -n '__ovl_using up' -l exit-node -x -a none -d 'send internet traffic through this node (none = off)'
complete -c ovl -n '__ovl_using up' -l dns -x -a 'auto resolv.conf resolved off' -d 'how the host resolves NETWORK.ovl names (default: auto)'

# ovl coordinator
complete -c ovl -n '__ovl_using coordinator' -l network -x -d 'network name (default: the hostname)'
complete -c ovl -n '__ovl_using coordinator' -l cidr -x -d 'overlay IPv4 range (default: a random /16 in 100.64.0.0/10)'
complete -c ovl -n '__ovl_using coordinator' -l listen-port -x -d 'TCP control port (default: 51820)'
complete -c ovl -n '__ovl_using coordinator' -l advertise-endpoint -x -d 'IP[:PORT] that invites point to (repeatable)'
complete -c ovl -n '__ovl_using coordinator' -l relay -x -d 'a standalone relay the map lists, IP[:PORT] (repeatable)'
complete -c ovl -n '__ovl_using coordinator' -l relay-secret-file -r -F -d 'secret shared with the relays (default: STATE_DIR/relay.key)'

# ovl relay
complete -c ovl -n '__ovl_using relay' -l listen -x -d 'UDP IP[:PORT] to listen on (default: 0.0.0.0:51822)'
complete -c ovl -n '__ovl_using relay' -l secret-file -r -F -d "the coordinator's relay secret (default: STATE_DIR/relay.key)"

# ovl join TOKEN
complete -c ovl -n '__ovl_using join' -l name -x -d "this node's name (default: the hostname)"
complete -c ovl -n '__ovl_using join' -s i -l interface -x -d 'TUN device name (default: ovl0)'
complete -c ovl -n '__ovl_using join' -l listen-port -x -d 'UDP port for WireGuard (default: 51820)'
complete -c ovl -n '__ovl_using join' -l dns -x -a 'auto resolv.conf resolved off' -d 'how the host resolves NETWORK.ovl names (default: auto)'
complete -c ovl -n '__ovl_using join' -l no-start -d 'only enroll, then exit (for provisioning scripts)'

# ovl invite [options] | ovl invite list | ovl invite revoke ID
complete -c ovl -n '__ovl_using invite' -a list -d 'list invites'
complete -c ovl -n '__ovl_using invite' -a revoke -d 'revoke an invite'
complete -c ovl -n '__ovl_using invite' -l uses -x -d 'how many nodes may join with it (default: 1)'
complete -c ovl -n '__ovl_using invite' -l reusable -d 'no limit on uses (until it expires)'
complete -c ovl -n '__ovl_using invite' -l expires -x -a '90m 24h 7d 30d' -d 'lifetime (default: 24h)'
complete -c ovl -n '__ovl_using invite' -l group -x -d 'group for nodes joining with it (repeatable)'
complete -c ovl -n '__ovl_using invite' -l ephemeral -d 'nodes are removed a few minutes after going offline'
complete -c ovl -n '__ovl_using invite' -l name -x -d 'name for the node that joins with it'

# ovl ping PEER
complete -c ovl -n '__ovl_using ping' -s c -l count -x -d 'how many pings (default 4, or 30 with --until-direct)'
complete -c ovl -n '__ovl_using ping' -l until-direct -d 'stop at the first answer over a direct path'
complete -c ovl -n '__ovl_using ping' -l timeout -x -d 'seconds to wait for each answer (default: 2)'

# ovl route advertise|withdraw CIDR | approve|unapprove NODE CIDR | list
complete -c ovl -n '__ovl_using route' -a advertise -d 'offer a subnet behind this node'
complete -c ovl -n '__ovl_using route' -a withdraw -d 'stop offering a subnet'
complete -c ovl -n '__ovl_using route' -a approve -d 'let a node route an advertised subnet (on the coordinator)'
complete -c ovl -n '__ovl_using route' -a unapprove -d 'take an approval back (on the coordinator)'
complete -c ovl -n '__ovl_using route' -a list -d 'advertised and approved routes'

# ovl set --exit-node NODE|none
complete -c ovl -n '__ovl_using set' -l exit-node -x -a none -d 'send internet traffic through this node (none = off)'
# ovl group add|remove NODE GROUP | ovl group list
complete -c ovl -n '__ovl_using group' -a add -d 'add a node to a group'
complete -c ovl -n '__ovl_using group' -a remove -d 'remove a node from a group'
complete -c ovl -n '__ovl_using group' -a list -d 'list groups and their nodes'

# ovl policy add NAME --from SOURCE --to DESTINATION [--proto P] [--ports PORTS] | list | rm NAME
complete -c ovl -n '__ovl_using policy' -a add -d 'allow traffic from some nodes to others'
complete -c ovl -n '__ovl_using policy' -a list -d 'list access policies'
complete -c ovl -n '__ovl_using policy' -a rm -d 'remove an access policy'
complete -c ovl -n '__ovl_using policy add' -l from -x -d 'source: a group, a node, or * for every node'
complete -c ovl -n '__ovl_using policy add' -l to -x -d 'destination: a group, a node, or * for every node'
complete -c ovl -n '__ovl_using policy add' -l proto -x -a 'tcp udp icmp any' -d 'protocol (default: any)'
complete -c ovl -n '__ovl_using policy add' -l ports -x -d 'destination ports, e.g. 22,8000-8100 (default: all)'

# ovl config show
complete -c ovl -n '__ovl_using config' -a show -d 'print the effective settings and where each comes from'

# status, nodes, invite list, invite revoke ID, remove NODE, rename NODE NEW_NAME,
# down, genkey, pubkey, netcheck, config show and the route subcommands take only
# the global options.
# group add|remove|list, policy list, policy rm NAME, down, genkey, pubkey,
# netcheck and config show take only the global options.
