// Relay: credential mint/verify, the wire codec's exact sizes, and the
// server's rules (allocation, forwarding, refusals, revocation, roaming, rate
// limit, idle expiry, no amplification towards unauthenticated sources), and
// proof of possession: a captured ALLOCATE replayed from elsewhere is refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "engine/control/messages.hpp"
#include "engine/relay/credential.hpp"
#include "engine/relay/protocol.hpp"
#include "engine/relay/server.hpp"
#include "relay_fixture.hpp"

using namespace ovl;
using namespace ovl::relay;
using namespace ovl::relay::test;
using namespace std::chrono_literals;

TEST_CASE("relay: credential mint and verify") {
  const auto s = secret_of(3);
  const auto k = key_of(4);
  const auto mac = credential_mac(s, k, kExp);
  CHECK(verify_credential(s, k, kExp, mac));
  CHECK(mac == credential_mac(s, k, kExp));  // deterministic
  CHECK_FALSE(verify_credential(secret_of(4), k, kExp, mac));  // wrong secret
  CHECK_FALSE(verify_credential(s, key_of(5), kExp, mac));     // wrong node key
  CHECK_FALSE(verify_credential(s, k, kExp + 1, mac));         // wrong expiry
  for (size_t bit = 0; bit < mac.size() * 8; bit += 13) {
    auto bad = mac;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    CHECK_FALSE(verify_credential(s, k, kExp, bad));
  }
  // Domain separation: the context string is part of the MAC input.
  CHECK(credential_mac(s, k, 0) != credential_mac(s, k, 1));
}

TEST_CASE("relay: codec round trips and exact layouts") {
  const auto k = key_of(9);
  Allocate a{k, 0x0102030405060708ull, credential_mac(secret_of(1), k, 7), {}, {}};
  for (size_t i = 0; i < kCookieSize; ++i) a.cookie[i] = static_cast<uint8_t>(0xC0 + i);
  for (size_t i = 0; i < kProofSize; ++i) a.proof[i] = static_cast<uint8_t>(0x50 + i);
  std::vector<uint8_t> buf(kAllocateSize);
  serialize(a, std::span<uint8_t, kAllocateSize>(buf.data(), kAllocateSize));
  CHECK(buf[0] == 'O');
  CHECK(buf[1] == 'V');
  CHECK(buf[2] == 'R');
  CHECK(buf[3] == '1');
  CHECK(buf[4] == 1);
  CHECK(buf[37] == 0x01);  // big-endian expiry right after the key
  CHECK(buf[44] == 0x08);
  CHECK(buf[77] == 0xC0);  // cookie after the mac
  CHECK(buf[93] == 0x50);  // proof last
  CHECK(buf[124] == 0x50 + 31);
  auto pa = parse_allocate(buf);
  REQUIRE(pa);
  CHECK(pa->node == k);
  CHECK(pa->expires_unix == a.expires_unix);
  CHECK(pa->mac == a.mac);
  CHECK(pa->cookie == a.cookie);
  CHECK(pa->proof == a.proof);
  CHECK(proofed_part(std::span<const uint8_t, kAllocateSize>(buf.data(), kAllocateSize)).size() == 88);

  std::vector<uint8_t> ch(kChallengeSize);
  serialize(Challenge{a.cookie}, std::span<uint8_t, kChallengeSize>(ch.data(), kChallengeSize));
  REQUIRE(parse_challenge(ch));
  CHECK(parse_challenge(ch)->cookie == a.cookie);
  CHECK(ch[4] == 6);
  CHECK_FALSE(parse_challenge(std::span(ch).first(kChallengeSize - 1)));
  ch.push_back(0);
  CHECK_FALSE(parse_challenge(ch));
  CHECK(message_type(buf) == MsgType::allocate);
  CHECK(is_relay_message(buf));

  std::vector<uint8_t> al(kAllocatedSize);
  serialize(Allocated{42}, std::span<uint8_t, kAllocatedSize>(al.data(), kAllocatedSize));
  REQUIRE(parse_allocated(al));
  CHECK(parse_allocated(al)->expires_unix == 42);
  CHECK(al[12] == 42);

  for (uint8_t r = 1; r <= 6; ++r) {
    std::vector<uint8_t> rf(kRefusedSize);
    serialize(Refused{RefuseReason(r)}, std::span<uint8_t, kRefusedSize>(rf.data(), kRefusedSize));
    REQUIRE(parse_refused(rf));
    CHECK(uint8_t(parse_refused(rf)->reason) == r);
  }

  for (size_t n : {size_t{1}, size_t{148}, kMaxPayload}) {
    const auto p = payload_of(n, 5);
    const auto s = make_send(k, p);
    REQUIRE(s.size() == kForwardHeaderSize + n);
    auto ps = parse_send(s);
    REQUIRE(ps);
    CHECK(ps->destination == node_id(k));
    CHECK(std::equal(ps->payload.begin(), ps->payload.end(), p.begin(), p.end()));
    CHECK_FALSE(parse_data(s));
    const auto d = make_data(k, p);
    auto pd = parse_data(d);
    REQUIRE(pd);
    CHECK(pd->source == node_id(k));
    CHECK(std::equal(pd->payload.begin(), pd->payload.end(), p.begin(), p.end()));
    CHECK_FALSE(parse_send(d));
    // In-place header + payload equals the convenience form.
    std::vector<uint8_t> manual(kForwardHeaderSize + n);
    write_send_header(node_id(k), std::span<uint8_t, kForwardHeaderSize>(manual.data(), kForwardHeaderSize));
    std::copy(p.begin(), p.end(), manual.begin() + kForwardHeaderSize);
    CHECK(manual == s);
    std::vector<uint8_t> via(kForwardHeaderSize + n);
    CHECK(serialize_data(node_id(k), p, via) == via.size());
    CHECK(via == d);
  }
}

