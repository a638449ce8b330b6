// SecureChannel: the WireGuard handshake and transport messages over a
// length-prefixed byte stream, driven entirely in memory.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/control/frame.hpp"
#include "engine/control/secure_channel.hpp"
#include "engine/control/token.hpp"

using namespace ovl;
using namespace ovl::control;
using crypto::PublicKey;
using crypto::SecretKey;
using crypto::SeededRng;

namespace {

constexpr int64_t kWall = 1'700'000'000'000'000'000;

struct Side {
  SeededRng rng;
  SecretKey key;
  PublicKey pub{};
  explicit Side(uint64_t seed) : rng(seed) {
    key = crypto::generate_private_key(rng);
    pub = crypto::public_from_private(key);
  }
};

// Moves everything `from` has to write into `to`, in chunks of random size
// 1..max_chunk. Returns what to.on_bytes returned (false at the first error).
bool pump(SecureChannel& from, SecureChannel& to, std::vector<std::string>& got, SeededRng& frag, size_t max_chunk) {
  auto bytes = from.take_output();
  std::span<const uint8_t> rest(bytes);
  while (!rest.empty()) {
    size_t n = std::min<size_t>(rest.size(), 1 + frag.uniform(static_cast<uint32_t>(max_chunk)));
    if (!to.on_bytes(rest.first(n), got)) return false;
    rest = rest.subspan(n);
  }
  return true;
}

// Runs both directions until neither side has anything to write.
bool settle(SecureChannel& c, SecureChannel& s, std::vector<std::string>& at_c, std::vector<std::string>& at_s,
            SeededRng& frag, size_t max_chunk) {
  for (int round = 0; round < 10; ++round) {
    if (!pump(c, s, at_s, frag, max_chunk)) return false;
    if (!pump(s, c, at_c, frag, max_chunk)) return false;
  }
  return c.take_output().empty() && s.take_output().empty();
}

struct Session {
  Side cs{11}, ss{22};
  std::unique_ptr<SecureChannel> c, s;
  std::vector<std::string> at_c, at_s;
  SeededRng frag{99};
  Session() {
    s = SecureChannel::server(ss.key, ss.rng);
    c = SecureChannel::client(cs.key, ss.pub, cs.rng, kWall);
  }
  bool run(size_t max_chunk = 4096) { return settle(*c, *s, at_c, at_s, frag, max_chunk); }
};

std::string binary_message(SeededRng& rng, size_t n) {
  std::string m(n, '\0');
  rng.fill({reinterpret_cast<uint8_t*>(m.data()), m.size()});
  return m;
}

bool is_prefix(const std::vector<std::string>& got, const std::vector<std::string>& sent) {
  return got.size() <= sent.size() && std::equal(got.begin(), got.end(), sent.begin());
}

std::vector<uint8_t> frame_header(uint32_t len) {
  return {uint8_t(len >> 24), uint8_t(len >> 16), uint8_t(len >> 8), uint8_t(len)};
}

// Offsets of the 4 length bytes of every frame in a recorded stream.
std::vector<bool> length_field_mask(const std::vector<uint8_t>& stream) {
  std::vector<bool> mask(stream.size(), false);
  size_t at = 0;
  while (at + 4 <= stream.size()) {
    uint32_t len = uint32_t(stream[at]) << 24 | uint32_t(stream[at + 1]) << 16 | uint32_t(stream[at + 2]) << 8 |
                   stream[at + 3];
    for (int i = 0; i < 4; ++i) mask[at + i] = true;
    at += 4 + len;
  }
  return mask;
}

}  // namespace

