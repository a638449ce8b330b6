// The coordinator's map distribution at scale, for correctness only (the
// load tool, bench/coord_load.cpp, measures the speed): a delta is built once
// and shared by every link, deferred deltas coalesce a burst into one, and a
// node that only ever received deltas ends with the map a fresh node gets.
#include "control_sim.hpp"

namespace {

// A client driven by hand that keeps every message text it received.
struct RawNode {
  std::unique_ptr<control::SecureChannel> ch;
  std::vector<std::string> got;
};

ConnId raw_join(Sim& s, RawNode& r, const std::string& token, const std::string& name) {
  auto t = std::get<control::Token>(control::decode_token(token));
  auto key = crypto::generate_private_key(s.rng);
  r.ch = control::SecureChannel::client(key, s.coord.public_key(), s.rng, s.wall_ns);
  control::Hello h;
  h.name = name;
  h.listen_port = kListenPort;
  h.invite_id = control::hex(t.invite_id);
  h.invite_secret = crypto::to_base64url(t.secret);
  r.ch->send(control::encode(h));
  Peer p;
  p.on_bytes = [&r](std::span<const uint8_t> in, std::vector<uint8_t>& out) {
    std::vector<std::string> msgs;
    bool ok = r.ch->on_bytes(in, msgs);
    for (auto& m : msgs) r.got.push_back(m);
    auto o = r.ch->take_output();
    out.insert(out.end(), o.begin(), o.end());
    return ok;
  };
  ConnId id = s.open_link(std::move(p));
  s.links[id].to_coord = r.ch->take_output();
  s.pump();
  return id;
}

using PeerMap = std::map<crypto::PublicKey, control::PeerInfo, control::KeyLess>;

// Applies what the agent says changed to `mirror`, as the daemon does; the
// mirror must then equal the agent's map.
void follow_changes(Member& m, PeerMap& mirror) {
  auto ch = m.agent->take_changes();
  if (ch.full) {
    mirror = m.state().peers;
  } else {
    for (auto& k : ch.removed) {
      CHECK_FALSE(ch.upserted.count(k));
      CHECK_FALSE(m.state().peers.count(k));
      mirror.erase(k);
    }
    for (auto& k : ch.upserted) {
      REQUIRE(m.state().peers.count(k));
      mirror[k] = m.state().peers.at(k);
    }
  }
  CHECK(mirror == m.state().peers);
}

}  // namespace

TEST_CASE("control deltas: one change is encoded once and every link gets the same message") {
  Sim s(11);
  add_server(s);
  std::string token = s.invite({.uses = -1});
  std::vector<RawNode> raw(4);
  for (size_t i = 0; i < raw.size(); ++i) raw_join(s, raw[i], token, "raw-" + std::to_string(i));
  for (auto& r : raw) r.got.clear();

  std::string err;
  REQUIRE(s.coord.rename_node("server", "hub", s, err));
  s.pump();
  for (auto& r : raw) {
    REQUIRE(r.got.size() == 1);
    CHECK(r.got[0] == raw[0].got[0]);  // byte for byte the same text
  }
  auto m = control::decode(raw[0].got[0]);
  REQUIRE(m);
  auto* d = std::get_if<control::Delta>(&*m);
  REQUIRE(d);
  REQUIRE(d->upsert.size() == 1);
  CHECK(d->upsert[0].name == "hub");
  CHECK(d->version == s.coord.map_version());
}

TEST_CASE("control deltas: deferred, a burst of joins reaches each node as one delta and all converge") {
  Sim s(12);
  s.coord.defer_deltas(true);
  Member& server = add_server(s);
  s.coord.flush_deltas(s);
  s.pump();
  std::string token = s.invite({.uses = -1});
  Member& first = s.join(token, "first");
  s.coord.flush_deltas(s);
  s.pump();
  uint64_t v0 = s.coord.map_version();
  CHECK(server.state().version == v0);

  std::vector<Member*> burst;
  for (int i = 0; i < 8; ++i) burst.push_back(&s.join(token, "burst-" + std::to_string(i)));
  // Nothing broadcast yet: the earlier nodes have not heard of the burst.
  CHECK(s.coord.deltas_pending());
  CHECK(server.state().peers.size() == 2);
  CHECK(first.state().version == v0);

  s.coord.flush_deltas(s);
  s.pump();
  CHECK_FALSE(s.coord.deltas_pending());
  CHECK(s.coord.map_version() == v0 + 1);  // one delta for eight joins
  CHECK(server.state().version == v0 + 1);
  CHECK(server.state().peers.size() == 10);
  for (Member* m : burst) {
    CHECK(m->state().version == v0 + 1);
    CHECK(has_peer(server, m->pub));
  }
  check_converged(s);
}

TEST_CASE("control deltas: a node fed only deltas ends with the map a fresh node gets") {
  for (uint64_t seed : {21, 22, 23}) {
    CAPTURE(seed);
    Sim s(seed);
    bool defer = seed != 21;  // one run flushing per event, two batching
    s.coord.defer_deltas(defer);
    crypto::SeededRng pick(seed * 31 + 7);
    add_server(s);
    std::string token = s.invite({.uses = -1});
    std::map<Member*, PeerMap> mirrors;
    auto settle = [&] {
      if (!defer || pick.uniform(2) == 0) s.coord.flush_deltas(s);
      s.pump();
      for (auto& m : s.members)
        if (m->state().welcome) follow_changes(*m, mirrors[m.get()]);
    };
    // Names come from the coordinator: a node's own view may be a batch behind.
    auto random_linked = [&]() -> Member* {
      auto live = s.linked();
      return live.size() > 1 ? live[1 + pick.uniform(static_cast<uint32_t>(live.size() - 1))] : nullptr;
    };
    for (int step = 0; step < 120; ++step) {
      std::string err;
      switch (pick.uniform(6)) {
        case 0:
        case 1:
          s.join(token, "n" + std::to_string(step));
          break;
        case 2:
          if (Member* m = random_linked())
            CHECK(s.coord.rename_node(s.view(m->pub)->node.name, "r" + std::to_string(step), s, err));
          break;
        case 3:
          if (Member* m = random_linked(); m && pick.uniform(3) == 0)
            CHECK(s.coord.remove_node(s.view(m->pub)->node.name, s, err));
          break;
        case 4:  // a link drops; half the time the node comes straight back
          if (Member* m = random_linked()) {
            s.drop(*m->conn);
            if (pick.uniform(2)) s.connect(*m);
          }
          break;
        case 5:  // new endpoints
          if (Member* m = random_linked()) {
            net::Endpoint e{net::IpAddr::v4(192, 168, 7, static_cast<uint8_t>(step)), kListenPort};
            auto bytes = m->agent->set_endpoints({e}, std::nullopt);
            auto& l = s.links.at(*m->conn);
            l.to_coord.insert(l.to_coord.end(), bytes.begin(), bytes.end());
          }
          break;
      }
      settle();
    }
    s.coord.flush_deltas(s);
    s.pump();
    for (auto& m : s.members)
      if (m->state().welcome) follow_changes(*m, mirrors[m.get()]);
    Member& fresh = s.join(token, "fresh");
    s.coord.flush_deltas(s);
    s.pump();
    REQUIRE(fresh.linked());
    check_converged(s);  // every linked node equals the fresh node's full map and the registry
    CHECK(s.linked().size() > 5);
  }
}