TEST_CASE("relay: codec rejects every size and header violation") {
  const auto k = key_of(2);
  auto alloc = allocate_msg(secret_of(1), k, kExp);
  for (size_t n = 0; n < kAllocateSize + 3; ++n) {
    std::vector<uint8_t> v(alloc.begin(), alloc.begin() + std::min(n, alloc.size()));
    v.resize(n, 0);
    CHECK(parse_allocate(v).has_value() == (n == kAllocateSize));
  }
  std::vector<uint8_t> al(kAllocatedSize);
  serialize(Allocated{1}, std::span<uint8_t, kAllocatedSize>(al.data(), kAllocatedSize));
  auto al_short = al;
  al_short.pop_back();
  auto al_long = al;
  al_long.push_back(0);
  CHECK_FALSE(parse_allocated(al_short));
  CHECK_FALSE(parse_allocated(al_long));

  std::vector<uint8_t> rf(kRefusedSize);
  serialize(Refused{RefuseReason::revoked}, std::span<uint8_t, kRefusedSize>(rf.data(), kRefusedSize));
  auto rf_long = rf;
  rf_long.push_back(0);
  CHECK_FALSE(parse_refused(rf_long));
  CHECK_FALSE(parse_refused(std::span(rf).first(5)));
  for (uint8_t bad : {0, 7, 255}) {
    auto r = rf;
    r[5] = bad;
    CHECK_FALSE(parse_refused(r));
  }

  // SEND/DATA: header alone (empty payload) and over 65535 bytes are invalid.
  std::vector<uint8_t> hdr(kForwardHeaderSize);
  write_send_header(node_id(k), std::span<uint8_t, kForwardHeaderSize>(hdr.data(), kForwardHeaderSize));
  CHECK_FALSE(parse_send(hdr));
  hdr.push_back(0xAA);
  CHECK(parse_send(hdr));
  hdr.resize(kMaxForwardSize);
  CHECK(parse_send(hdr));
  hdr.push_back(0);
  CHECK_FALSE(parse_send(hdr));
  CHECK(make_send(k, {}).empty());
  CHECK(make_send(k, payload_of(kMaxPayload + 1, 0)).empty());
  std::vector<uint8_t> small(kForwardHeaderSize + 4);
  CHECK(serialize_send(node_id(k), payload_of(5, 0), small) == 0);  // does not fit

  // Magic and type.
  CHECK_FALSE(is_relay_message({}));
  CHECK_FALSE(is_relay_message(std::span(alloc).first(4)));
  for (size_t i = 0; i < 4; ++i) {
    auto v = alloc;
    v[i] ^= 0x20;
    CHECK_FALSE(is_relay_message(v));
    CHECK_FALSE(parse_allocate(v));
  }
  for (uint8_t t : {0, 8, 0xFF}) {  // 7 is REVOKE
    auto v = alloc;
    v[4] = t;
    CHECK_FALSE(is_relay_message(v));
  }
  auto as_allocated = alloc;
  as_allocated[4] = 2;
  CHECK(is_relay_message(as_allocated));  // a known type; the size is wrong for it
  CHECK_FALSE(parse_allocate(as_allocated));
  CHECK_FALSE(parse_allocated(as_allocated));
  // WireGuard and STUN first bytes never look like the relay's.
  const uint8_t wg[] = {1, 0, 0, 0, 0, 0};
  CHECK_FALSE(is_relay_message(wg));
}

