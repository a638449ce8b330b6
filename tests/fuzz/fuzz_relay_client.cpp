// Fuzz target for the node's side of the relays (engine/relay/client.hpp):
// leases on several relays, failover, the per-peer relay choice.
//
// The input is a script of records [op (1)][length (2, BE)][bytes] driving a
// Client configured with relays R0 and R1. Ops (op % 6): 0-2 a raw datagram
// from R0, R1 or a stranger; 3 a well-formed relay message built by the
// harness ([from 0-2][type][...]: ALLOCATED, CHALLENGE with the bytes as
// cookie, REFUSED with a reason, DATA from a peer key with a payload); 4 time
// passing ([s hi][s lo] tenths of a second) and the timer run; 5 wrap a
// payload for a peer ([peer][payload...]); and, with op bit 7 on op 5, a new
// grant list (bits of bytes[0] pick R0, R1, R2).
// Invariants: nothing crashes; a payload handed back lies inside the datagram
// and comes only from a listed relay, with a virtual source endpoint; every
// ALLOCATE goes to a listed relay, is well-formed and names this node; a
// wrapped SEND goes to a listed relay that holds our lease and carries the
// payload byte-exact to the peer asked for; ready() is "some relay holds our
// lease" and relay() is one of the listed relays.
#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/relay/client.hpp"
#include "engine/relay/credential.hpp"
#include "engine/relay/protocol.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using namespace ovl::relay;
using ovl::fuzz::check;
using ovl::fuzz::same;

crypto::SecretKey fill_key(uint8_t v) {
  crypto::SecretKey k;
  k.b.fill(v);
  return k;
}

net::Endpoint relay_ep(uint8_t i) { return {net::IpAddr::v4(203, 0, 113, static_cast<uint8_t>(10 + i)), 51822}; }

control::RelayGrant grant(uint8_t i, const crypto::PublicKey& self) {
  RelaySecret secret{};
  secret.fill(static_cast<uint8_t>(0x50 + i));
  return {relay_ep(i), 1800000000, credential_mac(secret, self, 1800000000), relay_public_key(secret)};
}

struct Run {
  crypto::SecretKey priv = fill_key(0x11);
  crypto::PublicKey self = crypto::public_from_private(priv);
  Client c{priv};
  std::vector<control::RelayGrant> grants;
  Client::Time now{std::chrono::seconds(1)};
  crypto::PublicKey peers[3] = {crypto::public_from_private(fill_key(0x22)),
                                crypto::public_from_private(fill_key(0x33)),
                                crypto::public_from_private(fill_key(0x44))};

