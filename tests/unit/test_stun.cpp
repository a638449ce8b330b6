// STUN codec: RFC 5769 known answers, our own encodings, round trips (RFC 8489
// and classic RFC 3489), exact framing, attribute bounds, and that no
// WireGuard message is ever taken for STUN.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/nat/stun.hpp"
#include "engine/wg/messages.hpp"
#include "../support/hex.hpp"

using namespace ovl;
using namespace ovl::nat;
using ovl::test::hex;
using ovl::test::unhex;

namespace {

// RFC 5769 §2.1-2.3 sample messages.
const char* kRfc5769Request =
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"  // SOFTWARE "STUN test client"
    "002400046e0001ff"                          // PRIORITY
    "80290008932ff9b151263b36"                  // ICE-CONTROLLED
    "000600096576746a3a683676592020 20"         // USERNAME "evtj:h6vY" + padding
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"  // MESSAGE-INTEGRITY
    "80280004e57a3bcf";                         // FINGERPRINT
const char* kRfc5769Ipv4Response =
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"          // SOFTWARE "test vector" + padding
    "002000080001a147e112a643"                  // XOR-MAPPED-ADDRESS
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96";
const char* kRfc5769Ipv6Response =
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c";
const char* kRfc5769TxId = "b7e7a701bc34d686fa87dfae";

// What Debian's stun-client 0.97 sent (captured): tests I, II and III.
const char* kStunClientTestI = "000100080169030ebd921e4651b8926c39a2ff460003000400000000";
const char* kStunClientTestII = "00010008025d314247b90e294b06a679d3eaa8680003000400000004";
const char* kStunClientTestIII = "0001000803ecfa76a82a5a415dc49d5d5dc50d600003000400000002";

TxId txid_of(const char* h) {
  TxId t{};
  auto v = unhex(h);
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}

net::Endpoint ep(const char* s) { return *net::Endpoint::parse(s); }

// A message with a correct length field: header + the given attribute bytes.
std::vector<uint8_t> message(uint16_t type, bool cookie, const std::string& attrs_hex,
                             const char* txid_hex = "000102030405060708090a0b0c0d0e0f") {
  auto attrs = unhex(attrs_hex);
  std::vector<uint8_t> m = {uint8_t(type >> 8), uint8_t(type), uint8_t(attrs.size() >> 8), uint8_t(attrs.size())};
  auto txid = unhex(txid_hex);
  if (cookie) {
    m.insert(m.end(), {0x21, 0x12, 0xa4, 0x42});
    txid.resize(12);
  } else {
    txid.resize(16);
  }
  m.insert(m.end(), txid.begin(), txid.end());
  m.insert(m.end(), attrs.begin(), attrs.end());
  return m;
}

// Appends a valid FINGERPRINT to an already framed message.
std::vector<uint8_t> with_fingerprint(std::vector<uint8_t> m) {
  const size_t len = m.size() - kStunHeaderSize + kFingerprintAttrSize;
  m[2] = uint8_t(len >> 8);
  m[3] = uint8_t(len);
  const uint32_t fp = crc32(m) ^ kFingerprintXor;
  m.insert(m.end(), {0x80, 0x28, 0x00, 0x04, uint8_t(fp >> 24), uint8_t(fp >> 16), uint8_t(fp >> 8), uint8_t(fp)});
  return m;
}

}  // namespace

TEST_CASE("stun: crc32 check value") {
  const std::string s = "123456789";
  CHECK(crc32(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())) == 0xCBF43926u);
  CHECK(crc32({}) == 0u);
}

TEST_CASE("stun: RFC 5769 sample request parses and its FINGERPRINT verifies") {
  const auto m = unhex(kRfc5769Request);
  REQUIRE(m.size() == 108);
  CHECK(is_stun(m));
  // The FINGERPRINT is the CRC of everything before it, xor 0x5354554e.
  CHECK((crc32(std::span(m).first(m.size() - 8)) ^ kFingerprintXor) == 0xe57a3bcfu);
  auto r = parse_request(m);
  REQUIRE(r);
  CHECK_FALSE(r->classic);
  CHECK(hex(r->txid_bytes()) == kRfc5769TxId);
  CHECK_FALSE(r->has_change_request);
  CHECK_FALSE(r->wants_change());
  // Not a response.
  CHECK_FALSE(parse_response(m));
  CHECK_FALSE(parse_error_response(m));
  // Any corrupted byte is caught by the CRC or, in the header, by the framing;
  // except in the FINGERPRINT's own type, which then names some other
  // attribute after MESSAGE-INTEGRITY, and those are ignored (RFC 8489 §14.5).
  const size_t fp_type = m.size() - kFingerprintAttrSize;
  for (size_t i = 0; i < m.size(); ++i) {
    if (i == fp_type || i == fp_type + 1) continue;
    auto bad = m;
    bad[i] ^= 0x01;
    CHECK_MESSAGE(!parse_request(bad), "byte ", i);
  }
}