TEST_CASE("relay: two nodes exchange payloads both ways byte-exact") {
  Fixture f;
  f.allocate_both();
  CHECK(f.server.allocations() == 2);
  for (size_t n : {size_t{1}, size_t{32}, size_t{1420}, kMaxPayload}) {
    const auto p = payload_of(n, uint8_t(n));
    auto& o = f.feed(make_send(f.kb, p), f.ea);
    REQUIRE(o.size() == 1);
    CHECK(o[0].to == f.eb);
    auto d = parse_data(o[0].bytes);
    REQUIRE(d);
    CHECK(d->source == node_id(f.ka));
    CHECK(std::equal(d->payload.begin(), d->payload.end(), p.begin(), p.end()));

    auto& o2 = f.feed(make_send(f.ka, p), f.eb);
    REQUIRE(o2.size() == 1);
    CHECK(o2[0].to == f.ea);
    auto d2 = parse_data(o2[0].bytes);
    REQUIRE(d2);
    CHECK(d2->source == node_id(f.kb));
    CHECK(std::equal(d2->payload.begin(), d2->payload.end(), p.begin(), p.end()));
    f.now += 1s;
  }
  CHECK(f.server.counters().forwarded == 8);
  // The claimed source is always the sender's own key: a node cannot forge it.
  // To an unknown destination or to itself: dropped silently.
  CHECK(f.feed(make_send(key_of(77), payload_of(40, 1)), f.ea).empty());
  CHECK(f.feed(make_send(f.ka, payload_of(40, 1)), f.ea).empty());
  CHECK(f.server.counters().no_destination == 2);
}

TEST_CASE("relay: send before allocate is refused with reason 3") {
  Fixture f;
  const auto req = make_send(f.kb, payload_of(100, 1));
  auto& o = f.feed(req, f.ea);
  CHECK(refusal(o) == RefuseReason::not_allocated);
  CHECK(o[0].to == f.ea);
  CHECK(o[0].bytes.size() == kRefusedSize);
  CHECK(f.server.counters().dropped_unauth == 1);
  CHECK(f.server.counters().refused == 1);
}

TEST_CASE("relay: forged, expired and revoked credentials are refused") {
  Fixture f;
  SUBCASE("forged") {
    auto forged = allocate_msg(secret_of(99), f.ka, kExp);  // minted with another secret
    CHECK(refusal(f.feed(forged, f.ea)) == RefuseReason::bad_credential);
    auto flipped = allocate_msg(f.secret, f.ka, kExp);
    flipped[50] ^= 1;
    CHECK(refusal(f.feed(flipped, f.ea)) == RefuseReason::bad_credential);
    auto other_key = allocate_msg(f.secret, f.ka, kExp);
    other_key[5] ^= 1;  // someone else's key under a's MAC
    CHECK(refusal(f.feed(other_key, f.ea)) == RefuseReason::bad_credential);
    CHECK(f.server.allocations() == 0);
  }
  SUBCASE("expired") {
    CHECK(refusal(f.feed(allocate_msg(f.secret, f.ka, kNowUnix), f.ea)) == RefuseReason::expired_credential);
    CHECK(refusal(f.feed(allocate_msg(f.secret, f.ka, kNowUnix - 10), f.ea)) == RefuseReason::expired_credential);
    CHECK(f.server.allocations() == 0);
    // An allocation whose credential runs out while in use: next SEND gets 2.
    f.allocate_both();
    auto& o = f.feed(make_send(f.kb, payload_of(50, 1)), f.ea, int64_t(kExp));
    CHECK(refusal(o) == RefuseReason::expired_credential);
    CHECK_FALSE(f.server.is_allocated(f.ka));
  }
  SUBCASE("revoked") {
    f.allocate_both();
    f.server.revoke(f.ka);
    CHECK(f.server.allocations() == 1);
    CHECK_FALSE(f.server.is_allocated(f.ka));
    // b's SEND to a is dropped; a's SEND is not forwarded; a cannot re-allocate.
    CHECK(f.feed(make_send(f.ka, payload_of(60, 2)), f.eb).empty());
    CHECK(refusal(f.feed(make_send(f.kb, payload_of(60, 2)), f.ea)) == RefuseReason::not_allocated);
    CHECK(refusal(f.feed(allocate_msg(f.secret, f.ka, kExp), f.ea)) == RefuseReason::revoked);
    CHECK(refusal(f.feed(allocate_msg(f.secret, f.ka, kExp), ep(9, 9))) == RefuseReason::revoked);
    CHECK(f.server.counters().forwarded == 0);
    f.server.unrevoke(f.ka);
    CHECK(parse_allocated(f.alloc(f.ka, f.ea).at(0).bytes));
    CHECK(f.server.is_allocated(f.ka));
  }
}

