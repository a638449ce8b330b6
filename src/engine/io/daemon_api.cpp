// The local API: one JSON request per connection on the state dir's unix
// socket, one JSON answer. The CLI is its only client; the schema of each
// answer is what `--json` prints (see man/ovl.1).
#include "engine/io/daemon_impl.hpp"
#include "engine/io/system_env.hpp"

namespace ovl::io {

using json = nlohmann::json;

namespace {

json error(const std::string& m) { return {{"error", m}}; }
// A request that makes no sense (the CLI exits with 2, "bad input").
json bad_input(const std::string& m) { return {{"error", m}, {"bad_input", true}}; }

std::string b64(const crypto::PublicKey& k) { return crypto::to_base64(k); }

json endpoints(const std::vector<net::Endpoint>& eps) {
  json a = json::array();
  for (auto& e : eps) a.push_back(e.str());
  return a;
}

json invite_json(const control::InviteRecord& r) {
  return {{"id", r.id},
          {"uses_left", r.uses_left},
          {"used", r.used},
          {"reusable", r.uses_left < 0},
          {"expires", r.opts.expires_unix},
          {"revoked", r.revoked},
          {"groups", r.opts.groups},
          {"ephemeral", r.opts.ephemeral},
          {"name", r.opts.name},
          {"created", r.created_unix}};
}

}  // namespace

json Daemon::Impl::status_json() {
  json r;
  r["coordinator"] = coord != nullptr;
  if (!agent || !agent->state().welcome) {
    r["self"] = nullptr;
    r["peers"] = json::array();
    r["control"] = agent ? (agent->linked() ? "connected" : "connecting") : "none";
    return r;
  }
  const auto& st = agent->state();
  const auto& w = *st.welcome;
  r["self"] = {{"name", w.self.name},
               {"ip", w.self.ip.str()},
               {"public_key", b64(w.self.public_key)},
               {"network", w.network.name},
               {"network_id", w.network.id},
               {"domain", w.network.domain},
               {"cidr", w.network.cidr.str()},
               {"listen_port", udp ? udp->port() : 0},
               {"interface", opts.node->tun_name},
               {"ip6", w.self.ip6 ? json(w.self.ip6->str()) : json(nullptr)},
               {"ula", w.network.ula ? json(w.network.ula->str()) : json(nullptr)},
               {"dns", dns::dns_method_name(os_dns ? os_dns->method() : dns::DnsMethod::none)}};
  r["control"] = agent->linked() ? "connected" : "disconnected";
  r["map_version"] = st.version;

  std::map<crypto::PublicKey, wg::PeerStatus, control::KeyLess> dev;
  for (auto& s : device->status()) dev[s.public_key] = s;
  int64_t now_ns = wall_clock_ns();
  json peers = json::array();
  for (auto& [key, p] : st.peers) {
    if (key == w.self.public_key) continue;
    json e{{"name", p.name},   {"ip", p.ip.str()}, {"public_key", b64(key)}, {"online", p.online},
           {"endpoint", nullptr}, {"last_handshake", nullptr}, {"rx_bytes", 0}, {"tx_bytes", 0},
           {"candidates", endpoints(p.endpoints)}, {"ip6", p.ip6 ? json(p.ip6->str()) : json(nullptr)},
           {"routes", json::array()}};
    for (auto& rt : p.routes) e["routes"].push_back(rt.str());
    std::string path = p.online ? "connecting" : "offline";
    if (auto it = dev.find(key); it != dev.end()) {
      auto& s = it->second;
      bool relayed = s.endpoint && on_relay(*s.endpoint);
      if (s.endpoint)
        if (auto real = real_endpoint(*s.endpoint)) e["endpoint"] = real->str();
      if (s.last_handshake_unix_ns) e["last_handshake"] = s.last_handshake_unix_ns / 1000000000;
      e["rx_bytes"] = s.rx_bytes;
      e["tx_bytes"] = s.tx_bytes;
      // A session confirmed within the reject-after time is a working path.
      bool fresh = s.has_session && s.last_handshake_unix_ns && now_ns - s.last_handshake_unix_ns < 180'000'000'000LL;
      if (fresh) path = relayed ? "relay" : "direct";
      if (relayed) e["relay_reason"] = paths.reason(key);
      // Disco's view: the kind of direct path and its round-trip time.
      if (prober)
        if (auto b = prober->best(key, monotonic_now()); b && s.endpoint && *s.endpoint == b->ep) {
          e["direct"] = nat::describe(b->kind);
          e["rtt_ms"] = std::chrono::duration<double, std::milli>(b->rtt).count();
        }
      if (s.endpoint && nat::socket_id(*s.endpoint)) e["via_spray_socket"] = true;
    }
    e["denied_packets"] = filter->denied_from(p.ip) + (p.ip6 ? filter->denied_from(*p.ip6) : 0);
    e["path"] = path;
    if (auto pn = peer_nat.find(key); pn != peer_nat.end() && pn->second.heard)
      e["nat"] = nat::describe(pn->second.mapping);
    if (auto st = spray.state(key); !st.empty()) e["spray"] = st;
    peers.push_back(std::move(e));
  }
  r["peers"] = std::move(peers);
  r["policy"] = {{"enforcing", filter->enforcing()},
                 {"rules", filter->rule_count()},
                 {"flows", filter->flows().live(monotonic_now())},
                 {"denied_packets", filter->denied()},
                 {"reply_packets", filter->replies()}};
  r.update(routes_status());
  return r;
}

json Daemon::Impl::netcheck_json() {
  json r;
  r["control"] = agent ? (agent->linked() ? "connected" : "disconnected") : "none";
  if (!discovery) {
    r["udp"] = nullptr;  // no STUN server to ask (the coordinator's own host, or not started)
    r["public_address"] = nullptr;
    r["mapping"] = "unknown";
    r["coordinator_rtt_ms"] = nullptr;
  } else {
    r["udp"] = discovery->reflexive().has_value();
    r["public_address"] = discovery->reflexive() ? json(discovery->reflexive()->str()) : json(nullptr);
    r["mapping"] = nat::describe(discovery->mapping());
    auto rtt = discovery->last_rtt();
    r["coordinator_rtt_ms"] = rtt ? json(std::chrono::duration<double, std::milli>(*rtt).count()) : json(nullptr);
  }
  json relays = json::array();
  // Every relay the coordinator offers, best first: whether it holds our
  // lease, and whether it is the one new relayed traffic goes through.
  for (size_t i = 0; relay_client && i < relay_client->relay_count(); ++i) {
    auto rtt = relay_client->ready_at(i) ? relay_client->rtt_at(i) : std::nullopt;  // not a stale one
    relays.push_back({{"endpoint", relay_client->relay_at(i).str()},
                      {"ready", relay_client->ready_at(i)},
                      {"preferred", relay_client->ready() && relay_client->relay_at(i) == relay_client->relay()},
                      {"rtt_ms", rtt ? json(std::chrono::duration<double, std::milli>(*rtt).count()) : json(nullptr)},
                      {"problem", relay_client->refusal_at(i)}});
  }
  r["relays"] = relays;
  std::vector<std::string> eps;
  if (opts.node && udp)
    for (auto& e : lan_candidates()) eps.push_back(e.str());
  r["lan_candidates"] = eps;
  return r;
}

json Daemon::Impl::handle_api(const control::ApiRequest& req) {
  namespace api = control::api;
  if (std::holds_alternative<api::Status>(req)) return status_json();
  if (std::holds_alternative<api::Netcheck>(req)) return netcheck_json();
  if (std::holds_alternative<api::Down>(req)) {
    asio::post(io, [this] { stop(kExitOk); });
    return {{"ok", true}};
  }
  if (auto r = handle_route_api(req)) return *r;
  if (!coord) return error("this node does not run the coordinator; run the command on the coordinator's host");
  if (std::holds_alternative<api::Nodes>(req)) {
    json a = json::array();
    for (auto& v : coord->nodes())
      a.push_back({{"id", v.node.id},
                   {"name", v.node.name},
                   {"ip", v.node.ip.str()},
                   {"public_key", b64(v.node.public_key)},
                   {"online", v.online},
                   {"groups", v.node.groups},
                   {"ephemeral", v.node.ephemeral},
                   {"endpoints", endpoints(v.node.endpoints)},
                   {"created", v.node.created_unix},
                   {"last_seen", v.node.last_seen_unix}});
    return {{"nodes", a}};
  }
  if (auto* c = std::get_if<api::InviteCreate>(&req)) {
    control::InviteOptions o;
    o.uses = c->uses;
    o.expires_unix = wall_clock_ns() / 1000000000 + c->expires_s;
    o.groups = c->groups;
    o.ephemeral = c->ephemeral;
    o.name = c->name;
    auto inv = coord->create_invite(o);
    return {{"token", inv.token}, {"id", inv.record.id}, {"expires", inv.record.opts.expires_unix},
            {"uses", inv.record.uses_left}, {"groups", inv.record.opts.groups}};
  }
  if (std::holds_alternative<api::InviteList>(req)) {
    json a = json::array();
    for (auto& r : opts.coordinator->registry->invites()) a.push_back(invite_json(r));
    return {{"invites", a}};
  }
  if (auto* r = std::get_if<api::InviteRevoke>(&req)) {
    if (!opts.coordinator->registry->revoke_invite(r->id)) return error("no invite with that id (see `ovl invite list`)");
    return {{"ok", true}};
  }
  std::string err;
  if (auto* r = std::get_if<api::Remove>(&req)) {
    if (!coord->remove_node(r->node, *this, err)) return error(err);
    return {{"ok", true}};
  }
  if (auto* rn = std::get_if<api::Rename>(&req)) {
    if (!coord->rename_node(rn->node, rn->name, *this, err)) return error(err);
    return {{"ok", true}};
  }
  return handle_policy_api(req);
}

// Groups and policies. The coordinator's refusals are the client's bad
// input: "bad_input" tells the CLI to exit with 2.
json Daemon::Impl::handle_policy_api(const control::ApiRequest& req) {
  namespace api = control::api;
  std::string err;
  if (auto* g = std::get_if<api::GroupAdd>(&req))
    return coord->group_add(g->node, g->group, *this, err) ? json{{"ok", true}} : bad_input(err);
  if (auto* g = std::get_if<api::GroupRemove>(&req))
    return coord->group_remove(g->node, g->group, *this, err) ? json{{"ok", true}} : bad_input(err);
  if (std::holds_alternative<api::GroupList>(req)) {
    json a = json::array();
    for (auto& g : coord->groups()) a.push_back({{"name", g.name}, {"nodes", g.nodes}});
    return {{"groups", a}};
  }
  if (auto* p = std::get_if<api::PolicyAdd>(&req)) {
    control::PolicySpec s{p->name, p->from, p->to, p->proto, p->ports};
    return coord->add_policy(s, *this, err) ? json{{"ok", true}} : bad_input(err);
  }
  if (auto* p = std::get_if<api::PolicyRemove>(&req))
    return coord->remove_policy(p->name, *this, err) ? json{{"ok", true}} : bad_input(err);
  // What is left: policy.list.
  json a = json::array();
  for (auto& p : coord->policies())
    a.push_back({{"name", p.name},
                 {"from", coord->selector_name(p.from)},
                 {"to", coord->selector_name(p.to)},
                 {"proto", policy::proto_name(p.proto)},
                 {"ports", policy::format_ports(p.ports)},
                 {"created", p.created_unix}});
  return {{"policies", a}};
}

}  // namespace ovl::io
