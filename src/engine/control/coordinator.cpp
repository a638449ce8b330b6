#include "engine/control/coordinator.hpp"

#include <algorithm>
#include <cctype>

#include "engine/control/routes.hpp"
#include "engine/crypto/blake2s.hpp"
#include "engine/log.hpp"

namespace ovl::control {

namespace {
constexpr std::string_view kMapHead = "{\"peers\":[";
}  // namespace

struct Coordinator::Conn {
  ConnId id;
  net::Endpoint remote;
  std::unique_ptr<SecureChannel> ch;
  std::optional<int64_t> node;  // set once the hello was accepted
  uint16_t listen_port = 0;
  bool closing = false;
  int64_t cmm_window = 0;  // unix second of the current rate window
  int cmm_count = 0;
  std::optional<policy::RuleSet> filter;  // as last sent
  // The full map this link got: its version label and the change count then.
  // A link whose map already holds every pending change skips that delta.
  uint64_t map_version = 0;
  uint64_t map_seq = 0;
};

// A node's candidates, its public mapping first: what STUN told it, or else a
// guess from the control link's source address and its WireGuard port (right
// behind a port-preserving NAT). The coordinator's own node connects over
// loopback, which teaches nothing.
std::vector<net::Endpoint> Coordinator::candidates(const Conn& c, const std::vector<net::Endpoint>& lan,
                                                   const std::optional<net::Endpoint>& reflexive) {
  std::vector<net::Endpoint> eps;
  if (reflexive) eps.push_back(*reflexive);
  else if (c.listen_port && !c.remote.ip.is_loopback()) eps.push_back({c.remote.ip, c.listen_port});
  for (auto& e : lan)
    if (std::find(eps.begin(), eps.end(), e) == eps.end()) eps.push_back(e);
  return eps;
}

Coordinator::Coordinator(Registry& reg, const crypto::SecretKey& key, crypto::Rng& rng,
                         std::function<int64_t()> wall_ns, std::vector<net::Endpoint> advertise)
    : reg_(reg), key_(key), pub_(crypto::public_from_private(key)), rng_(rng), wall_ns_(std::move(wall_ns)),
      advertise_(std::move(advertise)) {}

Coordinator::~Coordinator() = default;

template <class F>
void Coordinator::best_effort(const char* what, F&& write) {
  try {
    write();
  } catch (const std::exception& e) {
    log::warn("could not save %s: %s", what, e.what());
  }
}

namespace {
// What a node is told when its enrollment could not be stored. The store's
// own message (with the coordinator's paths) stays in the coordinator's log.
std::string storage_refusal(const std::exception& e) {
  std::string w = e.what();
  for (auto& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto has = [&](const char* s) { return w.find(s) != std::string::npos; };
  const char* why = has("full") || has("no space")          ? "its disk is full"
                    : has("readonly") || has("read-only") ? "its disk is read-only"
                                                          : "its state database failed";
  return std::string("the coordinator cannot record new nodes right now (") + why +
         "); the invite was not used, try again later";
}
}  // namespace

size_t Coordinator::connected() const { return online_.size(); }

bool Coordinator::linked(ConnId c) const {
  auto it = conns_.find(c);
  return it != conns_.end() && it->second->node.has_value();
}

void Coordinator::set_relays(const relay::RelaySecret& secret, std::vector<net::Endpoint> relays, int64_t ttl_s) {
  relay_secret_ = secret;
  relay_key_ = relay::relay_public_key(secret);
  relays_ = std::move(relays);
  grant_ttl_s_ = ttl_s;
}

void Coordinator::on_connect(ConnId c, const net::Endpoint& remote) {
  auto conn = std::make_unique<Conn>();
  conn->id = c;
  conn->remote = remote;
  conn->ch = SecureChannel::server(key_, rng_);
  conns_[c] = std::move(conn);
}

void Coordinator::on_bytes(ConnId id, std::span<const uint8_t> bytes, CoordinatorOutput& out) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second->closing) return;
  struct Flush {  // whichever way this returns
    Coordinator& c;
    CoordinatorOutput& out;
    ~Flush() { c.maybe_flush(out); }
  } flush{*this, out};
  Conn& c = *it->second;
  std::vector<std::string> msgs;
  bool ok = c.ch->on_bytes(bytes, msgs);
  auto pending = c.ch->take_output();
  if (!pending.empty()) out.write(id, pending);
  if (!ok) {
    log::debug("control link from %s dropped: %s", c.remote.str().c_str(), c.ch->error().c_str());
    c.closing = true;
    out.close(id);
    return;
  }
  for (auto& text : msgs) {
    std::string why;
    auto m = decode(text, &why);
    if (!m) {
      fail(c, "bad_message", "malformed control message: " + why, out);
      return;
    }
    handle(c, *m, out);
    if (c.closing) return;
  }
}

