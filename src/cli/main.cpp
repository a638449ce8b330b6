// Command-line entry point: the only translation unit that includes CLI11.
#include <CLI/CLI.hpp>

#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>

#include "cli/commands.hpp"
#include "engine/log.hpp"

using namespace ovl::cli;

// Log lines carry the time: a daemon's log is read after the fact.
static void timestamped(ovl::log::Level l, const std::string& msg) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm t{};
  gmtime_r(&tv.tv_sec, &t);
  char ts[32];
  std::strftime(ts, sizeof ts, "%H:%M:%S", &t);
  std::fprintf(stderr, "%s.%03ld ovl %s: %s\n", ts, static_cast<long>(tv.tv_usec / 1000), ovl::log::level_name(l),
               msg.c_str());
}

// Long names of the options given on the command line to `app` itself (not
// its subcommands): they beat the config file.
static GivenOptions given_options(const CLI::App* app) {
  GivenOptions r;
  for (const CLI::Option* o : app->get_options())
    if (o->count() > 0)
      for (const auto& n : o->get_lnames()) r.insert(n);
  return r;
}

int main(int argc, char** argv) {
  CLI::App app{"ovl: a self-hosted peer-to-peer overlay network (WireGuard-compatible)"};
  app.set_version_flag("--version", std::string("ovl ") + OVL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions g;
  app.add_option("--state-dir", g.state_dir, "state directory")->capture_default_str();
  app.add_flag("-v,--verbose", g.verbose, "debug log output");
  app.add_flag("--json", g.json, "print data as JSON");
  std::string config_path;
  auto* config_opt = app.add_option("--config", config_path,
                                    std::string("TOML config file (default: ") + ovl::config::kDefaultConfigPath +
                                        " if it exists)");

  auto* genkey = app.add_subcommand("genkey", "print a new private key (base64), like `wg genkey`");
  auto* pubkey = app.add_subcommand("pubkey", "read a private key on stdin, print its public key");

  TunnelOptions tun;
  auto* tunnel = app.add_subcommand("tunnel", "run a standalone tunnel from a wg-quick style file");
  tunnel->add_option("file", tun.file, "wg-quick style config file")->required();
  tunnel->add_option("-i,--interface", tun.interface, "TUN device name (default: from the file name)");

  UpOptions up;
  auto add_network_opts = [&up](CLI::App* c) {
    c->add_option("--network", up.network, "network name (default: the hostname)");
    c->add_option("--cidr", up.cidr, "overlay IPv4 range (default: a random /16 in 100.64.0.0/10)");
    c->add_option("--listen-port", up.listen_port, "UDP (WireGuard) and TCP (control) port")->capture_default_str();
    c->add_option("--advertise-endpoint", up.advertise, "HOST:PORT that invites point to (repeatable)");
    c->add_option("--relay", up.relays, "a standalone relay (`ovl relay`) the map lists, IP[:PORT] (repeatable)");
    c->add_option("--relay-secret-file", up.relay_secret_file, "secret shared with the relays (default: STATE_DIR/relay.key)");
  };
  auto* upc = app.add_subcommand("up", "create a network (first run) or resume this node; runs in the foreground");
  add_network_opts(upc);
  upc->add_option("--name", up.name, "this node's name (default: the hostname)");
  upc->add_option("-i,--interface", up.interface, "TUN device name")->capture_default_str();
  upc->add_flag("--advertise-exit-node", up.advertise_exit_node,
                "offer this node as an exit node (0.0.0.0/0 and ::/0; needs approval on the coordinator)");
  upc->add_option("--exit-node", up.exit_node, "send internet traffic through this node (name or IP; none = off)");
  const std::vector<std::string> dns_modes{"auto", "resolv.conf", "resolved", "off"};
  const char* dns_help = "how the host resolves NETWORK.ovl names: auto, resolv.conf, resolved or off";
  upc->add_option("--dns", up.dns, dns_help)->check(CLI::IsMember(dns_modes))->capture_default_str();
  auto* coordc = app.add_subcommand("coordinator", "run only the coordinator (no TUN device, no root needed)");
  add_network_opts(coordc);

  JoinOptions join;
  auto* joinc = app.add_subcommand("join", "join a network with an invite token; runs in the foreground");
  joinc->add_option("token", join.token, "invite token (ovl1-...)")->required();
  joinc->add_option("--name", join.name, "this node's name (default: the hostname)");
  joinc->add_option("-i,--interface", join.interface, "TUN device name")->capture_default_str();
  joinc->add_option("--listen-port", join.listen_port, "UDP port for WireGuard")->capture_default_str();
  joinc->add_option("--dns", join.dns, dns_help)->check(CLI::IsMember(dns_modes))->capture_default_str();
  joinc->add_flag("--no-start", join.no_start, "only enroll, then exit (for provisioning scripts)");

  RelayOptions relay;
  auto* relayc = app.add_subcommand("relay", "run only a relay for a coordinator's nodes (and STUN on its port)");
  relayc->add_option("--listen", relay.listen, "UDP IP:PORT to listen on")->capture_default_str();
  relayc->add_option("--secret-file", relay.secret_file, "the coordinator's relay secret (default: STATE_DIR/relay.key)");

  auto* status = app.add_subcommand("status", "this node, its peers and the path to each");
  auto* nodes = app.add_subcommand("nodes", "list the network's nodes (on the coordinator)");
  auto* down = app.add_subcommand("down", "stop the local ovl daemon");
  std::string node, new_name;
  auto* remove = app.add_subcommand("remove", "remove a node from the network (on the coordinator)");
  remove->add_option("node", node, "name, overlay IP or public key")->required();
  auto* rename = app.add_subcommand("rename", "rename a node (on the coordinator)");
  rename->add_option("node", node, "current name, overlay IP or public key")->required();
  rename->add_option("new_name", new_name, "new name")->required();

  InviteOptions inv;
  std::string invite_id;
  auto* invite = app.add_subcommand("invite", "create an invite token (on the coordinator)");
  invite->require_subcommand(0, 1);
  invite->add_option("--uses", inv.uses, "how many nodes may join with it")->capture_default_str();
  invite->add_flag("--reusable", inv.reusable, "no limit on uses (until it expires)");
  invite->add_option("--expires", inv.expires, "lifetime: 90m, 24h, 7d ...")->capture_default_str();
  invite->add_option("--group", inv.groups, "group for nodes joining with it (repeatable)");
  invite->add_flag("--ephemeral", inv.ephemeral, "nodes are removed a few minutes after going offline");
  invite->add_option("--name", inv.name, "name for the node that joins with it");
  auto* invite_list = invite->add_subcommand("list", "list invites");
  auto* invite_revoke = invite->add_subcommand("revoke", "revoke an invite");
  invite_revoke->add_option("id", invite_id, "invite id (from `ovl invite list`)")->required();

  std::string group_node, group_name, policy_name;
  auto* group = app.add_subcommand("group", "node groups, for access policies (on the coordinator)");
  group->require_subcommand(1);
  auto* group_add = group->add_subcommand("add", "add a node to a group");
  auto* group_remove = group->add_subcommand("remove", "remove a node from a group");
  for (auto* c : {group_add, group_remove}) {
    c->add_option("node", group_node, "name, overlay IP or public key")->required();
    c->add_option("group", group_name, "group name")->required();
  }
  auto* group_list = group->add_subcommand("list", "list groups and their nodes");

  PolicyOptions pol;
  auto* policyc = app.add_subcommand("policy", "access policies: who may reach whom (on the coordinator)");
  policyc->require_subcommand(1);
  auto* policy_add = policyc->add_subcommand("add", "allow traffic from some nodes to others");
  policy_add->add_option("name", pol.name, "policy name")->required();
  policy_add->add_option("--from", pol.from, "source: a group, a node, or * for every node")->required();
  policy_add->add_option("--to", pol.to, "destination: a group, a node, or * for every node")->required();
  policy_add->add_option("--proto", pol.proto, "tcp, udp, icmp or any")->capture_default_str();
  policy_add->add_option("--ports", pol.ports, "destination ports, e.g. 22,8000-8100 (default: all)");
  auto* policy_list = policyc->add_subcommand("list", "list access policies");
  auto* policy_rm = policyc->add_subcommand("rm", "remove an access policy");
  policy_rm->add_option("name", policy_name, "policy name")->required();

  auto* config = app.add_subcommand("config", "the configuration file and flags");
  config->require_subcommand(1);
  auto* config_show = config->add_subcommand("show", "print the effective settings and where each comes from");

  PingOptions ping;
  auto* pingc = app.add_subcommand("ping", "ping a peer over the overlay and say which path answered");
  pingc->add_option("peer", ping.peer, "peer name, overlay IP or public key")->required();
  pingc->add_option("-c,--count", ping.count, "how many pings (default 4, or 30 with --until-direct)");
  pingc->add_flag("--until-direct", ping.until_direct, "stop at the first answer over a direct path");
  pingc->add_option("--timeout", ping.timeout_s, "seconds to wait for each answer")->capture_default_str();
  auto* netcheck = app.add_subcommand("netcheck", "UDP reachability, public address, NAT mapping, relays");

  std::string route_prefix, route_node;
  auto* route = app.add_subcommand("route", "subnet routes: advertise on a node, approve on the coordinator");
  route->require_subcommand(1);
  auto* route_adv = route->add_subcommand("advertise", "offer a subnet behind this node (CIDR)");
  route_adv->add_option("cidr", route_prefix, "e.g. 192.168.1.0/24 or fd00:10::/64")->required();
  auto* route_wd = route->add_subcommand("withdraw", "stop offering a subnet");
  route_wd->add_option("cidr", route_prefix, "a prefix this node advertises")->required();
  auto* route_ap = route->add_subcommand("approve", "let a node route an advertised subnet (on the coordinator)");
  route_ap->add_option("node", route_node, "name, overlay IP or public key")->required();
  route_ap->add_option("cidr", route_prefix, "the advertised prefix (0.0.0.0/0 or ::/0: exit node)")->required();
  auto* route_unap = route->add_subcommand("unapprove", "take an approval back (on the coordinator)");
  route_unap->add_option("node", route_node, "name, overlay IP or public key")->required();
  route_unap->add_option("cidr", route_prefix, "an approved prefix")->required();
  auto* route_ls = route->add_subcommand("list", "advertised and approved routes");

  SetOptions set;
  auto* setc = app.add_subcommand("set", "change a setting of the running node");
  setc->add_option("--exit-node", set.exit_node, "send internet traffic through this node (name or IP; none = off)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitBadInput;
  }
  // `ovl join TOKEN` runs for as long as the node does: keep the token (its
  // secret) out of /proc/PID/cmdline and ps for that whole time.
  if (*joinc)
    for (int i = 1; i < argc; ++i)
      if (join.token == argv[i]) std::fill(argv[i], argv[i] + std::strlen(argv[i]), 'x');
  // Defaults < config file < flags; a bad file starts nothing.
  auto cfg = load_config_file(config_opt->count() ? std::optional<std::string>(config_path) : std::nullopt);
  if (!cfg) return kExitBadInput;
  auto global_sources = apply_global_config(*cfg, g, given_options(&app));
  if (*upc) apply_up_config(*cfg, up, given_options(upc));
  if (*coordc) apply_up_config(*cfg, up, given_options(coordc));
  if (*joinc) apply_join_config(*cfg, join, given_options(joinc));
  if (*relayc) apply_relay_config(*cfg, relay, given_options(relayc));

  ovl::log::set_sink(timestamped);
  ovl::log::threshold() = g.verbose ? ovl::log::Level::debug : ovl::log::Level::info;

  try {
    if (*genkey) return cmd_genkey(g);
    if (*pubkey) return cmd_pubkey(g);
    if (*tunnel) return cmd_tunnel(g, tun);
    if (*upc) return cmd_up(g, up);
    if (*coordc) {
      up.coordinator_only = true;
      return cmd_up(g, up);
    }
    if (*joinc) return cmd_join(g, join);
    if (*relayc) return cmd_relay(g, relay);
    if (*status) return cmd_status(g);
    if (*nodes) return cmd_nodes(g);
    if (*down) return cmd_down(g);
    if (*remove) return cmd_remove(g, node);
    if (*rename) return cmd_rename(g, node, new_name);
    if (*invite_list) return cmd_invite_list(g);
    if (*invite_revoke) return cmd_invite_revoke(g, invite_id);
    if (*invite) return cmd_invite(g, inv);
    if (*group_add) return cmd_group_add(g, group_node, group_name);
    if (*group_remove) return cmd_group_remove(g, group_node, group_name);
    if (*group_list) return cmd_group_list(g);
    if (*policy_add) return cmd_policy_add(g, pol);
    if (*policy_list) return cmd_policy_list(g);
    if (*policy_rm) return cmd_policy_rm(g, policy_name);
    if (*config_show) return cmd_config_show(g, *cfg, global_sources);
    if (*pingc) return cmd_ping(g, ping);
    if (*netcheck) return cmd_netcheck(g);
    if (*route_adv) return cmd_route_advertise(g, route_prefix);
    if (*route_wd) return cmd_route_withdraw(g, route_prefix);
    if (*route_ap) return cmd_route_approve(g, route_node, route_prefix, true);
    if (*route_unap) return cmd_route_approve(g, route_node, route_prefix, false);
    if (*route_ls) return cmd_route_list(g);
    if (*setc) return cmd_set(g, set);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovl: %s\n", e.what());
    return kExitFailure;
  }
  return kExitBadInput;
}
