// Relay wire protocol (UDP): named sizes and pure parse/serialize.
//
// The relay forwards opaque WireGuard datagrams between enrolled nodes; the
// payload of SEND/DATA is never looked into. All integers are big-endian.
// Every message starts with the magic "OVR1" (0x4F 0x56 0x52 0x31) and a type
// byte. 'O' (0x4F) is neither a WireGuard type (1..4) nor a STUN first byte
// (top two bits zero), so one UDP port can carry all three.
//
//  ALLOCATE (type 1, client->relay, 125):    ALLOCATED (type 2, relay->client, 13):
//   0  magic "OVR1" (4)                        0  magic (4)
//   4  type=1                                  4  type=2
//   5  node public key (32)                    5  expires_unix (u64, 8)
//  37  expires_unix (u64, 8)
//  45  mac (32): credential_mac(secret, node key, expires_unix), see credential.hpp
//  77  cookie (16): the relay's last CHALLENGE to this address (zeros at first)
//  93  proof (32): allocate_proof(DH(node, relay key), bytes 5..93), see credential.hpp
//
//  CHALLENGE (type 6, relay->client, 21): the cookie an ALLOCATE from this
//  address must echo (it is bound to the address, so a captured ALLOCATE
//  replayed from elsewhere only earns a challenge the thief cannot answer):
//   0  magic (4) | 4 type=6 | 5 cookie (16)
//
//  SEND (type 3, client->relay, 14..65535):  DATA (type 4, relay->client, 14..65535):
//   0  magic (4)                               0  magic (4)
//   4  type=3                                  4  type=4
//   5  destination node id (8)                 5  source node id (8)
//  13  payload (1..65522): a WireGuard datagram, opaque
//
// A node id is the first 8 bytes of the node's public key (node_id()): the
// 13-byte header keeps a full-size relayed WireGuard datagram (1420-byte
// tunnel MTU padded to 1424, + 32) inside a 1500-byte IPv4 path, where a
// 32-byte key made every one of them an IP fragment pair. Matching a chosen
// node's id means about 2^64 key generations, would only deny that node the
// relay (payloads are end-to-end encrypted), and needs an enrolled key; the
// relay refuses a second key with a taken id.
//
//  REFUSED (type 5, relay->client, 6):
//   0  magic (4) | 4 type=5 | 5 reason (1..6, see RefuseReason)
//
//  REVOKE (type 7, coordinator->relay, 77): a node was removed; the relay
//  drops its lease and refuses its credentials from now on. Never answered.
//   0  magic (4) | 4 type=7 | 5 node public key (32) | 37 issued_unix (u64, 8)
//  45  mac (32): revoke_mac(secret, node key, issued_unix), see credential.hpp
//  (accepted within kRevokeWindow of the relay's clock; a replay only revokes
//  a removed node again).
//
// SEND and DATA headers have the same size, so the relay forwards in place:
// it rewrites the type and key of the received buffer and sends it on.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/crypto/keys.hpp"