TEST_CASE("secure channel: handshake and messages both ways with random fragmentation") {
  for (size_t max_chunk : {1, 2, 3, 7, 16, 100, 5000}) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      CAPTURE(max_chunk);
      CAPTURE(seed);
      Side cs(seed * 2), ss(seed * 2 + 1);
      SeededRng frag(seed * 7 + max_chunk), data(seed);
      auto s = SecureChannel::server(ss.key, ss.rng);
      auto c = SecureChannel::client(cs.key, ss.pub, cs.rng, kWall + static_cast<int64_t>(seed));
      CHECK_FALSE(c->established());
      CHECK_FALSE(s->established());

      // Queued before the handshake: flushed after it, in order.
      std::vector<std::string> to_s{"hello coordinator", "", binary_message(data, 300)};
      std::vector<std::string> to_c{"welcome"};
      for (auto& m : to_s) c->send(m);
      for (auto& m : to_c) s->send(m);

      std::vector<std::string> at_c, at_s;
      REQUIRE(settle(*c, *s, at_c, at_s, frag, max_chunk));
      CHECK(c->established());
      CHECK(s->established());
      CHECK(c->remote_key() == ss.pub);
      CHECK(s->remote_key() == cs.pub);
      CHECK(c->error().empty());
      CHECK(s->error().empty());

      for (int i = 0; i < 20; ++i) {
        auto m1 = binary_message(data, data.uniform(2000));
        auto m2 = binary_message(data, data.uniform(50));
        to_s.push_back(m1);
        to_c.push_back(m2);
        c->send(m1);
        s->send(m2);
        if (i % 3 == 0) REQUIRE(settle(*c, *s, at_c, at_s, frag, max_chunk));
      }
      REQUIRE(settle(*c, *s, at_c, at_s, frag, max_chunk));
      CHECK(at_s == to_s);
      CHECK(at_c == to_c);
    }
  }
}

TEST_CASE("secure channel: one byte at a time") {
  Session x;
  x.c->send("first");
  REQUIRE(x.run(1));
  x.s->send(std::string(1000, 'z'));
  x.c->send("second");
  REQUIRE(x.run(1));
  CHECK(x.at_s == std::vector<std::string>{"first", "second"});
  CHECK(x.at_c == std::vector<std::string>{std::string(1000, 'z')});
}

TEST_CASE("secure channel: the whole conversation in a single read") {
  Session x;
  x.c->send("a");
  x.c->send("b");
  // Client output now is the initiation only; after the response it is the
  // confirmation plus both messages, all in one buffer.
  std::vector<std::string> got;
  REQUIRE(x.s->on_bytes(x.c->take_output(), got));
  REQUIRE(x.c->on_bytes(x.s->take_output(), got));
  CHECK(got.empty());
  auto all = x.c->take_output();
  REQUIRE(x.s->on_bytes(all, got));
  CHECK(got == std::vector<std::string>{"a", "b"});
}

TEST_CASE("secure channel: a client pinning the wrong server key is refused") {
  Side client(1), server(2), other(3);
  SeededRng frag(5);

  SUBCASE("the server refuses an initiation meant for another key") {
    auto s = SecureChannel::server(server.key, server.rng);
    auto c = SecureChannel::client(client.key, other.pub, client.rng, kWall);
    c->send("secret enrollment request");
    s->send("network map");
    std::vector<std::string> at_c, at_s;
    CHECK_FALSE(settle(*c, *s, at_c, at_s, frag, 64));
    CHECK_FALSE(s->established());
    CHECK_FALSE(c->established());
    CHECK(at_c.empty());
    CHECK(at_s.empty());
    CHECK_FALSE(s->error().empty());
    CHECK(s->take_output().empty());  // not even a response goes out
    // The error names no key material.
    for (const PublicKey* k : {&client.pub, &server.pub, &other.pub}) {
      CHECK(s->error().find(hex(*k).substr(0, 8)) == std::string::npos);
      CHECK(s->error().find(crypto::to_base64(*k).substr(0, 8)) == std::string::npos);
    }
  }

  SUBCASE("the client refuses a response from another key") {
    // A man in the middle holding `other` answers a client that pins
    // `server`. To get a response with the right index and mac1 at all, let
    // it answer an identical client (same key, same randomness) pinning it.
    SeededRng r1(77), r2(77);
    auto victim = SecureChannel::client(client.key, server.pub, r1, kWall);
    auto twin = SecureChannel::client(client.key, other.pub, r2, kWall);
    auto mitm = SecureChannel::server(other.key, other.rng);
    victim->send("secret enrollment request");
    std::vector<std::string> got;
    victim->take_output();
    REQUIRE(mitm->on_bytes(twin->take_output(), got));
    auto response = mitm->take_output();
    REQUIRE_FALSE(response.empty());
    CHECK_FALSE(victim->on_bytes(response, got));
    CHECK_FALSE(victim->established());
    CHECK(victim->error().find("coordinator key") != std::string::npos);
    CHECK(victim->take_output().empty());  // the queued request never leaves
    CHECK(got.empty());
  }
}

