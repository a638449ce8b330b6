// Shared harness for the control-plane sim tests (test_control*.cpp).
// The control plane end to end in one process: one Coordinator (over an
// in-memory Registry) and several NodeAgents, each control link an in-memory
// byte pipe that delivers in random fragments. A fake wall clock, a seeded
// RNG, no sockets and no sleeping.
#pragma once
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../support/memory_registry.hpp"
#include "engine/control/coordinator.hpp"
#include "engine/control/node_agent.hpp"
#include "engine/control/secure_channel.hpp"
#include "engine/control/token.hpp"
#include "engine/crypto/blake2s.hpp"

using namespace ovl;
using control::ConnId;

namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kStartUnix = 1'700'000'000;
constexpr uint16_t kListenPort = 51820;

net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

control::NetworkInfo home_network() {
  control::NetworkInfo n;
  n.id = "0123456789abcdef0123456789abcdef";
  n.name = "home";
  n.cidr = *net::Prefix::parse("100.83.0.0/16");
  n.ula = *net::Prefix::parse("fd12:3456:789a::/48");
  n.created_unix = kStartUnix;
  return n;
}

// One side of a link that is not the coordinator: a NodeAgent, or a raw
// client a test drives by hand.
struct Peer {
  // Bytes from the coordinator; appends what to write back. false = this side
  // closes the link.
  std::function<bool(std::span<const uint8_t>, std::vector<uint8_t>&)> on_bytes;
  std::function<void()> on_closed;
};

struct Link {
  ConnId id = 0;
  Peer peer;
  std::vector<uint8_t> to_coord, to_peer;
  bool close_requested = false;  // by the coordinator, after the bytes written so far
  bool open = true;
  size_t bytes_to_peer = 0;      // everything the coordinator ever wrote here
};

struct Member {
  crypto::SecretKey key;
  crypto::PublicKey pub{};
  std::unique_ptr<control::NodeAgent> agent;
  std::optional<ConnId> conn;
  bool closed_during_handshake = false;  // a link of ours ended before the channel was up
  const control::NetState& state() const { return agent->state(); }
  bool linked() const { return agent->linked(); }
  std::string code() const { return agent->refused() ? agent->refused()->code : std::string(); }
};

class Sim final : public control::CoordinatorOutput {
 public:
  crypto::SeededRng rng;       // keys, handshakes, invite secrets
  crypto::SeededRng frag_rng;  // how the byte streams are cut
  int64_t wall_ns = kStartUnix * kSecond;
  test::MemoryRegistry reg;
  crypto::SecretKey coord_key;
  net::Endpoint advertise{ip("198.51.100.1"), 7443};
  control::Coordinator coord;
  std::map<ConnId, Link> links;
  std::vector<std::unique_ptr<Member>> members;
  size_t writes_to_closed = 0;  // the coordinator wrote to a link it was told is gone
  size_t total_to_peers = 0;

  explicit Sim(uint64_t seed = 1)
      : rng(seed),
        frag_rng(seed * 7919 + 1),
        reg(home_network(), &rng),
        coord_key(crypto::generate_private_key(rng)),
        coord(reg, coord_key, rng, [this] { return wall_ns; }, {advertise}) {}

  ~Sim() override { CHECK(writes_to_closed == 0); }

  int64_t now_s() const { return wall_ns / kSecond; }
  void advance_s(int64_t s) { wall_ns += s * kSecond; }

  // -------------------------------------------------- CoordinatorOutput
  void write(ConnId c, std::span<const uint8_t> bytes) override {
    auto it = links.find(c);
    if (it == links.end() || !it->second.open) {
      ++writes_to_closed;
      return;
    }
    it->second.to_peer.insert(it->second.to_peer.end(), bytes.begin(), bytes.end());
    it->second.bytes_to_peer += bytes.size();
    total_to_peers += bytes.size();
  }
  void close(ConnId c) override {
    auto it = links.find(c);
    if (it == links.end() || !it->second.open) {
      ++writes_to_closed;
      return;
    }
    it->second.close_requested = true;
  }

  // -------------------------------------------------- members and links
  Member& add_member(std::string name = "", std::string hostname = "host",
                     std::optional<crypto::PublicKey> pinned = std::nullopt,
                     std::optional<crypto::SecretKey> key = std::nullopt) {
    auto m = std::make_unique<Member>();
    m->key = key ? *key : crypto::generate_private_key(rng);
    m->pub = crypto::public_from_private(m->key);
    m->agent = std::make_unique<control::NodeAgent>(m->key, pinned ? *pinned : coord.public_key(), std::move(name),
                                                    std::move(hostname), kListenPort);
    members.push_back(std::move(m));
    return *members.back();
  }

  static void use_token(Member& m, const std::string& token) {
    auto t = control::decode_token(token);
    REQUIRE(std::holds_alternative<control::Token>(t));
    auto& tok = std::get<control::Token>(t);
    m.agent->set_invite(control::hex(tok.invite_id), crypto::to_base64url(tok.secret));
  }

  // The address the coordinator sees for a link: 203.0.113.(1 + id % 250).
  static net::IpAddr remote_ip(ConnId id) { return net::IpAddr::v4(203, 0, 113, static_cast<uint8_t>(1 + id % 250)); }

