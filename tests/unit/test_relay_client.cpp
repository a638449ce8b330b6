// The node's side of the relays (engine/relay/client.hpp): the challenge and
// lease, leases on several relays, failover and return, the per-peer relay
// choice, and a client with no relay at all.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "engine/control/messages.hpp"
#include "engine/relay/client.hpp"
#include "relay_fixture.hpp"

using namespace ovl;
using namespace ovl::relay;
using namespace ovl::relay::test;

TEST_CASE("relay: the client answers the challenge and gets its lease") {
  Fixture f;
  const auto a_priv = private_keys().at(f.ka);
  Client c(a_priv);
  control::RelayGrant g{f.ea, kExp, credential_mac(f.secret, f.ka, kExp), relay_public_key(f.secret)};
  g.relay = ep(200, 51822);
  Client::Time t{5s};
  c.configure({g}, t);
  const auto a_at = ep(1, 1111);
  int rounds = 0;
  net::Endpoint virt;
  while (!c.ready() && rounds++ < 4) {
    auto msg = c.on_timer(t);
    REQUIRE(msg.size() == 1);
    CHECK(msg[0].to == g.relay);
    auto& o = f.feed(msg[0].bytes, a_at);
    REQUIRE(o.size() == 1);
    CHECK(c.on_message(o[0].bytes, g.relay, t, virt).empty());
    if (!c.ready()) CHECK(c.next_deadline() <= t);  // a new cookie is answered at once
  }
  CHECK(c.ready());
  CHECK(rounds == 2);
  CHECK(f.server.is_allocated(f.ka));
  REQUIRE(c.rtt_at(0));
  CHECK(*c.rtt_at(0) == Client::Time{0});  // answered at the same virtual instant
  CHECK(c.on_timer(t).empty());  // nothing until the renewal
  t += Client::kRenewEvery;
  auto renew = c.on_timer(t);
  REQUIRE(renew.size() == 1);
  auto answer = f.feed(renew[0].bytes, a_at).at(0).bytes;
  CHECK(parse_allocated(answer));
  c.on_message(answer, g.relay, t + 3ms, virt);  // netcheck's relay latency: request to ALLOCATED
  CHECK(c.rtt_at(0) == Client::Time{3ms});
  c.on_message(answer, g.relay, t + 9ms, virt);  // a duplicate answer does not count again
  CHECK(c.rtt_at(0) == Client::Time{3ms});

  // A grant without a relay key (an older coordinator) is not usable.
  Client old(a_priv);
  g.relay_key = {};
  old.configure({g}, t);
  CHECK(old.on_timer(t).empty());
  CHECK(std::string(old.last_refusal()).find("relay key") != std::string::npos);
}

namespace {
// Runs a client's timer at `t` and delivers each request to the relay it is
// for (when `up`), and the answers back; returns how many went out.
struct TwoRelays {
  Fixture r1, r2{secret_of(2)};
  control::RelayGrant g1, g2;
  bool up1 = true, up2 = true;
  net::Endpoint at = ep(1, 1111), virt;
  TwoRelays() {
    g1 = {ep(200, 51822), kExp, credential_mac(r1.secret, r1.ka, kExp), relay_public_key(r1.secret)};
    g2 = {ep(201, 51822), kExp, credential_mac(r2.secret, r2.ka, kExp), relay_public_key(r2.secret)};
  }
  size_t step(Client& c, Client::Time t) {
    auto msgs = c.on_timer(t);
    for (auto& m : msgs) {
      Fixture& f = m.to == g1.relay ? r1 : r2;
      if (!(m.to == g1.relay ? up1 : up2)) continue;
      for (auto& o : f.feed(m.bytes, at)) c.on_message(o.bytes, m.to, t, virt);
    }
    return msgs.size();
  }
  // Configures both relays and runs until both hold the client's lease.
  void lease_both(Client& c, Client::Time& t) {
    c.configure({g1, g2}, t);
    run(c, t, 1s, [&] { return c.ready_at(0) && c.ready_at(1); });
    REQUIRE((c.ready_at(0) && c.ready_at(1)));
  }
  // Steps the client every 100 ms until `done` or `limit` passes.
  Client::Time run(Client& c, Client::Time& t, Client::Time limit, const std::function<bool()>& done) {
    Client::Time start = t;
    while (!done() && t - start < limit) {
      step(c, t);
      if (done()) break;
      t += 100ms;
    }
    return t - start;
  }
};
}  // namespace

