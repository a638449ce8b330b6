#include "engine/relay/protocol.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace ovl::relay {

namespace {

constexpr size_t kKeyOffset = kHeaderSize;                  // 5
constexpr size_t kExpiresOffset = kKeyOffset + kKeySize;    // 37
constexpr size_t kMacOffset = kExpiresOffset + 8;           // 45
constexpr size_t kCookieOffset = kMacOffset + kCredentialMacSize;  // 77
static_assert(kCookieOffset + kCookieSize == kProofOffset);
static_assert(kAllocateSize == 125 && kAllocatedSize == 13 && kRefusedSize == 6 && kMinForwardSize == 14);
// A 1420-byte tunnel packet (padded to 1424) + 32 bytes of WireGuard + the
// relay header + IPv4 + UDP fit in 1500.
static_assert(1424 + 32 + kForwardHeaderSize + 20 + 8 <= 1500);
static_assert(kChallengeSize == 21 && kChallengeSize < kAllocateSize);  // a challenge never amplifies

void put_header(uint8_t* p, MsgType t) {
  std::memcpy(p, kMagic.data(), kMagicSize);
  p[kMagicSize] = static_cast<uint8_t>(t);
}

bool has(std::span<const uint8_t> b, MsgType t) {
  auto got = message_type(b);
  return got && *got == t;
}

bool forward_size_ok(size_t n) { return n >= kMinForwardSize && n <= kMaxForwardSize; }

template <class M>
std::optional<M> parse_forward(std::span<const uint8_t> b, MsgType t) {
  if (!forward_size_ok(b.size()) || !has(b, t)) return std::nullopt;
  M m;
  const uint8_t* id = b.data() + kKeyOffset;
  if constexpr (std::is_same_v<M, Send>) std::memcpy(m.destination.data(), id, kNodeIdSize);
  else std::memcpy(m.source.data(), id, kNodeIdSize);
  m.payload = b.subspan(kForwardHeaderSize);
  return m;
}

size_t serialize_forward(MsgType t, const NodeId& id, std::span<const uint8_t> payload, std::span<uint8_t> out) {
  if (payload.size() < kMinPayload || payload.size() > kMaxPayload) return 0;
  const size_t n = kForwardHeaderSize + payload.size();
  if (out.size() < n) return 0;
  put_header(out.data(), t);
  std::memcpy(out.data() + kKeyOffset, id.data(), kNodeIdSize);
  std::memcpy(out.data() + kForwardHeaderSize, payload.data(), payload.size());
  return n;
}

std::vector<uint8_t> make_forward(MsgType t, const NodeId& id, std::span<const uint8_t> payload) {
  if (payload.size() < kMinPayload || payload.size() > kMaxPayload) return {};
  std::vector<uint8_t> v(kForwardHeaderSize + payload.size());
  serialize_forward(t, id, payload, v);
  return v;
}

}  // namespace

std::optional<MsgType> message_type(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize || !std::equal(kMagic.begin(), kMagic.end(), b.begin())) return std::nullopt;
  const uint8_t t = b[kMagicSize];
  if (t < static_cast<uint8_t>(MsgType::allocate) || t > static_cast<uint8_t>(MsgType::revoke)) return std::nullopt;
  return static_cast<MsgType>(t);
}

std::optional<Revoke> parse_revoke(std::span<const uint8_t> b) {
  if (b.size() != kRevokeSize || !has(b, MsgType::revoke)) return std::nullopt;
  Revoke m;
  std::memcpy(m.node.data(), b.data() + kHeaderSize, kKeySize);
  m.issued_unix = get_be64(b.data() + kHeaderSize + kKeySize);
  std::memcpy(m.mac.data(), b.data() + kHeaderSize + kKeySize + 8, kCredentialMacSize);
  return m;
}

void serialize(const Revoke& m, std::span<uint8_t, kRevokeSize> out) {
  std::copy(kMagic.begin(), kMagic.end(), out.begin());
  out[kMagicSize] = static_cast<uint8_t>(MsgType::revoke);
  std::memcpy(out.data() + kHeaderSize, m.node.data(), kKeySize);
  put_be64(out.data() + kHeaderSize + kKeySize, m.issued_unix);
  std::memcpy(out.data() + kHeaderSize + kKeySize + 8, m.mac.data(), kCredentialMacSize);
}

