#include "engine/nat/stun.hpp"

#include <algorithm>
#include <cstring>

namespace ovl::nat {

namespace {

constexpr std::array<uint32_t, 256> kCrcTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}();

constexpr uint8_t kFamilyV4 = 1;
constexpr uint8_t kFamilyV6 = 2;
constexpr std::string_view kSoftware = "ovl";
constexpr std::string_view kUnknownAttributeReason = "Unknown Attribute";

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

bool has_cookie(std::span<const uint8_t> b) { return get32(b.data() + 4) == kMagicCookie; }

size_t padded(size_t n) { return (n + 3) & ~size_t{3}; }

// Header facts shared by the parsers; only valid after is_stun().
struct Header {
  uint16_t type = 0;
  bool classic = false;
  std::array<uint8_t, kClassicTxIdSize> txid{};
};

Header read_header(std::span<const uint8_t> b) {
  Header h;
  h.type = get16(b.data());
  h.classic = !has_cookie(b);
  if (h.classic) std::memcpy(h.txid.data(), b.data() + 4, kClassicTxIdSize);
  else std::memcpy(h.txid.data(), b.data() + 8, kTxIdSize);
  return h;
}

struct Attr {
  uint16_t type;
  std::span<const uint8_t> value;  // without padding
  size_t offset;                   // of the attribute header in the message
};

// Calls f(attr) for each attribute of an is_stun() message, in order. False
// if an attribute (with its padding) runs past the end or f rejects one.
template <class F>
bool walk(std::span<const uint8_t> msg, F&& f) {
  size_t off = kStunHeaderSize;
  while (off < msg.size()) {
    if (msg.size() - off < kAttrHeaderSize) return false;
    const uint16_t type = get16(msg.data() + off);
    const size_t len = get16(msg.data() + off + 2);
    if (msg.size() - off - kAttrHeaderSize < padded(len)) return false;
    if (!f(Attr{type, msg.subspan(off + kAttrHeaderSize, len), off})) return false;
    off += kAttrHeaderSize + padded(len);
  }
  return true;
}

// FINGERPRINT must be the last attribute and match the CRC of everything
// before it; the length field already counts it, so no rewriting is needed.
bool fingerprint_ok(std::span<const uint8_t> msg, const Attr& a) {
  if (a.value.size() != 4 || a.offset + kFingerprintAttrSize != msg.size()) return false;
  return (crc32(msg.first(a.offset)) ^ kFingerprintXor) == get32(a.value.data());
}

// The 16 bytes an XOR address is xored with: cookie || transaction id.
std::array<uint8_t, 16> xor_key(std::span<const uint8_t> txid12) {
  std::array<uint8_t, 16> k{0x21, 0x12, 0xA4, 0x42};
  std::memcpy(k.data() + 4, txid12.data(), kTxIdSize);
  return k;
}

// An address attribute value; `key` null for the plain (MAPPED-ADDRESS) form.
std::optional<net::Endpoint> decode_address(std::span<const uint8_t> v, const std::array<uint8_t, 16>* key) {
  if (v.size() < 4) return std::nullopt;
  const uint8_t family = v[1];  // v[0] is reserved and ignored
  size_t alen;
  if (family == kFamilyV4) alen = 4;
  else if (family == kFamilyV6) alen = 16;
  else return std::nullopt;
  if (v.size() != 4 + alen) return std::nullopt;
  net::Endpoint ep;
  ep.port = get16(v.data() + 2);
  ep.ip.v6 = family == kFamilyV6;
  for (size_t i = 0; i < alen; ++i) ep.ip.b[i] = v[4 + i];
  if (key) {
    ep.port ^= static_cast<uint16_t>(kMagicCookie >> 16);
    for (size_t i = 0; i < alen; ++i) ep.ip.b[i] ^= (*key)[i];
  }
  return ep;
}

class Writer {
 public:
  Writer(uint16_t type, bool classic, std::span<const uint8_t> txid) {
    out_.reserve(96);
    u16(type);
    u16(0);  // length, set by finish()
    if (!classic) u32(kMagicCookie);
    bytes(txid);
  }