void Coordinator::on_disconnect(ConnId id, CoordinatorOutput& out) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  auto node = it->second->node;
  conns_.erase(it);
  if (!node) return;
  auto o = online_.find(*node);
  if (o == online_.end() || o->second != id) return;  // replaced by a newer link
  online_.erase(o);
  int64_t now = wall_ns_() / 1000000000;
  best_effort("when a node was last seen", [&] { reg_.touch(*node, now); });
  offline_since_[*node] = now;
  refresh_peer(*node);
  maybe_flush(out);
}

void Coordinator::send(Conn& c, std::string_view json, CoordinatorOutput& out) {
  c.ch->send(json);
  auto b = c.ch->take_output();
  if (!b.empty()) out.write_owned(c.id, std::move(b));
}

void Coordinator::fail(Conn& c, const std::string& code, const std::string& msg, CoordinatorOutput& out) {
  send(c, encode(ErrorMsg{code, msg}), out);
  c.closing = true;
  out.close(c.id);
}

const net::Prefix& Coordinator::ula() const {
  if (!ula_) ula_ = reg_.network().ula;
  return *ula_;
}

OverlayRanges Coordinator::overlay_ranges() const {
  OverlayRanges r{reg_.network().cidr, std::nullopt};
  if (valid_ula(ula())) r.v6 = ula();
  return r;
}

PeerInfo Coordinator::peer_info(const NodeRecord& n) const {
  PeerInfo p;
  p.id = n.id;
  p.name = n.name;
  p.ip = n.ip;
  p.ip6 = node_ipv6(ula(), n.ip);
  p.public_key = n.public_key;
  p.endpoints = n.endpoints;
  p.groups = n.groups;
  p.online = online_.count(n.id) > 0;
  p.routes = active_routes(n.advertised_routes, n.approved_routes);
  return p;
}

std::map<int64_t, Coordinator::Peer>& Coordinator::peers() {
  if (!peers_) {
    peers_.emplace();
    for (auto& n : reg_.nodes()) (*peers_)[n.id] = Peer{n, encode_peer(peer_info(n))};
  }
  return *peers_;
}

void Coordinator::upsert_peer(const NodeRecord& rec) {
  auto& ps = peers();
  auto [it, added] = ps.try_emplace(rec.id);
  Peer& p = it->second;
  // Online state and endpoints (every hello) leave the policies' view alone;
  // a new node is added to the compiler as it is, not a reason to rebuild it.
  if (added) {
    if (compiler_) compiler_->add_member(member(rec));
  } else if (p.rec.ip != rec.ip || p.rec.groups != rec.groups || p.rec.advertised_routes != rec.advertised_routes ||
             p.rec.approved_routes != rec.approved_routes) {
    compiler_stale();
  }
  p.rec = rec;
  p.json = encode_peer(peer_info(rec));
  // A new node has the highest id: its JSON goes at the end of the cached
  // map body. Any other change makes the body stale (rebuilt on demand).
  if (added && map_body_valid_ && std::next(it) == ps.end()) {
    if (map_body_.size() > kMapHead.size()) map_body_ += ',';
    map_body_ += p.json;
  } else {
    map_body_valid_ = false;
  }
  pending_up_.insert(rec.id);
  // Removed and back (re-enrolled) within one delta: the upsert wins.
  std::erase(pending_rm_, rec.public_key);
  ++change_seq_;
}

