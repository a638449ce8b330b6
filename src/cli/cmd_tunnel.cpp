// `ovl tunnel FILE`: a standalone WireGuard tunnel from a wg-quick style file,
// in the foreground, torn down on SIGINT/SIGTERM.
//
// Everything that can be wrong with the input (name, file, syntax, endpoint
// names) is checked before anything is created, so a bad file exits 2 and
// leaves the system untouched.
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cli/commands.hpp"
#include "engine/config/wg_quick.hpp"
#include "engine/crypto/keys.hpp"
#include "engine/io/system_env.hpp"
#include "engine/io/tunnel_loop.hpp"
#include "engine/log.hpp"
#include "engine/wg/device.hpp"
#include "tun/tun_device.hpp"

namespace ovl::cli {

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitInput = 2;

// Like wg-quick: "/etc/wireguard/wg0.conf" -> "wg0".
std::string interface_from_path(const std::string& file) {
  std::string base = std::filesystem::path(file).filename().string();
  constexpr std::string_view ext = ".conf";
  if (base.size() > ext.size() && base.ends_with(ext)) base.resize(base.size() - ext.size());
  return base;
}

// Splits "host:port" / "[v6]:port" and resolves host (numeric first, then
// getaddrinfo). Returns nullopt with `err` set on failure.
std::optional<net::Endpoint> resolve_endpoint(const std::string& text, std::string& err) {
  if (auto ep = net::Endpoint::parse(text)) return ep;
  std::string host, port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos) {
      err = "expected [IPv6]:PORT";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      err = "expected HOST:PORT (IPv6 addresses in brackets)";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    err = "expected HOST:PORT with a port from 1 to 65535";
    return std::nullopt;
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    err = std::string("cannot resolve \"") + host + "\": " + gai_strerror(rc);
    return std::nullopt;
  }
  // The resolver already sorted by RFC 6724 preference; take its first choice
  // as wg(8) does.
  std::optional<net::Endpoint> out;
  for (addrinfo* ai = res; ai && !out; ai = ai->ai_next) {
    net::Endpoint ep;
    if (ai->ai_family == AF_INET) {
      auto* s = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      ep.ip = net::IpAddr::from_bytes({reinterpret_cast<const uint8_t*>(&s->sin_addr), 4});
    } else if (ai->ai_family == AF_INET6) {
      auto* s = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      ep.ip = net::IpAddr::from_bytes({s->sin6_addr.s6_addr, 16});
    } else {
      continue;
    }
    ep.port = static_cast<uint16_t>(port);
    out = ep;
  }
  ::freeaddrinfo(res);
  if (!out) err = std::string("no IPv4 or IPv6 address for \"") + host + "\"";
  return out;
}

// Reads in one piece into a buffer sized up front, so the private key in the
// text is never left behind in a freed, unwiped reallocation.
// Holds SIGINT/SIGTERM pending while the interface is being set up, until
// the event loop has installed its handlers: a Ctrl-C during set-up then
// still ends in an orderly teardown (which matters for a persistent TUN,
// whose changes the kernel does not undo by itself).
class DeferStopSignals {
 public:
  DeferStopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~DeferStopSignals() { release(); }
  void release() {
    if (active_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    active_ = false;
  }

 private:
  sigset_t set_, old_;
  bool active_ = true;
};

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return false;
  auto size = in.tellg();
  if (size < 0) return false;
  out.resize(static_cast<size_t>(size));
  in.seekg(0);
  return static_cast<bool>(in.read(out.data(), size));
}

}  // namespace

