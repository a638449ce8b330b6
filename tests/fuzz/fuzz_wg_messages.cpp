// Fuzz target for the WireGuard wire codecs (messages.hpp) and the inner
// packet header reader (inner_packet.hpp).
//
// The codecs are exact: whatever parses re-serializes to the very same bytes,
// message_type agrees with which parser accepts, and any field values survive
// serialize -> parse. The inner packet reader only ever reports fields that
// are really in the buffer, and its two entry points agree.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "engine/wg/device.hpp"
#include "engine/wg/inner_packet.hpp"
#include "engine/wg/messages.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using namespace ovl::wg;

using ovl::fuzz::check;

using ovl::fuzz::same;

template <size_t N>
void fill(std::array<uint8_t, N>& a, const uint8_t* p) {
  std::memcpy(a.data(), p, N);
}

// Parse side: every parser on the raw input.
void parsers(std::span<const uint8_t> in) {
  const auto type = message_type(in);
  check(is_wireguard_message(in) == type.has_value(), "is_wireguard_message agrees with message_type");
  if (type) {
    check(in.size() >= 4 && in[0] == static_cast<uint8_t>(*type) && in[1] == 0 && in[2] == 0 && in[3] == 0,
          "message_type reads the header");
  }

  const auto ini = parse_initiation(in);
  const auto resp = parse_response(in);
  const auto cookie = parse_cookie_reply(in);
  const auto tr = parse_transport_header(in);
  check(ini.has_value() == (type == MsgType::initiation), "parse_initiation agrees with message_type");
  check(resp.has_value() == (type == MsgType::response), "parse_response agrees with message_type");
  check(cookie.has_value() == (type == MsgType::cookie_reply), "parse_cookie_reply agrees with message_type");
  check(tr.has_value() == (type == MsgType::transport), "parse_transport_header agrees with message_type");

  if (ini) {
    check(in.size() == kInitiationSize, "initiation size");
    std::array<uint8_t, kInitiationSize> out{};
    serialize(*ini, out);
    check(same(out, in), "initiation re-serializes to the input");
    check(ini->sender == get_le32(in.data() + 4), "initiation sender");
    check(same(ini->mac1, in.subspan(kInitiationMac1Offset, kMacSize)), "initiation mac1 offset");
    check(same(ini->mac2, in.subspan(kInitiationMac2Offset, kMacSize)), "initiation mac2 offset");
  }
  if (resp) {
    check(in.size() == kResponseSize, "response size");
    std::array<uint8_t, kResponseSize> out{};
    serialize(*resp, out);
    check(same(out, in), "response re-serializes to the input");
    check(resp->sender == get_le32(in.data() + 4) && resp->receiver == get_le32(in.data() + 8), "response indices");
    check(same(resp->mac1, in.subspan(kResponseMac1Offset, kMacSize)), "response mac1 offset");
    check(same(resp->mac2, in.subspan(kResponseMac2Offset, kMacSize)), "response mac2 offset");
  }
  if (cookie) {
    check(in.size() == kCookieReplySize, "cookie reply size");
    std::array<uint8_t, kCookieReplySize> out{};
    serialize(*cookie, out);
    check(same(out, in), "cookie reply re-serializes to the input");
    check(cookie->receiver == get_le32(in.data() + 4), "cookie reply receiver");
  }
  if (tr) {
    check(in.size() >= kTransportMinSize, "transport size");
    std::array<uint8_t, kTransportHeaderSize> out{};
    serialize(*tr, out);
    check(same(out, in.first(kTransportHeaderSize)), "transport header re-serializes to the input");
    check(tr->receiver == get_le32(in.data() + 4) && tr->counter == get_le64(in.data() + 8), "transport fields");
    // The payload is not part of the header: any (even empty) payload beyond
    // the minimum keeps it a transport message.
    check(message_type(in.first(kTransportMinSize)) == MsgType::transport, "transport minimum prefix");
  }
  // One byte more or less changes a fixed-size message into nothing.
  if (type && *type != MsgType::transport) {
    check(!message_type(in.first(in.size() - 1)), "a truncated handshake message is not a message");
  }

  // Inner packet header.
  const auto inner = inner_packet(in);
  const auto dst = inner_destination(in);
  if (inner) {
    check(dst.has_value() && *dst == inner->dst, "inner_destination agrees with inner_packet");
    check(inner->len <= in.size(), "inner length fits the buffer");
    const unsigned ver = in[0] >> 4;
    check(ver == 4 || ver == 6, "inner version");
    if (ver == 4) {
      check(!inner->src.v6 && !inner->dst.v6, "IPv4 addresses");
      check(inner->len >= 20 && inner->len == (size_t(in[2]) << 8 | in[3]), "IPv4 total length");
      check(same(inner->src.bytes(), in.subspan(12, 4)) && same(inner->dst.bytes(), in.subspan(16, 4)),
            "IPv4 addresses come from the header");
    } else {
      check(inner->src.v6 && inner->dst.v6, "IPv6 addresses");
      check(inner->len == 40 + (size_t(in[4]) << 8 | in[5]), "IPv6 payload length");
      check(same(inner->src.bytes(), in.subspan(8, 16)) && same(inner->dst.bytes(), in.subspan(24, 16)),
            "IPv6 addresses come from the header");
    }
    // Trimming to the reported length (what the receive path writes to TUN)
    // is still the same packet.
    auto again = inner_packet(in.first(inner->len));
    check(again && again->len == inner->len && again->src == inner->src && again->dst == inner->dst,
          "inner packet trimmed to its length parses the same");
  } else if (dst) {
    // A destination without a packet: the header is there but its length is not.
    const unsigned ver = in[0] >> 4;
    check((ver == 4 && in.size() >= 20) || (ver == 6 && in.size() >= 40), "inner_destination needs a header");
  }
}

