// Subnet routes and exit nodes on the node: what it advertises (kept in the
// state dir, sent to the coordinator), which peers' routes it uses (extra
// allowed IPs and TUN routes), the exit route, and forwarding for others.
// The admin side (approve) is the coordinator's, reached through the API.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/control/routes.hpp"
#include "engine/io/daemon_impl.hpp"
#include "engine/log.hpp"
#include "store/kv.hpp"

namespace ovl::io {

using json = nlohmann::json;

namespace {

std::vector<net::Prefix> split_routes(const std::string& s) {
  std::vector<net::Prefix> r;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (auto p = net::Prefix::parse(s.substr(start, end - start))) r.push_back(p->masked());
    start = end + 1;
  }
  control::normalize_advertised(r);  // "0.0.0.0/0" stored by an older version: the exit in both families
  return r;
}

std::string join_routes(const std::vector<net::Prefix>& rs) {
  std::string s;
  for (auto& p : rs) s += (s.empty() ? "" : ",") + p.str();
  return s;
}

json prefixes(const std::vector<net::Prefix>& rs) {
  json a = json::array();
  for (auto& p : rs) a.push_back(p.str());
  return a;
}

// What forwarding masquerades: the overlay's own ranges.
std::vector<net::Prefix> overlay_ranges(const control::NetworkSummary& n) {
  std::vector<net::Prefix> r{n.cidr};
  if (n.ula) r.push_back(*n.ula);
  return r;
}

bool has(const std::vector<net::Prefix>& rs, const net::Prefix& p) { return std::find(rs.begin(), rs.end(), p) != rs.end(); }

// An error the CLI reports with exit status 2: the request itself was wrong.
json bad_input(const std::string& m) { return {{"error", m}, {"bad_input", true}}; }
json failure(const std::string& m) { return {{"error", m}}; }

}  // namespace

void Daemon::Impl::start_routes() {
  store::Db& db = *opts.db;
  agent->set_routes(split_routes(store::kv_get(db, kRoutesSetting).value_or("")));  // sent with the hello
  exit_node = store::kv_get(db, kExitNodeSetting).value_or("");
  // Marked so that an exit route never captures the tunnel's own datagrams.
  if (!tun::mark_socket(udp->fd())) log::debug("cannot mark the UDP socket (SO_MARK): %s", std::strerror(errno));
  tun::ExitRoute::remove_stale();
  if (agent->routes().empty()) tun::Forwarding::remove_stale();
}

void Daemon::Impl::plan_routes() {
  peer_routes.clear();
  exit_peer.reset();
  const auto& st = agent->state();
  if (!st.welcome) return;
  std::vector<control::PeerInfo> peers;
  for (auto& [k, p] : st.peers) peers.push_back(p);
  auto plan = control::plan_routes(peers, st.welcome->self.public_key, agent->routes(), exit_node);
  for (auto& [k, rs] : plan.routes) peer_routes[k] = rs;
  exit_peer = plan.exit_peer;
  if (plan.exit_problem != exit_problem) {
    if (!plan.exit_problem.empty()) log::warn("%s; traffic goes out directly", plan.exit_problem.c_str());
    exit_problem = plan.exit_problem;
  }
}

