// Control plane on a virtual network: enrollment, maps and invites.
#include "control_sim.hpp"

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
  // IPv6: the network's ULA, and the node's address derived from its IPv4 one.
  CHECK(w.network.ula == home_network().ula);
  CHECK(w.self.ip6 == ip("fd12:3456:789a::6453:2"));
  // The full map: both nodes, both online; the observed address with the
  // node's WireGuard port is its first endpoint candidate.
  REQUIRE(laptop.state().peers.size() == 2);
  CHECK(has_peer(laptop, server.pub));
  CHECK(laptop.state().peers.at(server.pub).online);
  CHECK(laptop.state().peers.at(server.pub).ip6 == ip("fd12:3456:789a::6453:1"));
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
  // The delta that told the server about the phone carried its IPv6 address.
  CHECK(server.state().peers.at(phone.pub).ip6 == ip("fd12:3456:789a::6453:3"));
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

TEST_CASE("control: a call-me-maybe reaches the named peer with the sender's key; bounded per link") {
  Sim s(3);
  Member& server = add_server(s);
  std::string token = s.invite({.uses = -1});
  Member& a = s.join(token, "a");
  Member& b = s.join(token, "b");
  REQUIRE(a.linked());
  REQUIRE(b.linked());
  control::CallMeMaybe c;
  c.peer = b.pub;
  c.endpoints = {*net::Endpoint::parse("203.0.113.10:51820"), *net::Endpoint::parse("192.168.1.2:51820")};
  c.mapping = "endpoint-independent";
  c.spray = true;
  s.links[*a.conn].to_coord = a.agent->call_me_maybe(c);
  s.pump();
  auto got = b.agent->take_calls();
  REQUIRE(got.size() == 1);
  CHECK(got[0].peer == a.pub);  // the sender, as the coordinator authenticated it
  CHECK(got[0].endpoints == c.endpoints);
  CHECK(got[0].mapping == "endpoint-independent");
  CHECK(got[0].spray);
  CHECK(server.agent->take_calls().empty());
  CHECK(a.agent->take_calls().empty());
  // A flood is cut at the coordinator's per-link budget, and the link stays up.
  std::vector<uint8_t> many;
  for (int i = 0; i < 300; ++i) {
    auto m = a.agent->call_me_maybe(c);
    many.insert(many.end(), m.begin(), m.end());
  }
  s.links[*a.conn].to_coord = std::move(many);
  s.pump();
  auto flood = b.agent->take_calls();
  CHECK(flood.size() >= 90);
  CHECK(flood.size() <= 100);
  CHECK(a.linked());
  // A call to an unknown key goes nowhere.
  c.peer[0] ^= 1;
  s.advance_s(11);
  s.links[*a.conn].to_coord = a.agent->call_me_maybe(c);
  s.pump();
  CHECK(b.agent->take_calls().empty());
  CHECK(a.linked());
}
