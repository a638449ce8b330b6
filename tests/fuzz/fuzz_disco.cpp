// Fuzz target for disco (engine/nat/{disco,prober}.hpp).
//
// The input is a script of records [op (1)][length (1)][bytes] between two
// probers A and B with fixed keys (and a stranger C):
//   op % 4 == 0  raw bytes delivered to B from an endpoint made of the bytes
//   op % 4 == 1  a genuine ping from A (or C) to B, delivered from such an endpoint
//   op % 4 == 2  time passes; A's and B's timers run and their datagrams are
//                delivered to each other (some dropped, per the bytes)
//   op % 4 == 3  a genuine message from A with one byte flipped, delivered to B
// Invariants: nothing crashes; open() accepts only what is_disco accepts and
// disco is never WireGuard, STUN or relay; a datagram that is not an authentic
// message from a known peer draws no answer; every answer to a datagram goes
// back to its source and is a disco message of an exact size; a flipped byte
// is always rejected; a stranger's ping is never answered.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/crypto/box.hpp"
#include "engine/nat/disco.hpp"
#include "engine/nat/prober.hpp"
#include "engine/nat/stun.hpp"
#include "engine/relay/protocol.hpp"
#include "engine/wg/device.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using namespace ovl::nat;
using ovl::fuzz::check;

crypto::SecretKey key(uint8_t fill) {
  crypto::SecretKey k;
  k.b.fill(fill);
  k.b[0] &= 248;
  k.b[31] = (k.b[31] & 127) | 64;
  return k;
}

net::Endpoint endpoint_from(std::span<const uint8_t> in) {
  net::Endpoint ep;
  ep.ip.b[0] = 203;
  ep.ip.b[1] = 0;
  ep.ip.b[2] = 113;
  ep.ip.b[3] = in.empty() ? 1 : in[0];
  ep.port = static_cast<uint16_t>(in.size() > 2 ? (in[1] << 8 | in[2]) : 51820);
  if (ep.port == 0) ep.port = 1;
  return ep;
}

void check_answers(const std::vector<Prober::Send>& out, const net::Endpoint& from, bool authentic) {
  if (!authentic) check(out.empty(), "no answer to what is not an authentic message");
  for (auto& s : out) {
    check(disco::is_disco(s.bytes), "answers are disco");
    if (s.bytes.size() == disco::kPongSize) check(s.to == from, "a pong goes back to the source");
  }
}

void classify_checks(std::span<const uint8_t> in) {
  bool d = disco::is_disco(in);
  if (d) {
    check(!wg::is_wireguard_message(in) && !is_stun(in) && !relay::is_relay_message(in), "disco is unambiguous");
    check(in.size() == disco::kPingSize || in.size() == disco::kPongSize, "exact sizes");
  }
  crypto::SecretKey k = key(9);
  if (disco::open(in, k)) check(d, "open accepts only disco");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);
  std::span<const uint8_t> in(buf.data(), buf.size());
  classify_checks(in);

  const auto a = key(0x11), b = key(0x22), c = key(0x33);
  const auto A = crypto::public_from_private(a), B = crypto::public_from_private(b);
  crypto::SeededRng rng(1);
  Prober pa(a), pb(b), pc(c);
  const auto a_ep = *net::Endpoint::parse("203.0.113.10:51820");
  const auto b_ep = *net::Endpoint::parse("203.0.113.20:51820");
  pa.set_peer(B, {b_ep}, true, Prober::Time(0));
  pb.set_peer(A, {a_ep}, true, Prober::Time(0));
  pc.set_peer(B, {b_ep}, true, Prober::Time(0));
  Prober::Time now(0);
  size_t pos = 0;
  while (pos + 2 <= in.size()) {
    const uint8_t op = in[pos];
    const size_t len = std::min<size_t>(in[pos + 1], in.size() - pos - 2);
    auto bytes = in.subspan(pos + 2, len);
    pos += 2 + len;
    std::vector<Prober::Send> out;
    switch (op % 4) {
      case 0: {
        classify_checks(bytes);
        auto from = endpoint_from(bytes);
        auto who = pb.on_datagram(bytes, from, now, rng, out);
        check_answers(out, from, who.has_value());
        if (who) check(*who == A, "only A is B's peer");
        break;
      }
      case 1: {
        bool stranger = !bytes.empty() && (bytes[0] & 1);
        std::vector<Prober::Send> sent;
        (stranger ? pc : pa).ping_once(B, b_ep, now, rng, sent);
        check(sent.size() == 1 && sent[0].bytes.size() == disco::kPingSize, "one ping");
        auto from = endpoint_from(bytes);
        auto who = pb.on_datagram(sent[0].bytes, from, now, rng, out);
        check(stranger ? !who && out.empty() : who == A, "A is answered, a stranger is not");
        if (!stranger) check(!out.empty() && out[0].to == from && out[0].bytes.size() == disco::kPongSize, "pong");
        break;
      }
      case 2: {
        now += std::chrono::milliseconds(bytes.empty() ? 100 : bytes[0] * 10);
        std::vector<Prober::Send> fa, fb;
        pa.on_timer(now, rng, fa);
        pb.on_timer(now, rng, fb);
        size_t i = 0;
        for (auto& s : fa) {
          bool drop = i < bytes.size() && (bytes[i] & 1);
          ++i;
          if (!drop && s.to == b_ep) {
            std::vector<Prober::Send> r;
            check(pb.on_datagram(s.bytes, a_ep, now, rng, r) == A, "A's pings are authentic");
            for (auto& x : r)
              if (x.to == a_ep) pa.on_datagram(x.bytes, b_ep, now, rng, out);
          }
        }
        for (auto& s : fb)
          if (s.to == a_ep) pa.on_datagram(s.bytes, b_ep, now, rng, out);
        if (auto best = pa.best(B, now)) check(best->ep == b_ep, "the only path");
        break;
      }
      case 3: {
        std::vector<Prober::Send> sent;
        pa.ping_once(B, b_ep, now, rng, sent);
        if (sent.empty()) break;
        auto m = sent[0].bytes;
        size_t at = bytes.empty() ? 0 : (bytes.size() > 1 ? (bytes[0] << 8 | bytes[1]) : bytes[0]) % m.size();
        uint8_t x = bytes.size() > 2 && bytes[2] ? bytes[2] : 0x80;
        m[at] ^= x;
        auto who = pb.on_datagram(m, a_ep, now, rng, out);
        check(!who && out.empty(), "a flipped byte is rejected");
        break;
      }
    }
  }
  return 0;
}
