// The commands `ovl` runs. main.cpp (the only file that includes CLI11) parses
// the command line into these plain structs and calls the functions; each
// group of commands lives in its own cmd_*.cpp.
//
// Exit codes: 0 success, 1 runtime failure, 2 bad input (usage, config, token).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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
  bool coordinator_only = false;       // `ovl coordinator`: no TUN, no node
};
int cmd_up(const GlobalOptions& g, const UpOptions& o);

struct JoinOptions {
  std::string token;
  std::string name;  // default: hostname
  std::string interface = "ovl0";
  uint16_t listen_port = 51820;
  bool no_start = false;
};
int cmd_join(const GlobalOptions& g, const JoinOptions& o);

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

}  // namespace ovl::cli
