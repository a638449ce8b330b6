// Shared by the relay tests: deterministic secrets and X25519 node keys, an
// ALLOCATE built and proved as a node does, and a Server fixture that copies
// out what it sends.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "engine/relay/credential.hpp"
#include "engine/relay/protocol.hpp"
#include "engine/relay/server.hpp"

namespace ovl::relay::test {

using namespace std::chrono_literals;


inline RelaySecret secret_of(uint8_t seed) {
  RelaySecret s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(seed + i * 7);
  return s;
}

// Node keys are real X25519 pairs (an ALLOCATE proves the private half);
// key_of remembers each private key for allocate_msg.
inline std::map<crypto::PublicKey, crypto::SecretKey>& private_keys() {
  static std::map<crypto::PublicKey, crypto::SecretKey> m;
  return m;
}

inline crypto::PublicKey key_of(uint8_t seed) {
  crypto::SecretKey sk;
  for (size_t i = 0; i < sk.b.size(); ++i) sk.b[i] = static_cast<uint8_t>(seed * 13 + i);
  sk.b[0] &= 248;
  sk.b[31] = static_cast<uint8_t>((sk.b[31] & 127) | 64);
  auto pk = crypto::public_from_private(sk);
  private_keys()[pk] = sk;
  return pk;
}

inline net::Endpoint ep(uint8_t last, uint16_t port) { return {net::IpAddr::v4(198, 51, 100, last), port}; }

// An ALLOCATE for `k` under secret `s`, proved with k's private key for the
// relay of `s`, echoing `cookie`.
inline std::vector<uint8_t> allocate_msg(const RelaySecret& s, const crypto::PublicKey& k, uint64_t exp,
                                  const Cookie& cookie = {}) {
  Allocate a{k, exp, credential_mac(s, k, exp), cookie, {}};
  crypto::SecretKey pk;
  REQUIRE(proof_key(pk, private_keys().at(k), relay_public_key(s)));
  sign_allocate(a, pk);
  std::vector<uint8_t> v(kAllocateSize);
  serialize(a, std::span<uint8_t, kAllocateSize>(v.data(), kAllocateSize));
  return v;
}

inline std::vector<uint8_t> payload_of(size_t n, uint8_t seed) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(seed + i * 31);
  return p;
}

inline constexpr int64_t kNowUnix = 1700000000;
inline constexpr uint64_t kExp = kNowUnix + 3600;

// What the server asked to send, copied out of the buffer it wrote over.
struct Out {
  net::Endpoint to;
  std::vector<uint8_t> bytes;
};

inline std::optional<RefuseReason> refusal(const std::vector<Out>& out) {
  if (out.size() != 1) return std::nullopt;
  auto r = parse_refused(out[0].bytes);
  if (!r) return std::nullopt;
  return r->reason;
}

struct Fixture {
  RelaySecret secret = secret_of(1);
  Server server;
  crypto::PublicKey ka = key_of(1), kb = key_of(2);
  net::Endpoint ea = ep(1, 1111), eb = ep(2, 2222);
  Server::Time now{1s};
  std::vector<Out> out;
  std::vector<uint8_t> last_allocate;  // the last ALLOCATE alloc() sent

  explicit Fixture(Server::Options o = {}) : server(secret, o) {}
  explicit Fixture(const RelaySecret& s) : secret(s), server(secret, {}) {}

  std::vector<Out>& feed(std::span<const uint8_t> d, const net::Endpoint& from, int64_t unix_now = kNowUnix) {
    out.clear();
    std::vector<uint8_t> buf(d.begin(), d.end());  // exactly sized: ASan sees any overrun
    net::Endpoint to;
    const size_t n = server.on_datagram(buf, from, now, unix_now, to);
    REQUIRE(n <= d.size());
    if (n) out.push_back({to, std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n))});
    return out;
  }
  // ALLOCATE as a node does: first with no cookie, then answering the challenge.
  std::vector<Out>& alloc(const crypto::PublicKey& k, const net::Endpoint& from, uint64_t exp = kExp) {
    last_allocate = allocate_msg(secret, k, exp);
    auto& o = feed(last_allocate, from);
    if (o.size() == 1) {
      if (auto c = parse_challenge(o[0].bytes)) {
        last_allocate = allocate_msg(secret, k, exp, c->cookie);
        return feed(last_allocate, from);
      }
    }
    return o;
  }
  void allocate_both() {
    auto& o1 = alloc(ka, ea);
    REQUIRE(o1.size() == 1);
    REQUIRE(parse_allocated(o1[0].bytes));
    auto& o2 = alloc(kb, eb);
    REQUIRE(o2.size() == 1);
    REQUIRE(parse_allocated(o2[0].bytes));
  }
};


}  // namespace ovl::relay::test