TEST_CASE("relay client: leases on every relay; traffic leaves a relay that stops answering, and comes back") {
  TwoRelays n;
  Client c(private_keys().at(n.r1.ka));
  Client::Time t{5s};
  n.lease_both(c, t);
  REQUIRE(c.ready());
  CHECK(c.relay() == n.g1.relay);  // the best one
  CHECK(n.r1.server.is_allocated(n.r1.ka));
  CHECK(n.r2.server.is_allocated(n.r2.ka));

  // Relay 1 dies: its lease is given up after kDeadAfter unanswered
  // requests (the first a renewal, kRenewEvery after its last answer), and
  // relay 2, whose lease was kept all along, carries the traffic.
  n.up1 = false;
  auto took = n.run(c, t, 60s, [&] { return c.relay() == n.g2.relay; });
  CHECK(c.relay() == n.g2.relay);
  CHECK(c.ready());
  CHECK_FALSE(c.ready_at(0));
  CHECK(std::string(c.refusal_at(0)) == "the relay does not answer");
  CHECK(took <= Client::kRenewEvery + Client::kDeadAfter * Client::kRetryEvery + 200ms);
  CHECK(took >= Client::kRenewEvery);
  // Given up, it is asked only every kDeadRetryEvery.
  size_t asked = 0;
  for (Client::Time end = t + 4 * Client::kDeadRetryEvery; t < end; t += 100ms)
    for (auto& m : c.on_timer(t)) {
      if (m.to == n.g1.relay) ++asked;
      else for (auto& o : n.r2.feed(m.bytes, n.at)) c.on_message(o.bytes, m.to, t, n.virt);
    }
  CHECK(asked == 3);  // 10, 20 and 30 s after it was given up
  CHECK(c.ready_at(1));

  // Relay 1 is back: within kDeadRetryEvery it holds our lease and is the
  // best again.
  n.up1 = true;
  took = n.run(c, t, 2 * Client::kDeadRetryEvery, [&] { return c.relay() == n.g1.relay; });
  CHECK(c.relay() == n.g1.relay);
  CHECK(took <= Client::kDeadRetryEvery + 200ms);

  // A new grant list without relay 1: relay 2 keeps its lease.
  c.configure({n.g2}, t);
  CHECK(c.relay() == n.g2.relay);
  CHECK(c.ready());
}

TEST_CASE("relay client: a peer is answered through the relay it was heard from") {
  TwoRelays n;
  Client c(private_keys().at(n.r1.ka));
  Client::Time t{5s};
  n.lease_both(c, t);
  REQUIRE(c.ready_at(1));
  const auto peer = n.r1.kb;
  const auto virt_b = c.endpoint_for(peer);
  std::vector<uint8_t> out(kForwardHeaderSize + 100);
  net::Endpoint to;
  REQUIRE(c.wrap(virt_b, payload_of(100, 3), out, to) > 0);
  CHECK(to == n.g1.relay);  // nothing heard from b yet: the best relay

  // b sits on relay 2 only (relay 1 is out of its reach): its packet comes
  // through relay 2, and the answer goes back the same way.
  net::Endpoint src;
  auto inner = c.on_message(make_data(peer, payload_of(60, 9)), n.g2.relay, t, src);
  CHECK(inner.size() == 60);
  CHECK(src == virt_b);
  REQUIRE(c.wrap(virt_b, payload_of(100, 3), out, to) > 0);
  CHECK(to == n.g2.relay);
  CHECK(c.relay_for(virt_b) == n.g2.relay);
  // DATA from a host that is not one of our relays is ignored.
  CHECK(c.on_message(make_data(peer, payload_of(60, 9)), ep(9, 9), t, src).empty());

  // Relay 1 dies and comes back: the peer is sent through it again (it
  // follows: it answers through the relay it hears us on).
  n.up1 = false;
  n.run(c, t, 60s, [&] { return !c.ready_at(0); });
  REQUIRE(c.wrap(virt_b, payload_of(100, 3), out, to) > 0);
  CHECK(to == n.g2.relay);
  n.up1 = true;
  n.run(c, t, Client::kDeadRetryEvery + 1s, [&] { return c.ready_at(0); });
  REQUIRE(c.wrap(virt_b, payload_of(100, 3), out, to) > 0);
  CHECK(to == n.g1.relay);
  c.on_message(make_data(peer, payload_of(60, 9)), n.g2.relay, t, src);  // b did not follow yet

  // Relay 2 dies: back to the best relay that holds our lease.
  n.up2 = false;
  n.run(c, t, 60s, [&] { return !c.ready_at(1); });
  REQUIRE(c.wrap(virt_b, payload_of(100, 3), out, to) > 0);
  CHECK(to == n.g1.relay);
}

TEST_CASE("relay client: with a single relay that stops answering, the lease is no longer assumed") {
  TwoRelays n;
  Client c(private_keys().at(n.r1.ka));
  Client::Time t{5s};
  // Before any grant (or with none): safe to ask, nothing to send, nothing heard.
  CHECK(c.relay() == net::Endpoint{});
  CHECK(c.relay_for(c.endpoint_for(n.r1.kb)) == net::Endpoint{});
  CHECK(c.on_timer(t).empty());
  net::Endpoint none;
  CHECK(c.on_message(make_data(n.r1.kb, payload_of(10, 1)), n.g1.relay, t, none).empty());
  c.configure({n.g1}, t);
  n.run(c, t, 1s, [&] { return c.ready(); });
  REQUIRE(c.ready());
  n.up1 = false;
  n.run(c, t, 60s, [&] { return !c.ready(); });
  CHECK_FALSE(c.ready());
  CHECK(std::string(c.last_refusal()) == "the relay does not answer");
  std::vector<uint8_t> out(kForwardHeaderSize + 10);
  net::Endpoint to;
  CHECK(c.wrap(c.endpoint_for(n.r1.kb), payload_of(10, 1), out, to) == 0);
  n.up1 = true;  // it keeps asking, and gets its lease when the relay is back
  n.run(c, t, Client::kDeadRetryEvery + 1s, [&] { return c.ready(); });
  CHECK(c.ready());
}
