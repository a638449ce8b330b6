#include "engine/control/messages.hpp"

#include <nlohmann/json.hpp>

#include "engine/control/registry.hpp"

namespace ovl::control {

using json = nlohmann::json;

namespace {

json endpoints_json(const std::vector<net::Endpoint>& eps) {
  json a = json::array();
  for (auto& e : eps) a.push_back(e.str());
  return a;
}

json prefixes_json(const std::vector<net::Prefix>& ps) {
  json a = json::array();
  for (auto& p : ps) a.push_back(p.str());
  return a;
}

json peer_json(const PeerInfo& p) {
  json j{{"id", p.id},
              {"name", p.name},
              {"ip", p.ip.str()},
              {"public_key", crypto::to_base64(p.public_key)},
              {"endpoints", endpoints_json(p.endpoints)},
              {"groups", p.groups},
              {"online", p.online}};
  if (p.ip6) j["ip6"] = p.ip6->str();
  if (!p.routes.empty()) j["routes"] = prefixes_json(p.routes);
  return j;
}

json filter_json(const policy::RuleSet& rs) {
  json rules = json::array();
  for (auto& r : rs.rules)
    rules.push_back({{"src", prefixes_json(r.src)},
                     {"dst", prefixes_json(r.dst)},
                     {"proto", policy::proto_name(r.proto)},
                     {"ports", policy::format_ports(r.ports)}});
  return json{{"rules", std::move(rules)}};
}

// Typed field access that reports what is wrong instead of throwing deep
// inside nlohmann with a message that quotes the input.
struct Reader {
  const json& j;
  std::string* why;
  bool ok = true;