TEST_CASE("relay: a REVOKE from the coordinator removes a node; forged, stale or cut ones change nothing") {
  Fixture f;
  f.allocate_both();
  const auto coord = ep(50, 51821);
  auto bad_before = f.server.counters().bad;
  SUBCASE("not genuine") {
    auto forged = make_revoke(secret_of(99), f.ka, kNowUnix);
    CHECK(f.feed(forged, coord).empty());
    auto flipped = make_revoke(f.secret, f.ka, kNowUnix);
    flipped[6] ^= 1;  // another key under a's MAC
    CHECK(f.feed(flipped, coord).empty());
    CHECK(f.feed(make_revoke(f.secret, f.ka, kNowUnix - kRevokeWindow - 1), coord).empty());  // stale
    CHECK(f.feed(make_revoke(f.secret, f.ka, kNowUnix + kRevokeWindow + 1), coord).empty());  // from the future
    auto cut = make_revoke(f.secret, f.ka, kNowUnix);
    cut.pop_back();
    CHECK(f.feed(cut, coord).empty());
    CHECK(f.server.counters().bad == bad_before + 5);
    CHECK(f.server.counters().revoked == 0);
    CHECK(f.server.is_allocated(f.ka));
  }
  SUBCASE("genuine") {
    auto r = make_revoke(f.secret, f.ka, kNowUnix - 10);
    REQUIRE(r.size() == kRevokeSize);
    CHECK(f.feed(r, coord).empty());  // never answered
    CHECK(f.server.counters().revoked == 1);
    CHECK_FALSE(f.server.is_allocated(f.ka));
    CHECK(f.server.is_allocated(f.kb));
    // Its still-valid credential no longer works, from any address.
    CHECK(refusal(f.feed(allocate_msg(f.secret, f.ka, kExp), f.ea)) == RefuseReason::revoked);
    CHECK(f.feed(make_send(f.ka, payload_of(60, 2)), f.eb).empty());
    CHECK(f.feed(r, ep(7, 7)).empty());  // a replay only revokes the removed node again
  }
}

TEST_CASE("relay: re-allocation from a new address moves the endpoint") {
  Fixture f;
  f.allocate_both();
  const auto roamed = ep(50, 5050);
  auto& o = f.alloc(f.ka, roamed);
  REQUIRE(o.size() == 1);
  CHECK(o[0].to == roamed);
  CHECK(parse_allocated(o[0].bytes));
  CHECK(f.server.allocations() == 2);
  // b -> a now goes to the new address; the old address is no longer a.
  auto& fwd = f.feed(make_send(f.ka, payload_of(70, 3)), f.eb);
  REQUIRE(fwd.size() == 1);
  CHECK(fwd[0].to == roamed);
  CHECK(refusal(f.feed(make_send(f.kb, payload_of(70, 3)), f.ea)) == RefuseReason::not_allocated);
  auto& from_new = f.feed(make_send(f.kb, payload_of(70, 3)), roamed);
  REQUIRE(from_new.size() == 1);
  CHECK(parse_data(from_new[0].bytes)->source == node_id(f.ka));

  // Another node taking over an address (NAT reuse) evicts the old holder.
  const auto kc = key_of(3);
  CHECK(parse_allocated(f.alloc(kc, f.eb).at(0).bytes));
  CHECK_FALSE(f.server.is_allocated(f.kb));
  auto& as_c = f.feed(make_send(f.ka, payload_of(40, 4)), f.eb);
  REQUIRE(as_c.size() == 1);
  CHECK(parse_data(as_c[0].bytes)->source == node_id(kc));
}

