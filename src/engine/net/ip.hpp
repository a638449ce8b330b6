// Plain IP address, prefix and UDP endpoint values for protocol code.
// No sockets here: engine/io converts these to and from sockaddr.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ovl::net {

// IP protocol numbers and header sizes, one place for the packet code
// (offload, policy classifier, DNS responder).
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp6 = 58;
inline constexpr size_t kIpv4HeaderMinSize = 20;
inline constexpr size_t kUdpHeaderSize = 8;

// An IPv4 or IPv6 address. IPv4 is stored in the first 4 bytes of `b`.
struct IpAddr {
  std::array<uint8_t, 16> b{};
  bool v6 = false;

  static IpAddr v4(uint8_t a, uint8_t b_, uint8_t c, uint8_t d) {
    IpAddr r;
    r.b[0] = a; r.b[1] = b_; r.b[2] = c; r.b[3] = d;
    return r;
  }
  static IpAddr from_bytes(std::span<const uint8_t> bytes);  // 4 or 16 bytes
  size_t size() const { return v6 ? 16 : 4; }
  std::span<const uint8_t> bytes() const { return {b.data(), size()}; }
  bool is_unspecified() const;
  bool is_loopback() const;  // 127.0.0.0/8 or ::1
  // Parses dotted IPv4 or RFC 4291 IPv6 text. nullopt on anything else.
  static std::optional<IpAddr> parse(std::string_view s);
  std::string str() const;
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

struct Prefix {
  IpAddr addr;
  uint8_t len = 0;
  // "10.0.0.0/8", "fd00::/64", or a bare address (full length).
  static std::optional<Prefix> parse(std::string_view s);
  bool contains(const IpAddr& a) const;
  Prefix masked() const;  // host bits cleared
  std::string str() const;
  bool operator==(const Prefix&) const = default;
};

struct Endpoint {
  IpAddr ip;
  uint16_t port = 0;
  bool valid() const { return port != 0; }
  // "1.2.3.4:51820" or "[fd00::1]:51820". No name resolution here.
  static std::optional<Endpoint> parse(std::string_view s);
  std::string str() const;
  bool operator==(const Endpoint&) const = default;
  auto operator<=>(const Endpoint&) const = default;
};

}  // namespace ovl::net
