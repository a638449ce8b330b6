#include "engine/control/token.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "engine/crypto/blake2s.hpp"

namespace ovl::control {

namespace {

constexpr size_t kFixedSize = 74;  // version .. endpoint count, see token.hpp
constexpr size_t kChecksumSize = 4;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool is_base64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// "ovl<digits>-": a token of some other version of this format, which
// deserves a better message than "not a token".
bool has_other_version_prefix(std::string_view s) {
  if (s.substr(0, 3) != "ovl") return false;
  size_t i = 3;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i > 3 && i < s.size() && s[i] == '-';
}

std::array<uint8_t, kChecksumSize> checksum(std::span<const uint8_t> body) {
  crypto::Hash h = crypto::blake2s({body});
  std::array<uint8_t, kChecksumSize> c;
  std::memcpy(c.data(), h.data(), kChecksumSize);
  return c;
}

// Holds decoded token bytes (which include the invite secret) and wipes them.
struct WipedBytes {
  std::string s;
  ~WipedBytes() { crypto::wipe(s.data(), s.size()); }
};

}  // namespace

const char* describe(TokenError e) {
  switch (e) {
    case TokenError::not_a_token:
      return "this is not an ovl invite token (an invite token starts with \"ovl1-\")";
    case TokenError::corrupted:
      return "the token is truncated or corrupted; copy it again in full";
    case TokenError::unsupported_version:
      return "the token was made by a different version of ovl; use the same ovl version on both sides or ask for a "
             "new token";
    case TokenError::no_endpoints:
      return "the token does not say where to reach the coordinator; ask for a new token from a coordinator that "
             "advertises an endpoint";
  }
  return "the token is invalid";
}

std::string encode_token(const Token& t) {
  // A token that the joining side cannot use is a bug on the issuing side:
  // better to refuse to print it than to hand a user a dead token.
  if (t.endpoints.empty() || t.endpoints.size() > kMaxTokenEndpoints)
    throw std::invalid_argument("an invite token needs 1 to 8 coordinator endpoints");
  for (const auto& ep : t.endpoints)
    if (ep.port == 0) throw std::invalid_argument("an invite token endpoint needs a port");

  std::vector<uint8_t> b;
  b.reserve(kFixedSize + t.endpoints.size() * 19 + kChecksumSize);
  b.push_back(kTokenVersion);
  b.insert(b.end(), t.network_id.begin(), t.network_id.end());
  b.insert(b.end(), t.coordinator_key.begin(), t.coordinator_key.end());
  b.insert(b.end(), t.invite_id.begin(), t.invite_id.end());
  b.insert(b.end(), t.secret.begin(), t.secret.end());
  b.push_back(static_cast<uint8_t>(t.endpoints.size()));
  for (const auto& ep : t.endpoints) {
    b.push_back(ep.ip.v6 ? 6 : 4);
    auto a = ep.ip.bytes();
    b.insert(b.end(), a.begin(), a.end());
    b.push_back(static_cast<uint8_t>(ep.port >> 8));
    b.push_back(static_cast<uint8_t>(ep.port));
  }
  auto c = checksum(b);
  b.insert(b.end(), c.begin(), c.end());
  std::string out(kTokenPrefix);
  out += crypto::to_base64url(b);
  crypto::wipe(b.data(), b.size());
  return out;
}

std::variant<Token, TokenError> decode_token(std::string_view s) {
  s = trim(s);
  if (s.substr(0, kTokenPrefix.size()) != kTokenPrefix)
    return has_other_version_prefix(s) ? TokenError::unsupported_version : TokenError::not_a_token;
  s.remove_prefix(kTokenPrefix.size());

  // Checked here although the decoder checks too: libsodium 1.0.18 reads a
  // byte >= 0x80 as a signed char and decodes it like '_' (found by fuzzing),
  // which would let two different texts stand for one token.
  if (!std::all_of(s.begin(), s.end(), is_base64url)) return TokenError::corrupted;
  auto decoded = crypto::from_base64url(s);
  if (!decoded) return TokenError::corrupted;
  WipedBytes raw{std::move(*decoded)};
  std::span<const uint8_t> b(reinterpret_cast<const uint8_t*>(raw.s.data()), raw.s.size());

  // The checksum comes first: a mangled copy is "corrupted" whatever byte
  // the damage happened to hit, including the version and the counts.
  if (b.size() < 1 + kChecksumSize) return TokenError::corrupted;
  auto body = b.first(b.size() - kChecksumSize);
  auto want = checksum(body);
  if (!std::equal(want.begin(), want.end(), b.end() - kChecksumSize)) return TokenError::corrupted;
  if (body[0] != kTokenVersion) return TokenError::unsupported_version;
  if (body.size() < kFixedSize) return TokenError::corrupted;

  Token t;
  const uint8_t* p = body.data() + 1;
  std::memcpy(t.network_id.data(), p, 16);
  p += 16;
  std::memcpy(t.coordinator_key.data(), p, 32);
  p += 32;
  std::memcpy(t.invite_id.data(), p, 8);
  p += 8;
  std::memcpy(t.secret.data(), p, 16);
  p += 16;
  size_t n = *p++;
  if (n == 0) return body.size() == kFixedSize ? TokenError::no_endpoints : TokenError::corrupted;
  if (n > kMaxTokenEndpoints) return TokenError::corrupted;

  const uint8_t* end = body.data() + body.size();
  for (size_t i = 0; i < n; ++i) {
    if (end - p < 1) return TokenError::corrupted;
    uint8_t family = *p++;
    size_t alen = family == 4 ? 4 : family == 6 ? 16 : 0;
    if (alen == 0) return TokenError::corrupted;
    if (static_cast<size_t>(end - p) < alen + 2) return TokenError::corrupted;
    net::Endpoint ep;
    ep.ip = net::IpAddr::from_bytes({p, alen});
    p += alen;
    ep.port = static_cast<uint16_t>(p[0] << 8 | p[1]);
    p += 2;
    if (ep.port == 0) return TokenError::corrupted;
    t.endpoints.push_back(ep);
  }
  if (p != end) return TokenError::corrupted;  // trailing bytes
  return t;
}

std::string hex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t x : b) {
    s += kDigits[x >> 4];
    s += kDigits[x & 15];
  }
  return s;
}

}  // namespace ovl::control