void Coordinator::refresh_peer(int64_t id) {
  auto& ps = peers();
  auto it = ps.find(id);
  if (it == ps.end()) {  // added to the registry behind our back (the server's own node)
    for (auto& n : reg_.nodes())
      if (n.id == id) upsert_peer(n);
    return;
  }
  upsert_peer(it->second.rec);
}

void Coordinator::remove_peer(int64_t id) {
  auto& ps = peers();
  auto it = ps.find(id);
  if (it == ps.end()) return;
  pending_rm_.push_back(it->second.rec.public_key);
  pending_up_.erase(id);
  ps.erase(it);
  compiler_stale();
  map_body_valid_ = false;
  ++change_seq_;
}

// {"peers":[...],"type":"map","version":N}: the keys in the order nlohmann
// writes them. map_body_ holds the head and every peer's stored JSON; the
// tail is appended for the send and cut off again, so a full map costs no
// copy of its megabytes. A storm of joins only appends to the body; other
// changes rebuild it once, at the next full map.
void Coordinator::send_full_map(Conn& c, uint64_t version, const policy::RuleSet& filter, CoordinatorOutput& out) {
  if (!map_body_valid_) {
    map_body_ = kMapHead;
    for (auto& [id, p] : peers()) {
      if (map_body_.size() > kMapHead.size()) map_body_ += ',';
      map_body_ += p.json;
    }
    map_body_valid_ = true;
  }
  size_t body = map_body_.size();
  map_body_ += "],\"filter\":" + encode_filter(filter) + ",\"type\":\"map\",\"version\":" + std::to_string(version) + "}";
  send(c, map_body_, out);
  map_body_.resize(body);
}

void Coordinator::flush_deltas(CoordinatorOutput& out) {
  // An output may drop a link while we write (a reader that fell too far
  // behind), which queues that node's departure: it goes out in the next
  // delta, after this one reached everybody, never interleaved with it.
  if (flushing_) return;
  flushing_ = true;
  while (deltas_pending()) flush_one(out);
  flushing_ = false;
}

void Coordinator::flush_one(CoordinatorOutput& out) {
  uint64_t v = ++version_;
  // {"remove":[...],"type":"delta","upsert":[...],"version":N}, once,
  // whatever the number of links.
  auto& ps = peers();
  std::string j = "{\"remove\":[";
  for (size_t i = 0; i < pending_rm_.size(); ++i) {
    if (i) j += ',';
    j += '"' + crypto::to_base64(pending_rm_[i]) + '"';
  }
  j += "],\"type\":\"delta\",\"upsert\":[";
  bool first = true;
  for (int64_t id : pending_up_) {
    auto it = ps.find(id);
    if (it == ps.end()) continue;
    if (!first) j += ',';
    first = false;
    j += it->second.json;
  }
  j += "],\"version\":" + std::to_string(v) + "}";
  pending_up_.clear();
  pending_rm_.clear();
  std::vector<ConnId> to;
  to.reserve(online_.size());
  for (auto& [id, c] : conns_) {
    if (!c->node || c->closing) continue;
    // Its full map, sent since these changes were queued, holds them all
    // and carries this version already.
    if (c->map_version == v && c->map_seq == change_seq_) continue;
    to.push_back(id);
  }
  // Filters differ per node: when this change may alter them, each link's
  // is compiled again, and only the links whose filter changed get a delta
  // of their own (the same text with a "filter" field); the rest share j.
  const policy::Compiler* comp = nullptr;
  if (pending_filters_) {
    comp = &compiler();  // nothing below changes a member or a policy
    pending_filters_ = false;
  }
  for (ConnId id : to) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->closing) continue;
    Conn& c = *it->second;
    if (comp) {
      auto p = peers().find(*c.node);
      policy::RuleSet f = p != peers().end() ? comp->for_node(member(p->second.rec)) : policy::RuleSet{};
      if (f != c.filter) {
        std::string own = "{\"filter\":" + encode_filter(f) + "," + j.substr(1);
        c.filter = std::move(f);
        send(c, own, out);
        continue;
      }
    }
    send(c, j, out);
  }
}

