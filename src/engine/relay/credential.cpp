#include "engine/relay/credential.hpp"

#include "engine/crypto/blake2s.hpp"

namespace ovl::relay {

std::array<uint8_t, 32> credential_mac(const RelaySecret& secret, const crypto::PublicKey& node,
                                       uint64_t expires_unix) {
  std::array<uint8_t, 8> exp{};
  put_be64(exp.data(), expires_unix);
  const auto* ctx = reinterpret_cast<const uint8_t*>(kCredentialContext.data());
  std::array<uint8_t, 32> mac{};
  crypto::blake2s_keyed(mac, secret, {{ctx, kCredentialContext.size()}, node, exp});
  return mac;
}

bool verify_credential(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t expires_unix,
                       const std::array<uint8_t, 32>& mac) {
  auto want = credential_mac(secret, node, expires_unix);
  const bool ok = crypto::ct_equal(want, mac);
  crypto::wipe(want.data(), want.size());
  return ok;
}

}  // namespace ovl::relay