int cmd_tunnel(const GlobalOptions&, const TunnelOptions& o) {
  const std::string& file = o.file;
  std::string ifname = o.interface.empty() ? interface_from_path(file) : o.interface;
  if (!tun::valid_interface_name(ifname)) {
    std::fprintf(stderr,
                 "ovl: invalid interface name \"%s\": it must be 1-15 characters of [a-zA-Z0-9_=+.-]%s\n",
                 ifname.c_str(), o.interface.empty() ? " (taken from the file name; use --interface)" : "");
    return kExitInput;
  }

  std::string text;
  if (!read_file(file, text)) {
    std::fprintf(stderr, "ovl: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
    return kExitInput;
  }
  struct stat st{};
  if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077)) {
    log::warn("%s is accessible by group/others (mode %04o) but holds a private key; consider chmod 600",
              file.c_str(), static_cast<unsigned>(st.st_mode & 07777));
  }

  auto parsed = config::parse_wg_quick(text);
  crypto::wipe(text.data(), text.size());  // the file's private key, as text
  if (auto* e = std::get_if<config::ParseError>(&parsed)) {
    if (e->line > 0)
      std::fprintf(stderr, "ovl: %s:%d: %s\n", file.c_str(), e->line, e->message.c_str());
    else
      std::fprintf(stderr, "ovl: %s: %s\n", file.c_str(), e->message.c_str());
    return kExitInput;
  }
  auto& cfg = std::get<config::WgQuickConfig>(parsed);
  for (const auto& w : cfg.warnings) log::warn("%s: %s", file.c_str(), w.c_str());

  const uint32_t mtu = cfg.mtu.value_or(tun::kDefaultMtu);
  if (mtu < 68 || mtu > 65535) {
    std::fprintf(stderr, "ovl: %s: MTU %u is out of range (68-65535)\n", file.c_str(), mtu);
    return kExitInput;
  }
  bool any_v6 = std::any_of(cfg.addresses.begin(), cfg.addresses.end(), [](auto& p) { return p.addr.v6; });
  if (any_v6 && mtu < 1280) log::warn("MTU %u is below IPv6's minimum of 1280: IPv6 will not work on %s", mtu, ifname.c_str());
  if (!cfg.dns.empty()) log::warn("%s: DNS is ignored by ovl tunnel", file.c_str());

  std::vector<wg::PeerConfig> peers;
  peers.reserve(cfg.peers.size());
  for (const auto& p : cfg.peers) {
    wg::PeerConfig pc;
    pc.public_key = p.public_key;
    pc.preshared_key = p.preshared_key;
    pc.allowed_ips = p.allowed_ips;
    pc.persistent_keepalive = p.persistent_keepalive;
    if (p.endpoint) {
      std::string err;
      pc.endpoint = resolve_endpoint(*p.endpoint, err);
      if (!pc.endpoint) {
        std::fprintf(stderr, "ovl: %s:%d: Endpoint %s: %s\n", file.c_str(), p.line, p.endpoint->c_str(), err.c_str());
        return kExitInput;
      }
    }
    peers.push_back(std::move(pc));
  }

  // Input is valid; from here on failures are runtime failures.
  try {
    DeferStopSignals defer_signals;  // destroyed after the TUN on error paths
    wg::Device device(cfg.private_key, io::system_device_env());
    const wg::Time now = io::monotonic_now();
    for (const auto& pc : peers) device.set_peer(pc, now);

    tun::TunDevice tun(ifname, mtu, io::offloads_from_env().tso);
    for (const auto& a : cfg.addresses) tun.add_address(a);

    // One route per distinct AllowedIPs prefix. One that already exists is
    // left alone: normally it is the connected route of our own Address,
    // otherwise (say a default route via the LAN) say so, since that traffic
    // will not enter the tunnel.
    std::vector<net::Prefix> routes;
    for (const auto& pc : peers)
      for (const auto& a : pc.allowed_ips)
        if (std::find(routes.begin(), routes.end(), a.masked()) == routes.end()) routes.push_back(a.masked());
    for (const auto& r : routes) {
      if (tun.add_route(r)) continue;
      bool connected = std::any_of(cfg.addresses.begin(), cfg.addresses.end(),
                                   [&](auto& a) { return a.masked() == r; });
      if (!connected)
        log::warn("route %s already exists and was not replaced: its traffic may bypass %s", r.str().c_str(),
                  tun.name().c_str());
    }

    io::TunnelLoop loop(device, tun, cfg.listen_port.value_or(0));
    defer_signals.release();  // a pending signal now reaches the loop
    log::info("tunnel %s up, listening on UDP %u, public key %s, %zu peer(s)", tun.name().c_str(),
              static_cast<unsigned>(loop.bound_port()), crypto::to_base64(device.public_key()).c_str(),
              peers.size());
    loop.run();
    const auto& s = loop.stats();
    log::info("tunnel %s down (udp rx %llu tx %llu, tun rx %llu tx %llu)", tun.name().c_str(),
              static_cast<unsigned long long>(s.udp_rx), static_cast<unsigned long long>(s.udp_tx),
              static_cast<unsigned long long>(s.tun_rx), static_cast<unsigned long long>(s.tun_tx));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovl: %s\n", e.what());
    return kExitRuntime;
  }
  return 0;
}

}  // namespace ovl::cli