TEST_CASE("stun: RFC 5769 sample IPv4 response decodes to 192.0.2.1:32853") {
  const auto m = unhex(kRfc5769Ipv4Response);
  REQUIRE(m.size() == 80);
  CHECK(is_stun(m));
  CHECK((crc32(std::span(m).first(m.size() - 8)) ^ kFingerprintXor) == 0xc07d4c96u);
  auto r = parse_response(m);
  REQUIRE(r);
  CHECK_FALSE(r->classic);
  CHECK(r->from_xor);
  CHECK(hex(r->txid_bytes()) == kRfc5769TxId);
  CHECK(r->mapped == ep("192.0.2.1:32853"));
  CHECK(r->answers(txid_of(kRfc5769TxId)));
  auto other = txid_of(kRfc5769TxId);
  other[11] ^= 1;
  CHECK_FALSE(r->answers(other));
  CHECK_FALSE(parse_request(m));
  CHECK_FALSE(parse_error_response(m));
  auto bad = m;
  bad.back() ^= 0x80;  // FINGERPRINT value
  CHECK_FALSE(parse_response(bad));
}

TEST_CASE("stun: RFC 5769 sample IPv6 response decodes to [2001:db8:1234:5678:11:2233:4455:6677]:32853") {
  const auto m = unhex(kRfc5769Ipv6Response);
  REQUIRE(m.size() == 92);
  CHECK((crc32(std::span(m).first(m.size() - 8)) ^ kFingerprintXor) == 0xc8fb0b4cu);
  auto r = parse_response(m);
  REQUIRE(r);
  CHECK(r->from_xor);
  CHECK(r->mapped.ip.v6);
  CHECK(r->mapped == ep("[2001:db8:1234:5678:11:2233:4455:6677]:32853"));
  CHECK(r->mapped.str() == "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
}

TEST_CASE("stun: our XOR-MAPPED-ADDRESS matches RFC 5769 byte for byte") {
  StunRequest req;
  const auto id = txid_of(kRfc5769TxId);
  std::copy(id.begin(), id.end(), req.txid.begin());
  const auto server = ep("198.51.100.1:3478");

  auto v4 = binding_response(req, ep("192.0.2.1:32853"), server);
  REQUIRE(v4.size() == 20 + 12 + 12 + 8 + 8);
  CHECK(hex(std::span(v4).first(20)) == "010100282112a442b7e7a701bc34d686fa87dfae");
  CHECK(hex(std::span(v4).subspan(20, 12)) == "002000080001a147e112a643");
  CHECK(hex(std::span(v4).subspan(32, 12)) == "0001000800018055c0000201");  // MAPPED-ADDRESS
  CHECK(hex(std::span(v4).subspan(44, 8)) == "80220003" + hex(std::string("ovl")) + "00");
  CHECK(hex(std::span(v4).subspan(52, 4)) == "80280004");
  // The whole message, FINGERPRINT computed independently (Python's zlib.crc32).
  CHECK(hex(v4) ==
        "010100282112a442b7e7a701bc34d686fa87dfae002000080001a147e112a6430001000800018055c0000201"
        "802200036f766c0080280004be90c933");

  auto v6 = binding_response(req, ep("[2001:db8:1234:5678:11:2233:4455:6677]:32853"), server);
  REQUIRE(v6.size() == 20 + 24 + 24 + 8 + 8);
  CHECK(hex(std::span(v6).subspan(20, 24)) == "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9");
  CHECK(hex(std::span(v6).subspan(44, 24)) == "000100140002805520010db8123456780011223344556677");
}

TEST_CASE("stun: binding request layout and round trip") {
  const auto id = txid_of("0102030405060708090a0b0c");
  SUBCASE("default: FINGERPRINT only") {
    auto m = binding_request(id);
    REQUIRE(m.size() == 28);
    CHECK(hex(std::span(m).first(24)) == "000100082112a4420102030405060708090a0b0c80280004");
    CHECK(is_stun(m));
    auto r = parse_request(m);
    REQUIRE(r);
    CHECK_FALSE(r->classic);
    CHECK(hex(r->txid_bytes()) == "0102030405060708090a0b0c");
    CHECK_FALSE(r->has_change_request);
  }
  SUBCASE("bare") {
    auto m = binding_request(id, {.fingerprint = false});
    CHECK(hex(m) == "000100002112a4420102030405060708090a0b0c");
    CHECK(parse_request(m));
  }
  SUBCASE("with SOFTWARE, padded") {
    auto m = binding_request(id, {.fingerprint = true, .software = "ovl/0.1"});
    REQUIRE(m.size() == 20 + 12 + 8);
    CHECK(hex(std::span(m).subspan(20, 12)) == "80220007" + hex(std::string("ovl/0.1")) + "00");
    CHECK(parse_request(m));
  }
  SUBCASE("SOFTWARE is cut to 127 bytes") {
    const std::string longname(300, 'x');
    auto m = binding_request(id, {.fingerprint = false, .software = longname});
    CHECK(m.size() == 20 + 4 + 128);
    CHECK((m[22] == 0 && m[23] == 127));
    CHECK(parse_request(m));
  }
}

TEST_CASE("stun: RFC 8489 round trips, IPv4 and IPv6") {
  for (const char* obs : {"203.0.113.9:65535", "10.0.0.1:1", "[2001:db8::1]:443", "[fe80::1]:51820"}) {
    CAPTURE(obs);
    const auto id = txid_of("a0a1a2a3a4a5a6a7a8a9aaab");
    auto req = parse_request(binding_request(id));
    REQUIRE(req);
    auto resp = binding_response(*req, ep(obs), ep("192.0.2.10:3478"));
    CHECK(is_stun(resp));
    auto r = parse_response(resp);
    REQUIRE(r);
    CHECK(r->answers(id));
    CHECK(r->from_xor);
    CHECK(r->mapped == ep(obs));
    CHECK_FALSE(parse_request(resp));
  }
}

TEST_CASE("stun: classic RFC 3489 request from stun-client 0.97") {
  const auto m = unhex(kStunClientTestI);
  CHECK(is_stun(m));
  auto req = parse_request(m);
  REQUIRE(req);
  CHECK(req->classic);
  CHECK(hex(req->txid_bytes()) == "0169030ebd921e4651b8926c39a2ff46");
  CHECK(req->has_change_request);
  CHECK_FALSE(req->wants_change());

  const auto observed = ep("192.0.2.77:40000");
  const auto server = ep("198.51.100.1:3478");
  auto resp = binding_response(*req, observed, server);
  // MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS; no cookie, no SOFTWARE, no FINGERPRINT.
  CHECK(hex(resp) ==
        "01010024"
        "0169030ebd921e4651b8926c39a2ff46"
        "000100080001" "9c40" "c000024d"
        "000400080001" "0d96" "c6336401"
        "000500080001" "0d96" "c6336401");
  CHECK(is_stun(resp));
  auto r = parse_response(resp);
  REQUIRE(r);
  CHECK(r->classic);
  CHECK_FALSE(r->from_xor);
  CHECK(hex(r->txid_bytes()) == hex(req->txid_bytes()));
  CHECK(r->mapped == observed);
  CHECK_FALSE(r->answers(TxId{}));
}

TEST_CASE("stun: a change this one-address server cannot make is never pretended") {
  const auto observed = ep("192.0.2.77:40001");
  const auto server = ep("198.51.100.1:3478");
  SUBCASE("classic tests II and III get no answer") {
    for (const char* h : {kStunClientTestII, kStunClientTestIII}) {
      auto req = parse_request(unhex(h));
      REQUIRE(req);
      CHECK(req->classic);
      CHECK(req->wants_change());
      CHECK(binding_response(*req, observed, server).empty());
    }
    auto ii = parse_request(unhex(kStunClientTestII));
    CHECK(ii->change_ip);
    CHECK_FALSE(ii->change_port);
    auto iii = parse_request(unhex(kStunClientTestIII));
    CHECK_FALSE(iii->change_ip);
    CHECK(iii->change_port);
  }
  SUBCASE("RFC 8489 request: 420 naming CHANGE-REQUEST") {
    auto m = with_fingerprint(message(kBindingRequest, true, "0003000400000006", "c0c1c2c3c4c5c6c7c8c9cacb"));
    auto req = parse_request(m);
    REQUIRE(req);
    CHECK(req->change_ip);
    CHECK(req->change_port);
    auto resp = binding_response(*req, observed, server);
    CHECK(is_stun(resp));
    CHECK(hex(resp) ==
          "011100342112a442c0c1c2c3c4c5c6c7c8c9cacb"
          "0009001500000414556e6b6e6f776e20417474726962757465000000"  // ERROR-CODE 420 "Unknown Attribute"
          "000a000200030000"                                          // UNKNOWN-ATTRIBUTES: CHANGE-REQUEST
          "802200036f766c00"                                          // SOFTWARE "ovl"
          "802800043c9d5759");                                        // FINGERPRINT (zlib.crc32 ^ 0x5354554e)
    CHECK_FALSE(parse_response(resp));
    auto e = parse_error_response(resp);
    REQUIRE(e);
    CHECK_FALSE(e->classic);
    CHECK(hex(e->txid_bytes()) == "c0c1c2c3c4c5c6c7c8c9cacb");
    CHECK(e->code == 420);
    REQUIRE(e->unknown_attributes.size() == 1);
    CHECK(e->unknown_attributes[0] == attr::kChangeRequest);
  }
  SUBCASE("RFC 8489 request with CHANGE-REQUEST flags 0 is answered") {
    auto req = parse_request(message(kBindingRequest, true, "0003000400000000"));
    REQUIRE(req);
    CHECK(req->has_change_request);
    auto r = parse_response(binding_response(*req, observed, server));
    REQUIRE(r);
    CHECK(r->mapped == observed);
  }
  SUBCASE("a second CHANGE-REQUEST asking for a change still counts") {
    auto req = parse_request(message(kBindingRequest, false, "00030004000000000003000400000002"));
    REQUIRE(req);
    CHECK(req->wants_change());
  }
  SUBCASE("a malformed CHANGE-REQUEST rejects the request") {
    CHECK_FALSE(parse_request(message(kBindingRequest, true, "000300080000000000000000")));
    CHECK_FALSE(parse_request(message(kBindingRequest, true, "00030000")));
  }
}

TEST_CASE("stun: exact framing: truncated, overlong and lying lengths") {
  const std::vector<std::vector<uint8_t>> valid = {
      unhex(kRfc5769Request), unhex(kRfc5769Ipv4Response), unhex(kRfc5769Ipv6Response), unhex(kStunClientTestI),
      binding_request(txid_of("000000000000000000000001"))};
  for (const auto& m : valid) {
    REQUIRE(is_stun(m));
    for (size_t n = 0; n < m.size(); ++n) {
      auto cut = std::span(m).first(n);
      CHECK_FALSE(is_stun(cut));
      CHECK_FALSE(parse_request(cut));
      CHECK_FALSE(parse_response(cut));
    }
    for (size_t extra : {1, 2, 3, 4, 8}) {
      auto longer = m;
      longer.resize(m.size() + extra, 0);
      CHECK_FALSE(is_stun(longer));
      CHECK_FALSE(parse_request(longer));
      CHECK_FALSE(parse_response(longer));
    }
  }
  // A length that is not a multiple of 4, even if it matches the size.
  auto odd = message(kBindingRequest, true, "");
  odd[3] = 2;
  odd.resize(22, 0);
  CHECK_FALSE(is_stun(odd));
  // Too short for a header.
  CHECK_FALSE(is_stun(unhex("000100002112a442")));
  CHECK_FALSE(is_stun({}));
}

TEST_CASE("stun: attribute bounds and padding") {
  // Value length 8 with only 4 bytes left.
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "8022000861626364")));
  // Value length 5: padding to 8 runs past the 8 bytes that follow.
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "802200056162636465")));
  CHECK_FALSE(is_stun(message(kBindingRequest, true, "802200056162636465")));  // 9 bytes: not a multiple of 4
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "8022000561626364")));
  // Value length 5 correctly padded; padding bytes may be anything.
  CHECK(parse_request(message(kBindingRequest, true, "8022000561626364 65ffffff")));
  // Zero-length attributes are fine.
  CHECK(parse_request(message(kBindingRequest, true, "8022000080230000")));
  // A length of 0xffff in a short message.
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "8022ffff00000000")));
  CHECK_FALSE(parse_response(message(kBindingSuccess, true, "0020ffff00000000")));
}

