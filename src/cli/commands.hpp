// The commands `ovl` runs. main.cpp (the only file that includes CLI11) parses
// the command line into these plain structs and calls the functions; each
// command lives in its own cmd_*.cpp.
//
// Exit codes: 0 success, 1 runtime failure, 2 bad input (usage, config, token).
#pragma once
#include <string>

namespace ovl::cli {

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

}  // namespace ovl::cli
