#include "tun/exit_route.hpp"

#include <sys/socket.h>

#include <filesystem>
#include <fstream>

#include "engine/log.hpp"

namespace ovl::tun {

namespace {

Netlink::Rule suppress_rule(bool v6) {
  Netlink::Rule r;
  r.v6 = v6;
  r.priority = ExitRoute::kSuppressPriority;
  r.table = Netlink::kMainTable;
  r.suppress_prefixlen = 0;
  return r;
}

Netlink::Rule tunnel_rule(bool v6) {
  Netlink::Rule r;
  r.v6 = v6;
  r.priority = ExitRoute::kTunnelPriority;
  r.table = ExitRoute::kTable;
  r.not_fwmark = ExitRoute::kMark;
  return r;
}

net::Prefix default_route(bool v6) { return net::Prefix{net::IpAddr{.v6 = v6}, 0}; }

// Strict reverse-path filtering (1) drops the peers' answers that arrive on
// an interface which is no longer the route back to their sender (everything
// but connected networks now routes into the tunnel). The effective value of
// an interface is the larger of "all" and its own.
std::string strict_rp_filter() {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string strict;
  for (auto& e : fs::directory_iterator("/proc/sys/net/ipv4/conf", ec)) {
    std::ifstream f(e.path() / "rp_filter");
    int v = 0;
    if (f >> v && v == 1) strict += (strict.empty() ? "" : ", ") + e.path().filename().string();
  }
  return strict;
}

}  // namespace

ExitRoute::~ExitRoute() { disable(); }

void ExitRoute::set(const Netlink::Link& tun, bool v4, bool v6) {
  if (enabled() && tun.index != tun_.index) disable();  // a new TUN device: start over
  tun_ = tun;
  set_family(false, v4);
  set_family(true, v6);
}

void ExitRoute::set_family(bool v6, bool on) {
  bool& cur = v6 ? v6_ : v4_;
  if (cur == on) return;
  cur = on;
  if (!on) return undo(v6);
  try {
    nl_.add_route(tun_, default_route(v6), kTable);
    nl_.add_rule(suppress_rule(v6));
    nl_.add_rule(tunnel_rule(v6));
  } catch (...) {
    undo(v6);  // whatever part was done
    cur = false;
    throw;
  }
  if (v6) return;
  if (auto s = strict_rp_filter(); !s.empty())
    log::warn("strict reverse-path filtering (rp_filter=1) on %s may drop peers' packets while an exit node is "
              "in use; loose mode (2) works",
              s.c_str());
}

void ExitRoute::undo(bool v6) noexcept {
  // Rules first: without them nothing looks at the table any more.
  try {
    nl_.del_rule(tunnel_rule(v6));
    nl_.del_rule(suppress_rule(v6));
    nl_.del_route(tun_, default_route(v6), kTable);
  } catch (const std::exception& e) {
    log::warn("exit node: %s", e.what());
  }
}

void ExitRoute::disable() noexcept {
  if (v4_) undo(false);
  if (v6_) undo(true);
  v4_ = v6_ = false;
}

void ExitRoute::remove_stale() noexcept {
  try {
    Netlink nl;
    // At most a few copies can exist (one per crashed run before a cleanup).
    for (bool v6 : {false, true}) {
      for (int i = 0; i < 16 && nl.del_rule(tunnel_rule(v6)); ++i) {
      }
      for (int i = 0; i < 16 && nl.del_rule(suppress_rule(v6)); ++i) {
      }
    }
  } catch (const std::exception& e) {
    log::warn("exit node: cannot remove stale routing rules: %s", e.what());
  }
}

bool mark_socket(int fd) noexcept {
  uint32_t mark = ExitRoute::kMark;
  return ::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0;
}

}  // namespace ovl::tun