void Coordinator::handle(Conn& c, const Message& m, CoordinatorOutput& out) {
  if (auto* h = std::get_if<Hello>(&m)) return on_hello(c, *h, out);
  if (!c.node) return fail(c, "protocol", "the first message must be hello", out);
  if (std::holds_alternative<Ping>(m)) return send(c, encode(Pong{}), out);
  if (auto* u = std::get_if<EndpointsUpdate>(&m)) {
    auto eps = candidates(c, u->endpoints, u->reflexive);
    best_effort("a node's endpoints", [&] { reg_.set_endpoints(*c.node, eps); });
    auto& ps = peers();
    if (auto it = ps.find(*c.node); it != ps.end()) {
      NodeRecord rec = it->second.rec;
      rec.endpoints = std::move(eps);
      upsert_peer(rec);
    }
    return;
  }
  if (auto* r = std::get_if<RoutesUpdate>(&m)) {
    auto n = reg_.node_by_key(c.ch->remote_key());
    if (!n) return;
    auto routes = checked_routes(n->name, r->advertise);
    if (routes == n->advertised_routes) return;
    // Not stored (disk full): the map stays as the registry has it; the
    // node's next hello carries the set again.
    bool saved = false;
    best_effort("a node's advertised routes", [&] {
      reg_.set_advertised_routes(*c.node, routes);
      saved = true;
    });
    if (!saved) return;
    log::info("node %s advertises %zu route(s)", n->name.c_str(), routes.size());
    auto before = active_routes(n->advertised_routes, n->approved_routes);
    n->advertised_routes = routes;
    // Only what is approved is in the map: an unapproved advertisement is
    // news for the admin (ovl route list), not for the other nodes.
    if (active_routes(routes, n->approved_routes) != before) {
      upsert_peer(*n);
      pending_filters_ = true;  // policies cover a node's routes; on_bytes flushes
    }
    return;
  }
  if (auto* cmm = std::get_if<CallMeMaybe>(&m)) return forward_call(c, *cmm, out);
  fail(c, "protocol", "unexpected message from a node", out);
}

// Passes a call-me-maybe on to the peer it names, with the sender's key in
// its place. Bounded per link (kCallsPer10s): a node cannot make the
// coordinator flood another. A peer that is offline simply misses it.
void Coordinator::forward_call(Conn& c, const CallMeMaybe& cmm, CoordinatorOutput& out) {
  constexpr int kCallsPer10s = 100;
  int64_t now = wall_ns_() / 1000000000;
  if (now - c.cmm_window >= 10) {
    c.cmm_window = now;
    c.cmm_count = 0;
  }
  if (++c.cmm_count > kCallsPer10s) return;
  auto target = reg_.node_by_key(cmm.peer);
  if (!target) return;
  auto o = online_.find(target->id);
  if (o == online_.end()) return;
  auto conn = conns_.find(o->second);
  if (conn == conns_.end() || conn->second->closing) return;
  CallMeMaybe fwd = cmm;
  fwd.peer = c.ch->remote_key();
  send(*conn->second, encode(fwd), out);
}

