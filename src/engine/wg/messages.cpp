#include "engine/wg/messages.hpp"

namespace ovl::wg {

namespace {

void put_header(uint8_t* p, MsgType t) {
  p[0] = static_cast<uint8_t>(t);
  p[1] = p[2] = p[3] = 0;
}

template <size_t N>
void take(std::array<uint8_t, N>& dst, const uint8_t* src) {
  std::memcpy(dst.data(), src, N);
}

template <size_t N>
void give(uint8_t* dst, const std::array<uint8_t, N>& src) {
  std::memcpy(dst, src.data(), N);
}

}  // namespace

std::optional<MsgType> message_type(std::span<const uint8_t> b) {
  if (b.size() < 4 || b[1] != 0 || b[2] != 0 || b[3] != 0) return std::nullopt;
  switch (b[0]) {
    case 1: return b.size() == kInitiationSize ? std::optional(MsgType::initiation) : std::nullopt;
    case 2: return b.size() == kResponseSize ? std::optional(MsgType::response) : std::nullopt;
    case 3: return b.size() == kCookieReplySize ? std::optional(MsgType::cookie_reply) : std::nullopt;
    case 4: return b.size() >= kTransportMinSize ? std::optional(MsgType::transport) : std::nullopt;
    default: return std::nullopt;
  }
}

std::optional<Initiation> parse_initiation(std::span<const uint8_t> b) {
  if (message_type(b) != MsgType::initiation) return std::nullopt;
  Initiation m;
  const uint8_t* p = b.data();
  m.sender = get_le32(p + 4);
  take(m.ephemeral, p + 8);
  take(m.encrypted_static, p + 40);
  take(m.encrypted_timestamp, p + 88);
  take(m.mac1, p + kInitiationMac1Offset);
  take(m.mac2, p + kInitiationMac2Offset);
  return m;
}

std::optional<Response> parse_response(std::span<const uint8_t> b) {
  if (message_type(b) != MsgType::response) return std::nullopt;
  Response m;
  const uint8_t* p = b.data();
  m.sender = get_le32(p + 4);
  m.receiver = get_le32(p + 8);
  take(m.ephemeral, p + 12);
  take(m.encrypted_nothing, p + 44);
  take(m.mac1, p + kResponseMac1Offset);
  take(m.mac2, p + kResponseMac2Offset);
  return m;
}

std::optional<CookieReply> parse_cookie_reply(std::span<const uint8_t> b) {
  if (message_type(b) != MsgType::cookie_reply) return std::nullopt;
  CookieReply m;
  m.receiver = get_le32(b.data() + 4);
  take(m.nonce, b.data() + 8);
  take(m.encrypted_cookie, b.data() + 32);
  return m;
}

std::optional<TransportHeader> parse_transport_header(std::span<const uint8_t> b) {
  if (message_type(b) != MsgType::transport) return std::nullopt;
  return TransportHeader{get_le32(b.data() + 4), get_le64(b.data() + 8)};
}

void serialize(const Initiation& m, std::span<uint8_t, kInitiationSize> out) {
  uint8_t* p = out.data();
  put_header(p, MsgType::initiation);
  put_le32(p + 4, m.sender);
  give(p + 8, m.ephemeral);
  give(p + 40, m.encrypted_static);
  give(p + 88, m.encrypted_timestamp);
  give(p + kInitiationMac1Offset, m.mac1);
  give(p + kInitiationMac2Offset, m.mac2);
}

void serialize(const Response& m, std::span<uint8_t, kResponseSize> out) {
  uint8_t* p = out.data();
  put_header(p, MsgType::response);
  put_le32(p + 4, m.sender);
  put_le32(p + 8, m.receiver);
  give(p + 12, m.ephemeral);
  give(p + 44, m.encrypted_nothing);
  give(p + kResponseMac1Offset, m.mac1);
  give(p + kResponseMac2Offset, m.mac2);
}

void serialize(const CookieReply& m, std::span<uint8_t, kCookieReplySize> out) {
  uint8_t* p = out.data();
  put_header(p, MsgType::cookie_reply);
  put_le32(p + 4, m.receiver);
  give(p + 8, m.nonce);
  give(p + 32, m.encrypted_cookie);
}

void serialize(const TransportHeader& h, std::span<uint8_t, kTransportHeaderSize> out) {
  put_header(out.data(), MsgType::transport);
  put_le32(out.data() + 4, h.receiver);
  put_le64(out.data() + 8, h.counter);
}

}  // namespace ovl::wg
