#include "engine/dns/message.hpp"

#include <algorithm>
#include <cstring>

namespace ovl::dns {
namespace {

uint16_t get16(std::span<const uint8_t> b, size_t off) { return static_cast<uint16_t>(b[off] << 8 | b[off + 1]); }
uint32_t get32(std::span<const uint8_t> b, size_t off) {
  return uint32_t(b[off]) << 24 | uint32_t(b[off + 1]) << 16 | uint32_t(b[off + 2]) << 8 | b[off + 3];
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}
void set16(std::vector<uint8_t>& out, size_t off, uint16_t v) {
  out[off] = static_cast<uint8_t>(v >> 8);
  out[off + 1] = static_cast<uint8_t>(v);
}

uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + ('a' - 'A')) : c; }

// Appends one label to `n`, keeping room for the root byte. False if it
// would break the label or name limits.
bool append_label(Name& n, std::span<const uint8_t> label) {
  if (label.empty() || label.size() > kMaxLabelSize) return false;
  if (size_t(n.size) + 1 + label.size() + 1 > kMaxNameSize) return false;
  n.wire[n.size++] = static_cast<uint8_t>(label.size());
  std::memcpy(n.wire.data() + n.size, label.data(), label.size());
  n.size = static_cast<uint8_t>(n.size + label.size());
  return true;
}

bool finish(Name& n) {
  if (size_t(n.size) + 1 > kMaxNameSize) return false;
  n.wire[n.size++] = 0;
  return true;
}

// An uncompressed name at b[off..]; `next` is the offset after it. Any
// pointer or reserved label type rejects: queries we accept carry none.
bool parse_plain_name(std::span<const uint8_t> b, size_t off, Name& out, size_t& next) {
  out = Name{};
  for (;;) {
    if (off >= b.size()) return false;
    const uint8_t len = b[off];
    if (len == 0) {
      next = off + 1;
      return finish(out);
    }
    if (len & kPointerMask) return false;  // pointer (0xC0) or reserved (0x40, 0x80)
    if (off + 1 + len > b.size()) return false;
    if (!append_label(out, b.subspan(off + 1, len))) return false;
    off += 1 + len;
  }
}

// A possibly compressed name at b[off..]. Every pointer must point before
// the pointer itself, which bounds the walk without a hop counter; `next` is
// the offset after the name's bytes at its original position.
bool parse_any_name(std::span<const uint8_t> b, size_t off, Name& out, size_t& next) {
  out = Name{};
  bool jumped = false;
  for (;;) {
    if (off >= b.size()) return false;
    const uint8_t len = b[off];
    if (len == 0) {
      if (!jumped) next = off + 1;
      return finish(out);
    }
    if ((len & kPointerMask) == kPointerMask) {
      if (off + 2 > b.size()) return false;
      const size_t target = get16(b, off) & 0x3FFF;
      if (target >= off) return false;
      if (!jumped) next = off + 2;
      jumped = true;
      off = target;
      continue;
    }
    if (len & kPointerMask) return false;
    if (off + 1 + len > b.size()) return false;
    if (!append_label(out, b.subspan(off + 1, len))) return false;
    off += 1 + len;
  }
}

void put_name(std::vector<uint8_t>& out, const Name& n) { out.insert(out.end(), n.wire.begin(), n.wire.begin() + n.size); }

}  // namespace

size_t Name::label_count() const {
  size_t n = 0;
  for (size_t p = 0; p < size && wire[p] != 0; p += 1 + wire[p]) ++n;
  return n;
}

std::string Name::str() const {
  std::string s;
  for (size_t p = 0; p < size && wire[p] != 0; p += 1 + wire[p]) {
    if (!s.empty()) s += '.';
    s.append(reinterpret_cast<const char*>(wire.data() + p + 1), wire[p]);
  }
  return s;
}

std::optional<Name> Name::from_text(std::string_view text) {
  Name n;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  while (!text.empty()) {
    const size_t dot = text.find('.');
    const std::string_view label = text.substr(0, dot);
    if (!append_label(n, {reinterpret_cast<const uint8_t*>(label.data()), label.size()})) return std::nullopt;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
    if (text.empty()) return std::nullopt;  // "a..": an empty last label
  }
  if (!finish(n)) return std::nullopt;
  return n;
}