void Coordinator::on_hello(Conn& c, const Hello& h, CoordinatorOutput& out) {
  if (c.node) return fail(c, "protocol", "hello sent twice", out);
  const auto& key = c.ch->remote_key();
  int64_t now = wall_ns_() / 1000000000;
  std::optional<NodeRecord> node;
  if (h.invite_id) {
    auto secret = crypto::from_base64url(h.invite_secret.value_or(""));
    EnrollRequest req;
    req.invite_id = *h.invite_id;
    req.public_key = key;
    if (!h.name.empty()) req.requested_name = sanitize_node_name(h.name);
    if (!h.hostname.empty()) req.fallback_name = sanitize_node_name(h.hostname);
    if (!secret) return fail(c, "unknown_invite", describe(EnrollError::unknown_invite), out);
    req.secret_hash = crypto::blake2s({std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(secret->data()), secret->size())});
    crypto::wipe(secret->data(), secret->size());
    std::variant<NodeRecord, EnrollError> r;
    try {
      r = reg_.enroll(req, now);  // one transaction: on failure the invite stays unused
    } catch (const std::exception& e) {
      log::warn("enrollment from %s not stored: %s", c.remote.str().c_str(), e.what());
      return fail(c, "unavailable", storage_refusal(e), out);
    }
    if (auto* e = std::get_if<EnrollError>(&r)) {
      static const char* codes[] = {"unknown_invite", "expired", "revoked", "used_up", "network_full", "name_taken"};
      log::info("enrollment from %s refused: %s", c.remote.str().c_str(), describe(*e));
      return fail(c, codes[static_cast<int>(*e)], describe(*e), out);
    }
    node = std::get<NodeRecord>(r);
    log::info("node %s (%s) joined", node->name.c_str(), node->ip.str().c_str());
  } else {
    node = reg_.node_by_key(key);
    if (!node)
      return fail(c, "not_member",
                  "this node is not a member of the network (it may have been removed); join again with a new invite",
                  out);
  }
  // The observed source address with the node's WireGuard port is a good
  // first candidate: behind a port-preserving NAT it is the public mapping.
  c.listen_port = h.listen_port;
  auto eps = candidates(c, h.endpoints, h.reflexive);
  best_effort("a node's endpoints", [&] {
    reg_.set_endpoints(node->id, eps);
    reg_.touch(node->id, now);
  });
  node->endpoints = eps;
  // The hello carries the whole advertised set (empty = none any more).
  auto routes = checked_routes(node->name, h.routes);
  if (routes != node->advertised_routes)
    best_effort("a node's advertised routes", [&] {
      reg_.set_advertised_routes(node->id, routes);
      node->advertised_routes = routes;
    });
  c.node = node->id;

  // One link per node: a reconnect replaces the old link.
  if (auto o = online_.find(node->id); o != online_.end() && o->second != c.id) {
    auto old = conns_.find(o->second);
    if (old != conns_.end()) {
      old->second->closing = true;
      out.close(old->first);
    }
  }
  online_[node->id] = c.id;
  offline_since_.erase(node->id);
  upsert_peer(*node);  // online, with its new endpoints: for the others' next delta

  // A node that just enrolled may be in groups that policies name: the
  // others' filters change too (compiled again when the delta goes out).
  if (h.invite_id && policies_select(*node)) pending_filters_ = true;
  auto net = reg_.network();
  Welcome w{peer_info(*node), {net.id, net.name, net.name + ".ovl", net.cidr, std::nullopt}, {}};
  if (valid_ula(net.ula)) w.network.ula = net.ula;
  for (auto& r : relays_) {
    uint64_t expires = static_cast<uint64_t>(now + grant_ttl_s_);
    w.relays.push_back({r, expires, relay::credential_mac(relay_secret_, key, expires), relay_key_});
  }
  send(c, encode(w), out);
  // The map already holds every pending change (this join among them), so
  // it carries the version the pending delta will take; that delta then
  // skips this link unless more changes were queued after this map. Its
  // filter is compiled now, from the same state.
  c.map_version = version_ + (deltas_pending() ? 1 : 0);
  c.map_seq = change_seq_;
  c.filter = filter_for(node->id);
  send_full_map(c, c.map_version, *c.filter, out);
}

std::vector<crypto::PublicKey> Coordinator::revoked_keys() {
  if (grant_ttl_s_ <= 0) return {};
  std::vector<crypto::PublicKey> keys;
  // A grant lives grant_ttl_s_ from when it was issued, at the latest just
  // before the removal.
  best_effort("the relay revocation list",
              [&] { keys = reg_.revocations(wall_ns_() / 1000000000 - grant_ttl_s_); });
  return keys;
}