TEST_CASE("stun: unknown and known attributes in requests") {
  // Unknown comprehension-optional: ignored.
  CHECK(parse_request(message(kBindingRequest, true, "8029000800000000000000008fff0000")));
  // Unknown comprehension-required: rejected.
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "7fff0000")));
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "00200008 0001a147e112a643")));
  // RESPONSE-ADDRESS: never send to a third party.
  CHECK_FALSE(parse_request(message(kBindingRequest, false, "00020008000112340a000001")));
  // RFC 5780 RESPONSE-PORT is not supported either.
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "0027000412340000")));
  // Credentials and ICE attributes are understood and ignored.
  CHECK(parse_request(message(kBindingRequest, true, "0006000461626364002400046e0001ff00250000")));
  // After MESSAGE-INTEGRITY only FINGERPRINT matters; other attributes are ignored.
  auto after_mi = with_fingerprint(
      message(kBindingRequest, true, "00080014" + std::string(40, '0') + "7fff0000" + "0003000400000006"));
  auto r = parse_request(after_mi);
  REQUIRE(r);
  CHECK_FALSE(r->has_change_request);
}

TEST_CASE("stun: FINGERPRINT must be last and right") {
  auto good = with_fingerprint(message(kBindingRequest, true, "80220004616263 64"));
  CHECK(parse_request(good));
  // Something after the FINGERPRINT.
  auto tail = good;
  tail.insert(tail.end(), {0x80, 0x22, 0x00, 0x00});
  tail[3] += 4;
  CHECK(is_stun(tail));
  CHECK_FALSE(parse_request(tail));
  // Wrong length.
  CHECK_FALSE(parse_request(message(kBindingRequest, true, "802800080000000000000000")));
  // Wrong value.
  auto bad = good;
  bad[bad.size() - 1] ^= 1;
  CHECK_FALSE(parse_request(bad));
  // Same rules for responses.
  auto resp = with_fingerprint(message(kBindingSuccess, true, "0001000800011234c0000201"));
  CHECK(parse_response(resp));
  resp[resp.size() - 2] ^= 1;
  CHECK_FALSE(parse_response(resp));
}

