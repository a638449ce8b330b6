// The control plane end to end in one process: one Coordinator (over an
// in-memory Registry) and several NodeAgents, each control link an in-memory
// byte pipe that delivers in random fragments. A fake wall clock, a seeded
// RNG, no sockets and no sleeping.
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

TEST_CASE("control: memory registry keeps the store's enrollment rules") {
  crypto::SeededRng rng(5);
  control::NetworkInfo info = home_network();
  info.cidr = *net::Prefix::parse("10.9.9.0/30");  // two host addresses: .1 and .2
  test::MemoryRegistry reg(info, &rng);
  std::array<uint8_t, 32> h{};
  h[0] = 1;
  auto inv = reg.create_invite({.uses = 2, .name = "Build Box"}, h, 100);
  auto key = [](uint8_t i) {
    crypto::PublicKey k{};
    k[0] = i;
    return k;
  };
  auto req = [&](uint8_t i, std::string name = "") {
    control::EnrollRequest r;
    r.invite_id = inv.id;
    r.secret_hash = h;
    r.public_key = key(i);
    r.requested_name = std::move(name);
    return r;
  };
  auto a = reg.enroll(req(1), 100);
  REQUIRE(std::holds_alternative<control::NodeRecord>(a));
  CHECK(std::get<control::NodeRecord>(a).ip == ip("10.9.9.1"));
  CHECK(std::get<control::NodeRecord>(a).name == "build-box");
  // The same key again: its record, no use consumed.
  auto again = reg.enroll(req(1, "other"), 101);
  REQUIRE(std::holds_alternative<control::NodeRecord>(again));
  CHECK(std::get<control::NodeRecord>(again).id == std::get<control::NodeRecord>(a).id);
  CHECK(reg.invite(inv.id)->uses_left == 1);
  auto b = reg.enroll(req(2), 100);
  REQUIRE(std::holds_alternative<control::NodeRecord>(b));
  CHECK(std::get<control::NodeRecord>(b).ip == ip("10.9.9.2"));
  CHECK(std::get<control::NodeRecord>(b).name == "build-box-2");
  CHECK(std::get<control::EnrollError>(reg.enroll(req(3), 100)) == control::EnrollError::used_up);

  // Broadcast (.3) is never handed out.
  auto more = reg.create_invite({.uses = -1}, h, 100);
  auto r3 = req(3);
  r3.invite_id = more.id;
  CHECK(std::get<control::EnrollError>(reg.enroll(r3, 100)) == control::EnrollError::network_full);
  // Freed address is reused (lowest first); the id is not.
  REQUIRE(reg.remove_node(std::get<control::NodeRecord>(a).id));
  auto c = reg.enroll(r3, 100);
  REQUIRE(std::holds_alternative<control::NodeRecord>(c));
  CHECK(std::get<control::NodeRecord>(c).ip == ip("10.9.9.1"));
  CHECK(std::get<control::NodeRecord>(c).id > std::get<control::NodeRecord>(b).id);
  CHECK(reg.invite(more.id)->used == 1);

  auto wrong = r3;
  wrong.secret_hash[5] ^= 1;
  wrong.public_key = key(9);
  CHECK(std::get<control::EnrollError>(reg.enroll(wrong, 100)) == control::EnrollError::unknown_invite);
  CHECK(reg.rename_node(std::get<control::NodeRecord>(b).id, "build-box-2"));  // its own name
  CHECK_FALSE(reg.rename_node(std::get<control::NodeRecord>(b).id, "Bad Name"));
  CHECK_FALSE(reg.rename_node(std::get<control::NodeRecord>(b).id, std::get<control::NodeRecord>(c).name));
  CHECK_THROWS_AS(reg.create_invite({.uses = 0}, h, 100), std::invalid_argument);
}