// Wire forms compare case-insensitively byte by byte: length bytes are at
// most 63, below every ASCII letter, so lowering never changes them.
bool Name::equals_ci(const Name& o) const {
  if (size != o.size) return false;
  for (size_t i = 0; i < size; ++i)
    if (lower(wire[i]) != lower(o.wire[i])) return false;
  return true;
}

bool Name::in_zone(const Name& zone) const {
  if (zone.size == 0 || size < zone.size) return false;
  for (size_t p = 0; p < size; p += 1 + wire[p]) {
    if (size - p == zone.size) {
      for (size_t i = 0; i < zone.size; ++i)
        if (lower(wire[p + i]) != lower(zone.wire[i])) return false;
      return true;
    }
    if (wire[p] == 0) break;
  }
  return false;
}

Name Name::lowered() const {
  Name n = *this;
  for (size_t i = 0; i < n.size; ++i) n.wire[i] = lower(n.wire[i]);
  return n;
}

size_t Query::max_response_size() const {
  if (!edns) return kClassicUdpSize;
  return std::clamp<size_t>(udp_size, kClassicUdpSize, kMaxUdpSize);
}

std::optional<Query> parse_query(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize) return std::nullopt;
  const uint16_t flags = get16(b, 2);
  if (flags & flag::kQR) return std::nullopt;

  Query q;
  q.id = get16(b, 0);
  q.opcode = static_cast<uint8_t>((flags & flag::kOpcodeMask) >> 11);
  q.rd = flags & flag::kRD;
  q.cd = flags & flag::kCD;
  if (q.opcode != kOpcodeQuery) {
    q.error = Rcode::notimp;
    return q;
  }
  q.error = Rcode::formerr;  // until everything has been checked
  const uint16_t qd = get16(b, 4), an = get16(b, 6), ns = get16(b, 8), ar = get16(b, 10);
  if (qd != 1 || an != 0 || ns != 0) return q;

  Question question;
  size_t off = kHeaderSize;
  if (!parse_plain_name(b, off, question.name, off)) return q;
  if (off + kQuestionFixedSize > b.size()) return q;
  question.qtype = get16(b, off);
  question.qclass = get16(b, off + 2);
  off += kQuestionFixedSize;
  q.question = question;

  if (ar > 1) return q;
  if (ar == 1) {
    // Only an OPT with the root name, its RDATA ending the message exactly.
    if (off + kOptRrSize > b.size() || b[off] != 0 || get16(b, off + 1) != kTypeOPT) return q;
    const uint16_t udp_size = get16(b, off + 3);
    const uint8_t version = b[off + 6];
    const uint16_t eflags = get16(b, off + 7);
    const size_t rdlen = get16(b, off + 9);
    off += kOptRrSize;
    if (off + rdlen != b.size()) return q;
    for (size_t p = off; p < b.size();) {
      if (p + kEdnsOptionHeaderSize > b.size()) return q;
      const size_t olen = get16(b, p + 2);
      p += kEdnsOptionHeaderSize;
      if (p + olen > b.size()) return q;
      p += olen;
    }
    off = b.size();
    q.edns = true;
    q.udp_size = udp_size;
    q.edns_version = version;
    q.dnssec_ok = eflags & flag::kEdnsDO;
  }
  if (off != b.size()) return q;
  q.error = (q.edns && q.edns_version != 0) ? Rcode::badvers : Rcode::noerror;
  return q;
}

