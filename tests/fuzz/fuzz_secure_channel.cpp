// Fuzz target for SecureChannel: arbitrary bytes fed, in arbitrary
// fragmentation, to a server, to a client waiting for the response, and to
// both sides of an established session, must never crash, never deliver a
// message and never establish a session.
//
// Input: [mode][chunk][stream bytes...]
//   mode % 4 == 0: bytes go to a fresh server
//   mode % 4 == 1: bytes go to a client that has sent its initiation
//                  (the server's real response is a seed: explores transport)
//   mode % 4 == 2: an honest initiation, then the bytes, go to a server
//                  (explores the key-confirmation step)
//   mode % 4 == 3: an honest session is set up; the bytes go to both sides
//   chunk: 0 feeds the stream at once, otherwise chunks of 1..chunk bytes
// Keys and randomness are fixed, so the initiation and response frames of the
// honest pair below are valid seeds (corpus files init_* and response_*).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/control/secure_channel.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using control::SecureChannel;

constexpr int64_t kWall = 1'700'000'000'000'000'000;

using ovl::fuzz::check;

struct Keys {
  crypto::SecretKey server, client;
  crypto::PublicKey server_pub{};
  std::vector<uint8_t> honest_response;  // what the server below answers the client below
  Keys() {
    crypto::SeededRng a(1), b(2);
    server = crypto::generate_private_key(a);
    client = crypto::generate_private_key(b);
    server_pub = crypto::public_from_private(server);
    crypto::SeededRng server_rng(3), client_rng(4);
    auto s = SecureChannel::server(server, server_rng);
    auto c = SecureChannel::client(client, server_pub, client_rng, kWall);
    std::vector<std::string> got;
    s->on_bytes(c->take_output(), got);
    honest_response = s->take_output();
  }
};

const Keys& keys() {
  static const Keys k;
  return k;
}

// Feeds `in` in chunks; returns false once the channel refuses.
bool feed(SecureChannel& ch, std::span<const uint8_t> in, size_t chunk, std::vector<std::string>& got) {
  if (chunk == 0) return ch.on_bytes(in, got);
  size_t step = 0;
  while (!in.empty()) {
    size_t n = std::min(in.size(), 1 + (step++ * 7) % chunk);
    if (!ch.on_bytes(in.first(n), got)) return false;
    in = in.subspan(n);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0] % 4;
  const size_t chunk = data[1];
  std::span<const uint8_t> in(data + 2, size - 2);
  const Keys& k = keys();
  crypto::SeededRng server_rng(3), client_rng(4);
  std::vector<std::string> got;

  if (mode == 0) {
    auto s = SecureChannel::server(k.server, server_rng);
    s->send("queued by the server");
    bool ok = feed(*s, in, chunk, got);
    check(ok || !s->error().empty(), "a refusal says why");
    check(!s->established(), "garbage never establishes a server");
  } else if (mode == 1) {
    auto c = SecureChannel::client(k.client, k.server_pub, client_rng, kWall);
    c->send("queued by the client");
    c->take_output();
    bool ok = feed(*c, in, chunk, got);
    check(ok || !c->error().empty(), "a refusal says why");
    // Only the real server's answer (a seed in the corpus) may establish it.
    bool honest = in.size() >= k.honest_response.size() &&
                  std::equal(k.honest_response.begin(), k.honest_response.end(), in.begin());
    check(!c->established() || honest, "garbage never establishes a client");
  } else if (mode == 2) {
    auto s = SecureChannel::server(k.server, server_rng);
    auto c = SecureChannel::client(k.client, k.server_pub, client_rng, kWall);
    check(s->on_bytes(c->take_output(), got), "an honest initiation is accepted");
    bool ok = feed(*s, in, chunk, got);
    check(ok || !s->error().empty(), "a refusal says why");
    check(!s->established(), "garbage never confirms a session");
  } else {
    auto s = SecureChannel::server(k.server, server_rng);
    auto c = SecureChannel::client(k.client, k.server_pub, client_rng, kWall);
    check(s->on_bytes(c->take_output(), got), "honest initiation");
    check(c->on_bytes(s->take_output(), got), "honest response");
    check(s->on_bytes(c->take_output(), got), "honest confirmation");
    check(c->established() && s->established(), "honest session");
    bool ok_s = feed(*s, in, chunk, got);
    bool ok_c = feed(*c, in, chunk, got);
    check((ok_s || !s->error().empty()) && (ok_c || !c->error().empty()), "a refusal says why");
  }
  check(got.empty(), "garbage is never delivered as a message");
  return 0;
}
