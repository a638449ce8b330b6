// Relay credentials: the coordinator mints them for enrolled nodes, the relay
// verifies them. A credential binds a node's public key to an expiry time:
//
//   mac = BLAKE2s-256(key = relay secret,
//                     "ovl relay credential v1" || node public key (32) || expires_unix (u64 BE))
//
// The secret is shared by the coordinator and its relays only. Pure functions.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

#include "engine/crypto/keys.hpp"
#include "engine/relay/protocol.hpp"

namespace ovl::relay {

using RelaySecret = std::array<uint8_t, 32>;

inline constexpr std::string_view kCredentialContext = "ovl relay credential v1";  // no terminator

std::array<uint8_t, 32> credential_mac(const RelaySecret& secret, const crypto::PublicKey& node,
                                       uint64_t expires_unix);
// Constant-time check of `mac` against credential_mac(secret, node, expires_unix).
// Says nothing about expiry: the caller compares expires_unix with its clock.
bool verify_credential(const RelaySecret& secret, const crypto::PublicKey& node, uint64_t expires_unix,
                       const std::array<uint8_t, 32>& mac);

}  // namespace ovl::relay