void Daemon::Impl::sync_os_routes() {
  if (!tun) return;
  std::vector<net::Prefix> want;
  for (auto& [k, rs] : peer_routes)
    for (auto& r : rs)
      if (!control::is_exit_route(r)) want.push_back(r);
  control::normalize_routes(want);
  std::vector<net::Prefix> kept;
  for (auto& r : tun_routes) {
    if (has(want, r)) {
      kept.push_back(r);
      continue;
    }
    try {
      tun->remove_route(r);
      log::info("route %s removed", r.str().c_str());
    } catch (const std::exception& e) {
      log::warn("%s", e.what());
    }
  }
  for (auto& r : want) {
    if (has(kept, r)) continue;
    try {
      // A route that already exists (e.g. the subnet is this host's own
      // LAN) stays as it is: the direct path wins.
      if (tun->add_route(r)) {
        kept.push_back(r);
        log::info("route %s via the overlay", r.str().c_str());
      }
    } catch (const std::exception& e) {
      log::warn("%s", e.what());
    }
  }
  tun_routes = std::move(kept);

  // Each family through the exit node only if it offers that family (an
  // older exit node offers IPv4 only).
  bool exit4 = false, exit6 = false;
  if (auto it = exit_peer ? peer_routes.find(*exit_peer) : peer_routes.end(); it != peer_routes.end())
    for (auto& r : it->second)
      if (control::is_exit_route(r)) (r.addr.v6 ? exit6 : exit4) = true;
  if (exit4 || exit6) {
    if (!exit_route) exit_route = std::make_unique<tun::ExitRoute>();
    bool was = exit_route->enabled();
    try {
      exit_route->set({tun->ifindex(), tun->name()}, exit4, exit6);
      if (!was) log::info("all traffic goes through the exit node %s", exit_node.c_str());
    } catch (const std::exception& e) {
      log::error("cannot route through the exit node: %s", e.what());
    }
  } else if (exit_route && exit_route->enabled()) {
    exit_route->disable();
    log::info("exit node no longer in use; traffic goes out directly");
  }
  try {
    sync_forwarding();
  } catch (const std::exception& e) {
    log::error("%s", e.what());
  }
}

void Daemon::Impl::sync_forwarding() {
  const auto& st = agent->state();
  if (agent->routes().empty() || !st.welcome || !tun) {
    if (forwarding) forwarding->disable();
    return;
  }
  if (!forwarding) forwarding = std::make_unique<tun::Forwarding>();
  std::vector<net::Prefix> approved;
  if (auto self = st.peers.find(st.welcome->self.public_key); self != st.peers.end()) approved = self->second.routes;
  forwarding->apply(overlay_ranges(st.welcome->network), tun->name(), approved);
}

void Daemon::Impl::send_routes(std::vector<net::Prefix> routes) {
  control::normalize_advertised(routes);
  store::kv_put(*opts.db, kRoutesSetting, join_routes(routes));
  link_write(agent->set_routes(std::move(routes)));
}

json Daemon::Impl::routes_status() {
  json r;
  r["advertised_routes"] = agent ? prefixes(agent->routes()) : json::array();
  if (exit_node.empty()) {
    r["exit_node"] = nullptr;
  } else {
    bool on = exit_peer.has_value() && exit_route && exit_route->enabled();
    json families = json::array();
    if (on && exit_route->enabled(false)) families.push_back("ipv4");
    if (on && exit_route->enabled(true)) families.push_back("ipv6");
    r["exit_node"] = {{"node", exit_node}, {"active", on}, {"families", families}};
    if (!exit_problem.empty()) r["exit_node"]["problem"] = exit_problem;
  }
  return r;
}

std::optional<json> Daemon::Impl::handle_route_api(const control::ApiRequest& req) {
  namespace api = control::api;
  if (auto* a = std::get_if<api::RouteApprove>(&req)) {
    if (!coord) return failure("this node does not run the coordinator; run the command on the coordinator's host");
    std::string err;
    if (!coord->approve_route(a->node, a->prefix, a->approve, *this, err)) return bad_input(err);
    return json{{"ok", true}};
  }
  if (std::holds_alternative<api::RouteList>(req)) return route_list();
  if (auto* a = std::get_if<api::RouteAdvertise>(&req)) return advertise_route(a->prefix, a->withdraw);
  if (auto* a = std::get_if<api::Set>(&req)) {
    if (!agent || !agent->state().welcome) return failure("this host runs no node that is a member of a network");
    if (!a->exit_node) return bad_input("nothing to set");
    return set_exit_node(*a->exit_node);
  }
  return std::nullopt;
}

