// DNS message codec (RFC 1035, EDNS0 per RFC 6891): the strict subset the
// overlay's peer-name responder needs. Named sizes and pure parse/serialize;
// no sockets, no clock.
//
// All integers are big-endian. Message layout (bytes):
//
//   0  id (2)
//   2  flags (2): QR(1) | OPCODE(4) | AA(1) | TC(1) | RD(1) |
//                 RA(1) | Z(1) | AD(1) | CD(1) | RCODE(4)
//   4  QDCOUNT (2) | 6 ANCOUNT (2) | 8 NSCOUNT (2) | 10 ARCOUNT (2)
//  12  question: QNAME | QTYPE (2) | QCLASS (2)
//      then ANCOUNT + NSCOUNT + ARCOUNT resource records, each:
//        NAME | TYPE (2) | CLASS (2) | TTL (4) | RDLENGTH (2) | RDATA
//
// A name is a sequence of labels, each a length byte 1..63 and that many
// bytes, ended by a zero byte (the root); at most 255 bytes in all. A length
// byte 0b11xxxxxx starts a 2-byte compression pointer (14-bit offset into
// the message); 0b01/0b10 are reserved and always rejected.
//
// EDNS0 OPT pseudo-record (in the additional section):
//   NAME = root (0) | TYPE 41 | CLASS = sender's UDP payload size |
//   TTL = extended RCODE high bits (1) | version (1) | DO(1) Z(15) |
//   RDLENGTH | options, each: code (2) | length (2) | value
//
// Queries are parsed strictly: exactly one question, no compression
// pointers, empty answer and authority sections, at most one additional
// record which must be a well-formed OPT, and nothing after it.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxLabelSize = 63;
inline constexpr size_t kMaxNameSize = 255;    // wire form: length bytes and the root included
inline constexpr size_t kQuestionFixedSize = 4;  // QTYPE + QCLASS after QNAME
inline constexpr size_t kRrFixedSize = 10;       // TYPE, CLASS, TTL, RDLENGTH after NAME
inline constexpr size_t kOptRrSize = 1 + kRrFixedSize;  // root name, no options
inline constexpr size_t kEdnsOptionHeaderSize = 4;
inline constexpr size_t kClassicUdpSize = 512;   // RFC 1035 §4.2.1, without EDNS0
inline constexpr size_t kMaxUdpSize = 1232;      // what we accept to send with EDNS0 (fits a 1280 MTU)
inline constexpr uint16_t kQuestionPointer = 0xC00C;  // compression pointer to offset 12
inline constexpr uint8_t kPointerMask = 0xC0;

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kTypeOPT = 41;
inline constexpr uint16_t kTypeANY = 255;
inline constexpr uint16_t kClassIN = 1;
inline constexpr uint16_t kClassANY = 255;
inline constexpr size_t kARdataSize = 4;
inline constexpr size_t kAAAARdataSize = 16;

namespace flag {
inline constexpr uint16_t kQR = 0x8000;
inline constexpr uint16_t kOpcodeMask = 0x7800;  // shift 11
inline constexpr uint16_t kAA = 0x0400;
inline constexpr uint16_t kTC = 0x0200;
inline constexpr uint16_t kRD = 0x0100;
inline constexpr uint16_t kRA = 0x0080;
inline constexpr uint16_t kAD = 0x0020;
inline constexpr uint16_t kCD = 0x0010;
inline constexpr uint16_t kRcodeMask = 0x000F;
inline constexpr uint16_t kEdnsDO = 0x8000;  // in the OPT TTL's low 16 bits
}  // namespace flag

inline constexpr uint8_t kOpcodeQuery = 0;

// Response codes. Values above 15 exist only with EDNS0: the low 4 bits go
// in the header, the high 8 bits in the OPT record's TTL.
enum class Rcode : uint16_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
  badvers = 16,  // RFC 6891: EDNS version not supported
};

// A domain name in uncompressed wire form, case preserved as received.
struct Name {
  std::array<uint8_t, kMaxNameSize> wire{};
  uint8_t size = 0;  // bytes used in `wire`, the terminating root included; 0 = unset

