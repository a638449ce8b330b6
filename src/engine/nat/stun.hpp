// STUN Binding codec (RFC 8489, with RFC 3489 "classic" compatibility):
// named sizes and pure parse/serialize. No sockets, no clock; the caller
// supplies transaction ids (randomness) and addresses.
//
// All integers are big-endian. Message layout (bytes):
//
//   0  type (2): 0x0001 Binding request, 0x0101 success, 0x0111 error;
//                the top two bits are always zero
//   2  length (2): bytes after the 20-byte header, a multiple of 4
//   4  magic cookie 0x2112A442 (RFC 5389/8489) ──┐ classic RFC 3489: these 16
//   8  transaction id (12)                      ──┘ bytes are the transaction id
//  20  attributes, each:
//        0  type (2)      < 0x8000 comprehension-required, else optional
//        2  length (2)    value bytes, before padding
//        4  value, zero-padded to a multiple of 4
//
// Address attributes (MAPPED-ADDRESS 0x0001, XOR-MAPPED-ADDRESS 0x0020,
// SOURCE-ADDRESS 0x0004, CHANGED-ADDRESS 0x0005), value:
//   0  zero (1) | family (1): 1 IPv4, 2 IPv6 | port (2) | address (4 or 16)
// XOR-MAPPED-ADDRESS xors the port with the cookie's top 16 bits and the
// address with the cookie (IPv4) or cookie || transaction id (IPv6).
//
// FINGERPRINT 0x8028, value (4): CRC-32 of the message before it (with the
// length field already counting it) xor 0x5354554E; always the last attribute.
// CHANGE-REQUEST 0x0003, value (4): flag 0x4 change IP, flag 0x2 change port.
// ERROR-CODE 0x0009, value: 0 (2) | class (1) | number (1) | reason (UTF-8).
// UNKNOWN-ATTRIBUTES 0x000A, value: attribute types (2 each).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::nat {

inline constexpr size_t kStunHeaderSize = 20;
inline constexpr size_t kAttrHeaderSize = 4;
inline constexpr uint32_t kMagicCookie = 0x2112A442;
inline constexpr size_t kTxIdSize = 12;         // RFC 8489
inline constexpr size_t kClassicTxIdSize = 16;  // RFC 3489: cookie field is part of it
inline constexpr size_t kFingerprintAttrSize = kAttrHeaderSize + 4;
inline constexpr uint32_t kFingerprintXor = 0x5354554E;
inline constexpr size_t kMaxSoftwareSize = 127;  // RFC 8489 §14.14: fewer than 128 characters

inline constexpr uint16_t kBindingRequest = 0x0001;
inline constexpr uint16_t kBindingSuccess = 0x0101;
inline constexpr uint16_t kBindingError = 0x0111;

namespace attr {
inline constexpr uint16_t kMappedAddress = 0x0001;
inline constexpr uint16_t kResponseAddress = 0x0002;  // RFC 3489; never honoured
inline constexpr uint16_t kChangeRequest = 0x0003;
inline constexpr uint16_t kSourceAddress = 0x0004;    // RFC 3489
inline constexpr uint16_t kChangedAddress = 0x0005;   // RFC 3489
inline constexpr uint16_t kUsername = 0x0006;
inline constexpr uint16_t kMessageIntegrity = 0x0008;
inline constexpr uint16_t kErrorCode = 0x0009;
inline constexpr uint16_t kUnknownAttributes = 0x000A;
inline constexpr uint16_t kReflectedFrom = 0x000B;    // RFC 3489
inline constexpr uint16_t kRealm = 0x0014;
inline constexpr uint16_t kNonce = 0x0015;
inline constexpr uint16_t kMessageIntegritySha256 = 0x001C;
inline constexpr uint16_t kPasswordAlgorithm = 0x001D;
inline constexpr uint16_t kUserhash = 0x001E;
inline constexpr uint16_t kXorMappedAddress = 0x0020;
inline constexpr uint16_t kPriority = 0x0024;         // ICE
inline constexpr uint16_t kUseCandidate = 0x0025;     // ICE
inline constexpr uint16_t kSoftware = 0x8022;
inline constexpr uint16_t kFingerprint = 0x8028;
}  // namespace attr

inline constexpr uint32_t kChangeIpFlag = 0x4;
inline constexpr uint32_t kChangePortFlag = 0x2;

using TxId = std::array<uint8_t, kTxIdSize>;

// CRC-32 (IEEE 802.3, as used by FINGERPRINT and zlib).
uint32_t crc32(std::span<const uint8_t> data);

