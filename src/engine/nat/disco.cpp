#include "engine/nat/disco.hpp"

#include <algorithm>
#include <cstring>

#include "engine/crypto/box.hpp"

namespace ovl::nat::disco {

bool is_disco(std::span<const uint8_t> d) {
  return (d.size() == kPingSize || d.size() == kPongSize) && std::equal(kMagic.begin(), kMagic.end(), d.begin());
}

std::optional<crypto::PublicKey> sender(std::span<const uint8_t> d) {
  if (!is_disco(d)) return std::nullopt;
  crypto::PublicKey k;
  std::memcpy(k.data(), d.data() + 4, k.size());
  return k;
}

size_t seal(const Message& m, const crypto::PublicKey& self, const crypto::SecretKey& shared,
            const std::array<uint8_t, 24>& nonce, std::span<uint8_t> out) {
  const size_t body_len = m.type == Type::pong ? kPongBody : kPingBody;
  const size_t total = kHeaderSize + kMacSize + body_len;
  if (out.size() < total) return 0;
  std::array<uint8_t, kPongBody> body{};
  body[0] = static_cast<uint8_t>(m.type);
  std::memcpy(body.data() + 1, m.txid.data(), kTxIdSize);
  if (m.type == Type::pong) {
    body[13] = m.observed.ip.v6 ? 6 : 4;
    std::memcpy(body.data() + 14, m.observed.ip.b.data(), m.observed.ip.size());
    body[30] = static_cast<uint8_t>(m.observed.port >> 8);
    body[31] = static_cast<uint8_t>(m.observed.port);
  }
  std::memcpy(out.data(), kMagic.data(), 4);
  std::memcpy(out.data() + 4, self.data(), self.size());
  std::memcpy(out.data() + 36, nonce.data(), nonce.size());
  crypto::box_seal(out.data() + kHeaderSize, {body.data(), body_len}, nonce.data(), shared);
  return total;
}

std::optional<Message> open(std::span<const uint8_t> d, const crypto::SecretKey& shared) {
  if (!is_disco(d)) return std::nullopt;
  std::array<uint8_t, kPongBody> body{};
  const size_t body_len = d.size() - kHeaderSize - kMacSize;
  if (!crypto::box_open(body.data(), d.subspan(kHeaderSize), d.data() + 36, shared)) return std::nullopt;
  Message m;
  m.type = static_cast<Type>(body[0]);
  // The type must agree with the size: a ping-sized pong or vice versa is
  // not something we sent.
  if (!((m.type == Type::ping && body_len == kPingBody) || (m.type == Type::pong && body_len == kPongBody)))
    return std::nullopt;
  std::memcpy(m.txid.data(), body.data() + 1, kTxIdSize);
  if (m.type == Type::pong) {
    if (body[13] != 4 && body[13] != 6) return std::nullopt;
    m.observed.ip.v6 = body[13] == 6;
    std::memcpy(m.observed.ip.b.data(), body.data() + 14, m.observed.ip.size());
    m.observed.port = static_cast<uint16_t>(body[30] << 8 | body[31]);
  }
  return m;
}

}  // namespace ovl::nat::disco
