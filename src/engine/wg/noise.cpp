#include "engine/wg/noise.hpp"

#include <cstring>

#include "engine/crypto/aead.hpp"

namespace ovl::wg {

namespace {

using crypto::Bytes;
using crypto::SecretKey;

constexpr char kConstruction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
constexpr char kIdentifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

Bytes str(const char* s) { return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)}; }

// C0 = HASH(CONSTRUCTION), H0 = HASH(C0 || IDENTIFIER): the same for everyone,
// so computed once.
struct InitialChain {
  crypto::Hash ck, h;
  InitialChain() {
    ck = crypto::blake2s({str(kConstruction)});
    h = crypto::blake2s({ck, str(kIdentifier)});
  }
};
const InitialChain& initial() {
  static const InitialChain c;
  return c;
}

void mix_hash(crypto::Hash& h, Bytes data) { h = crypto::blake2s({h, data}); }

// C = KDF1(C, data)
void mix_key(SecretKey& ck, Bytes data) { crypto::kdf(ck.b, data, ck.data()); }

// C, k = KDF2(C, DH result)
void mix_dh(SecretKey& ck, SecretKey& k, const SecretKey& dh) { crypto::kdf(ck.b, dh.b, ck.data(), k.data()); }

void start(SecretKey& ck, crypto::Hash& h, const crypto::PublicKey& responder_static) {
  std::memcpy(ck.data(), initial().ck.data(), 32);
  h = initial().h;
  mix_hash(h, responder_static);
}

SessionKeys derive(const SecretKey& ck, bool initiator) {
  SessionKeys k;
  SecretKey t1, t2;
  crypto::kdf(ck.b, {}, t1.data(), t2.data());
  k.send = initiator ? t1 : t2;
  k.recv = initiator ? t2 : t1;
  return k;
}

}  // namespace

Tai64n tai64n(int64_t unix_ns) {
  // TAI64 label: 2^62 + 10 leap seconds offset + Unix seconds, big-endian.
  uint64_t secs = 0x400000000000000aULL + static_cast<uint64_t>(unix_ns / 1000000000);
  uint32_t nanos = static_cast<uint32_t>(unix_ns % 1000000000) & ~uint32_t(0xffffff);
  Tai64n t;
  for (int i = 0; i < 8; ++i) t[i] = static_cast<uint8_t>(secs >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) t[8 + i] = static_cast<uint8_t>(nanos >> (24 - 8 * i));
  return t;
}

PeerKeys PeerKeys::make(const Identity& self, const crypto::PublicKey& remote, const SecretKey* psk) {
  PeerKeys p;
  p.remote_static = remote;
  p.valid = crypto::dh(p.static_static, self.private_key, remote);
  if (psk) p.psk = *psk;
  return p;
}

void Handshake::clear() {
  state = State::none;
  crypto::wipe(hash.data(), hash.size());
  chaining_key = SecretKey{};
  ephemeral_private = SecretKey{};
  remote_ephemeral = {};
  local_index = remote_index = 0;
}

bool create_initiation(Handshake& hs, const Identity& self, const PeerKeys& peer, const Tai64n& now,
                       crypto::Rng& rng, uint32_t local_index, Initiation& out) {
  if (!peer.valid) return false;
  start(hs.chaining_key, hs.hash, peer.remote_static);

  hs.ephemeral_private = crypto::generate_private_key(rng);
  out.ephemeral = crypto::public_from_private(hs.ephemeral_private);
  mix_key(hs.chaining_key, out.ephemeral);
  mix_hash(hs.hash, out.ephemeral);

  SecretKey dh, key;
  if (!crypto::dh(dh, hs.ephemeral_private, peer.remote_static)) return false;
  mix_dh(hs.chaining_key, key, dh);
  crypto::aead_seal(out.encrypted_static.data(), key.data(), 0, self.public_key, hs.hash);
  mix_hash(hs.hash, out.encrypted_static);

  mix_dh(hs.chaining_key, key, peer.static_static);
  crypto::aead_seal(out.encrypted_timestamp.data(), key.data(), 0, now, hs.hash);
  mix_hash(hs.hash, out.encrypted_timestamp);

  out.sender = local_index;
  out.mac1 = {};
  out.mac2 = {};
  hs.local_index = local_index;
  hs.state = Handshake::State::initiation_created;
  return true;
}