TEST_CASE("stun: response address selection") {
  // MAPPED-ADDRESS alone (an old server).
  auto plain = parse_response(message(kBindingSuccess, true, "0001000800011234c0000201"));
  REQUIRE(plain);
  CHECK_FALSE(plain->from_xor);
  CHECK(plain->mapped == ep("192.0.2.1:4660"));
  // XOR-MAPPED-ADDRESS wins over MAPPED-ADDRESS, in either order; first occurrence counts.
  const std::string xor_192_0_2_1_32853 = "002000080001a147e112a643";
  const std::string mapped_10_0_0_1_1 = "00010008000100010a000001";
  for (const auto& attrs : {xor_192_0_2_1_32853 + mapped_10_0_0_1_1, mapped_10_0_0_1_1 + xor_192_0_2_1_32853}) {
    auto r = parse_response(message(kBindingSuccess, true, attrs, kRfc5769TxId));
    REQUIRE(r);
    CHECK(r->from_xor);
    CHECK(r->mapped == ep("192.0.2.1:32853"));
  }
  auto first = parse_response(message(kBindingSuccess, true, mapped_10_0_0_1_1 + "0001000800011234c0000201"));
  REQUIRE(first);
  CHECK(first->mapped == ep("10.0.0.1:1"));
  // Classic RFC 3489 leftovers are ignored; no address at all is no answer.
  CHECK_FALSE(parse_response(message(kBindingSuccess, true, "000400080001000101020304")));
  CHECK(parse_response(message(kBindingSuccess, false, mapped_10_0_0_1_1 + "000400080001000101020304"
                                                        "000500080001000101020304000b00080001000101020304")));
  // XOR-MAPPED-ADDRESS is meaningless without the cookie.
  CHECK_FALSE(parse_response(message(kBindingSuccess, false, xor_192_0_2_1_32853)));
  // Unknown comprehension-required attribute in a success response.
  CHECK_FALSE(parse_response(message(kBindingSuccess, true, mapped_10_0_0_1_1 + "00300000")));
  // Malformed addresses: bad family, wrong length for the family.
  CHECK_FALSE(parse_response(message(kBindingSuccess, true, "0001000800031234c0000201")));
  CHECK_FALSE(parse_response(message(kBindingSuccess, true, "0001000800021234c0000201")));
  CHECK_FALSE(parse_response(message(kBindingSuccess, true, "0001001400011234" + std::string(32, '0'))));
  CHECK_FALSE(parse_response(message(kBindingSuccess, true, "0001000400011234")));
  // An error response is not a success.
  CHECK_FALSE(parse_response(message(kBindingError, true, mapped_10_0_0_1_1)));
}