TEST_CASE("control: enrollment with an invite token: welcome, full map, next free address") {
  Sim s;
  Member& server = add_server(s);
  CHECK(server.state().welcome->self.ip == ip("100.83.0.1"));

  auto created = s.coord.create_invite({.uses = 1, .expires_unix = s.now_s() + 86400, .groups = {"laptops"}});
  auto decoded = control::decode_token(created.token);
  REQUIRE(std::holds_alternative<control::Token>(decoded));
  auto& tok = std::get<control::Token>(decoded);
  CHECK(tok.coordinator_key == s.coord.public_key());
  CHECK(tok.endpoints == std::vector<net::Endpoint>{s.advertise});
  CHECK(control::hex(tok.invite_id) == created.record.id);
  // Only the hash of the secret is kept.
  CHECK(s.reg.invite(created.record.id)->secret_hash == crypto::blake2s({tok.secret}));

  uint64_t v0 = server.state().version;
  Member& laptop = s.join(created.token, "", "Laptop.example.com");
  REQUIRE(laptop.linked());
  CHECK_FALSE(laptop.agent->refused());
  const auto& w = *laptop.state().welcome;
  CHECK(w.self.ip == ip("100.83.0.2"));
  CHECK(w.self.name == "laptop");
  CHECK(w.self.public_key == laptop.pub);
  CHECK(w.self.groups == std::vector<std::string>{"laptops"});
  CHECK(w.self.online);
  CHECK(w.network.name == "home");
  CHECK(w.network.domain == "home.ovl");
  CHECK(w.network.cidr.str() == "100.83.0.0/16");
  CHECK(w.network.id == home_network().id);
  // The full map: both nodes, both online; the observed address with the
  // node's WireGuard port is its first endpoint candidate.
  REQUIRE(laptop.state().peers.size() == 2);
  CHECK(has_peer(laptop, server.pub));
  CHECK(laptop.state().peers.at(server.pub).online);
  auto self = laptop.state().peers.at(laptop.pub);
  REQUIRE(self.endpoints.size() == 1);
  CHECK(self.endpoints[0].port == kListenPort);
  CHECK(self.endpoints[0].ip == Sim::remote_ip(*laptop.conn));
  // The coordinator's own node came over loopback, which teaches nothing.
  CHECK(laptop.state().peers.at(server.pub).endpoints.empty());

  // The server learnt of the laptop through one delta.
  CHECK(server.state().version == v0 + 1);
  CHECK(has_peer(server, laptop.pub));
  check_converged(s);

  auto inv = s.reg.invite(created.record.id);
  CHECK(inv->uses_left == 0);
  CHECK(inv->used == 1);
  CHECK(s.coord.connected() == 2);
  bool logged = false;
  for (auto& e : s.reg.events()) logged |= e.kind == "node_enrolled";
  CHECK(logged);

  // The next one takes the next address.
  Member& phone = s.join(s.invite(), "", "phone");
  REQUIRE(phone.linked());
  CHECK(phone.state().welcome->self.ip == ip("100.83.0.3"));
  check_converged(s);
}

TEST_CASE("control: nodes converge and each join reaches connected nodes as one delta") {
  Sim s(2);
  Member& server = add_server(s);
  std::string token = s.invite({.uses = -1});
  std::vector<Member*> joined{&server};
  for (int i = 0; i < 3; ++i) {
    std::map<Member*, uint64_t> before;
    for (Member* m : joined) {
      before[m] = m->state().version;
      m->agent->take_map_changed();
    }
    uint64_t cv = s.coord.map_version();
    Member& m = s.join(token, "", "box");  // same hostname: unique names by suffix
    REQUIRE(m.linked());
    CHECK(m.state().welcome->self.ip == net::IpAddr::v4(100, 83, 0, static_cast<uint8_t>(2 + i)));
    CHECK(m.state().welcome->self.name == (i == 0 ? std::string("box") : "box-" + std::to_string(i + 1)));
    CHECK(s.coord.map_version() == cv + 1);
    for (Member* o : joined) {
      CHECK(o->state().version == before[o] + 1);
      CHECK(o->agent->take_map_changed());
    }
    joined.push_back(&m);
    check_converged(s);
  }
  CHECK(joined.back()->state().peers.size() == 4);
}