std::optional<Allocate> parse_allocate(std::span<const uint8_t> b) {
  if (b.size() != kAllocateSize || !has(b, MsgType::allocate)) return std::nullopt;
  Allocate m;
  std::memcpy(m.node.data(), b.data() + kKeyOffset, kKeySize);
  m.expires_unix = get_be64(b.data() + kExpiresOffset);
  std::memcpy(m.mac.data(), b.data() + kMacOffset, kCredentialMacSize);
  std::memcpy(m.cookie.data(), b.data() + kCookieOffset, kCookieSize);
  std::memcpy(m.proof.data(), b.data() + kProofOffset, kProofSize);
  return m;
}

std::optional<Allocated> parse_allocated(std::span<const uint8_t> b) {
  if (b.size() != kAllocatedSize || !has(b, MsgType::allocated)) return std::nullopt;
  return Allocated{get_be64(b.data() + kHeaderSize)};
}

std::optional<Send> parse_send(std::span<const uint8_t> b) { return parse_forward<Send>(b, MsgType::send); }
std::optional<Data> parse_data(std::span<const uint8_t> b) { return parse_forward<Data>(b, MsgType::data); }

std::optional<Refused> parse_refused(std::span<const uint8_t> b) {
  if (b.size() != kRefusedSize || !has(b, MsgType::refused)) return std::nullopt;
  const uint8_t r = b[kHeaderSize];
  if (r < static_cast<uint8_t>(RefuseReason::bad_credential) || r > static_cast<uint8_t>(RefuseReason::bad_proof))
    return std::nullopt;
  return Refused{static_cast<RefuseReason>(r)};
}

std::optional<Challenge> parse_challenge(std::span<const uint8_t> b) {
  if (b.size() != kChallengeSize || !has(b, MsgType::challenge)) return std::nullopt;
  Challenge c;
  std::memcpy(c.cookie.data(), b.data() + kHeaderSize, kCookieSize);
  return c;
}

void serialize(const Allocate& m, std::span<uint8_t, kAllocateSize> out) {
  put_header(out.data(), MsgType::allocate);
  std::memcpy(out.data() + kKeyOffset, m.node.data(), kKeySize);
  put_be64(out.data() + kExpiresOffset, m.expires_unix);
  std::memcpy(out.data() + kMacOffset, m.mac.data(), kCredentialMacSize);
  std::memcpy(out.data() + kCookieOffset, m.cookie.data(), kCookieSize);
  std::memcpy(out.data() + kProofOffset, m.proof.data(), kProofSize);
}

void serialize(const Challenge& m, std::span<uint8_t, kChallengeSize> out) {
  put_header(out.data(), MsgType::challenge);
  std::memcpy(out.data() + kHeaderSize, m.cookie.data(), kCookieSize);
}

void serialize(const Allocated& m, std::span<uint8_t, kAllocatedSize> out) {
  put_header(out.data(), MsgType::allocated);
  put_be64(out.data() + kHeaderSize, m.expires_unix);
}

void serialize(const Refused& m, std::span<uint8_t, kRefusedSize> out) {
  put_header(out.data(), MsgType::refused);
  out[kHeaderSize] = static_cast<uint8_t>(m.reason);
}

void write_send_header(const NodeId& destination, std::span<uint8_t, kForwardHeaderSize> out) {
  put_header(out.data(), MsgType::send);
  std::memcpy(out.data() + kKeyOffset, destination.data(), kNodeIdSize);
}

void write_data_header(const NodeId& source, std::span<uint8_t, kForwardHeaderSize> out) {
  put_header(out.data(), MsgType::data);
  std::memcpy(out.data() + kKeyOffset, source.data(), kNodeIdSize);
}

size_t serialize_send(const NodeId& destination, std::span<const uint8_t> payload, std::span<uint8_t> out) {
  return serialize_forward(MsgType::send, destination, payload, out);
}

size_t serialize_data(const NodeId& source, std::span<const uint8_t> payload, std::span<uint8_t> out) {
  return serialize_forward(MsgType::data, source, payload, out);
}

std::vector<uint8_t> make_send(const NodeId& destination, std::span<const uint8_t> payload) {
  return make_forward(MsgType::send, destination, payload);
}

std::vector<uint8_t> make_data(const NodeId& source, std::span<const uint8_t> payload) {
  return make_forward(MsgType::data, source, payload);
}

}  // namespace ovl::relay