// A cheap test for the node's single UDP port: true only for a Binding
// request, success or error response whose length field matches the
// datagram exactly (20 + length, length a multiple of 4). With the magic
// cookie this is RFC 8489 STUN; without it, classic RFC 3489. WireGuard
// messages (first byte 1..4, then zeros) are never STUN: as a STUN type they
// would read 0x0100..0x0400.
bool is_stun(std::span<const uint8_t> b);

struct RequestOptions {
  bool fingerprint = true;     // lets a shared-port receiver tell STUN apart
  std::string_view software;   // SOFTWARE attribute if non-empty (cut to 127 bytes)
};

// An RFC 8489 Binding request carrying `txid` (the caller's random bytes).
std::vector<uint8_t> binding_request(const TxId& txid, const RequestOptions& opt = {});

struct StunRequest {
  bool classic = false;            // RFC 3489: no magic cookie, 16-byte txid
  std::array<uint8_t, kClassicTxIdSize> txid{};  // first 12 bytes used unless classic
  bool has_change_request = false;
  bool change_ip = false, change_port = false;  // any CHANGE-REQUEST asked for it

  std::span<const uint8_t> txid_bytes() const { return {txid.data(), classic ? kClassicTxIdSize : kTxIdSize}; }
  bool wants_change() const { return change_ip || change_port; }
};

// A Binding request this server can process, or nullopt. Every attribute is
// walked with exact bounds (padding included; one running past the end
// rejects the message). Rejected: unknown comprehension-required attributes
// (which include RESPONSE-ADDRESS: a server must not send answers to a third
// party), a malformed CHANGE-REQUEST, a FINGERPRINT that is wrong or not last.
// Credentials (USERNAME, MESSAGE-INTEGRITY, ...) and ICE's PRIORITY and
// USE-CANDIDATE are understood and ignored: this is a basic server without
// authentication (RFC 8489 §13). Attributes after MESSAGE-INTEGRITY other than
// FINGERPRINT are ignored, as RFC 8489 §14.5 says.
std::optional<StunRequest> parse_request(std::span<const uint8_t> b);

// The answer of a server with one address to `req`, which arrived from
// `observed_source` at `server_address`:
//  * RFC 8489 request: success with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS (for
//    old clients), SOFTWARE "ovl" and FINGERPRINT;
//  * classic request: success with MAPPED-ADDRESS, SOURCE-ADDRESS and
//    CHANGED-ADDRESS (both = server_address), as RFC 3489 requires;
//  * a request asking for a change of IP or port, which one address cannot
//    honour: RFC 8489 request -> error 420 naming CHANGE-REQUEST as unknown
//    (RFC 8489 §12); classic request -> empty vector, meaning send nothing
//    (see stun.cpp for why).
std::vector<uint8_t> binding_response(const StunRequest& req, const net::Endpoint& observed_source,
                                      const net::Endpoint& server_address);

struct StunResponse {
  bool classic = false;
  std::array<uint8_t, kClassicTxIdSize> txid{};  // first 12 bytes used unless classic
  net::Endpoint mapped;
  bool from_xor = false;  // mapped came from XOR-MAPPED-ADDRESS

  std::span<const uint8_t> txid_bytes() const { return {txid.data(), classic ? kClassicTxIdSize : kTxIdSize}; }
  // True if this answers the RFC 8489 request made with `id`.
  bool answers(const TxId& id) const;
};

// A Binding success response, or nullopt. The mapped address comes from
// XOR-MAPPED-ADDRESS (RFC 8489 only) if present, else MAPPED-ADDRESS; the
// first occurrence of each counts, but every address attribute must be well
// formed. A FINGERPRINT, if present, must be last and correct. Unknown
// comprehension-required attributes reject the response (RFC 8489 §6.3.3),
// except the RFC 3489 ones an old server may send (§12.1).
std::optional<StunResponse> parse_response(std::span<const uint8_t> b);

struct StunErrorResponse {
  bool classic = false;
  std::array<uint8_t, kClassicTxIdSize> txid{};
  uint16_t code = 0;  // 300..699
  std::vector<uint16_t> unknown_attributes;

  std::span<const uint8_t> txid_bytes() const { return {txid.data(), classic ? kClassicTxIdSize : kTxIdSize}; }
};

// A Binding error response with a well-formed ERROR-CODE, or nullopt; the same
// framing and FINGERPRINT rules as parse_response.
std::optional<StunErrorResponse> parse_error_response(std::span<const uint8_t> b);

}  // namespace ovl::nat
