// Known-answer tests for the primitives WireGuard is built from.
#include <doctest/doctest.h>

#include <cstring>

#include "../support/hex.hpp"
#include "engine/crypto/aead.hpp"
#include "engine/crypto/blake2s.hpp"
#include "engine/crypto/keys.hpp"

using namespace ovl;
using namespace ovl::crypto;
using ovl::test::hex;
using ovl::test::unhex;

static Bytes str(const char* s) { return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)}; }

TEST_CASE("BLAKE2s-256 of \"abc\" (RFC 7693 appendix B)") {
  CHECK(hex(blake2s({str("abc")})) == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  // Split input must hash the same as the whole.
  CHECK(blake2s({str("a"), str("bc")}) == blake2s({str("abc")}));
}

TEST_CASE("WireGuard's initial chaining key and hash") {
  auto c = blake2s({str("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")});
  CHECK(hex(c) == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  CHECK(hex(blake2s({c, str("WireGuard v1 zx2c4 Jason@zx2c4.com")})) ==
        "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

TEST_CASE("keyed BLAKE2s with 16-byte output (WireGuard's MAC)") {
  auto key = unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  uint8_t out[16];
  blake2s_keyed({out, 16}, key, {str("hello")});
  CHECK(hex(std::span<uint8_t>(out, 16)) == "1f946dc212a39570bc06fd378517a91e");
}

// Reference values from Python's hmac + hashlib.blake2s.
TEST_CASE("HMAC-BLAKE2s and WireGuard's KDF") {
  uint8_t out[32];
  hmac(out, str("key"), str("The quick brown fox jumps over the lazy dog"));
  CHECK(hex(std::span<uint8_t>(out, 32)) == "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0");

  std::vector<uint8_t> ck(32), in(32);
  for (int i = 0; i < 32; ++i) ck[i] = i, in[i] = 100 + i;
  uint8_t t1[32], t2[32], t3[32];
  kdf(ck, in, t1, t2, t3);
  CHECK(hex(std::span<uint8_t>(t1, 32)) == "e3b7e038799447459d13f6cc03b71555c0b32ee93354ebe4526ec98bc53b20a4");
  CHECK(hex(std::span<uint8_t>(t2, 32)) == "ca06d8e46b509266c7c0594805ffb9c256348a33c642381348f047e452d239e2");
  CHECK(hex(std::span<uint8_t>(t3, 32)) == "5ee952936bec1473c13db1cc92b8d8ba5ad2df7c77f07478731d48aa5530a000");
  uint8_t only1[32];
  kdf(ck, in, only1);
  CHECK(std::memcmp(only1, t1, 32) == 0);
}

TEST_CASE("ChaCha20-Poly1305 decryption (RFC 8439 appendix A.5), WireGuard nonce layout") {
  // The A.5 nonce is 00000000 0102030405060708: 32 zero bits then a 64-bit
  // little-endian counter, exactly WireGuard's layout.
  auto key = unhex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
  uint64_t counter = 0x0807060504030201ULL;
  auto ad = unhex("f33388860000000000004e91");
  auto ct = unhex(
      "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100"
      "d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c8559797a06ef4f0ef61c186324e2b35063836"
      "06907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b00"
      "47718cbc546a0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617"
      "d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b"
      "eead9d67890cbb22392336fea1851f38");
  std::vector<uint8_t> pt(ct.size() - kTagLen);
  REQUIRE(aead_open(pt.data(), key.data(), counter, ct, ad));
  std::string text(pt.begin(), pt.end());
  CHECK(text.rfind("Internet-Drafts are draft documents valid for a maximum of six months", 0) == 0);
  CHECK(pt.size() == 265);

  // And sealing the plaintext again gives the same bytes.
  std::vector<uint8_t> again(pt.size() + kTagLen);
  aead_seal(again.data(), key.data(), counter, pt, ad);
  CHECK(again == ct);

  // Any flipped bit fails authentication.
  ct[10] ^= 1;
  CHECK_FALSE(aead_open(pt.data(), key.data(), counter, ct, ad));
}

TEST_CASE("XChaCha20-Poly1305 round trip and tamper detection") {
  uint8_t key[32], nonce[24];
  for (int i = 0; i < 32; ++i) key[i] = i;
  for (int i = 0; i < 24; ++i) nonce[i] = 0xa0 + i;
  auto ad = unhex("0102");
  uint8_t pt[16] = {1, 2, 3}, ct[32], back[16];
  xaead_seal(ct, key, nonce, {pt, 16}, ad);
  REQUIRE(xaead_open(back, key, nonce, {ct, 32}, ad));
  CHECK(std::memcmp(back, pt, 16) == 0);
  auto other_ad = unhex("0103");
  CHECK_FALSE(xaead_open(back, key, nonce, {ct, 32}, other_ad));
}

TEST_CASE("X25519 (RFC 7748 section 6.1)") {
  SecretKey a, b;
  auto ab = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  auto bb = unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  std::memcpy(a.data(), ab.data(), 32);
  std::memcpy(b.data(), bb.data(), 32);
  auto apub = public_from_private(a), bpub = public_from_private(b);
  CHECK(hex(apub) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(hex(bpub) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  SecretKey s1, s2;
  REQUIRE(dh(s1, a, bpub));
  REQUIRE(dh(s2, b, apub));
  CHECK(hex(s1.b) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(s1.b == s2.b);
  // A low-order point gives an all-zero secret, which must be refused.
  PublicKey zero{};
  CHECK_FALSE(dh(s1, a, zero));
}

TEST_CASE("keys: base64 like wg(8), clamping, constant-time compare") {
  SeededRng rng(7);
  auto k = generate_private_key(rng);
  CHECK((k.b[0] & 7) == 0);
  CHECK((k.b[31] & 0x80) == 0);
  CHECK((k.b[31] & 0x40) == 0x40);
  auto s = to_base64(k.b);
  CHECK(s.size() == 44);
  CHECK(s.back() == '=');
  auto back = parse_secret(s);
  REQUIRE(back);
  CHECK(back->b == k.b);
  CHECK_FALSE(parse_key("not base64"));
  // libsodium alone would read a byte >= 0x80 as '/': such a string is no key.
  std::string mangled = s;
  mangled[10] = static_cast<char>(0xc3);
  CHECK_FALSE(parse_secret(mangled));
  CHECK_FALSE(from_base64url("ab\xff"));
  CHECK_FALSE(parse_key(to_base64(std::vector<uint8_t>(31, 1))));
  CHECK(ct_equal(k.b, back->b));
  back->b[5] ^= 1;
  CHECK_FALSE(ct_equal(k.b, back->b));
}

TEST_CASE("seeded RNG is reproducible, system RNG is not constant") {
  SeededRng a(1), b(1), c(2);
  CHECK(a.u32() == b.u32());
  CHECK(a.u32() == b.u32());
  CHECK(SeededRng(1).u32() != c.u32());
  SystemRng s;
  std::array<uint8_t, 32> x{}, y{};
  s.fill(x);
  s.fill(y);
  CHECK(x != y);
  for (int i = 0; i < 1000; ++i) CHECK(a.uniform(10) < 10);
}