// Serialize side: the input as arbitrary field values.
void round_trips(std::span<const uint8_t> in) {
  const uint8_t* p = in.data();
  if (in.size() >= 4 + 32 + 48 + 28 + 16 + 16) {
    Initiation m;
    m.sender = get_le32(p);
    fill(m.ephemeral, p + 4);
    fill(m.encrypted_static, p + 36);
    fill(m.encrypted_timestamp, p + 84);
    fill(m.mac1, p + 112);
    fill(m.mac2, p + 128);
    std::array<uint8_t, kInitiationSize> buf{};
    serialize(m, buf);
    check(message_type(buf) == MsgType::initiation, "serialized initiation has its type");
    auto back = parse_initiation(buf);
    check(back && back->sender == m.sender && back->ephemeral == m.ephemeral &&
              back->encrypted_static == m.encrypted_static && back->encrypted_timestamp == m.encrypted_timestamp &&
              back->mac1 == m.mac1 && back->mac2 == m.mac2,
          "initiation fields round trip");
  }
  if (in.size() >= 8 + 32 + 16 + 16 + 16) {
    Response m;
    m.sender = get_le32(p);
    m.receiver = get_le32(p + 4);
    fill(m.ephemeral, p + 8);
    fill(m.encrypted_nothing, p + 40);
    fill(m.mac1, p + 56);
    fill(m.mac2, p + 72);
    std::array<uint8_t, kResponseSize> buf{};
    serialize(m, buf);
    check(message_type(buf) == MsgType::response, "serialized response has its type");
    auto back = parse_response(buf);
    check(back && back->sender == m.sender && back->receiver == m.receiver && back->ephemeral == m.ephemeral &&
              back->encrypted_nothing == m.encrypted_nothing && back->mac1 == m.mac1 && back->mac2 == m.mac2,
          "response fields round trip");
  }
  if (in.size() >= 4 + 24 + 32) {
    CookieReply m;
    m.receiver = get_le32(p);
    fill(m.nonce, p + 4);
    fill(m.encrypted_cookie, p + 28);
    std::array<uint8_t, kCookieReplySize> buf{};
    serialize(m, buf);
    check(message_type(buf) == MsgType::cookie_reply, "serialized cookie reply has its type");
    auto back = parse_cookie_reply(buf);
    check(back && back->receiver == m.receiver && back->nonce == m.nonce && back->encrypted_cookie == m.encrypted_cookie,
          "cookie reply fields round trip");
  }
  if (in.size() >= 12) {
    TransportHeader h{get_le32(p), get_le64(p + 4)};
    std::array<uint8_t, kTransportMinSize> buf{};  // header + an empty payload's tag
    serialize(h, std::span<uint8_t, kTransportHeaderSize>(buf.data(), kTransportHeaderSize));
    check(message_type(buf) == MsgType::transport, "serialized transport has its type");
    auto back = parse_transport_header(buf);
    check(back && back->receiver == h.receiver && back->counter == h.counter, "transport header round trips");
    uint8_t le[8];
    put_le64(le, h.counter);
    check(get_le64(le) == h.counter, "le64 round trip");
    put_le32(le, h.receiver);
    check(get_le32(le) == h.receiver, "le32 round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exactly sized heap copy, so any read past the end is caught.
  std::vector<uint8_t> buf(data, data + size);
  std::span<const uint8_t> in(buf.data(), buf.size());
  parsers(in);
  round_trips(in);
  return 0;
}