std::vector<uint8_t> build_response(const Query& q, Rcode rcode, bool authoritative,
                                    std::span<const net::IpAddr> addrs, uint32_t ttl) {
  const size_t limit = q.max_response_size();
  const uint16_t rc = static_cast<uint16_t>(rcode);
  uint16_t flags = flag::kQR | flag::kRA | static_cast<uint16_t>(q.opcode << 11 & flag::kOpcodeMask) |
                   static_cast<uint16_t>(rc & flag::kRcodeMask);
  if (q.rd) flags |= flag::kRD;
  if (q.cd) flags |= flag::kCD;
  if (authoritative) flags |= flag::kAA;

  std::vector<uint8_t> out;
  out.reserve(std::min(limit, kHeaderSize + kMaxNameSize + kQuestionFixedSize + kOptRrSize +
                                  addrs.size() * (2 + kRrFixedSize + kAAAARdataSize)));
  put16(out, q.id);
  put16(out, flags);
  put16(out, q.question ? 1 : 0);
  put16(out, 0);  // ANCOUNT, set below
  put16(out, 0);
  put16(out, q.edns ? 1 : 0);
  uint16_t answers = 0;
  if (q.question) {
    put_name(out, q.question->name);
    put16(out, q.question->qtype);
    put16(out, q.question->qclass);
    const size_t reserve = q.edns ? kOptRrSize : 0;
    for (const net::IpAddr& a : addrs) {
      const size_t rr = 2 + kRrFixedSize + a.size();
      if (out.size() + rr + reserve > limit || answers == UINT16_MAX) {
        flags |= flag::kTC;
        break;
      }
      put16(out, kQuestionPointer);
      put16(out, a.v6 ? kTypeAAAA : kTypeA);
      put16(out, kClassIN);
      put32(out, ttl);
      put16(out, static_cast<uint16_t>(a.size()));
      const auto bytes = a.bytes();
      out.insert(out.end(), bytes.begin(), bytes.end());
      ++answers;
    }
  }
  set16(out, 2, flags);
  set16(out, 6, answers);
  if (q.edns) {
    out.push_back(0);  // root
    put16(out, kTypeOPT);
    put16(out, static_cast<uint16_t>(kMaxUdpSize));
    put32(out, uint32_t(rc >> 4 & 0xFF) << 24 | (q.dnssec_ok ? flag::kEdnsDO : 0));  // version 0
    put16(out, 0);
  }
  return out;
}

std::vector<uint8_t> build_query(uint16_t id, const Name& name, uint16_t qtype, uint16_t qclass, bool rd,
                                 uint16_t udp_size) {
  std::vector<uint8_t> out;
  put16(out, id);
  put16(out, rd ? flag::kRD : 0);
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, udp_size ? 1 : 0);
  put_name(out, name);
  put16(out, qtype);
  put16(out, qclass);
  if (udp_size) {
    out.push_back(0);
    put16(out, kTypeOPT);
    put16(out, udp_size);
    put32(out, 0);
    put16(out, 0);
  }
  return out;
}

std::optional<Response> parse_response(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize) return std::nullopt;
  Response r;
  r.id = get16(b, 0);
  r.flags = get16(b, 2);
  if (!(r.flags & flag::kQR)) return std::nullopt;
  uint16_t rcode = r.flags & flag::kRcodeMask;
  const uint16_t qd = get16(b, 4);
  const uint16_t counts[3] = {get16(b, 6), get16(b, 8), get16(b, 10)};
  if (qd > 1) return std::nullopt;
  size_t off = kHeaderSize;
  if (qd == 1) {
    Question question;
    if (!parse_plain_name(b, off, question.name, off)) return std::nullopt;
    if (off + kQuestionFixedSize > b.size()) return std::nullopt;
    question.qtype = get16(b, off);
    question.qclass = get16(b, off + 2);
    off += kQuestionFixedSize;
    r.question = question;
  }
  std::vector<ResourceRecord>* sections[3] = {&r.answers, &r.authority, &r.additional};
  for (int s = 0; s < 3; ++s) {
    for (uint16_t i = 0; i < counts[s]; ++i) {
      ResourceRecord rr;
      if (!parse_any_name(b, off, rr.name, off)) return std::nullopt;
      if (off + kRrFixedSize > b.size()) return std::nullopt;
      rr.type = get16(b, off);
      rr.rclass = get16(b, off + 2);
      rr.ttl = get32(b, off + 4);
      const size_t rdlen = get16(b, off + 8);
      off += kRrFixedSize;
      if (off + rdlen > b.size()) return std::nullopt;
      rr.rdata.assign(b.begin() + off, b.begin() + off + rdlen);
      off += rdlen;
      if (rr.type == kTypeA && rdlen != kARdataSize) return std::nullopt;
      if (rr.type == kTypeAAAA && rdlen != kAAAARdataSize) return std::nullopt;
      if (rr.type == kTypeOPT) {
        if (s != 2 || r.edns || rr.name.size != 1) return std::nullopt;
        r.edns = true;
        r.udp_size = rr.rclass;
        rcode = static_cast<uint16_t>(rcode | (rr.ttl >> 24) << 4);
      }
      sections[s]->push_back(std::move(rr));
    }
  }
  if (off != b.size()) return std::nullopt;
  r.rcode = static_cast<Rcode>(rcode);
  return r;
}

}  // namespace ovl::dns
