// Command-line entry point: the only translation unit that includes CLI11.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.hpp"
#include "engine/log.hpp"

using namespace ovl::cli;

int main(int argc, char** argv) {
  CLI::App app{"ovl: a self-hosted peer-to-peer overlay network (WireGuard-compatible)"};
  app.set_version_flag("--version", std::string("ovl ") + OVL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions g;
  app.add_option("--state-dir", g.state_dir, "state directory")->capture_default_str();
  app.add_flag("-v,--verbose", g.verbose, "more log output (repeat for debug)");
  app.add_flag("--json", g.json, "print data as JSON");

  auto* genkey = app.add_subcommand("genkey", "print a new private key (base64), like `wg genkey`");
  auto* pubkey = app.add_subcommand("pubkey", "read a private key on stdin, print its public key");

  TunnelOptions tun;
  auto* tunnel = app.add_subcommand("tunnel", "run a standalone tunnel from a wg-quick style file");
  tunnel->add_option("file", tun.file, "wg-quick style config file")->required();
  tunnel->add_option("-i,--interface", tun.interface, "TUN device name (default: from the file name)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  ovl::log::threshold() = g.verbose >= 2 ? ovl::log::Level::debug
                        : g.verbose == 1 ? ovl::log::Level::info
                                         : ovl::log::Level::info;

  try {
    if (*genkey) return cmd_genkey(g);
    if (*pubkey) return cmd_pubkey(g);
    if (*tunnel) return cmd_tunnel(g, tun);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovl: %s\n", e.what());
    return 1;
  }
  return 2;
}
