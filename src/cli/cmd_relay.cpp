// `ovl relay`: run only a relay, with the secret the coordinator shares with
// it (the coordinator lists it in the map with `--relay ADDR:PORT`).
#include <cstdio>
#include <system_error>

#include "cli/commands.hpp"
#include "cli/state.hpp"
#include "engine/io/relay_daemon.hpp"
#include "store/keyfile.hpp"

namespace ovl::cli {

std::optional<net::Endpoint> parse_relay_endpoint(const std::string& s) {
  if (auto e = net::Endpoint::parse(s); e && e->port != 0) return e;
  if (auto ip = net::IpAddr::parse(s)) return net::Endpoint{*ip, kDefaultRelayPort};
  return std::nullopt;
}

std::string relay_secret_path(const GlobalOptions& g, const std::string& given) {
  return given.empty() ? StatePaths(g.state_dir).dir + "/relay.key" : given;
}

int cmd_relay(const GlobalOptions& g, const RelayOptions& o) {
  auto listen = parse_relay_endpoint(o.listen);
  if (!listen) {
    std::fprintf(stderr, "ovl: --listen \"%s\" is not IP:PORT, [IPv6]:PORT or an IP address\n", o.listen.c_str());
    return kExitBadInput;
  }
  const std::string path = relay_secret_path(g, o.secret_file);
  auto secret = store::read_key_file(path);  // throws on a file others can read
  if (!secret) {
    std::fprintf(stderr,
                 "ovl: no relay secret at %s: copy the coordinator's STATE_DIR/relay.key there (mode 0600), "
                 "or create one with `ovl genkey` and give it to the coordinator with --relay-secret-file\n",
                 path.c_str());
    return kExitBadInput;
  }
  io::RelayDaemonOptions opts;
  opts.listen = *listen;
  opts.secret = secret->b;
  try {
    return io::run_relay_daemon(opts);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "ovl: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace ovl::cli