TEST_CASE("relay: SEND/DATA name nodes by an 8-byte id; a taken id cannot allocate") {
  CHECK(kForwardHeaderSize == 13);
  CHECK(1424 + 32 + kForwardHeaderSize + 20 + 8 <= 1500);  // a full relayed datagram fits IPv4 at MTU 1500
  Fixture f;
  f.allocate_both();
  // Another key with a's id: a's key with the top bit of its last byte
  // flipped. X25519 ignores that bit, so a's private key proves it, and a
  // credential for it can be minted here: the only way to reach the check.
  crypto::PublicKey twin = f.ka;
  twin[31] ^= 0x80;
  REQUIRE(node_id(twin) == node_id(f.ka));
  private_keys()[twin] = private_keys().at(f.ka);
  CHECK(f.alloc(twin, ep(77, 7777)).empty());  // dropped silently
  CHECK(f.server.counters().id_taken == 1);
  CHECK_FALSE(f.server.is_allocated(twin));
  CHECK(f.server.is_allocated(f.ka));
  auto& fwd = f.feed(make_send(f.ka, payload_of(50, 3)), f.eb);
  REQUIRE(fwd.size() == 1);
  CHECK(fwd[0].to == f.ea);
  CHECK(parse_data(fwd[0].bytes)->source == node_id(f.kb));
}

TEST_CASE("relay: rate limit engages and recovers") {
  Server::Options o;
  o.bytes_per_sec_per_node = 100000;
  o.burst_bytes = 10000;
  Fixture f(o);
  f.allocate_both();
  const auto msg = make_send(f.kb, payload_of(1000 - kForwardHeaderSize, 1));  // 1000 bytes on the wire
  REQUIRE(msg.size() == 1000);
  for (int i = 0; i < 10; ++i) CHECK(f.feed(msg, f.ea).size() == 1);  // the burst
  auto& o1 = f.feed(msg, f.ea);
  CHECK(refusal(o1) == RefuseReason::rate_limited);
  CHECK(o1[0].to == f.ea);
  for (int i = 0; i < 20; ++i) CHECK(f.feed(msg, f.ea).empty());  // no second REFUSED within a second
  CHECK(f.server.counters().rate_limited == 21);
  CHECK(f.server.counters().forwarded == 10);
  // b is not affected by a's bucket.
  CHECK(f.feed(make_send(f.ka, payload_of(100, 1)), f.eb).size() == 1);

  f.now += 5ms;  // 500 bytes of budget: not yet one message (and no REFUSED again yet)
  CHECK(f.feed(msg, f.ea).empty());
  f.now += 10ms;  // 1000 more bytes
  auto& ok = f.feed(msg, f.ea);
  REQUIRE(ok.size() == 1);
  CHECK(parse_data(ok[0].bytes));
  f.now += 2s;  // refilled to the burst, not beyond
  int passed = 0;
  for (int i = 0; i < 15; ++i) passed += f.feed(msg, f.ea).size() == 1 && parse_data(f.out[0].bytes) ? 1 : 0;
  CHECK(passed == 10);
  CHECK(f.server.counters().refused == 2);  // the second REFUSED 5 came more than a second later
}

TEST_CASE("relay: idle allocations expire") {
  Server::Options o;
  o.idle_timeout = 120s;
  Fixture f(o);
  f.allocate_both();
  f.now += 100s;
  CHECK(f.feed(make_send(f.kb, payload_of(40, 1)), f.ea).size() == 1);  // a is active, b is not
  f.now += 30s;
  f.server.expire(f.now);
  CHECK(f.server.allocations() == 1);
  CHECK(f.server.is_allocated(f.ka));
  CHECK_FALSE(f.server.is_allocated(f.kb));
  CHECK(f.feed(make_send(f.kb, payload_of(40, 1)), f.ea).empty());  // b gone: dropped
  f.now += 121s;
  f.server.expire(f.now);
  CHECK(f.server.allocations() == 0);
}