CreatedInvite Coordinator::create_invite(const InviteOptions& opts) {
  Token t;
  rng_.fill(t.secret);
  auto hash = crypto::blake2s({t.secret});
  InviteRecord rec = reg_.create_invite(opts, hash, wall_ns_() / 1000000000);
  auto net = reg_.network();
  for (size_t i = 0; i < t.network_id.size() && 2 * i + 1 < net.id.size(); ++i)
    t.network_id[i] = static_cast<uint8_t>(std::stoi(net.id.substr(2 * i, 2), nullptr, 16));
  for (size_t i = 0; i < t.invite_id.size() && 2 * i + 1 < rec.id.size(); ++i)
    t.invite_id[i] = static_cast<uint8_t>(std::stoi(rec.id.substr(2 * i, 2), nullptr, 16));
  t.coordinator_key = pub_;
  t.endpoints = advertise_;
  CreatedInvite r{encode_token(t), rec};
  crypto::wipe(t.secret.data(), t.secret.size());
  best_effort("the audit log", [&] { reg_.log_event("invite_created", "invite " + rec.id, wall_ns_() / 1000000000); });
  return r;
}

std::optional<NodeRecord> Coordinator::find(const std::string& which) {
  if (auto n = reg_.node_by_name(which)) return n;
  if (auto k = crypto::parse_key(which))
    if (auto n = reg_.node_by_key(*k)) return n;
  if (auto ip = net::IpAddr::parse(which))
    for (auto& [id, p] : peers())
      if (p.rec.ip == *ip) return reg_.node_by_key(p.rec.public_key);
  return std::nullopt;
}

bool Coordinator::remove_node(const std::string& which, CoordinatorOutput& out, std::string& err) {
  auto n = find(which);
  if (!n) {
    err = "no node named \"" + which + "\"";
    return false;
  }
  if (!reg_.remove_node(n->id)) {
    err = "could not remove node \"" + which + "\"";
    return false;
  }
  // The removal is stored: the rest must happen whatever the audit log says.
  best_effort("the audit log", [&] { reg_.log_event("node_removed", n->name, wall_ns_() / 1000000000); });
  // Kept for relays that were down or restart later (revoked_keys()).
  best_effort("the relay revocation list", [&] { reg_.add_revocation(n->public_key, wall_ns_() / 1000000000); });
  if (on_removed) on_removed(n->public_key);
  if (auto o = online_.find(n->id); o != online_.end()) {
    if (auto c = conns_.find(o->second); c != conns_.end())
      fail(*c->second, "removed", "this node was removed from the network by an administrator", out);
    online_.erase(o);
  }
  offline_since_.erase(n->id);
  remove_peer(n->id);
  if (policies_select(*n)) pending_filters_ = true;  // it may have been a source in others' filters
  maybe_flush(out);
  return true;
}

bool Coordinator::rename_node(const std::string& which, const std::string& new_name, CoordinatorOutput& out,
                              std::string& err) {
  auto n = find(which);
  if (!n) {
    err = "no node named \"" + which + "\"";
    return false;
  }
  if (!valid_node_name(new_name)) {
    err = "\"" + new_name + "\" is not a valid name (use a-z, 0-9 and '-', at most 63 characters)";
    return false;
  }
  if (!reg_.rename_node(n->id, new_name)) {
    err = "the name \"" + new_name + "\" is already taken";
    return false;
  }
  n->name = new_name;
  auto& ps = peers();
  if (auto it = ps.find(n->id); it != ps.end()) {
    NodeRecord rec = it->second.rec;
    rec.name = new_name;
    upsert_peer(rec);
  } else {
    upsert_peer(*n);
  }
  maybe_flush(out);
  return true;
}