TEST_CASE("control: with 50 nodes, a join sends each connected node a delta, not the map") {
  Sim s(3);
  add_server(s);
  std::string token = s.invite({.uses = -1});
  for (int i = 0; i < 48; ++i) REQUIRE(s.join(token, "", "n" + std::to_string(i)).linked());
  REQUIRE(s.linked().size() == 49);

  std::map<ConnId, size_t> before;
  for (auto& [id, l] : s.links) before[id] = l.bytes_to_peer;
  std::map<Member*, uint64_t> versions;
  for (Member* m : s.linked()) versions[m] = m->state().version;

  Member& last = s.join(token, "", "last");
  REQUIRE(last.linked());
  REQUIRE(s.linked().size() == 50);
  size_t full = s.links.at(*last.conn).bytes_to_peer;  // handshake + welcome + the map of 50
  MESSAGE("bytes to the joining node: " << full);
  CHECK(full > 50 * 150);
  for (auto& [m, v] : versions) {
    size_t got = s.links.at(*m->conn).bytes_to_peer - before.at(*m->conn);
    CAPTURE(got);
    CHECK(got > 0);
    CHECK(got * 20 < full);  // one peer, not fifty
    CHECK(m->state().version == v + 1);
  }
  check_converged(s);
}

TEST_CASE("control: a single-use invite admits exactly one node") {
  Sim s(4);
  Member& server = add_server(s);
  auto created = s.coord.create_invite({.uses = 1});
  Member& first = s.join(created.token, "first");
  REQUIRE(first.linked());
  size_t nodes = s.reg.nodes().size();
  uint64_t version = s.coord.map_version();

  Member& second = s.join(created.token, "second");
  CHECK_FALSE(second.linked());
  CHECK_FALSE(second.state().welcome);
  CHECK(second.code() == "used_up");
  CHECK_FALSE(second.conn);  // the link is closed
  CHECK(s.reg.nodes().size() == nodes);
  CHECK_FALSE(s.reg.node_by_key(second.pub));
  CHECK(s.coord.map_version() == version);
  CHECK(server.state().version == version);
  CHECK(s.reg.invite(created.record.id)->used == 1);

  // The first node retrying with the same token (its welcome was lost): it
  // gets its own record back and nothing is consumed.
  Member& retry = s.add_member("first", "host", std::nullopt, first.key);
  Sim::use_token(retry, created.token);
  s.connect(retry);
  s.pump();
  REQUIRE(retry.linked());
  CHECK(retry.state().welcome->self.id == first.state().welcome->self.id);
  CHECK(retry.state().welcome->self.ip == first.state().welcome->self.ip);
  CHECK(s.reg.nodes().size() == nodes);
  CHECK(s.reg.invite(created.record.id)->used == 1);
  CHECK_FALSE(first.conn);  // the newer link replaced the old one
}

TEST_CASE("control: reusable, counted, expired, revoked and unknown invites") {
  Sim s(5);
  Member& server = add_server(s);

  SUBCASE("reusable used twice admits both") {
    std::string t = s.invite({.uses = -1});
    Member& a = s.join(t);
    Member& b = s.join(t);
    CHECK(a.linked());
    CHECK(b.linked());
    CHECK(a.state().welcome->self.name == "host");
    CHECK(b.state().welcome->self.name == "host-2");
    CHECK(s.reg.nodes().size() == 3);
    check_converged(s);
  }
  SUBCASE("an invite for two uses refuses the third") {
    auto c = s.coord.create_invite({.uses = 2});
    CHECK(s.join(c.token).linked());
    CHECK(s.join(c.token).linked());
    Member& third = s.join(c.token);
    CHECK(third.code() == "used_up");
    CHECK(s.reg.nodes().size() == 3);
    CHECK(s.reg.invite(c.record.id)->uses_left == 0);
  }
  SUBCASE("expired") {
    std::string t = s.invite({.uses = -1, .expires_unix = s.now_s() + 3600});
    s.advance_s(3599);
    CHECK(s.join(t).linked());  // just in time
    s.advance_s(1);
    uint64_t v = server.state().version;
    Member& late = s.join(t);
    CHECK(late.code() == "expired");
    CHECK_FALSE(late.state().welcome);
    CHECK(s.reg.nodes().size() == 2);
    CHECK(server.state().version == v);
  }
  SUBCASE("revoked") {
    auto c = s.coord.create_invite({.uses = -1});
    REQUIRE(s.reg.revoke_invite(c.record.id));
    Member& m = s.join(c.token);
    CHECK(m.code() == "revoked");
    CHECK(s.reg.nodes().size() == 1);
  }
  SUBCASE("a wrong secret is an unknown invite") {
    auto c = s.coord.create_invite({.uses = -1});
    auto tok = std::get<control::Token>(control::decode_token(c.token));
    tok.secret[0] ^= 1;
    Member& m = s.join(control::encode_token(tok));
    CHECK(m.code() == "unknown_invite");
    CHECK(s.reg.nodes().size() == 1);
    CHECK(s.reg.invite(c.record.id)->used == 0);
  }
  CHECK(server.linked());
}