TEST_CASE("secure channel: a low-order server key fails at once") {
  Side client(1);
  PublicKey zero{};
  auto c = SecureChannel::client(client.key, zero, client.rng, kWall);
  CHECK_FALSE(c->error().empty());
  CHECK(c->take_output().empty());
  std::vector<std::string> got;
  const uint8_t b[] = {0, 0, 0, 1, 0};
  CHECK_FALSE(c->on_bytes(b, got));
  c->send("x");
  CHECK(c->take_output().empty());
}

TEST_CASE("secure channel: any flipped bit is refused and never delivered") {
  // Record one honest conversation, then replay it with each bit flipped
  // into fresh channels built from the same keys and randomness.
  std::vector<uint8_t> cs_stream, sc_stream;
  std::vector<std::string> sent_by_c{"enroll me", "ping"}, sent_by_s{"netmap v1", "delta"};
  {
    Session x;
    for (auto& m : sent_by_c) x.c->send(m);
    for (auto& m : sent_by_s) x.s->send(m);
    std::vector<std::string> got;
    auto init = x.c->take_output();
    REQUIRE(x.s->on_bytes(init, got));
    auto resp = x.s->take_output();
    REQUIRE(x.c->on_bytes(resp, got));
    auto rest_c = x.c->take_output();
    REQUIRE(x.s->on_bytes(rest_c, got));
    auto rest_s = x.s->take_output();
    REQUIRE(x.c->on_bytes(rest_s, got));
    cs_stream = init;
    cs_stream.insert(cs_stream.end(), rest_c.begin(), rest_c.end());
    sc_stream = resp;
    sc_stream.insert(sc_stream.end(), rest_s.begin(), rest_s.end());
    REQUIRE(got.size() == 4);
  }

  auto check_stream = [](const std::vector<uint8_t>& stream, bool to_server, const std::vector<std::string>& sent) {
    auto lengths = length_field_mask(stream);
    size_t refused = 0, stalled = 0;
    for (size_t bit = 0; bit < stream.size() * 8; ++bit) {
      Session x;  // same seeds as the recording
      auto tampered = stream;
      tampered[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      std::vector<std::string> got;
      bool ok;
      if (to_server) {
        ok = x.s->on_bytes(tampered, got);
      } else {
        x.c->take_output();
        ok = x.c->on_bytes(tampered, got);
      }
      CAPTURE(bit);
      REQUIRE(is_prefix(got, sent));
      if (!ok) {
        ++refused;
      } else {
        // Only a length field made longer can leave the reader waiting for
        // bytes that never come; it still must not deliver everything.
        CHECK(lengths[bit / 8]);
        CHECK(got.size() < sent.size());
        ++stalled;
      }
    }
    CHECK(refused + stalled == stream.size() * 8);
    CHECK(stalled < refused / 10);
  };
  check_stream(cs_stream, true, sent_by_c);
  check_stream(sc_stream, false, sent_by_s);
}

TEST_CASE("secure channel: oversize and empty frames are refused before any allocation") {
  std::vector<std::string> got;
  SUBCASE("4 GiB announced to a server") {
    Side ss(1);
    auto s = SecureChannel::server(ss.key, ss.rng);
    const uint8_t huge[] = {0xff, 0xff, 0xff};
    CHECK(s->on_bytes(huge, got));  // three bytes: no length yet
    const uint8_t last[] = {0xff};
    CHECK_FALSE(s->on_bytes(last, got));
    CHECK(s->error().find("limit") != std::string::npos);
    CHECK_FALSE(s->on_bytes(last, got));  // stays failed
  }
  SUBCASE("before the handshake only an initiation's size is accepted") {
    // An unauthenticated peer cannot make the server buffer a large frame.
    Side ss(1);
    auto s = SecureChannel::server(ss.key, ss.rng);
    CHECK_FALSE(s->on_bytes(frame_header(static_cast<uint32_t>(kMaxFrame)), got));
    CHECK(s->error().find("initiation") != std::string::npos);
    auto s2 = SecureChannel::server(ss.key, ss.rng);
    CHECK_FALSE(s2->on_bytes(frame_header(149), got));
    auto s3 = SecureChannel::server(ss.key, ss.rng);
    CHECK(s3->on_bytes(frame_header(148), got));  // waits for the body
  }
  SUBCASE("zero length") {
    Side ss(1);
    auto s = SecureChannel::server(ss.key, ss.rng);
    CHECK_FALSE(s->on_bytes(frame_header(0), got));
    CHECK(s->error().find("empty") != std::string::npos);
  }
  SUBCASE("oversize after the handshake") {
    Session x;
    REQUIRE(x.run());
    CHECK_FALSE(x.c->on_bytes(frame_header(0x80000000u), got));
    CHECK_FALSE(x.s->on_bytes(frame_header(0), got));
    CHECK_FALSE(x.c->established());
  }
  CHECK(got.empty());
}

TEST_CASE("secure channel: replayed, reordered or dropped transport frames are refused") {
  Session x;
  REQUIRE(x.run());
  x.c->send("one");
  auto f1 = x.c->take_output();
  x.c->send("two");
  auto f2 = x.c->take_output();
  x.c->send("three");
  auto f3 = x.c->take_output();

  SUBCASE("replay") {
    std::vector<std::string> got;
    REQUIRE(x.s->on_bytes(f1, got));
    CHECK_FALSE(x.s->on_bytes(f1, got));
    CHECK(got == std::vector<std::string>{"one"});
    CHECK(x.s->error().find("sequence") != std::string::npos);
  }
  SUBCASE("reorder") {
    std::vector<std::string> got;
    CHECK_FALSE(x.s->on_bytes(f2, got));
    CHECK(got.empty());
  }
  SUBCASE("drop") {
    std::vector<std::string> got;
    REQUIRE(x.s->on_bytes(f1, got));
    CHECK_FALSE(x.s->on_bytes(f3, got));
    CHECK(got == std::vector<std::string>{"one"});
  }
  SUBCASE("the server's own frames reflected back") {
    x.s->send("to client");
    auto fs = x.s->take_output();
    std::vector<std::string> got;
    CHECK_FALSE(x.s->on_bytes(fs, got));
    CHECK(got.empty());
  }
}

TEST_CASE("secure channel: a replayed initiation yields no session") {
  std::vector<uint8_t> init, confirm_and_msg;
  {
    Session x;
    x.c->send("enroll me");
    init = x.c->take_output();
    std::vector<std::string> got;
    REQUIRE(x.s->on_bytes(init, got));
    REQUIRE(x.c->on_bytes(x.s->take_output(), got));
    confirm_and_msg = x.c->take_output();
  }
  // An eavesdropper replays both to a server: the server answers the
  // initiation (it keeps no state across connections) but is never
  // established, because the old confirmation is under the old keys.
  Side ss(22);
  SeededRng fresh(12345);
  auto s = SecureChannel::server(ss.key, fresh);
  s->send("netmap");
  std::vector<std::string> got;
  CHECK(s->on_bytes(init, got));
  CHECK_FALSE(s->established());
  auto out = s->take_output();
  CHECK(out.size() == 4 + 92);  // the response, and no queued message
  CHECK_FALSE(s->on_bytes(confirm_and_msg, got));
  CHECK_FALSE(s->established());
  CHECK(got.empty());
  CHECK(s->take_output().empty());
}

TEST_CASE("secure channel: garbage where a handshake message belongs") {
  Side cs(1), ss(2);
  std::vector<std::string> got;
  SUBCASE("server gets a response-sized frame") {
    auto s = SecureChannel::server(ss.key, ss.rng);
    std::vector<uint8_t> f = frame_header(92);
    f.resize(4 + 92, 0);
    f[4] = 2;
    CHECK_FALSE(s->on_bytes(f, got));
    CHECK(s->error().find("initiation") != std::string::npos);
  }
  SUBCASE("client gets an initiation back") {
    auto c = SecureChannel::client(cs.key, ss.pub, cs.rng, kWall);
    auto own = c->take_output();
    CHECK_FALSE(c->on_bytes(own, got));
    CHECK(c->error().find("response") != std::string::npos);
  }
  SUBCASE("server gets a second initiation instead of the confirmation") {
    auto s = SecureChannel::server(ss.key, ss.rng);
    auto c = SecureChannel::client(cs.key, ss.pub, cs.rng, kWall);
    auto init = c->take_output();
    REQUIRE(s->on_bytes(init, got));
    CHECK_FALSE(s->on_bytes(init, got));
    CHECK_FALSE(s->established());
  }
  SUBCASE("the empty confirmation alone establishes the server") {
    Session x;
    std::vector<uint8_t> init = x.c->take_output();
    REQUIRE(x.s->on_bytes(init, got));
    REQUIRE(x.c->on_bytes(x.s->take_output(), got));
    auto conf = x.c->take_output();  // just the empty confirmation
    REQUIRE(conf.size() == 4 + 32);
    CHECK(x.s->on_bytes(conf, got));
    CHECK(x.s->established());
  }
  CHECK(got.empty());
}

TEST_CASE("secure channel: 1 MiB message round trip and the size limit") {
  Session x;
  REQUIRE(x.run());
  SeededRng data(3);
  std::string big = binary_message(data, 1 << 20);
  x.c->send(big);
  x.s->send(big);
  REQUIRE(x.run(64 << 10));
  REQUIRE(x.at_s.size() == 1);
  REQUIRE(x.at_c.size() == 1);
  CHECK(x.at_s[0] == big);
  CHECK(x.at_c[0] == big);

  SUBCASE("the largest message that fits a frame") {
    std::string max(kMaxFrame - 32, 'm');
    x.c->send(max);
    REQUIRE(x.run(1 << 20));
    REQUIRE(x.at_s.size() == 2);
    CHECK(x.at_s[1].size() == max.size());
  }
  SUBCASE("one byte more fails the sender") {
    std::string over(kMaxFrame - 31, 'm');
    x.c->send(over);
    CHECK_FALSE(x.c->error().empty());
    CHECK(x.c->take_output().empty());
    std::vector<std::string> got;
    const uint8_t nothing[] = {0};
    CHECK_FALSE(x.c->on_bytes(nothing, got));
  }
}

TEST_CASE("secure channel: frame reader splits a stream in any fragmentation") {
  std::vector<uint8_t> stream;
  std::vector<std::vector<uint8_t>> bodies;
  SeededRng rng(8);
  for (int i = 0; i < 30; ++i) {
    std::vector<uint8_t> b(1 + rng.uniform(i == 7 ? 300000 : 600));
    rng.fill(b);
    auto h = frame_header(static_cast<uint32_t>(b.size()));
    stream.insert(stream.end(), h.begin(), h.end());
    stream.insert(stream.end(), b.begin(), b.end());
    bodies.push_back(std::move(b));
  }
  for (size_t max_chunk : {1, 2, 5, 1000, 1 << 20}) {
    FrameReader r(1 << 20);
    std::vector<std::vector<uint8_t>> got;
    std::span<const uint8_t> rest(stream);
    while (!rest.empty()) {
      size_t n = std::min<size_t>(rest.size(), 1 + rng.uniform(static_cast<uint32_t>(max_chunk)));
      std::span<const uint8_t> in = rest.first(n), frame;
      for (;;) {
        auto res = r.next(in, frame);
        if (res != FrameReader::Result::frame) {
          REQUIRE(res == FrameReader::Result::need_more);
          break;
        }
        got.emplace_back(frame.begin(), frame.end());
      }
      REQUIRE(in.empty());
      rest = rest.subspan(n);
    }
    CHECK(got == bodies);
    std::span<const uint8_t> none, frame;
    CHECK(r.next(none, frame) == FrameReader::Result::need_more);
    CHECK(r.idle());
  }
  FrameReader small(10);
  auto h = frame_header(11);
  std::span<const uint8_t> in(h), frame;
  CHECK(small.next(in, frame) == FrameReader::Result::bad_length);
  CHECK(small.bad_length() == 11);
}
