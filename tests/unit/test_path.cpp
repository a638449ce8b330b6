#include <doctest/doctest.h>

#include "engine/nat/path.hpp"

using namespace ovl;
using nat::PathSelector;
using namespace std::chrono_literals;

TEST_CASE("path: relay after the direct grace period, probe direct while relayed") {
  PathSelector sel;
  crypto::PublicKey k{};
  k[0] = 1;
  PathSelector::Observation o;
  o.have_direct = true;
  o.relay_ready = true;
  CHECK(sel.decide(k, o, 0s) == PathSelector::Action::none);
  CHECK(sel.decide(k, o, 3s) == PathSelector::Action::none);
  CHECK(sel.decide(k, o, 4s) == PathSelector::Action::use_relay);
  CHECK(sel.reason(k) == "direct probes unanswered");
  o.on_relay = true;
  o.session = true;
  CHECK(sel.decide(k, o, 5s) == PathSelector::Action::none);  // just switched
  CHECK(sel.decide(k, o, 18s) == PathSelector::Action::none);
  CHECK(sel.decide(k, o, 19s) == PathSelector::Action::probe_direct);
  CHECK(sel.decide(k, o, 20s) == PathSelector::Action::none);
  // The probe was answered: roaming moved the peer back to a direct path.
  o.on_relay = false;
  CHECK(sel.decide(k, o, 21s) == PathSelector::Action::none);
  CHECK(sel.reason(k).empty());
}

TEST_CASE("path: a direct path whose replies stop falls back to the relay") {
  PathSelector sel;
  crypto::PublicKey k{};
  PathSelector::Observation o;
  o.session = o.have_direct = o.relay_ready = true;
  o.rx_bytes = 100;
  o.tx_bytes = 100;
  CHECK(sel.decide(k, o, 0s) == PathSelector::Action::none);
  // Traffic both ways: fine.
  o.rx_bytes = 5000, o.tx_bytes = 5000;
  CHECK(sel.decide(k, o, 1s) == PathSelector::Action::none);
  // We keep sending; nothing comes back.
  o.tx_bytes = 9000;
  CHECK(sel.decide(k, o, 2s) == PathSelector::Action::none);
  CHECK(sel.decide(k, o, 4s) == PathSelector::Action::none);
  CHECK(sel.decide(k, o, 5s) == PathSelector::Action::use_relay);
  CHECK(sel.reason(k) == "direct path stopped answering");
}

TEST_CASE("path: idle peers and peers without a relay stay put") {
  PathSelector sel;
  crypto::PublicKey k{};
  PathSelector::Observation o;
  o.session = o.have_direct = o.relay_ready = true;
  for (int i = 0; i < 60; ++i) CHECK(sel.decide(k, o, std::chrono::seconds(i)) == PathSelector::Action::none);
  // Keepalives only (a few bytes each way at different times): not "lost".
  o.tx_bytes += 64;
  CHECK(sel.decide(k, o, 61s) == PathSelector::Action::none);
  CHECK(sel.decide(k, o, 70s) == PathSelector::Action::none);
  PathSelector sel2;
  o.session = false;
  o.relay_ready = false;
  CHECK(sel2.decide(k, o, 0s) == PathSelector::Action::none);
  CHECK(sel2.decide(k, o, 100s) == PathSelector::Action::none);
}

TEST_CASE("path: disco moves a relayed peer to a direct path at once, and back when it goes silent") {
  PathSelector sel;
  crypto::PublicKey k{};
  k[0] = 2;
  PathSelector::Observation o;
  o.have_direct = o.relay_ready = true;
  o.on_relay = true;
  o.session = true;
  o.relay_reason = "one side behind endpoint-dependent NAT";
  CHECK(sel.decide(k, o, 0s) == PathSelector::Action::none);
  CHECK(sel.reason(k) == "one side behind endpoint-dependent NAT");
  o.direct_alive = true;  // a pong: no waiting for the 15 s probe
  CHECK(sel.decide(k, o, 1s) == PathSelector::Action::use_direct);
  CHECK(sel.reason(k).empty());
  o.on_relay = false;
  o.on_best = true;
  // Disco answers, so no session yet is no reason for the relay.
  o.session = false;
  for (int i = 2; i < 10; ++i) CHECK(sel.decide(k, o, std::chrono::seconds(i)) == PathSelector::Action::none);
  o.direct_alive = false;
  o.on_best = false;
  o.direct_lost = true;
  CHECK(sel.decide(k, o, 10s) == PathSelector::Action::use_relay);
  CHECK(sel.reason(k) == "direct path stopped answering");
}

TEST_CASE("path: a better direct path replaces the one in use; NAT reasons are reported") {
  PathSelector sel;
  crypto::PublicKey k{};
  k[0] = 3;
  PathSelector::Observation o;
  o.have_direct = o.relay_ready = o.session = true;
  o.direct_alive = true;
  o.on_best = false;  // the prober prefers another (LAN) path
  CHECK(sel.decide(k, o, 0s) == PathSelector::Action::use_direct);
  PathSelector sel2;
  PathSelector::Observation n;
  n.have_direct = n.relay_ready = true;
  n.relay_reason = "both sides behind endpoint-dependent NAT";
  CHECK(sel2.decide(k, n, 0s) == PathSelector::Action::none);
  CHECK(sel2.decide(k, n, 4s) == PathSelector::Action::use_relay);
  CHECK(sel2.reason(k) == "both sides behind endpoint-dependent NAT");
}