std::vector<net::Prefix> Coordinator::checked_routes(const std::string& node, std::vector<net::Prefix> routes) {
  auto overlay = overlay_ranges();
  std::vector<net::Prefix> ok;
  for (auto& p : routes) {
    std::string why;
    if (valid_route(p, overlay, /*allow_exit=*/true, why)) ok.push_back(p);
    else log::warn("node %s advertises a route that is not allowed: %s", node.c_str(), why.c_str());
  }
  normalize_routes(ok);
  if (ok.size() > kMaxRoutesPerNode) {
    log::warn("node %s advertises %zu routes; only the first %zu are kept", node.c_str(), ok.size(),
              kMaxRoutesPerNode);
    ok.resize(kMaxRoutesPerNode);
  }
  return ok;
}

bool Coordinator::approve_route(const std::string& which, const std::string& prefix, bool approve,
                                CoordinatorOutput& out, std::string& err) {
  auto n = find(which);
  if (!n) {
    err = "no node named \"" + which + "\"";
    return false;
  }
  auto p = parse_route(prefix, overlay_ranges(), /*allow_exit=*/true, err);
  if (!p) return false;
  // One approval covers the exit node in both families; it is kept as
  // 0.0.0.0/0 (see routes.hpp). An older node advertises only that one.
  const bool exit = is_exit_route(*p);
  if (exit) p = exit_route();
  bool advertised = std::any_of(n->advertised_routes.begin(), n->advertised_routes.end(),
                                [&](const net::Prefix& a) { return exit ? is_exit_route(a) : a == *p; });
  bool approved = route_approved(n->approved_routes, *p);
  if (approve && !advertised) {
    err = "node " + n->name + " does not advertise " + p->str() +
          (is_exit_route(*p) ? " (start it with `ovl up --advertise-exit-node`)"
                             : " (run `ovl route advertise " + p->str() + "` on it first)");
    return false;
  }
  if (!approve && !approved) {
    err = p->str() + " is not approved for node " + n->name;
    return false;
  }
  if (approve == approved) return true;  // approving twice changes nothing
  auto before = active_routes(n->advertised_routes, n->approved_routes);
  if (!reg_.set_route_approved(n->id, *p, approve, wall_ns_() / 1000000000)) {
    err = "node \"" + which + "\" was removed meanwhile";
    return false;
  }
  std::erase_if(n->approved_routes, [&](const net::Prefix& a) { return exit ? is_exit_route(a) : a == *p; });
  if (approve) n->approved_routes.push_back(*p);
  normalize_routes(n->approved_routes);
  if (active_routes(n->advertised_routes, n->approved_routes) != before) {
    upsert_peer(*n);
    pending_filters_ = true;  // policies cover a node's routes
    maybe_flush(out);
  }
  return true;
}

std::vector<NodeView> Coordinator::nodes() {
  std::vector<NodeView> r;
  for (auto& n : reg_.nodes()) r.push_back({n, online_.count(n.id) > 0});
  return r;
}

void Coordinator::expire_ephemeral(int64_t grace_s, CoordinatorOutput& out) {
  int64_t now = wall_ns_() / 1000000000;
  // From the in-memory map, not a registry scan every 30 s. A node seen
  // online by this process has its offline time in offline_since_; for the
  // others the record's last_seen, as loaded, is current.
  std::vector<std::pair<std::string, int64_t>> expired;
  for (auto& [id, p] : peers()) {
    const NodeRecord& n = p.rec;
    if (!n.ephemeral || online_.count(n.id)) continue;
    auto it = offline_since_.find(n.id);
    int64_t since = it != offline_since_.end() ? it->second : (n.last_seen_unix ? n.last_seen_unix : n.created_unix);
    if (now - since >= grace_s) expired.emplace_back(n.name, now - since);
  }
  for (auto& e : expired) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const std::string& name = e.first;
    std::string err;
    log::info("removing ephemeral node %s, offline for %lld s", name.c_str(), static_cast<long long>(e.second));
    best_effort("the removal of an ephemeral node", [&] { remove_node(name, out, err); });
  }
}

}  // namespace ovl::control