TEST_CASE("control: an agent pinning another coordinator key is never welcomed") {
  Sim s(6);
  Member& server = add_server(s);
  auto created = s.coord.create_invite({.uses = 1});
  crypto::PublicKey wrong = crypto::public_from_private(crypto::generate_private_key(s.rng));
  Member& m = s.add_member("", "host", wrong);
  Sim::use_token(m, created.token);
  ConnId id = s.connect(m);
  uint64_t v = s.coord.map_version();
  s.pump();

  CHECK_FALSE(m.linked());
  CHECK_FALSE(m.state().welcome);
  CHECK(m.closed_during_handshake);   // the channel never came up
  CHECK_FALSE(s.links.at(id).open);   // the coordinator hung up
  CHECK(s.links.at(id).bytes_to_peer == 0);  // and sent nothing at all
  CHECK(s.reg.nodes().size() == 1);
  CHECK_FALSE(s.reg.node_by_key(m.pub));
  CHECK(s.coord.map_version() == v);
  CHECK(s.coord.connected() == 1);
  CHECK(s.reg.invite(created.record.id)->used == 0);

  // The invite still works for an agent that pins the right key.
  Member& ok = s.join(created.token);
  CHECK(ok.linked());
  CHECK(server.state().peers.size() == 2);
}

TEST_CASE("control: a removed node is refused and vanishes from every map") {
  Sim s(7);
  Member& server = add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& a = s.join(t, "a");
  Member& b = s.join(t, "b");
  Member& c = s.join(t, "c");
  check_converged(s);
  uint64_t v = s.coord.map_version();

  std::string err;
  REQUIRE(s.coord.remove_node("b", s, err));
  s.pump();
  CHECK(b.code() == "removed");
  CHECK_FALSE(b.linked());
  CHECK_FALSE(b.conn);
  for (Member* m : {&server, &a, &c}) {
    CHECK_FALSE(has_peer(*m, b.pub));
    CHECK(m->state().version == v + 1);
  }
  CHECK_FALSE(s.reg.node_by_key(b.pub));
  CHECK(s.coord.connected() == 3);
  check_converged(s);

  // Coming back without an invite: not a member any more.
  Member& b2 = s.add_member("b", "host", std::nullopt, b.key);
  s.connect(b2);
  s.pump();
  CHECK(b2.code() == "not_member");
  CHECK_FALSE(b2.linked());

  // By overlay address and by public key; an unknown node is an error.
  REQUIRE(s.coord.remove_node(c.state().welcome->self.ip.str(), s, err));
  REQUIRE(s.coord.remove_node(crypto::to_base64(a.pub), s, err));
  s.pump();
  CHECK(a.code() == "removed");
  CHECK(c.code() == "removed");
  CHECK(server.state().peers.size() == 1);
  err.clear();
  CHECK_FALSE(s.coord.remove_node("nobody", s, err));
  CHECK_FALSE(err.empty());
  check_converged(s);
}

TEST_CASE("control: a rename reaches every node; a taken or invalid name changes nothing") {
  Sim s(8);
  Member& server = add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& a = s.join(t, "a");
  Member& b = s.join(t, "b");
  uint64_t v = s.coord.map_version();

  std::string err;
  REQUIRE(s.coord.rename_node("a", "workstation", s, err));
  s.pump();
  for (Member* m : {&server, &a, &b}) {
    CHECK(m->state().peers.at(a.pub).name == "workstation");
    CHECK(m->state().version == v + 1);
  }
  CHECK(a.state().welcome->self.name == "workstation");  // its own record follows
  CHECK(s.reg.node_by_name("workstation")->public_key == a.pub);
  CHECK_FALSE(s.reg.node_by_name("a"));
  check_converged(s);

  size_t bytes = s.total_to_peers;
  for (const std::string& bad :
       std::vector<std::string>{"workstation", "server", "Bad_Name", "-x", "x-", "", std::string(64, 'a'), "a.b"}) {
    CAPTURE(bad);
    err.clear();
    CHECK_FALSE(s.coord.rename_node("b", bad, s, err));
    CHECK_FALSE(err.empty());
  }
  err.clear();
  CHECK_FALSE(s.coord.rename_node("nobody", "fine", s, err));
  CHECK_FALSE(err.empty());
  s.pump();
  CHECK(s.total_to_peers == bytes);  // nothing was sent
  CHECK(s.coord.map_version() == v + 1);
  CHECK(s.reg.node_by_name("b")->public_key == b.pub);
  for (Member* m : {&server, &a, &b}) CHECK(m->state().peers.at(b.pub).name == "b");
  check_converged(s);
}

