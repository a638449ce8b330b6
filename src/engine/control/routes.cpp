#include "engine/control/routes.hpp"

#include <algorithm>

namespace ovl::control {

namespace {

bool prefix_less(const net::Prefix& a, const net::Prefix& b) {
  if (a.addr != b.addr) return a.addr < b.addr;
  return a.len < b.len;
}

}  // namespace

bool prefixes_overlap(const net::Prefix& a, const net::Prefix& b) {
  if (a.addr.v6 != b.addr.v6) return false;
  return a.contains(b.addr) || b.contains(a.addr);
}

bool valid_route(const net::Prefix& p, const net::Prefix& overlay, bool allow_exit, std::string& why) {
  const std::string s = p.str();
  if (p.addr.v6) {
    why = s + ": only IPv4 routes are supported so far";
    return false;
  }
  if (p.masked() != p) {
    why = s + " has host bits set; did you mean " + p.masked().str() + "?";
    return false;
  }
  if (is_exit_route(p)) {
    if (allow_exit) return true;
    why = "0.0.0.0/0 is not a subnet route; offer an exit node with `ovl up --advertise-exit-node`";
    return false;
  }
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
  if (prefixes_overlap(p, overlay)) {
    why = s + " overlaps the overlay's own range " + overlay.str();
    return false;
  }
  // 100.100.100.100 answers peer names on every node.
  if (p.contains(net::IpAddr::v4(100, 100, 100, 100))) {
    why = s + " covers 100.100.100.100, the overlay's DNS resolver address";
    return false;
  }
  return true;
}

std::optional<net::Prefix> parse_route(std::string_view text, const net::Prefix& overlay, bool allow_exit,
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

std::vector<net::Prefix> intersect_routes(const std::vector<net::Prefix>& a, const std::vector<net::Prefix>& b) {
  std::vector<net::Prefix> r;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(r), prefix_less);
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
