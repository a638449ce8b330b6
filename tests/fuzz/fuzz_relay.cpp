// Fuzz target for the relay (engine/relay/{protocol,server}.hpp).
//
// The input is a script of records [op (1)][length (2, BE)][bytes] driving a
// Server in which nodes A and B are already allocated. Ops: a raw datagram
// from one of five endpoints (A's, B's, three strangers), a well-formed SEND
// built from the bytes, time passing (then expire()), revoke/unrevoke.
// Invariants: nothing crashes; every reply except DATA goes back to the
// datagram's source and REFUSED is 6 bytes; every DATA carries exactly the
// payload of the SEND just processed, from a key that allocated, to an
// endpoint that allocated; an endpoint that never allocated receives no
// more bytes than it sent. Every parser accepts only what is_relay_message
// accepts, and what it accepts re-serializes to the same bytes.
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

// Fixed so the committed seeds can carry genuine credentials: secret = bytes
// 0..31, keys A/B/C = 32 x 0x11/0x22/0x33, expires_unix 1800000000; mac =
// hashlib.blake2s(b"ovl relay credential v1" + key + expires.to_bytes(8, "big"),
// key=secret).digest() in Python.
RelaySecret fuzz_secret() {
  RelaySecret s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(i);
  return s;
}
crypto::PublicKey fuzz_key(uint8_t fill) {
  crypto::PublicKey k{};
  k.fill(fill);
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
  const int n = !!a + !!al + !!s + !!d + !!r;
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
  crypto::PublicKey keys[3] = {fuzz_key(0x11), fuzz_key(0x22), fuzz_key(0x33)};
  Server::Time now{std::chrono::seconds(1)};
  int64_t now_unix = kStartUnix;
  std::set<net::Endpoint> authenticated;     // endpoints that were ever sent ALLOCATED
  std::set<crypto::PublicKey> allocated;     // keys that ever allocated
  std::map<net::Endpoint, uint64_t> in, sent;
  std::vector<Server::Out> out;

  Run() {
    eps[0] = {net::IpAddr::v4(192, 0, 2, 1), 1000};
    eps[1] = {net::IpAddr::v4(192, 0, 2, 2), 2000};
    eps[2] = {net::IpAddr::v4(203, 0, 113, 7), 3000};
    eps[3] = {net::IpAddr::v4(203, 0, 113, 7), 3001};
    eps[4].ip.v6 = true;
    eps[4].ip.b[0] = 0x20, eps[4].ip.b[1] = 0x01, eps[4].ip.b[15] = 9;
    eps[4].port = 4000;
    for (int i = 0; i < 2; ++i) {
      Allocate a{keys[i], kExpires, credential_mac(fuzz_secret(), keys[i], kExpires)};
      std::vector<uint8_t> m(kAllocateSize);
      serialize(a, std::span<uint8_t, kAllocateSize>(m.data(), kAllocateSize));
      datagram(m, eps[i]);
      check(server.is_allocated(keys[i]), "setup");
    }
  }

  void datagram(std::span<const uint8_t> d, const net::Endpoint& from) {
    parsers(d);
    out.clear();
    server.on_datagram(d, from, now, now_unix, out);
    in[from] += d.size();
    const auto send = parse_send(d);
    const auto alloc = parse_allocate(d);
    for (auto& o : out) {
      sent[o.to] += o.bytes.size();
      if (const auto data = parse_data(o.bytes)) {
        check(send.has_value(), "DATA only for a SEND");
        check(same(data->payload, send->payload), "DATA payload is the SEND payload");
        check(allocated.count(data->source), "DATA source key had allocated");
        check(authenticated.count(from), "DATA only for a sender that allocated");
        check(authenticated.count(o.to), "DATA only to an endpoint that allocated");
        check(out.size() == 1, "one forward per SEND");
        continue;
      }
      check(o.to == from, "replies go to the source");
      if (const auto al = parse_allocated(o.bytes)) {
        check(alloc.has_value() && al->expires_unix == alloc->expires_unix, "ALLOCATED answers an ALLOCATE");
        check(verify_credential(fuzz_secret(), alloc->node, alloc->expires_unix, alloc->mac), "genuine credential");
        authenticated.insert(from);
        allocated.insert(alloc->node);
        continue;
      }
      check(parse_refused(o.bytes).has_value() && o.bytes.size() == kRefusedSize, "otherwise a REFUSED");
      check(alloc || send, "REFUSED only answers ALLOCATE or SEND");
    }
    if (!alloc && !send) check(out.empty(), "garbage is never answered");
    for (auto& [who, n] : sent)
      if (!authenticated.count(who)) check(n <= in[who], "no amplification to an unauthenticated source");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run run;
  size_t pos = 0;
  for (int steps = 0; pos < size && steps < 256; ++steps) {
    const uint8_t op = data[pos++];
    size_t len = 0;
    if (pos + 2 <= size) len = size_t(data[pos]) << 8 | data[pos + 1];
    pos = std::min(size, pos + 2);
    len = std::min(len, size - pos);
    // An exactly sized heap copy, so any read past the end is caught.
    std::vector<uint8_t> bytes(data + pos, data + pos + len);
    pos += len;
    switch (op % 8) {
      case 0: case 1: case 2: case 3: case 4:
        run.datagram(bytes, run.eps[op % 8]);
        break;
      case 5: {  // a well-formed SEND: [from][to key][payload...]
        if (bytes.size() < 3) break;
        std::span<const uint8_t> payload(bytes.data() + 2, std::min(bytes.size() - 2, kMaxPayload));
        run.datagram(make_send(run.keys[bytes[1] % 3], payload), run.eps[bytes[0] % 5]);
        break;
      }
      case 6: {  // time passes: [ms hi][ms lo][unix seconds]
        uint64_t ms = bytes.size() >= 2 ? (uint64_t(bytes[0]) << 8 | bytes[1]) : 1;
        run.now += std::chrono::milliseconds(ms * (op >> 3 & 1 ? 1000 : 1));
        if (bytes.size() >= 3) run.now_unix += int64_t(bytes[2]) << (op >> 4 & 0xF);
        run.server.expire(run.now);
        break;
      }
      case 7: {
        const auto& k = run.keys[(op >> 3) % 3];
        if (op & 0x80) run.server.unrevoke(k);
        else run.server.revoke(k);
        check(!run.server.is_allocated(k) || (op & 0x80), "revoked key holds no allocation");
        break;
      }
    }
    check(run.server.allocations() <= 4, "bounded table");
  }
  return 0;
}