  ConnId open_link(Peer p, std::optional<net::IpAddr> from = std::nullopt) {
    ConnId id = next_conn_++;
    net::Endpoint remote{from ? *from : remote_ip(id), static_cast<uint16_t>(40000 + id)};
    coord.on_connect(id, remote);
    Link& l = links[id];
    l.id = id;
    l.peer = std::move(p);
    return id;
  }

  ConnId connect(Member& m, std::optional<net::IpAddr> from = std::nullopt) {
    Peer p;
    p.on_bytes = [&m](std::span<const uint8_t> in, std::vector<uint8_t>& out) { return m.agent->on_bytes(in, out); };
    ConnId id = open_link(std::move(p), from);
    links[id].peer.on_closed = [this, &m, id] {
      if (m.agent->handshake_pending()) m.closed_during_handshake = true;
      m.agent->on_disconnected();
      if (m.conn == id) m.conn.reset();
    };
    m.conn = id;
    auto hello = m.agent->on_connected(rng, wall_ns);
    links[id].to_coord = std::move(hello);
    return id;
  }

  // The TCP connection ends (either side, or the network): both ends learn it.
  void drop(ConnId id) {
    Link& l = links.at(id);
    if (!l.open) return;
    l.open = false;
    l.to_coord.clear();
    l.to_peer.clear();
    if (l.peer.on_closed) l.peer.on_closed();
    coord.on_disconnect(id, *this);
  }

  // Member with a fresh key that joins with `token` and is delivered to.
  Member& join(const std::string& token, std::string name = "", std::string hostname = "host") {
    Member& m = add_member(std::move(name), std::move(hostname));
    use_token(m, token);
    connect(m);
    pump();
    return m;
  }

  std::string invite(control::InviteOptions o = {}) { return coord.create_invite(o).token; }

  // Delivers bytes both ways, in random fragments, until nothing moves.
  void pump() {
    for (int round = 0;; ++round) {
      REQUIRE_MESSAGE(round < 100000, "the control plane does not go quiet");
      bool moved = false;
      for (auto& [id, l] : links) {
        if (!l.open) continue;
        if (!l.to_coord.empty()) {
          moved = true;
          auto bytes = std::exchange(l.to_coord, {});
          for_fragments(bytes, [&](std::span<const uint8_t> f) { coord.on_bytes(id, f, *this); });
        }
        if (!l.open) continue;
        if (!l.to_peer.empty()) {
          moved = true;
          auto bytes = std::exchange(l.to_peer, {});
          bool ok = true;
          for_fragments(bytes, [&](std::span<const uint8_t> f) {
            if (!ok) return;
            std::vector<uint8_t> reply;
            ok = l.peer.on_bytes(f, reply);
            l.to_coord.insert(l.to_coord.end(), reply.begin(), reply.end());
          });
          if (!ok) drop(id);
        } else if (l.close_requested) {
          moved = true;
          drop(id);
        }
      }
      if (!moved) return;
    }
  }

  // The live agents (linked to the coordinator).
  std::vector<Member*> linked() {
    std::vector<Member*> r;
    for (auto& m : members)
      if (m->linked()) r.push_back(m.get());
    return r;
  }

  std::optional<control::NodeView> view(const crypto::PublicKey& k) {
    for (auto& v : coord.nodes())
      if (v.node.public_key == k) return v;
    return std::nullopt;
  }

 private:
  template <class F>
  void for_fragments(const std::vector<uint8_t>& bytes, F&& f) {
    size_t at = 0;
    while (at < bytes.size()) {
      size_t left = bytes.size() - at, n;
      switch (frag_rng.uniform(4)) {
        case 0: n = left; break;                       // all at once
        case 1: n = 1; break;                          // a single byte
        default: n = 1 + frag_rng.uniform(300); break;  // a TCP-ish segment
      }
      n = std::min(n, left);
      f(std::span<const uint8_t>(bytes.data() + at, n));
      at += n;
    }
  }
  ConnId next_conn_ = 1;
};

// Every linked agent holds the coordinator's current map: the same peers,
// field for field, at the coordinator's version.
void check_converged(Sim& s) {
  auto live = s.linked();
  REQUIRE(!live.empty());
  auto views = s.coord.nodes();
  for (Member* m : live) {
    CAPTURE(m->state().welcome->self.name);
    CHECK(m->state().version == s.coord.map_version());
    CHECK(m->state().peers == live.front()->state().peers);
    REQUIRE(m->state().peers.size() == views.size());
    for (auto& v : views) {
      auto it = m->state().peers.find(v.node.public_key);
      REQUIRE(it != m->state().peers.end());
      CHECK(it->second.id == v.node.id);
      CHECK(it->second.name == v.node.name);
      CHECK(it->second.ip == v.node.ip);
      CHECK(it->second.online == v.online);
      CHECK(it->second.groups == v.node.groups);
    }
    // The filter it enforces is what its policies say now (compiled afresh,
    // so a stale cached compiler would show).
    if (m->state().filter) CHECK(*m->state().filter == s.coord.fresh_filter_for(m->state().welcome->self.id));
  }
}

bool has_peer(const Member& m, const crypto::PublicKey& k) { return m.state().peers.count(k) > 0; }

// The coordinator's own node, added without an invite, then linked like any
// other node (a hello from a known key) over loopback, as the daemon does.
Member& add_server(Sim& s) {
  Member& m = s.add_member("", "server");
  s.reg.add_node(m.pub, "server", s.now_s());
  s.connect(m, ip("127.0.0.1"));
  s.pump();
  REQUIRE(m.linked());
  return m;
}

}  // namespace