namespace ovl::relay {

enum class MsgType : uint8_t { allocate = 1, allocated = 2, send = 3, data = 4, refused = 5, challenge = 6, revoke = 7 };

enum class RefuseReason : uint8_t {
  bad_credential = 1,
  expired_credential = 2,
  not_allocated = 3,  // SEND from an address that holds no allocation
  revoked = 4,
  rate_limited = 5,
  bad_proof = 6,  // a genuine credential, but the sender did not prove it holds the node's key
};

inline constexpr std::array<uint8_t, 4> kMagic{0x4F, 0x56, 0x52, 0x31};  // "OVR1"
inline constexpr size_t kMagicSize = 4;
inline constexpr size_t kHeaderSize = kMagicSize + 1;  // magic + type
inline constexpr size_t kKeySize = 32;
inline constexpr size_t kNodeIdSize = 8;
inline constexpr size_t kCredentialMacSize = 32;
inline constexpr size_t kCookieSize = 16;
inline constexpr size_t kProofSize = 32;
inline constexpr size_t kAllocateSize = kHeaderSize + kKeySize + 8 + kCredentialMacSize + kCookieSize + kProofSize;  // 125
inline constexpr size_t kProofedOffset = kHeaderSize;                   // the proof covers bytes 5..93
inline constexpr size_t kProofOffset = kAllocateSize - kProofSize;      // 93
inline constexpr size_t kChallengeSize = kHeaderSize + kCookieSize;     // 21
inline constexpr size_t kAllocatedSize = kHeaderSize + 8;                                  // 13
inline constexpr size_t kRefusedSize = kHeaderSize + 1;                                     // 6
inline constexpr size_t kRevokeSize = kHeaderSize + kKeySize + 8 + kCredentialMacSize;      // 77
inline constexpr size_t kForwardHeaderSize = kHeaderSize + kNodeIdSize;  // SEND/DATA header, 13
inline constexpr size_t kMaxForwardSize = 65535;
inline constexpr size_t kMinPayload = 1;
inline constexpr size_t kMaxPayload = kMaxForwardSize - kForwardHeaderSize;  // 65522
inline constexpr size_t kMinForwardSize = kForwardHeaderSize + kMinPayload;  // 14

using CredentialMac = std::array<uint8_t, kCredentialMacSize>;
using Cookie = std::array<uint8_t, kCookieSize>;
using NodeId = std::array<uint8_t, kNodeIdSize>;

inline NodeId node_id(const crypto::PublicKey& k) {
  NodeId id{};
  for (size_t i = 0; i < kNodeIdSize; ++i) id[i] = k[i];
  return id;
}
using Proof = std::array<uint8_t, kProofSize>;

struct Allocate {
  crypto::PublicKey node{};
  uint64_t expires_unix = 0;
  CredentialMac mac{};
  Cookie cookie{};
  Proof proof{};
};

struct Challenge {
  Cookie cookie{};
};

struct Allocated {
  uint64_t expires_unix = 0;
};

// SEND and DATA: `payload` is a view into the parsed datagram.
struct Send {
  NodeId destination{};
  std::span<const uint8_t> payload;
};

struct Data {
  NodeId source{};
  std::span<const uint8_t> payload;
};

struct Refused {
  RefuseReason reason = RefuseReason::bad_credential;
};

struct Revoke {
  crypto::PublicKey node{};
  uint64_t issued_unix = 0;
  CredentialMac mac{};
};

// The type if `b` starts with the magic and a known type byte (sizes are
// checked by the parsers). A cheap test for the node's shared UDP port.
std::optional<MsgType> message_type(std::span<const uint8_t> b);
inline bool is_relay_message(std::span<const uint8_t> b) { return message_type(b).has_value(); }

// Parsers return nullopt unless magic, type and size are exact
// (SEND/DATA: 14..65535 bytes; REFUSED: a known reason).
std::optional<Allocate> parse_allocate(std::span<const uint8_t> b);
std::optional<Allocated> parse_allocated(std::span<const uint8_t> b);
std::optional<Send> parse_send(std::span<const uint8_t> b);
std::optional<Data> parse_data(std::span<const uint8_t> b);
std::optional<Refused> parse_refused(std::span<const uint8_t> b);
std::optional<Challenge> parse_challenge(std::span<const uint8_t> b);
std::optional<Revoke> parse_revoke(std::span<const uint8_t> b);

void serialize(const Allocate& m, std::span<uint8_t, kAllocateSize> out);
void serialize(const Allocated& m, std::span<uint8_t, kAllocatedSize> out);
void serialize(const Refused& m, std::span<uint8_t, kRefusedSize> out);
void serialize(const Challenge& m, std::span<uint8_t, kChallengeSize> out);
void serialize(const Revoke& m, std::span<uint8_t, kRevokeSize> out);

// The bytes of an ALLOCATE that its proof covers (node key .. cookie).
inline std::span<const uint8_t> proofed_part(std::span<const uint8_t, kAllocateSize> allocate) {
  return allocate.subspan(kProofedOffset, kProofOffset - kProofedOffset);
}

// The 13-byte SEND/DATA header alone, for callers that place the payload
// right after it themselves (no copy of the payload).
void write_send_header(const NodeId& destination, std::span<uint8_t, kForwardHeaderSize> out);
void write_data_header(const NodeId& source, std::span<uint8_t, kForwardHeaderSize> out);

// Header + payload into `out`. Returns the bytes written, or 0 (nothing
// written) if the payload is empty or longer than kMaxPayload, or `out` is
// shorter than kForwardHeaderSize + payload.size().
size_t serialize_send(const NodeId& destination, std::span<const uint8_t> payload, std::span<uint8_t> out);
size_t serialize_data(const NodeId& source, std::span<const uint8_t> payload, std::span<uint8_t> out);

// Allocating conveniences (start-up, tests): empty vector on a bad payload size.
std::vector<uint8_t> make_send(const NodeId& destination, std::span<const uint8_t> payload);
std::vector<uint8_t> make_data(const NodeId& source, std::span<const uint8_t> payload);
inline std::vector<uint8_t> make_send(const crypto::PublicKey& destination, std::span<const uint8_t> payload) {
  return make_send(node_id(destination), payload);
}
inline std::vector<uint8_t> make_data(const crypto::PublicKey& source, std::span<const uint8_t> payload) {
  return make_data(node_id(source), payload);
}

inline void put_be64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline uint64_t get_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace ovl::relay
