#include "engine/wg/cookie.hpp"

#include <cstring>

#include "engine/crypto/aead.hpp"

namespace ovl::wg {

namespace {

using crypto::Bytes;

const uint8_t kLabelMac1[] = {'m', 'a', 'c', '1', '-', '-', '-', '-'};
const uint8_t kLabelCookie[] = {'c', 'o', 'o', 'k', 'i', 'e', '-', '-'};

void mac(uint8_t out[kMacSize], Bytes key, Bytes data) { crypto::blake2s_keyed({out, kMacSize}, key, {data}); }

bool fresh(Time set, Time now) { return set != Time::min() && now - set < kCookieRefreshTime; }

}  // namespace

size_t endpoint_bytes(const net::Endpoint& ep, uint8_t out[18]) {
  size_t n = ep.ip.size();
  std::memcpy(out, ep.ip.b.data(), n);
  out[n] = static_cast<uint8_t>(ep.port >> 8);
  out[n + 1] = static_cast<uint8_t>(ep.port);
  return n + 2;
}

void CookieChecker::init(const crypto::PublicKey& own) {
  mac1_key_ = crypto::blake2s({kLabelMac1, own});
  cookie_key_ = crypto::blake2s({kLabelCookie, own});
  secret_set_ = Time::min();
}

bool CookieChecker::check_mac1(std::span<const uint8_t> msg, size_t off) const {
  uint8_t want[kMacSize];
  mac(want, mac1_key_, msg.first(off));
  return crypto::ct_equal({want, kMacSize}, msg.subspan(off, kMacSize));
}

void CookieChecker::cookie_for(uint8_t out[kMacSize], const net::Endpoint& src) const {
  uint8_t a[18];
  size_t n = endpoint_bytes(src, a);
  mac(out, secret_.b, {a, n});
}

bool CookieChecker::check_mac2(std::span<const uint8_t> msg, size_t off, const net::Endpoint& src, Time now) const {
  if (!fresh(secret_set_, now)) return false;
  uint8_t cookie[kMacSize], want[kMacSize];
  cookie_for(cookie, src);
  mac(want, {cookie, kMacSize}, msg.first(off));
  return crypto::ct_equal({want, kMacSize}, msg.subspan(off, kMacSize));
}

CookieReply CookieChecker::make_reply(std::span<const uint8_t> msg, size_t mac1_offset, uint32_t receiver,
                                      const net::Endpoint& src, Time now, crypto::Rng& rng) {
  if (!fresh(secret_set_, now)) {
    rng.fill(secret_.b);
    secret_set_ = now;
  }
  CookieReply r;
  r.receiver = receiver;
  rng.fill(r.nonce);
  uint8_t cookie[kMacSize];
  cookie_for(cookie, src);
  crypto::xaead_seal(r.encrypted_cookie.data(), cookie_key_.data(), r.nonce.data(), {cookie, kMacSize},
                     msg.subspan(mac1_offset, kMacSize));
  return r;
}

void CookieGenerator::init(const crypto::PublicKey& remote) {
  mac1_key_ = crypto::blake2s({kLabelMac1, remote});
  cookie_key_ = crypto::blake2s({kLabelCookie, remote});
  have_last_mac1_ = have_cookie_ = false;
}

void CookieGenerator::add_macs(std::span<uint8_t> msg, size_t off, Time now) {
  mac(msg.data() + off, mac1_key_, msg.first(off));
  std::memcpy(last_mac1_.data(), msg.data() + off, kMacSize);
  have_last_mac1_ = true;
  if (have_cookie_ && fresh(cookie_set_, now))
    mac(msg.data() + off + kMacSize, cookie_, msg.first(off + kMacSize));
  else
    std::memset(msg.data() + off + kMacSize, 0, kMacSize);
}

bool CookieGenerator::consume_reply(const CookieReply& reply, Time now) {
  if (!have_last_mac1_) return false;
  Mac cookie;
  if (!crypto::xaead_open(cookie.data(), cookie_key_.data(), reply.nonce.data(), reply.encrypted_cookie, last_mac1_))
    return false;
  cookie_ = cookie;
  cookie_set_ = now;
  have_cookie_ = true;
  have_last_mac1_ = false;  // one reply per mac1
  return true;
}

}  // namespace ovl::wg
