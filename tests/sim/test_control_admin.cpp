// Control plane on a virtual network: removal, rename, links, ephemeral nodes, bad input.
#include "control_sim.hpp"
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

TEST_CASE("control: removed nodes stay revoked for the relays as long as their grants can be valid") {
  Sim s(8);
  add_server(s);
  CHECK(s.coord.revoked_keys().empty());
  std::string t = s.invite({.uses = -1});
  Member& a = s.join(t, "a");
  Member& b = s.join(t, "b");
  std::string err;
  REQUIRE(s.coord.remove_node("a", s, err));
  CHECK(s.coord.revoked_keys().empty());  // no relays: nothing to tell
  relay::RelaySecret secret{};
  s.coord.set_relays(secret, {*net::Endpoint::parse("203.0.113.9:51822")}, 3600);
  CHECK(s.coord.revoked_keys() == std::vector{a.pub});
  s.advance_s(1800);
  REQUIRE(s.coord.remove_node("b", s, err));
  CHECK(s.coord.revoked_keys() == std::vector{a.pub, b.pub});
  s.advance_s(1801);  // a's last grant is over; b's is not
  CHECK(s.coord.revoked_keys() == std::vector{b.pub});
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
