// WireGuard wire messages: named sizes and pure parse/serialize.
//
// All integers are little-endian. Layouts (bytes):
//
//  Initiation (type 1, 148):            Response (type 2, 92):
//   0  type=1 | 3 reserved zero           0  type=2 | 3 reserved zero
//   4  sender index                       4  sender index
//   8  unencrypted ephemeral (32)         8  receiver index
//  40  encrypted static (32+16)          12  unencrypted ephemeral (32)
//  88  encrypted timestamp (12+16)       44  encrypted nothing (0+16)
// 116  mac1 (16)                         60  mac1 (16)
// 132  mac2 (16)                         76  mac2 (16)
//
//  Cookie reply (type 3, 64):           Transport data (type 4, >= 32):
//   0  type=3 | 3 reserved zero           0  type=4 | 3 reserved zero
//   4  receiver index                     4  receiver index
//   8  nonce (24)                         8  counter (8)
//  32  encrypted cookie (16+16)          16  encrypted packet (padded to 16) + tag (16)
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace ovl::wg {

enum class MsgType : uint8_t { initiation = 1, response = 2, cookie_reply = 3, transport = 4 };

inline constexpr size_t kInitiationSize = 148;
inline constexpr size_t kResponseSize = 92;
inline constexpr size_t kCookieReplySize = 64;
inline constexpr size_t kTransportHeaderSize = 16;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kTransportMinSize = kTransportHeaderSize + kTagSize;  // a keepalive
inline constexpr size_t kMacSize = 16;
inline constexpr size_t kTimestampSize = 12;
inline constexpr size_t kCookieNonceSize = 24;
inline constexpr size_t kInitiationMac1Offset = 116;
inline constexpr size_t kInitiationMac2Offset = 132;
inline constexpr size_t kResponseMac1Offset = 60;
inline constexpr size_t kResponseMac2Offset = 76;

using Mac = std::array<uint8_t, kMacSize>;

struct Initiation {
  uint32_t sender = 0;
  std::array<uint8_t, 32> ephemeral{};
  std::array<uint8_t, 32 + kTagSize> encrypted_static{};
  std::array<uint8_t, kTimestampSize + kTagSize> encrypted_timestamp{};
  Mac mac1{}, mac2{};
};

struct Response {
  uint32_t sender = 0, receiver = 0;
  std::array<uint8_t, 32> ephemeral{};
  std::array<uint8_t, kTagSize> encrypted_nothing{};
  Mac mac1{}, mac2{};
};

struct CookieReply {
  uint32_t receiver = 0;
  std::array<uint8_t, kCookieNonceSize> nonce{};
  std::array<uint8_t, kMacSize + kTagSize> encrypted_cookie{};
};

struct TransportHeader {
  uint32_t receiver = 0;
  uint64_t counter = 0;
};

// The message type if `b` has a known type byte, three zero reserved bytes
// and exactly the right size for that type (transport: at least 32 bytes).
std::optional<MsgType> message_type(std::span<const uint8_t> b);

// Parsers return nullopt unless the size and header are exact.
std::optional<Initiation> parse_initiation(std::span<const uint8_t> b);
std::optional<Response> parse_response(std::span<const uint8_t> b);
std::optional<CookieReply> parse_cookie_reply(std::span<const uint8_t> b);
std::optional<TransportHeader> parse_transport_header(std::span<const uint8_t> b);

void serialize(const Initiation& m, std::span<uint8_t, kInitiationSize> out);
void serialize(const Response& m, std::span<uint8_t, kResponseSize> out);
void serialize(const CookieReply& m, std::span<uint8_t, kCookieReplySize> out);
void serialize(const TransportHeader& h, std::span<uint8_t, kTransportHeaderSize> out);

inline void put_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_le64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t get_le32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t get_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace ovl::wg