TEST_CASE("control: disconnect and reconnect; a newer link replaces the old one") {
  Sim s(9);
  Member& server = add_server(s);
  std::string t = s.invite({.uses = -1});
  Member& a = s.join(t, "a");
  Member& b = s.join(t, "b");
  uint64_t v = s.coord.map_version();

  s.advance_s(10);
  s.drop(*a.conn);
  s.pump();
  CHECK(s.coord.connected() == 2);
  for (Member* m : {&server, &b}) {
    CHECK_FALSE(m->state().peers.at(a.pub).online);
    CHECK(m->state().version == v + 1);
  }
  CHECK(s.reg.node_by_key(a.pub)->last_seen_unix == s.now_s());
  CHECK_FALSE(s.view(a.pub)->online);

  // While a is away: a new node joins and b is renamed. a misses both deltas.
  Member& c = s.join(t, "c");
  std::string err;
  REQUIRE(s.coord.rename_node("b", "bee", s, err));
  s.pump();
  CHECK_FALSE(has_peer(a, c.pub));

  // a reconnects (its invite was spent at the welcome): a full map again.
  s.advance_s(10);
  ConnId first = s.connect(a);
  s.pump();
  REQUIRE(a.linked());
  CHECK(a.code().empty());
  CHECK(has_peer(a, c.pub));
  CHECK(a.state().peers.at(b.pub).name == "bee");
  CHECK(a.state().peers.at(a.pub).online);
  CHECK(s.reg.nodes().size() == 4);  // no second record for a
  for (Member* m : {&server, &b, &c}) CHECK(m->state().peers.at(a.pub).online);
  check_converged(s);

  // A second link for the same node (the daemon restarted before the old
  // TCP link timed out): it takes over, and the old one's end does not mark
  // the node offline.
  uint64_t v2 = s.coord.map_version();
  Member& a2 = s.add_member("a", "host", std::nullopt, a.key);
  ConnId second = s.connect(a2);
  s.pump();
  REQUIRE(a2.linked());
  CHECK_FALSE(s.links.at(first).open);  // closed by the coordinator
  CHECK_FALSE(a.linked());
  CHECK(s.links.at(second).open);
  CHECK(s.coord.connected() == 4);
  for (Member* m : {&server, &b, &c}) CHECK(m->state().peers.at(a.pub).online);
  CHECK(s.coord.map_version() == v2 + 1);
  check_converged(s);

  s.drop(second);
  s.pump();
  for (Member* m : {&server, &b, &c}) CHECK_FALSE(m->state().peers.at(a.pub).online);
  CHECK(s.coord.connected() == 3);
  check_converged(s);
}

