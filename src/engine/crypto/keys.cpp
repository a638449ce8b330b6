#include "engine/crypto/keys.hpp"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

namespace ovl::crypto {

namespace {
struct SodiumInit {
  SodiumInit() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  }
};
const SodiumInit sodium_init_once;
}  // namespace

void wipe(void* p, size_t n) { sodium_memzero(p, n); }

bool ct_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool SecretKey::is_zero() const { return sodium_is_zero(b.data(), b.size()) == 1; }

uint32_t Rng::uniform(uint32_t upper) {
  // Rejection sampling: no modulo bias.
  uint32_t min = (0u - upper) % upper;
  for (;;) {
    uint32_t r = u32();
    if (r >= min) return r % upper;
  }
}

void SystemRng::fill(std::span<uint8_t> out) { randombytes_buf(out.data(), out.size()); }

SeededRng::SeededRng(uint64_t seed) { std::memcpy(seed_.data(), &seed, sizeof seed); }

void SeededRng::fill(std::span<uint8_t> out) {
  if (out.empty()) return;
  // ChaCha20 keystream keyed by the seed; the nonce is a call counter.
  uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {};
  ++counter_;
  std::memcpy(nonce, &counter_, sizeof counter_);
  crypto_stream_chacha20(out.data(), out.size(), nonce, seed_.data());
}

SecretKey generate_private_key(Rng& rng) {
  SecretKey k;
  rng.fill(k.b);
  k.b[0] &= 248;
  k.b[31] = (k.b[31] & 127) | 64;
  return k;
}

PublicKey public_from_private(const SecretKey& priv) {
  PublicKey pub;
  crypto_scalarmult_base(pub.data(), priv.data());
  return pub;
}

bool dh(SecretKey& out, const SecretKey& priv, const PublicKey& pub) {
  // libsodium returns -1 for an all-zero output.
  return crypto_scalarmult(out.data(), priv.data(), pub.data()) == 0;
}

static std::string encode(std::span<const uint8_t> bytes, int variant) {
  std::string s(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(s.data(), s.size(), bytes.data(), bytes.size(), variant);
  s.resize(std::strlen(s.c_str()));
  return s;
}

// libsodium 1.0.18 decodes bytes >= 0x80 as if they were '/' or '_' (a
// signed-char slip), so two different strings could decode to one key: the
// alphabet is checked here first.
static bool in_alphabet(std::string_view s, bool url) {
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (url ? (c == '-' || c == '_') : (c == '+' || c == '/' || c == '='));
    if (!ok) return false;
  }
  return true;
}

static std::optional<std::string> decode(std::string_view s, int variant) {
  if (!in_alphabet(s, variant == sodium_base64_VARIANT_URLSAFE_NO_PADDING)) return std::nullopt;
  std::string out(s.size(), '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), s.data(), s.size(), nullptr, &len,
                        &end, variant) != 0 ||
      end != s.data() + s.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

std::string to_base64(std::span<const uint8_t> b) { return encode(b, sodium_base64_VARIANT_ORIGINAL); }
std::string to_base64url(std::span<const uint8_t> b) { return encode(b, sodium_base64_VARIANT_URLSAFE_NO_PADDING); }
std::optional<std::string> from_base64(std::string_view s) { return decode(s, sodium_base64_VARIANT_ORIGINAL); }
std::optional<std::string> from_base64url(std::string_view s) {
  return decode(s, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::optional<PublicKey> parse_key(std::string_view b64) {
  auto raw = from_base64(b64);
  if (!raw || raw->size() != kKeyLen) return std::nullopt;
  PublicKey k;
  std::memcpy(k.data(), raw->data(), kKeyLen);
  wipe(raw->data(), raw->size());
  return k;
}

std::optional<SecretKey> parse_secret(std::string_view b64) {
  auto raw = from_base64(b64);
  if (!raw || raw->size() != kKeyLen) {
    if (raw) wipe(raw->data(), raw->size());
    return std::nullopt;
  }
  SecretKey k;
  std::memcpy(k.data(), raw->data(), kKeyLen);
  wipe(raw->data(), raw->size());
  return k;
}

}  // namespace ovl::crypto