std::optional<ConsumedInitiation> consume_initiation(const Identity& self, const Initiation& msg,
                                                     const std::function<const PeerKeys*(const crypto::PublicKey&)>& find) {
  ConsumedInitiation r;
  start(r.chaining_key, r.hash, self.public_key);
  mix_key(r.chaining_key, msg.ephemeral);
  mix_hash(r.hash, msg.ephemeral);

  SecretKey dh, key;
  if (!crypto::dh(dh, self.private_key, msg.ephemeral)) return std::nullopt;
  mix_dh(r.chaining_key, key, dh);
  if (!crypto::aead_open(r.remote_static.data(), key.data(), 0, msg.encrypted_static, r.hash)) return std::nullopt;
  mix_hash(r.hash, msg.encrypted_static);

  const PeerKeys* peer = find(r.remote_static);
  if (!peer || !peer->valid) return std::nullopt;
  mix_dh(r.chaining_key, key, peer->static_static);
  if (!crypto::aead_open(r.timestamp.data(), key.data(), 0, msg.encrypted_timestamp, r.hash)) return std::nullopt;
  mix_hash(r.hash, msg.encrypted_timestamp);

  r.remote_ephemeral = msg.ephemeral;
  r.remote_index = msg.sender;
  return r;
}

std::optional<SessionKeys> create_response(Handshake& hs, const PeerKeys& peer, crypto::Rng& rng,
                                           uint32_t local_index, Response& out) {
  if (hs.state != Handshake::State::initiation_consumed) return std::nullopt;
  hs.ephemeral_private = crypto::generate_private_key(rng);
  out.ephemeral = crypto::public_from_private(hs.ephemeral_private);
  mix_key(hs.chaining_key, out.ephemeral);
  mix_hash(hs.hash, out.ephemeral);

  SecretKey dh;
  if (!crypto::dh(dh, hs.ephemeral_private, hs.remote_ephemeral)) return std::nullopt;
  mix_key(hs.chaining_key, dh.b);
  if (!crypto::dh(dh, hs.ephemeral_private, peer.remote_static)) return std::nullopt;
  mix_key(hs.chaining_key, dh.b);

  SecretKey tau, key;
  crypto::kdf(hs.chaining_key.b, peer.psk.b, hs.chaining_key.data(), tau.data(), key.data());
  mix_hash(hs.hash, tau.b);
  crypto::aead_seal(out.encrypted_nothing.data(), key.data(), 0, {}, hs.hash);
  mix_hash(hs.hash, out.encrypted_nothing);

  out.sender = local_index;
  out.receiver = hs.remote_index;
  out.mac1 = {};
  out.mac2 = {};
  hs.local_index = local_index;
  SessionKeys keys = derive(hs.chaining_key, false);
  hs.clear();
  return keys;
}

std::optional<SessionKeys> consume_response(Handshake& hs, const Identity& self, const PeerKeys& peer,
                                            const Response& msg) {
  if (hs.state != Handshake::State::initiation_created) return std::nullopt;
  // Work on copies: a forged response must not disturb the pending handshake.
  SecretKey ck = hs.chaining_key;
  crypto::Hash h = hs.hash;
  mix_key(ck, msg.ephemeral);
  mix_hash(h, msg.ephemeral);

  SecretKey dh;
  if (!crypto::dh(dh, hs.ephemeral_private, msg.ephemeral)) return std::nullopt;
  mix_key(ck, dh.b);
  if (!crypto::dh(dh, self.private_key, msg.ephemeral)) return std::nullopt;
  mix_key(ck, dh.b);

  SecretKey tau, key;
  crypto::kdf(ck.b, peer.psk.b, ck.data(), tau.data(), key.data());
  mix_hash(h, tau.b);
  uint8_t empty[1];
  if (!crypto::aead_open(empty, key.data(), 0, msg.encrypted_nothing, h)) return std::nullopt;

  SessionKeys keys = derive(ck, true);
  hs.remote_index = msg.sender;
  uint32_t local = hs.local_index;
  hs.clear();
  hs.local_index = local;
  hs.remote_index = msg.sender;
  return keys;
}

}  // namespace ovl::wg