TEST_CASE("control: ephemeral nodes offline past the grace period are removed") {
  Sim s(10);
  Member& server = add_server(s);
  std::string eph = s.invite({.uses = -1, .ephemeral = true});
  std::string normal = s.invite({.uses = -1});
  Member& gone = s.join(eph, "gone");
  Member& stays = s.join(eph, "stays");
  Member& regular = s.join(normal, "regular");
  CHECK(s.reg.node_by_key(gone.pub)->ephemeral);
  CHECK_FALSE(s.reg.node_by_key(regular.pub)->ephemeral);

  s.drop(*gone.conn);
  s.drop(*regular.conn);
  s.pump();
  uint64_t v = s.coord.map_version();
  s.advance_s(299);
  s.coord.expire_ephemeral(300, s);
  s.pump();
  CHECK(s.coord.map_version() == v);  // not yet
  CHECK(s.reg.nodes().size() == 4);

  s.advance_s(1);
  s.coord.expire_ephemeral(300, s);
  s.pump();
  CHECK_FALSE(s.reg.node_by_key(gone.pub));
  CHECK(s.reg.node_by_key(stays.pub));    // online
  CHECK(s.reg.node_by_key(regular.pub));  // offline, but not ephemeral
  for (Member* m : {&server, &stays}) {
    CHECK_FALSE(has_peer(*m, gone.pub));
    CHECK(has_peer(*m, regular.pub));
    CHECK(m->state().version == v + 1);
  }
  check_converged(s);

  // An online ephemeral node stays however long it is up.
  s.advance_s(100000);
  s.coord.expire_ephemeral(300, s);
  s.pump();
  CHECK(s.reg.node_by_key(stays.pub));
  CHECK(s.coord.map_version() == v + 1);
}

TEST_CASE("control: garbage on a fresh connection closes only that connection") {
  Sim s(11);
  Member& server = add_server(s);
  Member& a = s.join(s.invite());
  uint64_t v = s.coord.map_version();

  std::vector<std::vector<uint8_t>> junk;
  junk.push_back({0xff, 0xff, 0xff, 0xff, 1, 2, 3});  // a frame longer than the limit
  junk.push_back({0, 0, 0, 0});                       // an empty frame
  std::vector<uint8_t> fake(4 + 148, 0xee);           // a frame of the initiation's size, not one
  fake[0] = 0, fake[1] = 0, fake[2] = 0, fake[3] = 148;
  junk.push_back(fake);
  std::vector<uint8_t> http = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1', '\r', '\n'};
  junk.push_back(http);  // "GET " is a length of 1.2 GB: over the limit

  for (auto& j : junk) {
    bool closed = false;
    ConnId id = s.open_link(Peer{[](std::span<const uint8_t>, std::vector<uint8_t>&) { return true; },
                                 [&closed] { closed = true; }});
    s.links.at(id).to_coord = j;
    s.pump();
    CHECK(closed);
    CHECK(s.links.at(id).bytes_to_peer == 0);
  }
  CHECK(s.coord.connected() == 2);
  CHECK(s.coord.map_version() == v);
  CHECK(server.linked());
  CHECK(a.linked());

  // The live links still work: a ping is answered, and a new node joins.
  size_t before = s.links.at(*a.conn).bytes_to_peer;
  s.links.at(*a.conn).to_coord = a.agent->ping();
  s.pump();
  CHECK(s.links.at(*a.conn).bytes_to_peer > before);
  CHECK(a.linked());
  CHECK(s.join(s.invite()).linked());
  check_converged(s);
}

TEST_CASE("control: after the handshake, a hello must come first and must be well formed") {
  Sim s(12);
  Member& server = add_server(s);
  Member& a = s.join(s.invite(), "a");

  // A raw client: the same secure channel an agent uses, messages by hand.
  struct Raw {
    std::unique_ptr<control::SecureChannel> ch;
    std::vector<std::string> got;
    bool closed = false;
  };
  auto open_raw = [&](Raw& r, const crypto::SecretKey& key) {
    r.ch = control::SecureChannel::client(key, s.coord.public_key(), s.rng, s.wall_ns);
    ConnId id = s.open_link(Peer{[&r](std::span<const uint8_t> in, std::vector<uint8_t>& out) {
                                   bool ok = r.ch->on_bytes(in, r.got);
                                   auto o = r.ch->take_output();
                                   out.insert(out.end(), o.begin(), o.end());
                                   return ok;
                                 },
                                 [&r] { r.closed = true; }});
    s.links.at(id).to_coord = r.ch->take_output();
    return id;
  };
  auto error_code = [](const Raw& r) -> std::string {
    for (auto& g : r.got)
      if (auto m = control::decode(g); m && std::holds_alternative<control::ErrorMsg>(*m))
        return std::get<control::ErrorMsg>(*m).code;
    return "";
  };
  auto say = [&](ConnId id, Raw& r, const std::string& msg) {
    r.ch->send(msg);
    auto o = r.ch->take_output();
    auto& l = s.links.at(id);
    l.to_coord.insert(l.to_coord.end(), o.begin(), o.end());
    s.pump();
  };

  SUBCASE("a ping before the hello") {
    Raw r;
    ConnId id = open_raw(r, a.key);
    say(id, r, control::encode(control::Ping{}));
    CHECK(error_code(r) == "protocol");
    CHECK(r.closed);
  }
  SUBCASE("malformed JSON") {
    Raw r;
    ConnId id = open_raw(r, a.key);
    say(id, r, "{\"type\":\"hello\",");
    CHECK(error_code(r) == "bad_message");
    CHECK(r.closed);
  }
  SUBCASE("a hello sent twice") {
    Raw r;
    ConnId id = open_raw(r, a.key);
    control::Hello h;
    h.listen_port = kListenPort;
    say(id, r, control::encode(h));
    REQUIRE(r.got.size() == 2);  // welcome + map
    say(id, r, control::encode(h));
    CHECK(error_code(r) == "protocol");
    CHECK(r.closed);
  }
  CHECK(server.linked());
}

