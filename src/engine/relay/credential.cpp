#include "engine/relay/credential.hpp"

#include <cstring>

#include "engine/crypto/blake2s.hpp"

namespace ovl::relay {

namespace {

crypto::Bytes text(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// A 32-byte key for one purpose, derived from the relay secret.
crypto::SecretKey derive(const RelaySecret& secret, std::string_view purpose) {
  crypto::SecretKey k;
  crypto::blake2s_keyed(k.b, secret, {text(purpose)});
  return k;
}

}  // namespace

std::array<uint8_t, 32> credential_mac(const RelaySecret& secret, const crypto::PublicKey& node,
                                       uint64_t expires_unix) {
  std::array<uint8_t, 8> exp{};
  put_be64(exp.data(), expires_unix);
  std::array<uint8_t, 32> mac{};
  crypto::blake2s_keyed(mac, secret, {text(kCredentialContext), node, exp});
  return mac;
}

bool verify_credential(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t expires_unix,
                       const std::array<uint8_t, 32>& mac) {
  auto want = credential_mac(secret, node, expires_unix);
  const bool ok = crypto::ct_equal(want, mac);
  crypto::wipe(want.data(), want.size());
  return ok;
}

std::array<uint8_t, 32> revoke_mac(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t issued_unix) {
  std::array<uint8_t, 8> t{};
  put_be64(t.data(), issued_unix);
  std::array<uint8_t, 32> mac{};
  crypto::blake2s_keyed(mac, secret, {text(kRevokeContext), node, t});
  return mac;
}

bool verify_revoke(const RelaySecret& secret, const Revoke& r) {
  auto want = revoke_mac(secret, r.node, r.issued_unix);
  const bool ok = crypto::ct_equal(want, r.mac);
  crypto::wipe(want.data(), want.size());
  return ok;
}

std::vector<uint8_t> make_revoke(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t issued_unix) {
  Revoke r{node, issued_unix, revoke_mac(secret, node, issued_unix)};
  std::vector<uint8_t> b(kRevokeSize);
  serialize(r, std::span<uint8_t, kRevokeSize>(b.data(), b.size()));
  return b;
}

crypto::SecretKey relay_private_key(const RelaySecret& secret) {
  auto k = derive(secret, "ovl relay static key v1");
  // Clamped like any X25519 private key (RFC 7748).
  k.b[0] &= 248;
  k.b[31] = static_cast<uint8_t>((k.b[31] & 127) | 64);
  return k;
}

crypto::PublicKey relay_public_key(const RelaySecret& secret) {
  return crypto::public_from_private(relay_private_key(secret));
}

bool proof_key(crypto::SecretKey& out, const crypto::SecretKey& own, const crypto::PublicKey& other) {
  crypto::SecretKey shared;
  if (!crypto::dh(shared, own, other)) return false;
  crypto::blake2s_keyed(out.b, shared.b, {text("ovl relay proof key v1")});
  return true;
}

Proof allocate_proof(const crypto::SecretKey& key, std::span<const uint8_t> proofed) {
  Proof p{};
  crypto::blake2s_keyed(p, key.b, {text("ovl relay allocate v1"), proofed});
  return p;
}

void sign_allocate(Allocate& a, const crypto::SecretKey& key) {
  std::array<uint8_t, kAllocateSize> b{};
  serialize(a, b);
  a.proof = allocate_proof(key, proofed_part(b));
}

crypto::SecretKey cookie_key(const RelaySecret& secret) { return derive(secret, "ovl relay cookie key v1"); }

Cookie make_cookie(const crypto::SecretKey& key, const net::Endpoint& from, uint64_t bucket) {
  std::array<uint8_t, 8 + 16 + 2> in{};
  put_be64(in.data(), bucket);
  if (from.ip.v6) {
    std::memcpy(in.data() + 8, from.ip.b.data(), 16);
  } else {
    in[8 + 10] = in[8 + 11] = 0xff;  // v4-mapped: one form per address
    std::memcpy(in.data() + 8 + 12, from.ip.bytes().data(), 4);
  }
  in[24] = static_cast<uint8_t>(from.port >> 8);
  in[25] = static_cast<uint8_t>(from.port);
  Cookie c{};
  crypto::blake2s_keyed(c, key.b, {text("ovl relay cookie v1"), in});
  return c;
}

}  // namespace ovl::relay