  void u16(uint16_t v) {
    out_.push_back(static_cast<uint8_t>(v >> 8));
    out_.push_back(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

  void attr(uint16_t type, std::span<const uint8_t> value) {
    u16(type);
    u16(static_cast<uint16_t>(value.size()));
    bytes(value);
    out_.resize(out_.size() + padded(value.size()) - value.size(), 0);
  }
  void attr(uint16_t type, std::string_view s) {
    attr(type, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }

  void address(uint16_t type, const net::Endpoint& ep, const std::array<uint8_t, 16>* key) {
    const size_t alen = ep.ip.size();
    u16(type);
    u16(static_cast<uint16_t>(4 + alen));
    out_.push_back(0);
    out_.push_back(ep.ip.v6 ? kFamilyV6 : kFamilyV4);
    u16(key ? static_cast<uint16_t>(ep.port ^ (kMagicCookie >> 16)) : ep.port);
    for (size_t i = 0; i < alen; ++i) out_.push_back(static_cast<uint8_t>(ep.ip.b[i] ^ (key ? (*key)[i] : 0)));
  }

  // Appends FINGERPRINT: the length field must count it before the CRC runs.
  void fingerprint() {
    set_length(out_.size() - kStunHeaderSize + kFingerprintAttrSize);
    const uint32_t crc = crc32(out_) ^ kFingerprintXor;
    u16(attr::kFingerprint);
    u16(4);
    u32(crc);
  }

  std::vector<uint8_t> finish() {
    set_length(out_.size() - kStunHeaderSize);
    return std::move(out_);
  }

 private:
  void set_length(size_t n) {
    out_[2] = static_cast<uint8_t>(n >> 8);
    out_[3] = static_cast<uint8_t>(n);
  }
  std::vector<uint8_t> out_;
};

}  // namespace

uint32_t crc32(std::span<const uint8_t> data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t byte : data) c = kCrcTable[(c ^ byte) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool is_stun(std::span<const uint8_t> b) {
  if (b.size() < kStunHeaderSize) return false;
  const uint16_t type = get16(b.data());
  if (type != kBindingRequest && type != kBindingSuccess && type != kBindingError) return false;
  const size_t len = get16(b.data() + 2);
  return len % 4 == 0 && kStunHeaderSize + len == b.size();
}

std::vector<uint8_t> binding_request(const TxId& txid, const RequestOptions& opt) {
  Writer w(kBindingRequest, false, txid);
  if (!opt.software.empty()) w.attr(attr::kSoftware, opt.software.substr(0, kMaxSoftwareSize));
  if (opt.fingerprint) w.fingerprint();
  return w.finish();
}

std::optional<StunRequest> parse_request(std::span<const uint8_t> b) {
  if (!is_stun(b)) return std::nullopt;
  const Header h = read_header(b);
  if (h.type != kBindingRequest) return std::nullopt;
  StunRequest r;
  r.classic = h.classic;
  r.txid = h.txid;
  bool after_integrity = false;
  const bool ok = walk(b, [&](const Attr& a) {
    if (a.type == attr::kFingerprint) return fingerprint_ok(b, a);
    if (after_integrity) return true;
    switch (a.type) {
      case attr::kChangeRequest: {
        if (a.value.size() != 4) return false;
        const uint32_t flags = get32(a.value.data());
        r.has_change_request = true;
        // Every occurrence counts: never answer as if a requested change was made.
        r.change_ip = r.change_ip || (flags & kChangeIpFlag);
        r.change_port = r.change_port || (flags & kChangePortFlag);
        return true;
      }
      case attr::kMessageIntegrity:
      case attr::kMessageIntegritySha256:
        after_integrity = true;
        return true;
      case attr::kUsername:
      case attr::kRealm:
      case attr::kNonce:
      case attr::kPasswordAlgorithm:
      case attr::kUserhash:
      case attr::kPriority:
      case attr::kUseCandidate:
        return true;
      default:
        return a.type >= 0x8000;  // comprehension-optional: ignore
    }
  });
  if (!ok) return std::nullopt;
  return r;
}

// Why a change request is answered the way it is. This server has one
// address, so it can never send from another IP or port; it must not answer
// as if it had (ARCHITECTURE.md, RFC 5780).
//
// * RFC 8489 clients get 420 (Unknown Attribute) naming CHANGE-REQUEST, the
//   answer RFC 8489 §12 prescribes for it; RFC 5780 clients read that as
//   "this server cannot do behaviour discovery".
// * Classic clients such as Debian's stun-client 0.97 send test I with
//   CHANGE-REQUEST flags 0, then tests II/III asking for a change of IP or
//   port. That client marks a test as passed when *any* datagram arrives
//   whose transaction id carries the test's number; it does not look at the
//   message type. An error response (or a success ignoring the flags) would
//   make it report a more open NAT than exists. Silence is the only honest
//   answer it understands: tests II/III time out and it reports the
//   conservative result, while test I still gives the correct MappedAddress.
//   Test I's CHANGED-ADDRESS is our own address (RFC 3489 makes it
//   mandatory): a "changed" request would come from here, so its test I(2)
//   reaches this server again and sees the same mapping, which is true.
std::vector<uint8_t> binding_response(const StunRequest& req, const net::Endpoint& observed_source,
                                      const net::Endpoint& server_address) {
  const auto txid = req.txid_bytes();
  if (req.wants_change()) {
    if (req.classic) return {};
    Writer w(kBindingError, false, txid);
    const uint8_t code[4] = {0, 0, 4, 20};  // class 4, number 20
    std::vector<uint8_t> v(code, code + 4);
    v.insert(v.end(), kUnknownAttributeReason.begin(), kUnknownAttributeReason.end());
    w.attr(attr::kErrorCode, v);
    const uint8_t unknown[2] = {attr::kChangeRequest >> 8, attr::kChangeRequest & 0xFF};
    w.attr(attr::kUnknownAttributes, unknown);
    w.attr(attr::kSoftware, kSoftware);
    w.fingerprint();
    return w.finish();
  }
  if (req.classic) {
    // No SOFTWARE or FINGERPRINT: RFC 3489 knows neither, and stun-client
    // 0.97 rejects a string attribute whose length is not a multiple of 4.
    Writer w(kBindingSuccess, true, txid);
    w.address(attr::kMappedAddress, observed_source, nullptr);
    w.address(attr::kSourceAddress, server_address, nullptr);
    w.address(attr::kChangedAddress, server_address, nullptr);
    return w.finish();
  }
  const auto key = xor_key(txid);
  Writer w(kBindingSuccess, false, txid);
  w.address(attr::kXorMappedAddress, observed_source, &key);
  w.address(attr::kMappedAddress, observed_source, nullptr);
  w.attr(attr::kSoftware, kSoftware);
  w.fingerprint();
  return w.finish();
}

bool StunResponse::answers(const TxId& id) const {
  return !classic && std::equal(id.begin(), id.end(), txid.begin());
}

std::optional<StunResponse> parse_response(std::span<const uint8_t> b) {
  if (!is_stun(b)) return std::nullopt;
  const Header h = read_header(b);
  if (h.type != kBindingSuccess) return std::nullopt;
  const auto key = xor_key(std::span<const uint8_t>(h.txid).first(kTxIdSize));
  std::optional<net::Endpoint> xored, plain;
  bool after_integrity = false;
  const bool ok = walk(b, [&](const Attr& a) {
    if (a.type == attr::kFingerprint) return fingerprint_ok(b, a);
    if (after_integrity) return true;
    switch (a.type) {
      case attr::kXorMappedAddress: {
        if (h.classic) return false;  // undefined without the cookie
        auto ep = decode_address(a.value, &key);
        if (!ep) return false;
        if (!xored) xored = ep;
        return true;
      }
      case attr::kMappedAddress: {
        auto ep = decode_address(a.value, nullptr);
        if (!ep) return false;
        if (!plain) plain = ep;
        return true;
      }
      case attr::kResponseAddress:  // RFC 3489 leftovers a client must ignore (RFC 8489 §12.1)
      case attr::kSourceAddress:
      case attr::kChangedAddress:
      case attr::kReflectedFrom:
        return true;
      case attr::kMessageIntegrity:
      case attr::kMessageIntegritySha256:
        after_integrity = true;
        return true;
      default:
        return a.type >= 0x8000;
    }
  });
  if (!ok || (!xored && !plain)) return std::nullopt;
  StunResponse r;
  r.classic = h.classic;
  r.txid = h.txid;
  r.from_xor = xored.has_value();
  r.mapped = xored ? *xored : *plain;
  return r;
}

std::optional<StunErrorResponse> parse_error_response(std::span<const uint8_t> b) {
  if (!is_stun(b)) return std::nullopt;
  const Header h = read_header(b);
  if (h.type != kBindingError) return std::nullopt;
  StunErrorResponse r;
  r.classic = h.classic;
  r.txid = h.txid;
  bool have_code = false, have_unknown = false;
  // An error already ends the transaction, so other attributes, known or not,
  // are ignored; only the framing and a FINGERPRINT are checked.
  const bool ok = walk(b, [&](const Attr& a) {
    if (a.type == attr::kFingerprint) return fingerprint_ok(b, a);
    if (a.type == attr::kErrorCode && !have_code) {
      if (a.value.size() < 4) return false;
      const unsigned cls = a.value[2] & 0x7, number = a.value[3];
      if (cls < 3 || cls > 6 || number > 99) return false;
      r.code = static_cast<uint16_t>(cls * 100 + number);
      have_code = true;
    } else if (a.type == attr::kUnknownAttributes && !have_unknown) {
      if (a.value.size() % 2) return false;
      for (size_t i = 0; i < a.value.size(); i += 2) r.unknown_attributes.push_back(get16(a.value.data() + i));
      have_unknown = true;
    }
    return true;
  });
  if (!ok || !have_code) return std::nullopt;
  return r;
}

}  // namespace ovl::nat