  bool fail(const std::string& m) {
    if (ok && why) *why = m;
    ok = false;
    return false;
  }
  const json* field(const char* k) {
    auto it = j.find(k);
    if (it == j.end()) {
      fail(std::string("missing field \"") + k + "\"");
      return nullptr;
    }
    return &*it;
  }
  std::string str(const char* k) {
    auto* f = field(k);
    if (!f) return {};
    if (!f->is_string()) return fail(std::string("field \"") + k + "\" must be a string"), std::string();
    return f->get<std::string>();
  }
  int64_t integer(const char* k, int64_t lo, int64_t hi) {
    auto* f = field(k);
    if (!f) return 0;
    if (!f->is_number_integer()) return fail(std::string("field \"") + k + "\" must be an integer"), 0;
    // An unsigned value above INT64_MAX is out of range whatever `hi` is
    // (computing hi + 1 for it would overflow when hi is INT64_MAX).
    bool huge = f->is_number_unsigned() && f->get<uint64_t>() > uint64_t(INT64_MAX);
    int64_t v = huge ? 0 : f->get<int64_t>();
    if (huge || v < lo || v > hi) return fail(std::string("field \"") + k + "\" is out of range"), 0;
    return v;
  }
  bool boolean(const char* k) {
    auto* f = field(k);
    if (!f) return false;
    if (!f->is_boolean()) return fail(std::string("field \"") + k + "\" must be true or false"), false;
    return f->get<bool>();
  }
  std::vector<std::string> strings(const char* k) {
    std::vector<std::string> r;
    auto* f = field(k);
    if (!f) return r;
    if (!f->is_array()) return fail(std::string("field \"") + k + "\" must be an array"), r;
    for (auto& e : *f) {
      if (!e.is_string()) return fail(std::string("field \"") + k + "\" must hold strings"), r;
      r.push_back(e.get<std::string>());
    }
    return r;
  }
  std::vector<net::Endpoint> endpoints(const char* k) {
    std::vector<net::Endpoint> r;
    for (auto& s : strings(k)) {
      auto e = net::Endpoint::parse(s);
      if (!e) return fail(std::string("field \"") + k + "\" holds an invalid endpoint"), r;
      r.push_back(*e);
    }
    return r;
  }
  std::vector<net::Prefix> prefixes(const char* k) {
    std::vector<net::Prefix> r;
    for (auto& s : strings(k)) {
      auto p = net::Prefix::parse(s);
      if (!p) return fail(std::string("field \"") + k + "\" holds an invalid prefix"), r;
      r.push_back(*p);
    }
    return r;
  }
  // Subnet routes: optional (absent = none: older peers and cached maps), and
  // bounded.
  std::vector<net::Prefix> routes(const char* k) {
    if (!j.contains(k)) return {};
    auto r = prefixes(k);
    if (r.size() > 4096) return fail(std::string("field \"") + k + "\" is too long"), std::vector<net::Prefix>{};
    return r;
  }
  crypto::PublicKey key(const std::string& s, const char* what) {
    auto k = crypto::parse_key(s);
    if (!k) return fail(std::string(what) + " is not a valid key"), crypto::PublicKey{};
    return *k;
  }
};

// An optional "reflexive" endpoint field; false if present but malformed.
bool read_reflexive(const json& j, std::optional<net::Endpoint>& out, std::string* why) {
  auto it = j.find("reflexive");
  if (it == j.end()) return true;
  if (it->is_string())
    if (auto e = net::Endpoint::parse(it->get<std::string>())) {
      out = *e;
      return true;
    }
  if (why) *why = "field \"reflexive\" must be an endpoint";
  return false;
}

std::optional<PeerInfo> read_peer(const json& j, std::string* why) {
  if (!j.is_object()) {
    if (why) *why = "peer must be an object";
    return std::nullopt;
  }
  Reader r{j, why};
  PeerInfo p;
  p.id = r.integer("id", 0, INT64_MAX);
  p.name = r.str("name");
  auto ip = net::IpAddr::parse(r.str("ip"));
  if (r.ok && !ip) r.fail("peer ip is invalid");
  if (ip) p.ip = *ip;
  if (auto it = j.find("ip6"); it != j.end() && r.ok) {  // absent from older coordinators
    auto a = it->is_string() ? net::IpAddr::parse(it->get<std::string>()) : std::nullopt;
    if (!a || !a->v6) r.fail("peer ip6 must be an IPv6 address");
    else p.ip6 = *a;
  }
  p.public_key = r.key(r.str("public_key"), "peer public_key");
  p.endpoints = r.endpoints("endpoints");
  p.groups = r.strings("groups");
  p.online = r.boolean("online");
  p.routes = r.routes("routes");
  if (!r.ok) return std::nullopt;
  return p;
}

// An optional "filter" field; false if present but malformed.
bool read_filter(const json& j, std::optional<policy::RuleSet>& out, std::string* why) {
  auto it = j.find("filter");
  if (it == j.end()) return true;
  auto bad = [&](const char* m) {
    if (why) *why = m;
    return false;
  };
  if (!it->is_object()) return bad("filter must be an object");
  auto rules = it->find("rules");
  if (rules == it->end() || !rules->is_array()) return bad("filter rules must be an array");
  policy::RuleSet rs;
  rs.rules.reserve(rules->size());
  for (auto& e : *rules) {
    if (!e.is_object()) return bad("filter rule must be an object");
    Reader r{e, why};
    policy::Rule rule;
    rule.src = r.prefixes("src");
    rule.dst = r.prefixes("dst");
    auto proto = policy::parse_proto(r.str("proto"));
    std::string ports = r.str("ports");
    if (!r.ok) return false;
    if (!proto) return bad("filter rule has an unknown proto");
    if (!ports.empty()) {
      auto pr = policy::parse_ports(ports);
      if (!pr) return bad("filter rule has invalid ports");
      rule.ports = std::move(*pr);
    }
    rule.proto = *proto;
    rs.rules.push_back(std::move(rule));
  }
  out = std::move(rs);
  return true;
}

std::optional<std::vector<PeerInfo>> read_peers(const json& j, const char* k, std::string* why) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_array()) {
    if (why) *why = std::string("field \"") + k + "\" must be an array";
    return std::nullopt;
  }
  std::vector<PeerInfo> r;
  r.reserve(it->size());
  for (auto& e : *it) {
    auto p = read_peer(e, why);
    if (!p) return std::nullopt;
    r.push_back(std::move(*p));
  }
  return r;
}

}  // namespace

std::string encode_peer(const PeerInfo& p) { return peer_json(p).dump(); }

std::string encode_filter(const policy::RuleSet& f) { return filter_json(f).dump(); }

