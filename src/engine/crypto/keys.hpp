// Key material types. Secrets are wiped when they go out of scope and are
// compared in constant time; public values are plain arrays.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ovl::crypto {

inline constexpr size_t kKeyLen = 32;
using PublicKey = std::array<uint8_t, kKeyLen>;

void wipe(void* p, size_t n);
// Constant-time equality of two equal-length buffers.
bool ct_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

// 32 secret bytes: a private key, a chaining key, a symmetric session key.
struct SecretKey {
  std::array<uint8_t, kKeyLen> b{};
  SecretKey() = default;
  SecretKey(const SecretKey&) = default;
  SecretKey& operator=(const SecretKey&) = default;
  ~SecretKey() { wipe(b.data(), b.size()); }
  uint8_t* data() { return b.data(); }
  const uint8_t* data() const { return b.data(); }
  bool is_zero() const;
};

// Source of randomness. Protocol code never calls the system RNG itself;
// it is handed one of these (tests pass a seeded, reproducible one).
class Rng {
 public:
  virtual ~Rng() = default;
  virtual void fill(std::span<uint8_t> out) = 0;
  uint32_t u32() {
    uint32_t v;
    fill({reinterpret_cast<uint8_t*>(&v), sizeof v});
    return v;
  }
  uint32_t uniform(uint32_t upper);  // [0, upper), upper > 0
};

// The operating system's CSPRNG (libsodium's randombytes).
class SystemRng final : public Rng {
 public:
  void fill(std::span<uint8_t> out) override;
};

// Reproducible stream from a seed, for tests and simulations only.
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed);
  void fill(std::span<uint8_t> out) override;
 private:
  std::array<uint8_t, 32> seed_{};
  uint64_t counter_ = 0;
};

// X25519 (RFC 7748).
SecretKey generate_private_key(Rng& rng);  // clamped, as `wg genkey` does
PublicKey public_from_private(const SecretKey& priv);
// Returns false when the result is all zeros (a low-order point), which
// WireGuard treats as a failed handshake.
bool dh(SecretKey& out, const SecretKey& priv, const PublicKey& pub);

// Standard base64 with padding (44 chars for a key), as wg(8) prints keys.
std::string to_base64(std::span<const uint8_t> bytes);
// Base64url without padding, for copy-pastable tokens.
std::string to_base64url(std::span<const uint8_t> bytes);
std::optional<std::string> from_base64(std::string_view s);     // exact standard alphabet
std::optional<std::string> from_base64url(std::string_view s);  // url alphabet, no padding
std::optional<PublicKey> parse_key(std::string_view b64);       // exactly 32 bytes
std::optional<SecretKey> parse_secret(std::string_view b64);

}  // namespace ovl::crypto