json Daemon::Impl::route_list() {
  json rows = json::array();
  auto row = [&rows](const std::string& node, const net::Prefix& p, bool adv, bool ok) {
    rows.push_back({{"node", node}, {"prefix", p.str()}, {"advertised", adv}, {"approved", ok},
                    {"active", adv && ok}, {"exit", control::is_exit_route(p)}});
  };
  if (coord) {
    for (auto& v : coord->nodes()) {
      auto all = v.node.advertised_routes;
      all.insert(all.end(), v.node.approved_routes.begin(), v.node.approved_routes.end());
      control::normalize_routes(all);
      for (auto& p : all)
        row(v.node.name, p, has(v.node.advertised_routes, p), control::route_approved(v.node.approved_routes, p));
    }
  } else if (agent && agent->state().welcome) {
    // A plain node knows the routes in its map, and what it advertises.
    const auto& st = agent->state();
    const auto& self = st.welcome->self.public_key;
    for (auto& [k, p] : st.peers) {
      auto all = p.routes;
      if (k == self) all.insert(all.end(), agent->routes().begin(), agent->routes().end());
      control::normalize_routes(all);
      for (auto& r : all) row(p.name, r, k != self || has(agent->routes(), r), has(p.routes, r));
    }
  }
  return json{{"routes", rows}};
}

json Daemon::Impl::advertise_route(const std::string& text, bool withdraw) {
  if (!agent || !agent->state().welcome) return failure("this host runs no node that is a member of a network");
  const auto& w = *agent->state().welcome;
  std::string err;
  auto p = control::parse_route(text, {w.network.cidr, w.network.ula}, /*allow_exit=*/true, err);
  if (!p) return bad_input(err);
  auto routes = agent->routes();
  if (withdraw) {
    if (!has(routes, *p)) return bad_input("this node does not advertise " + p->str());
    // The exit node goes in both families at once (normalize_advertised).
    std::erase_if(routes, [&](const net::Prefix& r) { return r == *p || (control::is_exit_route(*p) && control::is_exit_route(r)); });
    send_routes(routes);
    try {
      sync_forwarding();
    } catch (const std::exception& e) {
      log::error("%s", e.what());
    }
    return json{{"ok", true}, {"routes", prefixes(agent->routes())}};
  }
  if (has(routes, *p)) return json{{"ok", true}, {"routes", prefixes(routes)}};
  if (control::is_exit_route(*p) && !exit_node.empty())
    return bad_input("this node uses " + exit_node +
                     " as its exit node and cannot offer itself as one (`ovl set --exit-node none` first)");
  if (routes.size() >= control::kMaxRoutesPerNode)
    return bad_input("a node advertises at most " + std::to_string(control::kMaxRoutesPerNode) + " routes");
  // Forwarding must work before anyone is told to route through us.
  if (!tun) return failure("the overlay is not up yet; try again in a moment");
  try {
    if (!forwarding) forwarding = std::make_unique<tun::Forwarding>();
    std::vector<net::Prefix> approved;
    if (auto self = agent->state().peers.find(w.self.public_key); self != agent->state().peers.end())
      approved = self->second.routes;
    forwarding->apply(overlay_ranges(w.network), tun->name(), approved);
  } catch (const std::exception& e) {
    return failure(e.what());
  }
  routes.push_back(*p);
  send_routes(routes);
  return json{{"ok", true}, {"routes", prefixes(agent->routes())}};
}

json Daemon::Impl::set_exit_node(std::string want) {
  if (want == "none") want.clear();
  if (!want.empty()) {
    const auto& st = agent->state();
    auto ip = net::IpAddr::parse(want);
    const control::PeerInfo* found = nullptr;
    for (auto& [k, p] : st.peers)
      if (p.name == want || (ip && p.ip == *ip)) found = &p;
    if (!found) return bad_input("no node named \"" + want + "\" in the network");
    if (found->public_key == st.welcome->self.public_key) return bad_input("a node cannot be its own exit node");
    if (std::none_of(found->routes.begin(), found->routes.end(), control::is_exit_route))
      return bad_input(want + " is not an approved exit node (it needs `ovl up --advertise-exit-node`, then `ovl "
                              "route approve " + found->name + " 0.0.0.0/0` on the coordinator)");
    if (has(agent->routes(), control::exit_route()))
      return bad_input("this node offers itself as an exit node; it cannot use another one");
  }
  exit_node = want;
  store::kv_put(*opts.db, kExitNodeSetting, exit_node);
  apply_map({true, {}, {}}, /*save=*/false);  // every peer: the exit route may move
  return json{{"ok", true}, {"exit_node", exit_node.empty() ? json(nullptr) : json(exit_node)}};
}

}  // namespace ovl::io
