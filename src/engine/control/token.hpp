// Invite tokens: one copy-pastable string that carries everything a new node
// needs to find and authenticate the coordinator, plus the invite's secret.
//
//   "ovl1-" + base64url(no padding) of:
//
//   0   version (1)                      u8 = 1
//   1   network id                       16 bytes
//   17  coordinator static public key    32 bytes
//   49  invite id                        8 bytes
//   57  secret                           16 bytes
//   73  endpoint count N                 u8 (1..8)
//   74  N endpoints: family u8 (4|6), address (4|16), port u16 big-endian
//   ..  checksum                         4 bytes: first 4 of BLAKE2s(all before)
//
// The checksum turns a mangled copy-paste into "corrupted" instead of a
// confusing authentication failure later.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"

namespace ovl::control {

inline constexpr std::string_view kTokenPrefix = "ovl1-";
inline constexpr uint8_t kTokenVersion = 1;
inline constexpr size_t kMaxTokenEndpoints = 8;

struct Token {
  std::array<uint8_t, 16> network_id{};
  crypto::PublicKey coordinator_key{};
  std::array<uint8_t, 8> invite_id{};
  std::array<uint8_t, 16> secret{};
  std::vector<net::Endpoint> endpoints;  // TCP control (and UDP) address of the coordinator
};

enum class TokenError { not_a_token, corrupted, unsupported_version, no_endpoints };
const char* describe(TokenError e);  // never echoes token content

// Throws std::invalid_argument for a token no node could use (no endpoint,
// more than kMaxTokenEndpoints, a port of 0).
std::string encode_token(const Token& t);
std::variant<Token, TokenError> decode_token(std::string_view s);  // surrounding whitespace allowed

std::string hex(std::span<const uint8_t> b);

}  // namespace ovl::control
