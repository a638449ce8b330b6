// Fuzz target for the relay (engine/relay/{protocol,server}.hpp).
//
// The input is a script of records [op (1)][length (2, BE)][bytes] driving a
// Server in which nodes A and B are already allocated. Ops (op % 9): 0-4 a
// raw datagram from one of five endpoints (A's, B's, three strangers); 5 a
// well-formed SEND built from the bytes ([from][to key][payload]); 6 time
// passing (then expire()); 7 revoke/unrevoke; 8 a proved ALLOCATE built by
// the harness ([from][who][flags]: who 0-2 = A/B/C with their own keys, 3 =
// an impostor proving A's credential with another key; flags bit 0 = echo
// the last cookie the relay challenged `from` with, bit 1 = an expired
// credential, bit 2 = echo the cookie given to A's endpoint instead: A's
// ALLOCATE replayed from elsewhere), since a fuzzer cannot make proofs.
// Invariants: nothing crashes; every reply except DATA goes back to the
// datagram's source; REFUSED is 6 bytes and CHALLENGE 21, and a CHALLENGE
// only answers an ALLOCATE with a genuine credential; ALLOCATED only answers
// an ALLOCATE whose cookie the relay gave that source and whose proof was
// made with the node's own key; every DATA carries exactly the payload of
// the SEND just processed, from a key that allocated, to an endpoint that
// allocated; an endpoint that never allocated receives no more bytes than it
// sent. Every parser accepts only what is_relay_message accepts, and what it
// accepts re-serializes to the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "engine/relay/credential.hpp"
#include "engine/relay/protocol.hpp"
#include "engine/relay/server.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using namespace ovl::relay;

using ovl::fuzz::check;

using ovl::fuzz::same;

// Fixed: secret = bytes 0..31; private keys A/B/C/impostor = 32 x
// 0x11/0x22/0x33/0x44 (clamped by X25519); expires_unix 1800000000.
RelaySecret fuzz_secret() {
  RelaySecret s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(i);
  return s;
}
crypto::SecretKey fuzz_private(uint8_t fill) {
  crypto::SecretKey k;
  k.b.fill(fill);
  return k;
}
constexpr int64_t kStartUnix = 1700000000;
constexpr uint64_t kExpires = 1800000000;

void parsers(std::span<const uint8_t> in) {
  const auto t = message_type(in);
  const auto a = parse_allocate(in);
  const auto al = parse_allocated(in);
  const auto s = parse_send(in);
  const auto d = parse_data(in);
  const auto r = parse_refused(in);
  const auto c = parse_challenge(in);
  const int n = !!a + !!al + !!s + !!d + !!r + !!c;
  check(n <= 1, "at most one parser accepts");
  if (!t) check(n == 0, "parsers accept only relay messages");
  std::vector<uint8_t> again;
  if (a) {
    again.resize(kAllocateSize);
    serialize(*a, std::span<uint8_t, kAllocateSize>(again.data(), kAllocateSize));
  } else if (al) {
    again.resize(kAllocatedSize);
    serialize(*al, std::span<uint8_t, kAllocatedSize>(again.data(), kAllocatedSize));
  } else if (r) {
    again.resize(kRefusedSize);
    serialize(*r, std::span<uint8_t, kRefusedSize>(again.data(), kRefusedSize));
  } else if (c) {
    again.resize(kChallengeSize);
    serialize(*c, std::span<uint8_t, kChallengeSize>(again.data(), kChallengeSize));
  } else if (s) {
    again = make_send(s->destination, s->payload);
  } else if (d) {
    again = make_data(d->source, d->payload);
  }
  if (n) check(same(again, in), "round trip");
}

struct Run {
  Server server{fuzz_secret(), [] {
                  Server::Options o;
                  o.bytes_per_sec_per_node = 20000;  // small, so the limiter engages
                  o.burst_bytes = 8000;
                  o.max_nodes = 4;
                  o.idle_timeout = std::chrono::seconds(30);
                  return o;
                }()};
  net::Endpoint eps[5];
  crypto::SecretKey privs[4] = {fuzz_private(0x11), fuzz_private(0x22), fuzz_private(0x33), fuzz_private(0x44)};
  crypto::PublicKey keys[3];
  Server::Time now{std::chrono::seconds(1)};
  int64_t now_unix = kStartUnix;
  std::set<net::Endpoint> authenticated;          // endpoints that were ever sent ALLOCATED
  std::set<NodeId> allocated;                     // ids of keys that ever allocated
  std::map<net::Endpoint, std::set<Cookie>> given;  // cookies the relay challenged each endpoint with
  std::map<net::Endpoint, Cookie> last_cookie;
  std::map<net::Endpoint, uint64_t> in, sent;

  Run() {
    for (int i = 0; i < 3; ++i) keys[i] = crypto::public_from_private(privs[i]);
    eps[0] = {net::IpAddr::v4(192, 0, 2, 1), 1000};
    eps[1] = {net::IpAddr::v4(192, 0, 2, 2), 2000};
    eps[2] = {net::IpAddr::v4(203, 0, 113, 7), 3000};
    eps[3] = {net::IpAddr::v4(203, 0, 113, 7), 3001};
    eps[4].ip.v6 = true;
    eps[4].ip.b[0] = 0x20, eps[4].ip.b[1] = 0x01, eps[4].ip.b[15] = 9;
    eps[4].port = 4000;
    for (int i = 0; i < 2; ++i) {
      proved_allocate(i, eps[i], false, false);  // challenged
      proved_allocate(i, eps[i], true, false);
      check(server.is_allocated(keys[i]), "setup");
    }
  }

