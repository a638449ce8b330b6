#include "engine/control/routes.hpp"

#include <algorithm>

namespace ovl::control {

namespace {

// IPv4 first, then IPv6; by address, then length.
bool prefix_less(const net::Prefix& a, const net::Prefix& b) {
  if (a.addr.v6 != b.addr.v6) return b.addr.v6;
  if (a.addr != b.addr) return a.addr < b.addr;
  return a.len < b.len;
}

}  // namespace

bool prefixes_overlap(const net::Prefix& a, const net::Prefix& b) {
  if (a.addr.v6 != b.addr.v6) return false;
  return a.contains(b.addr) || b.contains(a.addr);
}

namespace {

bool valid_route4(const net::Prefix& p, const std::string& s, std::string& why) {
  if (p.len < 8) {
    why = s + " is too wide for a subnet route (at most /8; 0.0.0.0/0 is the exit route)";
    return false;
  }
  uint8_t first = p.addr.b[0];
  if (first == 0 || first == 127 || first >= 224) {
    why = s + " is not a routable unicast range (this-network, loopback, multicast or reserved)";
    return false;
  }
  if (first == 169 && p.addr.b[1] == 254) {
    why = s + " is link-local and cannot be routed";
    return false;
  }
  // 100.100.100.100 answers peer names on every node.
  if (p.contains(net::IpAddr::v4(100, 100, 100, 100))) {
    why = s + " covers 100.100.100.100, the overlay's DNS resolver address";
    return false;
  }
  return true;
}

bool valid_route6(const net::Prefix& p, const std::string& s, std::string& why) {
  if (p.len < 16) {
    why = s + " is too wide for a subnet route (at most /16; ::/0 is the exit route)";
    return false;
  }
  const auto& b = p.addr.b;
  // ::/8 holds the unspecified and loopback addresses and the IPv4-mapped
  // and -compatible forms; ff00::/8 is multicast.
  if (b[0] == 0 || b[0] == 0xff) {
    why = s + " is not a routable unicast range (loopback, IPv4-mapped, multicast or reserved)";
    return false;
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    why = s + " is link-local and cannot be routed";
    return false;
  }
  return true;
}

}  // namespace

bool valid_route(const net::Prefix& p, const OverlayRanges& overlay, bool allow_exit, std::string& why) {
  const std::string s = p.str();
  if (p.masked() != p) {
    why = s + " has host bits set; did you mean " + p.masked().str() + "?";
    return false;
  }
  if (is_exit_route(p)) {
    if (allow_exit) return true;
    why = s + " is not a subnet route; offer an exit node with `ovl up --advertise-exit-node`";
    return false;
  }
  for (const auto* own : {&overlay.v4, overlay.v6 ? &*overlay.v6 : nullptr})
    if (own && prefixes_overlap(p, *own)) {
      why = s + " overlaps the overlay's own range " + own->str();
      return false;
    }
  return p.addr.v6 ? valid_route6(p, s, why) : valid_route4(p, s, why);
}

std::optional<net::Prefix> parse_route(std::string_view text, const OverlayRanges& overlay, bool allow_exit,
                                       std::string& why) {
  std::string shown(text.substr(0, 64));
  if (text.find('/') == std::string_view::npos) {
    why = "\"" + shown + "\" is not a CIDR prefix like 10.1.0.0/24 (the /length is required)";
    return std::nullopt;
  }
  auto p = net::Prefix::parse(text);
  if (!p) {
    why = "\"" + shown + "\" is not a CIDR prefix like 10.1.0.0/24";
    return std::nullopt;
  }
  if (!valid_route(*p, overlay, allow_exit, why)) return std::nullopt;
  return p;
}

void normalize_routes(std::vector<net::Prefix>& r) {
  std::sort(r.begin(), r.end(), prefix_less);
  r.erase(std::unique(r.begin(), r.end()), r.end());
}

void normalize_advertised(std::vector<net::Prefix>& r) {
  if (std::any_of(r.begin(), r.end(), is_exit_route)) {
    r.push_back(exit_route());
    r.push_back(exit_route6());
  }
  normalize_routes(r);
}

bool route_approved(const std::vector<net::Prefix>& approved, const net::Prefix& p) {
  if (is_exit_route(p)) return std::any_of(approved.begin(), approved.end(), is_exit_route);
  return std::find(approved.begin(), approved.end(), p) != approved.end();
}

std::vector<net::Prefix> active_routes(const std::vector<net::Prefix>& advertised,
                                       const std::vector<net::Prefix>& approved) {
  std::vector<net::Prefix> r;
  for (auto& p : advertised)
    if (route_approved(approved, p)) r.push_back(p);
  return r;
}

RoutePlan plan_routes(const std::vector<PeerInfo>& peers, const crypto::PublicKey& self,
                      const std::vector<net::Prefix>& own, const std::string& exit_node) {
  RoutePlan plan;
  auto has = [](const std::vector<net::Prefix>& v, const net::Prefix& p) {
    return std::find(v.begin(), v.end(), p) != v.end();
  };
  if (!exit_node.empty()) {
    auto ip = net::IpAddr::parse(exit_node);
    const PeerInfo* found = nullptr;
    for (auto& p : peers)
      if (p.public_key != self && (p.name == exit_node || (ip && p.ip == *ip))) found = &p;
    if (!found)
      plan.exit_problem = "the exit node " + exit_node + " is not in the network";
    else if (std::none_of(found->routes.begin(), found->routes.end(), is_exit_route))
      plan.exit_problem = exit_node + " is not an approved exit node (it needs `ovl up --advertise-exit-node` and " +
                          "`ovl route approve " + found->name + " 0.0.0.0/0` on the coordinator)";
    else
      plan.exit_peer = found->public_key;
  }
  std::vector<const PeerInfo*> order;
  for (auto& p : peers)
    if (p.public_key != self && !p.routes.empty()) order.push_back(&p);
  std::sort(order.begin(), order.end(), [](const PeerInfo* a, const PeerInfo* b) {
    if (a->online != b->online) return a->online;
    return a->id < b->id;
  });
  std::vector<net::Prefix> claimed;
  for (auto* p : order)
    for (auto& r : p->routes) {
      if (is_exit_route(r)) {
        if (plan.exit_peer && *plan.exit_peer == p->public_key) plan.routes[p->public_key].push_back(r);
        continue;
      }
      if (has(own, r) || has(claimed, r)) continue;
      claimed.push_back(r);
      plan.routes[p->public_key].push_back(r);
    }
  return plan;
}

}  // namespace ovl::control