std::string encode(const Message& m) {
  json j;
  std::visit(
      [&](auto&& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Hello>) {
          j = {{"type", "hello"}, {"name", v.name}, {"hostname", v.hostname}, {"listen_port", v.listen_port},
               {"endpoints", endpoints_json(v.endpoints)}};
          if (v.reflexive) j["reflexive"] = v.reflexive->str();
          if (!v.routes.empty()) j["routes"] = prefixes_json(v.routes);
          if (v.invite_id) j["enroll"] = {{"invite", *v.invite_id}, {"secret", v.invite_secret.value_or("")}};
        } else if constexpr (std::is_same_v<T, EndpointsUpdate>) {
          j = {{"type", "endpoints"}, {"endpoints", endpoints_json(v.endpoints)}};
          if (v.reflexive) j["reflexive"] = v.reflexive->str();
        } else if constexpr (std::is_same_v<T, RoutesUpdate>) {
          j = {{"type", "routes"}, {"advertise", prefixes_json(v.advertise)}};
        } else if constexpr (std::is_same_v<T, Ping>) {
          j = {{"type", "ping"}};
        } else if constexpr (std::is_same_v<T, Pong>) {
          j = {{"type", "pong"}};
        } else if constexpr (std::is_same_v<T, Welcome>) {
          json relays = json::array();
          for (auto& g : v.relays)
            relays.push_back({{"endpoint", g.relay.str()}, {"expires", g.expires_unix}, {"mac", crypto::to_base64(g.mac)},
                              {"key", crypto::to_base64(g.relay_key)}});
          j = {{"type", "welcome"},
               {"self", peer_json(v.self)},
               {"network", {{"id", v.network.id}, {"name", v.network.name}, {"domain", v.network.domain},
                            {"cidr", v.network.cidr.str()}}},
               {"relays", std::move(relays)}};
          if (v.network.ula) j["network"]["ula"] = v.network.ula->str();
        } else if constexpr (std::is_same_v<T, FullMap>) {
          json peers = json::array();
          for (auto& p : v.peers) peers.push_back(peer_json(p));
          j = {{"type", "map"}, {"version", v.version}, {"peers", std::move(peers)}};
          if (v.filter) j["filter"] = filter_json(*v.filter);
        } else if constexpr (std::is_same_v<T, Delta>) {
          json up = json::array(), rm = json::array();
          for (auto& p : v.upsert) up.push_back(peer_json(p));
          for (auto& k : v.remove) rm.push_back(crypto::to_base64(k));
          j = {{"type", "delta"}, {"version", v.version}, {"upsert", std::move(up)}, {"remove", std::move(rm)}};
          if (v.filter) j["filter"] = filter_json(*v.filter);
        } else if constexpr (std::is_same_v<T, CallMeMaybe>) {
          j = {{"type", "call_me_maybe"}, {"peer", crypto::to_base64(v.peer)}, {"endpoints", endpoints_json(v.endpoints)},
               {"mapping", v.mapping}, {"udp", v.udp}, {"spray", v.spray}};
        } else if constexpr (std::is_same_v<T, ErrorMsg>) {
          j = {{"type", "error"}, {"code", v.code}, {"message", v.message}};
        }
      },
      m);
  return j.dump();
}

