// wg-quick style configuration files ([Interface] / [Peer]), as existing
// WireGuard users write them. Pure parsing: hostnames in Endpoint are kept as
// text and resolved by the caller.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"

namespace ovl::config {

struct WgQuickPeer {
  crypto::PublicKey public_key{};
  std::optional<crypto::SecretKey> preshared_key;
  std::vector<net::Prefix> allowed_ips;
  std::optional<std::string> endpoint;  // "host:port" or "[v6]:port", unresolved
  uint16_t persistent_keepalive = 0;
  int line = 0;  // where the [Peer] section starts, for later error messages
};

struct WgQuickConfig {
  crypto::SecretKey private_key;
  std::optional<uint16_t> listen_port;
  std::vector<net::Prefix> addresses;  // interface addresses with prefix length
  std::optional<uint32_t> mtu;
  std::vector<std::string> dns;
  std::vector<WgQuickPeer> peers;
  std::vector<std::string> warnings;  // e.g. "line 7: PostUp is ignored by ovl"
};

struct ParseError {
  int line = 0;  // 1-based; 0 when the error is about the whole file
  std::string message;  // never contains key material
};

std::variant<WgQuickConfig, ParseError> parse_wg_quick(std::string_view text);

}  // namespace ovl::config