TEST_CASE("relay: max_nodes bounds the table") {
  Server::Options o;
  o.max_nodes = 3;
  Fixture f(o);
  for (uint8_t i = 0; i < 5; ++i) f.alloc(key_of(10 + i), ep(10 + i, 1000));
  CHECK(f.server.allocations() == 3);
  CHECK(f.server.counters().full == 2);
  // Re-allocation of an existing key still works when full.
  CHECK(parse_allocated(f.alloc(key_of(10), ep(10, 1000)).at(0).bytes));
  // Idle ones make room.
  f.now += 200s;
  CHECK(parse_allocated(f.alloc(key_of(20), ep(20, 1000)).at(0).bytes));
  CHECK(f.server.allocations() == 1);
}

TEST_CASE("relay: malformed input is never answered") {
  Fixture f;
  f.allocate_both();
  auto alloc = allocate_msg(f.secret, f.ka, kExp);
  std::vector<std::vector<uint8_t>> junk = {
      {},
      {0x4F, 0x56, 0x52, 0x31},
      {0x4F, 0x56, 0x52, 0x31, 2, 0, 0, 0, 0, 0, 0, 0, 1},  // ALLOCATED sent to the relay
      {0x4F, 0x56, 0x52, 0x31, 5, 1},                       // REFUSED sent to the relay
      std::vector<uint8_t>(kChallengeSize, 0),              // CHALLENGE sent to the relay (header below)
      make_data(f.kb, payload_of(40, 1)),                   // DATA sent to the relay
      std::vector<uint8_t>(alloc.begin(), alloc.end() - 1),
      std::vector<uint8_t>(kForwardHeaderSize, 0),
  };
  std::copy(kMagic.begin(), kMagic.end(), junk[4].begin());
  junk[4][4] = 6;
  junk[7][0] = 0x4F, junk[7][1] = 0x56, junk[7][2] = 0x52, junk[7][3] = 0x31, junk[7][4] = 3;
  alloc.push_back(0);
  junk.push_back(alloc);
  for (auto& j : junk) {
    CHECK(f.feed(j, ep(99, 9)).empty());
    CHECK(f.feed(j, f.ea).empty());  // not even to an allocated node
  }
  CHECK(f.server.counters().bad == 2 * junk.size());
  CHECK(f.server.counters().refused == 0);
}

TEST_CASE("relay: no amplification towards unauthenticated sources") {
  Fixture f;
  f.allocate_both();
  std::mt19937_64 rng(12345);
  std::map<net::Endpoint, uint64_t> in, sent;
  const auto valid_alloc = allocate_msg(f.secret, key_of(40), kExp);
  // a's genuine, proved ALLOCATE, captured and replayed from everywhere.
  f.alloc(f.ka, f.ea);
  const auto captured = f.last_allocate;
  for (int i = 0; i < 10000; ++i) {
    const auto from = ep(static_cast<uint8_t>(100 + rng() % 50), static_cast<uint16_t>(1 + rng() % 4));
    std::vector<uint8_t> d;
    switch (rng() % 8) {
      case 0: d.resize(rng() % 200); break;                                   // garbage
      case 1: d = make_send(rng() % 2 ? f.ka : f.kb, payload_of(1 + rng() % 1500, uint8_t(i))); break;
      case 2: d = allocate_msg(secret_of(uint8_t(rng())), key_of(uint8_t(rng())), kExp); break;  // forged
      case 3: d = allocate_msg(f.secret, key_of(50), kNowUnix - 1); break;    // expired (genuine MAC)
      case 4: d.resize(kAllocateSize); break;
      case 5: d = valid_alloc; break;                                         // genuine, no cookie
      case 6: d = captured; break;                                            // replayed
      default: d = valid_alloc; d[5 + rng() % 120] ^= uint8_t(1 + rng() % 255); break;  // corrupted
    }
    if (rng() % 2)
      for (auto& b : d) if (rng() % 8 == 0) b = uint8_t(rng());
    if (d.size() >= 5 && rng() % 2) std::copy(kMagic.begin(), kMagic.end(), d.begin());
    in[from] += d.size();
    f.feed(d, from);
    for (auto& o : f.out) sent[o.to] += o.bytes.size();
    f.now += 1ms;
  }
  for (auto& [who, n] : sent) {
    CHECK(who != f.ea);
    CHECK(who != f.eb);
    CHECK(n <= in[who]);
  }
  CHECK(f.server.allocations() == 2);  // none of it authenticated
  CHECK(f.server.counters().forwarded == 0);
  CHECK(f.server.counters().refused > 100);  // the refusal paths were exercised
  CHECK(f.server.counters().challenged > 100);
  CHECK(f.server.counters().bad > 100);
}