  Run() { configure(0x3); }
  void configure(uint8_t pick) {
    grants.clear();
    for (uint8_t i = 0; i < 3; ++i)
      if (pick >> i & 1) grants.push_back(grant(i, self));
    c.configure(grants, now);
    check(c.relay_count() == grants.size(), "one slot per grant");
  }
  bool listed(const net::Endpoint& e) const {
    for (auto& g : grants)
      if (g.relay == e) return true;
    return false;
  }
  void deliver(std::span<const uint8_t> d, const net::Endpoint& from) {
    std::vector<uint8_t> copy(d.begin(), d.end());  // exactly sized
    net::Endpoint src;
    auto inner = c.on_message(copy, from, now, src);
    if (!inner.empty()) {
      check(inner.data() >= copy.data() && inner.data() + inner.size() <= copy.data() + copy.size(),
            "payload inside the datagram");
      check(listed(from), "payload only from a listed relay");
      check(is_virtual_endpoint(src), "relayed data comes from a virtual endpoint");
    }
  }
  void timer() {
    for (auto& m : c.on_timer(now)) {
      check(listed(m.to), "ALLOCATE only to a listed relay");
      auto a = parse_allocate(m.bytes);
      check(a.has_value(), "ALLOCATE well-formed");
      check(a->node == self, "ALLOCATE names this node");
    }
    check(c.next_deadline() > Client::Time{0} || c.relay_count() == 0, "a next deadline");
  }
  void wrap(const crypto::PublicKey& peer, std::span<const uint8_t> payload) {
    auto virt = c.endpoint_for(peer);
    std::vector<uint8_t> out(kForwardHeaderSize + payload.size());
    net::Endpoint to;
    size_t n = c.wrap(virt, payload, out, to);
    if (!n) return;
    check(listed(to), "SEND only to a listed relay");
    bool ready_there = false;
    for (size_t i = 0; i < c.relay_count(); ++i)
      if (c.relay_at(i) == to) ready_there = c.ready_at(i);
    check(ready_there, "SEND only through a relay that holds our lease");
    auto s = parse_send(std::span<const uint8_t>(out.data(), n));
    check(s.has_value(), "SEND well-formed");
    check(s->destination == node_id(peer), "SEND to the peer asked for");
    check(same(s->payload, payload), "SEND payload byte-exact");
  }
  void invariants() {
    bool any = false;
    for (size_t i = 0; i < c.relay_count(); ++i) any = any || c.ready_at(i);
    check(c.ready() == any, "ready() = some relay holds our lease");
    // Safe with no relay at all (the daemon asks before any is configured).
    check(c.relay_count() ? listed(c.relay()) : c.relay() == net::Endpoint{}, "relay() is a listed relay");
    const auto& via = c.relay_for(c.endpoint_for(peers[1]));
    check(c.relay_count() ? listed(via) : via == net::Endpoint{}, "relay_for() is a listed relay");
    check(c.next_deadline() >= Client::Time{0}, "a deadline");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run run;
  ovl::fuzz::Script script(data, size);
  uint8_t op = 0;
  std::vector<uint8_t> bytes;
  while (script.next(op, bytes)) {
    const net::Endpoint stranger{net::IpAddr::v4(198, 51, 100, 7), 51822};
    switch (op % 6) {
      case 0: case 1: case 2:
        run.deliver(bytes, op % 6 == 2 ? stranger : relay_ep(op % 6));
        break;
      case 3: {  // [from][type][...]
        if (bytes.size() < 2) break;
        const net::Endpoint from = bytes[0] % 4 == 3 ? stranger : relay_ep(bytes[0] % 4);
        std::span<const uint8_t> rest(bytes.data() + 2, bytes.size() - 2);
        switch (bytes[1] % 4) {
          case 0: {
            std::vector<uint8_t> m(kAllocatedSize);
            serialize(Allocated{1800000000}, std::span<uint8_t, kAllocatedSize>(m.data(), m.size()));
            run.deliver(m, from);
            break;
          }
          case 1: {
            Challenge ch;
            for (size_t i = 0; i < ch.cookie.size() && i < rest.size(); ++i) ch.cookie[i] = rest[i];
            std::vector<uint8_t> m(kChallengeSize);
            serialize(ch, std::span<uint8_t, kChallengeSize>(m.data(), m.size()));
            run.deliver(m, from);
            break;
          }
          case 2: {
            Refused r{static_cast<RefuseReason>(rest.empty() ? 1 : rest[0] % 8)};
            std::vector<uint8_t> m(kRefusedSize);
            serialize(r, std::span<uint8_t, kRefusedSize>(m.data(), m.size()));
            run.deliver(m, from);
            break;
          }
          default: {
            if (rest.empty()) break;
            auto m = make_data(run.peers[rest[0] % 3], rest.subspan(1, std::min(rest.size() - 1, kMaxPayload)));
            if (!m.empty()) run.deliver(m, from);
          }
        }
        break;
      }
      case 4: {
        uint64_t tenths = bytes.size() >= 2 ? (uint64_t(bytes[0]) << 8 | bytes[1]) : 1;
        run.now += std::chrono::milliseconds(100 * tenths);
        run.timer();
        break;
      }
      default: {
        if (op & 0x80) {
          run.configure(bytes.empty() ? 0 : bytes[0]);
          break;
        }
        if (bytes.empty()) break;
        std::span<const uint8_t> payload(bytes.data() + 1, std::min(bytes.size() - 1, kMaxPayload));
        run.wrap(run.peers[bytes[0] % 3], payload);
      }
    }
    run.invariants();
  }
  return 0;
}