TEST_CASE("control: endpoint candidates from the hello and from updates reach every node") {
  Sim s(14);
  Member& server = add_server(s);
  auto lan = *net::Endpoint::parse("192.168.1.20:51820");
  auto stun = *net::Endpoint::parse("198.51.100.77:40001");

  // Known before the link comes up: the hello carries them; the STUN mapping
  // goes first, and replaces the guess from the link's source address.
  Member& a = s.add_member("a");
  CHECK(a.agent->set_endpoints({lan}, stun).empty());  // no link yet
  Sim::use_token(a, s.invite());
  s.connect(a);
  s.pump();
  REQUIRE(a.linked());
  CHECK(a.state().welcome->self.endpoints == std::vector<net::Endpoint>{stun, lan});
  CHECK(server.state().peers.at(a.pub).endpoints == std::vector<net::Endpoint>{stun, lan});

  // Without a STUN answer the guess is the link's source with the WireGuard port.
  Member& b = s.add_member("b");
  b.agent->set_endpoints({lan}, std::nullopt);
  Sim::use_token(b, s.invite());
  s.connect(b);
  s.pump();
  REQUIRE(b.linked());
  auto guess = net::Endpoint{Sim::remote_ip(*b.conn), kListenPort};
  CHECK(server.state().peers.at(b.pub).endpoints == std::vector<net::Endpoint>{guess, lan});

  // A change while linked is one delta to everyone.
  uint64_t v = s.coord.map_version();
  auto lan2 = *net::Endpoint::parse("10.1.2.3:51820");
  auto stun2 = *net::Endpoint::parse("198.51.100.77:40999");
  auto bytes = a.agent->set_endpoints({lan2}, stun2);
  REQUIRE_FALSE(bytes.empty());
  s.links.at(*a.conn).to_coord = bytes;
  s.pump();
  CHECK(a.linked());
  CHECK(s.coord.map_version() == v + 1);
  for (Member* m : {&server, &a, &b}) {
    CHECK(m->state().version == v + 1);
    CHECK(m->state().peers.at(a.pub).endpoints == std::vector<net::Endpoint>{stun2, lan2});
  }
  CHECK(a.state().welcome->self.endpoints == std::vector<net::Endpoint>{stun2, lan2});
  CHECK(s.reg.node_by_key(a.pub)->endpoints == std::vector<net::Endpoint>{stun2, lan2});
  // The same candidates again: nothing to send.
  CHECK(a.agent->set_endpoints({lan2}, stun2).empty());
  check_converged(s);
}

TEST_CASE("control: a hello without an invite from an unknown key is refused as not_member") {
  Sim s(13);
  Member& server = add_server(s);
  uint64_t v = s.coord.map_version();
  Member& stranger = s.add_member("stranger");
  s.connect(stranger);
  s.pump();
  CHECK(stranger.code() == "not_member");
  CHECK_FALSE(stranger.linked());
  CHECK_FALSE(stranger.state().welcome);
  CHECK_FALSE(stranger.conn);
  CHECK_FALSE(stranger.agent->last_error().empty());
  CHECK(s.reg.nodes().size() == 1);
  CHECK(s.coord.connected() == 1);
  CHECK(s.coord.map_version() == v);
  CHECK(server.state().peers.size() == 1);
}