TEST_CASE("stun: error responses") {
  auto e = parse_error_response(message(kBindingError, true, "0009000800000401556e6175" "000a0006000300270000 0000"));
  REQUIRE(e);
  CHECK(e->code == 401);
  REQUIRE(e->unknown_attributes.size() == 3);
  CHECK(e->unknown_attributes[1] == 0x0027);
  CHECK_FALSE(parse_error_response(message(kBindingError, true, "")));                  // no ERROR-CODE
  CHECK_FALSE(parse_error_response(message(kBindingError, true, "0009000400000700")));  // class 7
  CHECK_FALSE(parse_error_response(message(kBindingError, true, "0009000400000464")));  // number 100
  CHECK_FALSE(parse_error_response(message(kBindingError, true, "000900020000 0000")));  // too short
}

TEST_CASE("stun: is_stun never claims a WireGuard message") {
  // Real WireGuard messages at their real sizes, with indices chosen to put the
  // magic cookie where STUN has it and a plausible STUN length after the type.
  wg::Initiation ini;
  ini.sender = 0x42a41221;  // little-endian on the wire: 21 12 a4 42
  ini.ephemeral.fill(0x11);
  std::array<uint8_t, wg::kInitiationSize> a{};
  wg::serialize(ini, a);
  CHECK(hex(std::span(a).first(8)) == "010000002112a442");
  CHECK_FALSE(is_stun(a));

  wg::Response resp;
  resp.sender = 0x42a41221;
  std::array<uint8_t, wg::kResponseSize> b{};
  wg::serialize(resp, b);
  CHECK_FALSE(is_stun(b));

  wg::CookieReply cr;
  cr.receiver = 0x42a41221;
  std::array<uint8_t, wg::kCookieReplySize> c{};
  wg::serialize(cr, c);
  CHECK_FALSE(is_stun(c));

  for (size_t size : {wg::kTransportMinSize, size_t{20}, size_t{48}, size_t{1440}}) {
    std::vector<uint8_t> t(size, 0);
    wg::serialize(wg::TransportHeader{0x42a41221, 7}, std::span<uint8_t, wg::kTransportHeaderSize>(t.data(), 16));
    CHECK_FALSE(is_stun(t));
  }

  // Every WireGuard-shaped header (type 1..4, three zero bytes) at every size
  // that would satisfy STUN's length rule.
  for (uint8_t type = 1; type <= 4; ++type) {
    for (size_t size = 20; size <= 160; size += 4) {
      std::vector<uint8_t> m(size, 0);
      m[0] = type;
      m[4] = 0x21, m[5] = 0x12, m[6] = 0xa4, m[7] = 0x42;
      CHECK_FALSE(is_stun(m));
    }
  }
  // And the other way round: STUN is never a WireGuard message.
  CHECK_FALSE(wg::message_type(binding_request(TxId{})));
  CHECK_FALSE(wg::message_type(unhex(kStunClientTestI)));
  CHECK_FALSE(wg::message_type(unhex(kRfc5769Ipv4Response)));
}

TEST_CASE("stun: is_stun accepts only Binding types") {
  CHECK(is_stun(message(kBindingRequest, true, "")));
  CHECK(is_stun(message(kBindingSuccess, true, "")));
  CHECK(is_stun(message(kBindingError, true, "")));
  CHECK(is_stun(message(kBindingRequest, false, "")));
  CHECK_FALSE(is_stun(message(0x0011, true, "")));  // Binding indication
  CHECK_FALSE(is_stun(message(0x0003, true, "")));  // TURN Allocate
  CHECK_FALSE(is_stun(message(0x4001, true, "")));  // top bits set
  CHECK_FALSE(is_stun(message(0xc101, true, "")));
  auto disco = message(kBindingRequest, true, "");
  disco[0] = 'O';  // a disco message's magic prefix
  CHECK_FALSE(is_stun(disco));
}