std::optional<Message> decode(std::string_view text, std::string* why) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    if (why) *why = "not a JSON object";
    return std::nullopt;
  }
  Reader r{j, why};
  std::string type = r.str("type");
  if (!r.ok) return std::nullopt;
  if (type == "hello") {
    Hello h;
    h.name = r.str("name");
    h.hostname = j.contains("hostname") ? r.str("hostname") : std::string();
    h.listen_port = static_cast<uint16_t>(r.integer("listen_port", 0, 65535));
    h.endpoints = r.endpoints("endpoints");
    if (!read_reflexive(j, h.reflexive, why)) return std::nullopt;
    h.routes = r.routes("routes");
    if (auto it = j.find("enroll"); it != j.end()) {
      if (!it->is_object()) return r.fail("enroll must be an object"), std::nullopt;
      Reader e{*it, why};
      h.invite_id = e.str("invite");
      h.invite_secret = e.str("secret");
      if (!e.ok) return std::nullopt;
    }
    if (!r.ok) return std::nullopt;
    return h;
  }
  if (type == "endpoints") {
    EndpointsUpdate u{r.endpoints("endpoints"), std::nullopt};
    if (!r.ok || !read_reflexive(j, u.reflexive, why)) return std::nullopt;
    return u;
  }
  if (type == "routes") {
    if (!j.contains("advertise")) return r.fail("missing field \"advertise\""), std::nullopt;
    RoutesUpdate u{r.routes("advertise")};
    if (!r.ok) return std::nullopt;
    return u;
  }
  if (type == "ping") return Ping{};
  if (type == "pong") return Pong{};
  if (type == "welcome") {
    Welcome w;
    auto self = j.find("self");
    auto net = j.find("network");
    if (self == j.end() || net == j.end() || !net->is_object()) return r.fail("welcome needs self and network"), std::nullopt;
    auto p = read_peer(*self, why);
    if (!p) return std::nullopt;
    w.self = std::move(*p);
    Reader n{*net, why};
    w.network.id = n.str("id");
    w.network.name = n.str("name");
    w.network.domain = n.str("domain");
    auto cidr = net::Prefix::parse(n.str("cidr"));
    if (!n.ok) return std::nullopt;
    if (!cidr) return n.fail("network cidr is invalid"), std::nullopt;
    w.network.cidr = *cidr;
    if (auto u = net->find("ula"); u != net->end()) {  // absent from older coordinators
      auto p = u->is_string() ? net::Prefix::parse(u->get<std::string>()) : std::nullopt;
      if (!p || !control::valid_ula(*p)) return n.fail("network ula must be an IPv6 /48 in fd00::/8"), std::nullopt;
      w.network.ula = *p;
    }
    if (auto rl = j.find("relays"); rl != j.end()) {  // absent from older coordinators
      if (!rl->is_array()) return r.fail("relays must be an array"), std::nullopt;
      for (auto& e : *rl) {
        if (!e.is_object()) return r.fail("relay must be an object"), std::nullopt;
        Reader g{e, why};
        RelayGrant grant;
        auto ep = net::Endpoint::parse(g.str("endpoint"));
        grant.expires_unix = static_cast<uint64_t>(g.integer("expires", 0, INT64_MAX));
        auto mac = crypto::parse_key(g.str("mac"));
        if (!g.ok) return std::nullopt;
        if (!ep || !mac) return g.fail("relay endpoint or mac is invalid"), std::nullopt;
        grant.relay = *ep;
        grant.mac = *mac;
        if (auto k = e.find("key"); k != e.end()) {  // absent from older coordinators
          auto key = k->is_string() ? crypto::parse_key(k->get<std::string>()) : std::nullopt;
          if (!key) return g.fail("relay key is invalid"), std::nullopt;
          grant.relay_key = *key;
        }
        w.relays.push_back(grant);
      }
    }
    return w;
  }
  if (type == "map") {
    FullMap m;
    m.version = static_cast<uint64_t>(r.integer("version", 0, INT64_MAX));
    if (!r.ok) return std::nullopt;
    auto peers = read_peers(j, "peers", why);
    if (!peers) return std::nullopt;
    m.peers = std::move(*peers);
    if (!read_filter(j, m.filter, why)) return std::nullopt;
    return m;
  }
  if (type == "delta") {
    Delta d;
    d.version = static_cast<uint64_t>(r.integer("version", 0, INT64_MAX));
    if (!r.ok) return std::nullopt;
    auto up = read_peers(j, "upsert", why);
    if (!up) return std::nullopt;
    d.upsert = std::move(*up);
    for (auto& s : r.strings("remove")) d.remove.push_back(r.key(s, "removed key"));
    if (!r.ok || !read_filter(j, d.filter, why)) return std::nullopt;
    return d;
  }
  if (type == "call_me_maybe") {
    CallMeMaybe c;
    c.peer = r.key(r.str("peer"), "call_me_maybe peer");
    c.endpoints = r.endpoints("endpoints");
    c.mapping = r.str("mapping");
    c.udp = r.boolean("udp");
    c.spray = r.boolean("spray");
    if (!r.ok) return std::nullopt;
    if (c.endpoints.size() > 32) return r.fail("too many endpoints"), std::nullopt;
    if (c.mapping != "unknown" && c.mapping != "endpoint-independent" && c.mapping != "endpoint-dependent")
      return r.fail("unknown mapping"), std::nullopt;
    return c;
  }
  if (type == "error") {
    ErrorMsg e{r.str("code"), r.str("message")};
    if (!r.ok) return std::nullopt;
    return e;
  }
  if (why) *why = "unknown message type";
  return std::nullopt;
}

}  // namespace ovl::control