  // `who` 0..2: node A/B/C; 3: the impostor, proving A's credential with its own key.
  void proved_allocate(int who, const net::Endpoint& from, bool echo_cookie, bool expired, bool as_a = false) {
    const auto& node = keys[who == 3 ? 0 : who];
    const uint64_t exp = expired ? static_cast<uint64_t>(now_unix) : kExpires;
    Allocate a{node, exp, credential_mac(fuzz_secret(), node, exp), {}, {}};
    const net::Endpoint& cookie_of = as_a ? eps[0] : from;
    if (echo_cookie && last_cookie.count(cookie_of)) a.cookie = last_cookie[cookie_of];
    crypto::SecretKey pk;
    check(proof_key(pk, privs[who], relay_public_key(fuzz_secret())), "proof key");
    sign_allocate(a, pk);
    std::vector<uint8_t> m(kAllocateSize);
    serialize(a, std::span<uint8_t, kAllocateSize>(m.data(), kAllocateSize));
    datagram(m, from);
  }

  // The proof `a` should carry if its sender holds the node's private key.
  bool proof_genuine(const Allocate& a, std::span<const uint8_t> d) {
    for (int i = 0; i < 3; ++i) {
      if (a.node != keys[i]) continue;
      crypto::SecretKey pk;
      if (!proof_key(pk, privs[i], relay_public_key(fuzz_secret()))) return false;
      return allocate_proof(pk, proofed_part(d.first<kAllocateSize>())) == a.proof;
    }
    return false;  // nobody else can have a genuine credential
  }

  void datagram(std::span<const uint8_t> d, const net::Endpoint& from) {
    parsers(d);
    std::vector<uint8_t> buf(d.begin(), d.end());  // the server writes over it
    net::Endpoint to;
    const size_t n = server.on_datagram(buf, from, now, now_unix, to);
    check(n <= d.size(), "the answer fits in the datagram");
    in[from] += d.size();
    const auto send = parse_send(d);
    const auto alloc = parse_allocate(d);
    if (!alloc && !send) check(n == 0, "garbage is never answered");
    if (n) {
      std::span<const uint8_t> o(buf.data(), n);
      sent[to] += n;
      if (const auto data = parse_data(o)) {
        check(send.has_value(), "DATA only for a SEND");
        check(same(data->payload, send->payload), "DATA payload is the SEND payload");
        check(allocated.count(data->source), "DATA source key had allocated");
        check(authenticated.count(from), "DATA only for a sender that allocated");
        check(authenticated.count(to), "DATA only to an endpoint that allocated");
      } else {
        check(to == from, "replies go to the source");
        if (const auto al = parse_allocated(o)) {
          check(alloc.has_value() && al->expires_unix == alloc->expires_unix, "ALLOCATED answers an ALLOCATE");
          check(verify_credential(fuzz_secret(), alloc->node, alloc->expires_unix, alloc->mac), "genuine credential");
          check(given[from].count(alloc->cookie) > 0, "ALLOCATED only with a cookie given to this source");
          check(proof_genuine(*alloc, d), "ALLOCATED only with a proof by the node's key");
          authenticated.insert(from);
          allocated.insert(node_id(alloc->node));
        } else if (const auto ch = parse_challenge(o)) {
          check(alloc.has_value() && n == kChallengeSize, "CHALLENGE answers an ALLOCATE");
          check(verify_credential(fuzz_secret(), alloc->node, alloc->expires_unix, alloc->mac),
                "CHALLENGE only for a genuine credential");
          given[from].insert(ch->cookie);
          last_cookie[from] = ch->cookie;
        } else {
          check(parse_refused(o).has_value() && n == kRefusedSize, "otherwise a REFUSED");
          check(alloc || send, "REFUSED only answers ALLOCATE or SEND");
        }
      }
    }
    for (auto& [who, bytes] : sent)
      if (!authenticated.count(who)) check(bytes <= in[who], "no amplification to an unauthenticated source");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run run;
  ovl::fuzz::Script script(data, size);
  uint8_t op = 0;
  std::vector<uint8_t> bytes;
  while (script.next(op, bytes)) {
    switch (op % 9) {
      case 0: case 1: case 2: case 3: case 4:
        run.datagram(bytes, run.eps[op % 9]);
        break;
      case 5: {  // a well-formed SEND: [from][to key][payload...]
        if (bytes.size() < 3) break;
        std::span<const uint8_t> payload(bytes.data() + 2, std::min(bytes.size() - 2, kMaxPayload));
        run.datagram(make_send(run.keys[bytes[1] % 3], payload), run.eps[bytes[0] % 5]);
        break;
      }
      case 6: {  // time passes: [ms hi][ms lo][unix seconds]
        uint64_t ms = bytes.size() >= 2 ? (uint64_t(bytes[0]) << 8 | bytes[1]) : 1;
        run.now += std::chrono::milliseconds(ms * (op >> 4 & 1 ? 1000 : 1));
        if (bytes.size() >= 3) run.now_unix += int64_t(bytes[2]) << (op >> 5 & 0x7);
        run.server.expire(run.now);
        break;
      }
      case 7: {
        const auto& k = run.keys[(op >> 4) % 3];
        if (op & 0x80) run.server.unrevoke(k);
        else run.server.revoke(k);
        check(!run.server.is_allocated(k) || (op & 0x80), "revoked key holds no allocation");
        break;
      }
      case 8: {  // a proved ALLOCATE: [from][who][flags]
        if (bytes.size() < 3) break;
        run.proved_allocate(bytes[1] % 4, run.eps[bytes[0] % 5], bytes[2] & 1, bytes[2] & 2, bytes[2] & 4);
        break;
      }
    }
    check(run.server.allocations() <= 4, "bounded table");
  }
  return 0;
}
