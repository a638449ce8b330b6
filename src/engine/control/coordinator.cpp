#include "engine/control/coordinator.hpp"

#include <algorithm>
#include <cctype>

#include "engine/crypto/blake2s.hpp"
#include "engine/log.hpp"

namespace ovl::control {

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
  for (auto& n : reg_.nodes())
    if (n.id == *node) {
      Delta d;
      d.upsert.push_back(peer_info(n));
      broadcast(d, out);
    }
}

void Coordinator::send(Conn& c, const std::string& json, CoordinatorOutput& out) {
  c.ch->send(json);
  auto b = c.ch->take_output();
  if (!b.empty()) out.write(c.id, b);
}

void Coordinator::fail(Conn& c, const std::string& code, const std::string& msg, CoordinatorOutput& out) {
  send(c, encode(ErrorMsg{code, msg}), out);
  c.closing = true;
  out.close(c.id);
}

PeerInfo Coordinator::peer_info(const NodeRecord& n) const {
  PeerInfo p;
  p.id = n.id;
  p.name = n.name;
  p.ip = n.ip;
  p.public_key = n.public_key;
  p.endpoints = n.endpoints;
  p.groups = n.groups;
  p.online = online_.count(n.id) > 0;
  return p;
}

void Coordinator::broadcast(const Delta& d0, CoordinatorOutput& out, std::optional<ConnId> except, bool filters) {
  Delta d = d0;
  d.version = ++version_;
  std::string json = encode(d);  // once, whatever the number of links
  // Filters differ per node: only the links whose filter changed get a
  // delta of their own; the others share the bytes above.
  std::optional<policy::Compiler> comp;
  std::map<int64_t, policy::Member> members;
  if (filters) {
    comp.emplace(compiler());
    for (auto& n : reg_.nodes()) members[n.id] = member(n);
  }
  for (auto& [id, c] : conns_) {
    if (!c->node || c->closing || id == except) continue;
    if (comp) {
      auto m = members.find(*c->node);
      policy::RuleSet f = m != members.end() ? comp->for_node(m->second) : policy::RuleSet{};
      if (f != c->filter) {
        Delta own = d;
        own.filter = f;
        c->filter = std::move(f);
        send(*c, encode(own), out);
        continue;
      }
    }
    send(*c, json, out);
  }
}

void Coordinator::handle(Conn& c, const Message& m, CoordinatorOutput& out) {
  if (auto* h = std::get_if<Hello>(&m)) return on_hello(c, *h, out);
  if (!c.node) return fail(c, "protocol", "the first message must be hello", out);
  if (std::holds_alternative<Ping>(m)) return send(c, encode(Pong{}), out);
  if (auto* u = std::get_if<EndpointsUpdate>(&m)) {
    best_effort("a node's endpoints", [&] { reg_.set_endpoints(*c.node, candidates(c, u->endpoints, u->reflexive)); });
    if (auto n = reg_.node_by_key(c.ch->remote_key())) {
      Delta d;
      d.upsert.push_back(peer_info(*n));
      broadcast(d, out);
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

  // The others' delta first: it takes the next version, and the full map
  // below already holds this node as online, so it must carry that version
  // too. Labelled with the version before the event, the newcomer's map
  // would look one behind and its next delta would skip a number.
  // A node that just enrolled may be in groups that policies name: the
  // others' filters change too.
  Delta d;
  d.upsert.push_back(peer_info(*node));
  broadcast(d, out, c.id, /*filters=*/h.invite_id.has_value());
  auto net = reg_.network();
  Welcome w{peer_info(*node), {net.id, net.name, net.name + ".ovl", net.cidr}, {}};
  for (auto& r : relays_) {
    uint64_t expires = static_cast<uint64_t>(now + grant_ttl_s_);
    w.relays.push_back({r, expires, relay::credential_mac(relay_secret_, key, expires)});
  }
  send(c, encode(w), out);
  FullMap m;
  m.version = version_;
  for (auto& n : reg_.nodes()) m.peers.push_back(peer_info(n));
  m.filter = filter_for(node->id);
  c.filter = m.filter;
  send(c, encode(m), out);
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
    for (auto& n : reg_.nodes())
      if (n.ip == *ip) return n;
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
  if (on_removed) on_removed(n->public_key);
  if (auto o = online_.find(n->id); o != online_.end()) {
    if (auto c = conns_.find(o->second); c != conns_.end())
      fail(*c->second, "removed", "this node was removed from the network by an administrator", out);
    online_.erase(o);
  }
  offline_since_.erase(n->id);
  Delta d;
  d.remove.push_back(n->public_key);
  broadcast(d, out, std::nullopt, /*filters=*/true);
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
  Delta d;
  d.upsert.push_back(peer_info(*n));
  broadcast(d, out);
  return true;
}

std::vector<NodeView> Coordinator::nodes() {
  std::vector<NodeView> r;
  for (auto& n : reg_.nodes()) r.push_back({n, online_.count(n.id) > 0});
  return r;
}

void Coordinator::expire_ephemeral(int64_t grace_s, CoordinatorOutput& out) {
  int64_t now = wall_ns_() / 1000000000;
  for (auto& n : reg_.nodes()) {
    if (!n.ephemeral || online_.count(n.id)) continue;
    auto it = offline_since_.find(n.id);
    int64_t since = it != offline_since_.end() ? it->second : (n.last_seen_unix ? n.last_seen_unix : n.created_unix);
    if (now - since < grace_s) continue;
    std::string err;
    log::info("removing ephemeral node %s, offline for %lld s", n.name.c_str(), static_cast<long long>(now - since));
    best_effort("the removal of an ephemeral node", [&] { remove_node(n.name, out, err); });
  }
}

}  // namespace ovl::control