  std::span<const uint8_t> bytes() const { return {wire.data(), size}; }
  size_t label_count() const;
  // Dotted text without the trailing dot ("" for the root). Bytes are copied
  // as they are (a label may contain '.'); for logs and tests only.
  std::string str() const;
  // Builds from dotted text ("server.home.ovl", trailing dot optional, "" or
  // "." for the root). nullopt on an empty label, a label over 63 bytes or a
  // name over 255 bytes.
  static std::optional<Name> from_text(std::string_view text);
  // ASCII case-insensitive comparison (RFC 4343).
  bool equals_ci(const Name& o) const;
  // True if this name is `zone` or below it (label-aligned, case-insensitive).
  bool in_zone(const Name& zone) const;
  // A copy with ASCII letters lowered.
  Name lowered() const;
};

struct Question {
  Name name;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
};

struct Query {
  uint16_t id = 0;
  uint8_t opcode = 0;
  bool rd = false, cd = false;
  // Present when the question section parsed, even if something after it did not.
  std::optional<Question> question;
  // noerror: a well-formed query to answer. Otherwise the only answer is this
  // code (formerr, notimp, badvers), echoing `question` if present.
  Rcode error = Rcode::noerror;
  bool edns = false;           // a well-formed OPT record was present
  uint8_t edns_version = 0;
  uint16_t udp_size = 0;       // the OPT CLASS, as advertised
  bool dnssec_ok = false;

  // The largest response we may send back over UDP: 512 without EDNS0, else
  // the advertised size clamped to [512, kMaxUdpSize].
  size_t max_response_size() const;
};

// nullopt when `b` is not a DNS query at all (shorter than the header, or the
// QR bit says it is a response): such datagrams get no answer, which also
// stops two responders from bouncing errors at each other. Anything else is
// a Query, possibly carrying an error to answer with. Never reads outside `b`.
std::optional<Query> parse_query(std::span<const uint8_t> b);

// A response to `q` with `rcode`: id, opcode, RD and CD copied, QR and RA set
// (RA because stub resolvers always ask for recursion and some complain
// without it; names outside our zone are REFUSED, not recursed), AA if
// `authoritative`. The question (if q has one) is echoed byte for byte and
// every address becomes one answer record named by a pointer to it: A for
// IPv4, AAAA for IPv6, with `ttl`. Records that would push the message past
// q.max_response_size() are left out and TC is set. With EDNS0 in the query
// the response carries an OPT record (our kMaxUdpSize, DO copied, and the
// high bits of badvers). Without a question no answers are written.
std::vector<uint8_t> build_response(const Query& q, Rcode rcode, bool authoritative,
                                    std::span<const net::IpAddr> addrs, uint32_t ttl);

// Builds a query, for tests and tools. `udp_size` nonzero adds an OPT record.
std::vector<uint8_t> build_query(uint16_t id, const Name& name, uint16_t qtype, uint16_t qclass = kClassIN,
                                 bool rd = true, uint16_t udp_size = 0);

struct ResourceRecord {
  Name name;  // decompressed
  uint16_t type = 0, rclass = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
};

struct Response {
  uint16_t id = 0;
  uint16_t flags = 0;
  Rcode rcode = Rcode::noerror;  // extended with the OPT high bits when present
  std::optional<Question> question;
  std::vector<ResourceRecord> answers, authority, additional;  // OPT stays in additional
  bool edns = false;
  uint16_t udp_size = 0;

  bool aa() const { return flags & flag::kAA; }
  bool tc() const { return flags & flag::kTC; }
  bool ra() const { return flags & flag::kRA; }
  bool rd() const { return flags & flag::kRD; }
};

// A response (QR set) with at most one question (no pointers in it), every
// record within bounds (names may use pointers, which must point strictly
// backwards), A/AAAA RDATA of exact size, at most one OPT, no trailing bytes.
// nullopt otherwise. For tests, tools and the fuzz invariants.
std::optional<Response> parse_response(std::span<const uint8_t> b);

}  // namespace ovl::dns