TEST_CASE("relay: a captured ALLOCATE replayed from another address is refused") {
  Fixture f;
  f.allocate_both();
  const auto captured = f.last_allocate;  // b's proved ALLOCATE, as seen on the wire
  const auto thief = ep(66, 6666);

  // Replayed as is: the cookie was made for eb, so the thief only gets a
  // challenge, smaller than what it sent, and no allocation.
  auto& o = f.feed(captured, thief);
  REQUIRE(o.size() == 1);
  auto ch = parse_challenge(o[0].bytes);
  REQUIRE(ch);
  CHECK(o[0].to == thief);
  CHECK(o[0].bytes.size() < captured.size());
  CHECK(f.server.allocations() == 2);
  CHECK(refusal(f.feed(make_send(f.ka, payload_of(80, 1)), thief)) == RefuseReason::not_allocated);

  // The thief's cookie pasted into the captured bytes: the proof no longer fits.
  auto patched = captured;
  std::copy(ch->cookie.begin(), ch->cookie.end(), patched.begin() + 77);
  CHECK(refusal(f.feed(patched, thief)) == RefuseReason::bad_proof);
  // A fresh proof for the thief's cookie made with any other private key.
  Allocate forged{f.kb, kExp, credential_mac(f.secret, f.kb, kExp), ch->cookie, {}};
  crypto::SecretKey wrong;
  REQUIRE(proof_key(wrong, private_keys().at(key_of(9)), relay_public_key(f.secret)));
  sign_allocate(forged, wrong);
  std::vector<uint8_t> fb(kAllocateSize);
  serialize(forged, std::span<uint8_t, kAllocateSize>(fb.data(), kAllocateSize));
  CHECK(refusal(f.feed(fb, thief)) == RefuseReason::bad_proof);

  // b still holds its allocation at eb: a's traffic reaches b there, not the thief.
  auto& fwd = f.feed(make_send(f.kb, payload_of(90, 2)), f.ea);
  REQUIRE(fwd.size() == 1);
  CHECK(fwd[0].to == f.eb);
  CHECK(f.server.counters().challenged >= 3);  // 2 first contacts + the replay

  // From the genuine address the same bytes just renew, while the cookie lasts.
  CHECK(parse_allocated(f.feed(captured, f.eb).at(0).bytes));
  f.now += 2 * kCookieBucket + 1s;
  auto& stale = f.feed(captured, f.eb);
  REQUIRE(stale.size() == 1);
  CHECK(parse_challenge(stale[0].bytes));  // a new cookie is needed, the lease is kept
  CHECK(f.server.is_allocated(f.kb));
}

TEST_CASE("relay: a node whose key is not the credential's cannot allocate") {
  Fixture f;
  // c holds a genuine credential for a's key (captured), and its own key.
  const auto kc = key_of(3);
  Allocate a{f.ka, kExp, credential_mac(f.secret, f.ka, kExp), {}, {}};
  crypto::SecretKey ck;
  REQUIRE(proof_key(ck, private_keys().at(kc), relay_public_key(f.secret)));
  for (int round = 0; round < 2; ++round) {
    sign_allocate(a, ck);
    std::vector<uint8_t> b(kAllocateSize);
    serialize(a, std::span<uint8_t, kAllocateSize>(b.data(), kAllocateSize));
    auto& o = f.feed(b, f.ea);
    REQUIRE(o.size() == 1);
    if (round == 0) {
      auto ch = parse_challenge(o[0].bytes);
      REQUIRE(ch);
      a.cookie = ch->cookie;
    } else {
      CHECK(refusal(o) == RefuseReason::bad_proof);
    }
  }
  CHECK(f.server.allocations() == 0);
}

