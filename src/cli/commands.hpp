// The commands `ovl` runs. main.cpp (the only file that includes CLI11) parses
// the command line into these plain structs and calls the functions; each
// group of commands lives in its own cmd_*.cpp.
//
// Exit codes: 0 success, 1 runtime failure, 2 bad input (usage, config, token).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/config/toml_config.hpp"

namespace ovl::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

struct GlobalOptions {
  std::string state_dir = "/var/lib/ovl";
  int verbose = 0;
  bool json = false;
};

int cmd_genkey(const GlobalOptions& g);
int cmd_pubkey(const GlobalOptions& g);

struct TunnelOptions {
  std::string file;
  std::string interface;  // default: the file name without .conf, like wg-quick
};
int cmd_tunnel(const GlobalOptions& g, const TunnelOptions& o);

// `ovl up` and `ovl coordinator`.
struct UpOptions {
  std::string network;  // default: from the hostname
  std::string cidr;     // default: a random /16 inside 100.64.0.0/10
  uint16_t listen_port = 51820;
  std::vector<std::string> advertise;  // HOST:PORT written into tokens
  std::string name;                    // this node's name (default: hostname)
  std::string interface = "ovl0";
  std::string dns = "auto";            // how the host resolves NETWORK.ovl (--dns)
  bool coordinator_only = false;       // `ovl coordinator`: no TUN, no node
  std::vector<std::string> relays;     // standalone relays for the map (IP[:PORT])
  std::string relay_secret_file;       // default: STATE_DIR/relay.key
  bool advertise_exit_node = false;    // offer 0.0.0.0/0 (stays until `ovl route withdraw`)
  std::optional<std::string> exit_node;  // send traffic through this node ("none" = stop)
};
int cmd_up(const GlobalOptions& g, const UpOptions& o);

struct JoinOptions {
  std::string token;
  std::string name;  // default: hostname
  std::string interface = "ovl0";
  uint16_t listen_port = 51820;
  std::string dns = "auto";
  bool no_start = false;
};
int cmd_join(const GlobalOptions& g, const JoinOptions& o);

// `ovl relay`: only a relay (and STUN answers on its port).
struct RelayOptions {
  std::string listen = "0.0.0.0:51822";  // IP:PORT, IP, or [IPv6]:PORT
  std::string secret_file;              // default: STATE_DIR/relay.key
};
int cmd_relay(const GlobalOptions& g, const RelayOptions& o);

int cmd_status(const GlobalOptions& g);
int cmd_nodes(const GlobalOptions& g);
int cmd_down(const GlobalOptions& g);
int cmd_remove(const GlobalOptions& g, const std::string& node);
int cmd_rename(const GlobalOptions& g, const std::string& node, const std::string& new_name);

struct InviteOptions {
  int uses = 1;
  bool reusable = false;
  std::string expires = "24h";
  std::vector<std::string> groups;
  bool ephemeral = false;
  std::string name;
};
int cmd_invite(const GlobalOptions& g, const InviteOptions& o);
int cmd_invite_list(const GlobalOptions& g);
int cmd_invite_revoke(const GlobalOptions& g, const std::string& id);

// Groups and access policies (cmd_policy.cpp), on the coordinator.
int cmd_group_add(const GlobalOptions& g, const std::string& node, const std::string& group);
int cmd_group_remove(const GlobalOptions& g, const std::string& node, const std::string& group);
int cmd_group_list(const GlobalOptions& g);
struct PolicyOptions {
  std::string name, from, to;
  std::string proto = "any";
  std::string ports;  // "" = every port
};
int cmd_policy_add(const GlobalOptions& g, const PolicyOptions& o);
int cmd_policy_list(const GlobalOptions& g);
int cmd_policy_rm(const GlobalOptions& g, const std::string& name);

// The configuration file (engine/config/toml_config.hpp): built-in defaults <
// file < the flags the user gave. cmd_config.cpp.
struct ConfigFile {
  std::string path;  // empty: no file was read
  config::FileSettings settings;
};
// Reads `--config FILE` when given (a missing or unreadable file is an error),
// else /etc/ovl/ovl.toml when it exists. On an error prints it ("FILE:LINE:
// ...") and returns nullopt: exit with kExitBadInput, start nothing.
std::optional<ConfigFile> load_config_file(const std::optional<std::string>& path);

// Long names (without dashes) of the options given on the command line, e.g.
// "listen-port"; those keep their value, the file's applies to the others.
using GivenOptions = std::set<std::string>;
// Where each effective setting came from, by key: "state_dir", "up.cidr", ...
using SettingSources = std::map<std::string, config::Source>;
SettingSources apply_global_config(const ConfigFile& f, GlobalOptions& g, const GivenOptions& given);
SettingSources apply_up_config(const ConfigFile& f, UpOptions& o, const GivenOptions& given);
SettingSources apply_join_config(const ConfigFile& f, JoinOptions& o, const GivenOptions& given);
SettingSources apply_relay_config(const ConfigFile& f, RelayOptions& o, const GivenOptions& given);

// `ovl config show`: the effective settings of up/coordinator and join, as
// TOML (or JSON), each with its source. `global` is what apply_global_config
// returned for g.
int cmd_config_show(const GlobalOptions& g, const ConfigFile& f, const SettingSources& global);

// Subnet routes and exit nodes (cmd_route.cpp).
int cmd_route_advertise(const GlobalOptions& g, const std::string& prefix);
int cmd_route_withdraw(const GlobalOptions& g, const std::string& prefix);
int cmd_route_approve(const GlobalOptions& g, const std::string& node, const std::string& prefix, bool approve);
int cmd_route_list(const GlobalOptions& g);
struct SetOptions {
  std::optional<std::string> exit_node;  // NODE, or "none"
};
int cmd_set(const GlobalOptions& g, const SetOptions& o);

struct PingOptions {
  std::string peer;
  int count = 0;  // 0: 4, or 30 with --until-direct
  bool until_direct = false;
  double timeout_s = 2;
};
int cmd_ping(const GlobalOptions& g, const PingOptions& o);
int cmd_netcheck(const GlobalOptions& g);

}  // namespace ovl::cli
