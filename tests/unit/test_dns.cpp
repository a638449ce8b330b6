// DNS responder for peer names: hand-built RFC 1035 queries and known-answer
// responses, case-insensitive and short names, NXDOMAIN / NODATA / REFUSED,
// EDNS0 and truncation, strict query parsing (pointers, limits, every
// truncation), and the IPv4/UDP wrapper with checksums recomputed here.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/dns/message.hpp"
#include "engine/dns/responder.hpp"
#include "../support/hex.hpp"

using namespace ovl;
using namespace ovl::dns;
using ovl::test::hex;
using ovl::test::unhex;

namespace {

const net::IpAddr kServer4 = net::IpAddr::v4(100, 83, 0, 1);
const net::IpAddr kServer6 = *net::IpAddr::parse("fd7a:115c:a1e0::1");
const net::IpAddr kLaptop4 = net::IpAddr::v4(100, 83, 0, 2);
const net::IpAddr kV6Only = *net::IpAddr::parse("fd7a:115c:a1e0::9");
const net::IpAddr kResolver = net::IpAddr::v4(100, 100, 100, 100);

Responder make_responder() {
  Responder r;
  r.set_zone("home.ovl", {{"server", {kServer4, kServer6}}, {"Laptop", {kLaptop4}}, {"v6only", {kV6Only}}});
  return r;
}

// id 0x1234, RD, one question "Server.Home.OVL" A IN (RFC 1035 §4.1 by hand).
const char* kQueryServerA =
    "1234 0100 0001 0000 0000 0000"
    "06 536572766572 04 486f6d65 03 4f564c 00"
    "0001 0001";

std::vector<uint8_t> query(const std::string& name, uint16_t qtype, uint16_t udp_size = 0, uint16_t qclass = kClassIN) {
  return build_query(0xBEEF, *Name::from_text(name), qtype, qclass, true, udp_size);
}

Response respond(const Responder& r, const std::vector<uint8_t>& q) {
  const auto out = r.answer(q);
  REQUIRE(out);
  const auto resp = parse_response(*out);
  REQUIRE(resp);
  return *resp;
}

// Independent RFC 1071 checksum for verifying the wrapper.
uint16_t ones_sum(const std::vector<uint8_t>& d, size_t off, size_t len, uint32_t start = 0) {
  uint32_t s = start;
  for (size_t i = 0; i < len; i += 2) s += uint32_t(d[off + i]) << 8 | (i + 1 < len ? d[off + i + 1] : 0);
  while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
  return static_cast<uint16_t>(s);
}

std::vector<uint8_t> ip_udp_packet(const std::vector<uint8_t>& payload, net::IpAddr src, uint16_t sport,
                                   net::IpAddr dst, uint16_t dport, size_t options = 0) {
  const size_t ihl = 20 + options;
  std::vector<uint8_t> p(ihl + 8 + payload.size(), 0);
  p[0] = static_cast<uint8_t>(0x40 | ihl / 4);
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[4] = 0x12;
  p[6] = 0x40;  // DF
  p[8] = 64;
  p[9] = 17;
  for (int i = 0; i < 4; ++i) p[12 + i] = src.b[i], p[16 + i] = dst.b[i];
  for (size_t i = 20; i < ihl; ++i) p[i] = 1;  // NOP options
  const uint16_t c = static_cast<uint16_t>(~ones_sum(p, 0, ihl));
  p[10] = static_cast<uint8_t>(c >> 8);
  p[11] = static_cast<uint8_t>(c);
  const size_t ulen = 8 + payload.size();
  p[ihl] = static_cast<uint8_t>(sport >> 8);
  p[ihl + 1] = static_cast<uint8_t>(sport);
  p[ihl + 2] = static_cast<uint8_t>(dport >> 8);
  p[ihl + 3] = static_cast<uint8_t>(dport);
  p[ihl + 4] = static_cast<uint8_t>(ulen >> 8);
  p[ihl + 5] = static_cast<uint8_t>(ulen);
  std::copy(payload.begin(), payload.end(), p.begin() + ihl + 8);
  // UDP checksum left 0 ("none"), which IPv4 allows and the responder must not need.
  return p;
}

}  // namespace

TEST_CASE("dns: known answer for a hand-built A query") {
  const Responder r = make_responder();
  const auto out = r.answer(unhex(kQueryServerA));
  REQUIRE(out);
  // QR|AA|RD|RA, 1 question (echoed with its case), 1 answer: pointer to
  // offset 12, A IN, TTL 60, 100.83.0.1.
  CHECK(hex(*out) ==
        "123485800001000100000000"
        "0653657276657204486f6d65034f564c0000010001"
        "c00c000100010000003c000464530001");
}

TEST_CASE("dns: names match case-insensitively, short names too") {
  const Responder r = make_responder();
  for (const char* name : {"server.home.ovl", "SERVER.HOME.OVL", "sErVeR.hOmE.oVl.", "server", "SERVER"}) {
    CAPTURE(name);
    const Response resp = respond(r, query(name, kTypeA));
    CHECK(resp.id == 0xBEEF);
    CHECK(resp.rcode == Rcode::noerror);
    CHECK(resp.aa());
    CHECK(resp.ra());
    CHECK(resp.rd());
    CHECK_FALSE(resp.tc());
    REQUIRE(resp.question);
    CHECK(resp.question->name.str() == std::string(name).substr(0, std::string(name).find_last_not_of('.') + 1));
    REQUIRE(resp.answers.size() == 1);
    CHECK(resp.answers[0].name.equals_ci(resp.question->name));
    CHECK(resp.answers[0].type == kTypeA);
    CHECK(resp.answers[0].ttl == kTtlSeconds);
    CHECK(resp.answers[0].rdata == std::vector<uint8_t>{100, 83, 0, 1});
  }
  // A record name given in mixed case matches too.
  const Response laptop = respond(r, query("laptop.home.ovl", kTypeA));
  REQUIRE(laptop.answers.size() == 1);
  CHECK(laptop.answers[0].rdata == std::vector<uint8_t>{100, 83, 0, 2});
}

TEST_CASE("dns: AAAA, ANY and NODATA") {
  const Responder r = make_responder();
  const Response aaaa = respond(r, query("server.home.ovl", kTypeAAAA));
  CHECK(aaaa.rcode == Rcode::noerror);
  REQUIRE(aaaa.answers.size() == 1);
  CHECK(aaaa.answers[0].type == kTypeAAAA);
  CHECK(hex(aaaa.answers[0].rdata) == "fd7a115ca1e000000000000000000001");

  const Response any = respond(r, query("server", kTypeANY));
  REQUIRE(any.answers.size() == 2);
  CHECK(any.answers[0].type == kTypeA);
  CHECK(any.answers[1].type == kTypeAAAA);

  // Known name, no address of that family / another type: NOERROR, no answer.
  for (auto [name, type] : {std::pair{"v6only.home.ovl", kTypeA}, {"laptop.home.ovl", kTypeAAAA},
                            {"server.home.ovl", uint16_t(16)} /* TXT */, {"server", uint16_t(15)} /* MX */}) {
    CAPTURE(name);
    const Response resp = respond(r, query(name, type));
    CHECK(resp.rcode == Rcode::noerror);
    CHECK(resp.aa());
    CHECK(resp.answers.empty());
  }
  // The zone apex exists: NODATA, never NXDOMAIN.
  const Response apex = respond(r, query("home.ovl", kTypeA));
  CHECK(apex.rcode == Rcode::noerror);
  CHECK(apex.answers.empty());
}

TEST_CASE("dns: NXDOMAIN inside the zone, REFUSED outside it") {
  const Responder r = make_responder();
  for (const char* name : {"nobody.home.ovl", "a.server.home.ovl", "x.y.z.HOME.ovl"}) {
    CAPTURE(name);
    const Response resp = respond(r, query(name, kTypeA));
    CHECK(resp.rcode == Rcode::nxdomain);
    CHECK(resp.aa());
    CHECK(resp.answers.empty());
  }
  for (const char* name : {"example.com", "ovl", "other.ovl", "server.home.ovl.evil", "nobody", "", "homeovl"}) {
    CAPTURE(name);
    const Response resp = respond(r, query(name, kTypeA));
    CHECK(resp.rcode == Rcode::refused);
    CHECK_FALSE(resp.aa());
    CHECK(resp.answers.empty());
  }
  // Class CHAOS (version.bind and friends) is not ours either.
  CHECK(respond(r, query("server.home.ovl", kTypeA, 0, 3)).rcode == Rcode::refused);
  // No zone at all: everything is refused.
  Responder empty;
  CHECK(respond(empty, query("server.home.ovl", kTypeA)).rcode == Rcode::refused);
}

TEST_CASE("dns: EDNS0 is tolerated, echoed, and version-checked") {
  const Responder r = make_responder();
  const Response resp = respond(r, query("server.home.ovl", kTypeA, 4096));
  CHECK(resp.rcode == Rcode::noerror);
  CHECK(resp.answers.size() == 1);
  CHECK(resp.edns);
  CHECK(resp.udp_size == kMaxUdpSize);
  REQUIRE(resp.additional.size() == 1);
  CHECK(resp.additional[0].type == kTypeOPT);

  // OPT with a DNS COOKIE option (code 10, 8 bytes) and DO set, as dig sends.
  auto q = unhex(std::string(kQueryServerA));
  q[11] = 1;  // ARCOUNT
  const auto opt = unhex("00 0029 1000 00 00 8000 000c 000a 0008 0102030405060708");
  q.insert(q.end(), opt.begin(), opt.end());
  const auto out = r.answer(q);
  REQUIRE(out);
  const auto withcookie = parse_response(*out);
  REQUIRE(withcookie);
  CHECK(withcookie->rcode == Rcode::noerror);
  CHECK(withcookie->answers.size() == 1);
  REQUIRE(withcookie->additional.size() == 1);
  CHECK(withcookie->additional[0].ttl == 0x00008000);  // DO copied, version 0
  CHECK(hex(std::span(*out).last(kOptRrSize)) == "00" "0029" "04d0" "00008000" "0000");

  // EDNS version 1: BADVERS (16) split over header and OPT.
  auto v1 = q;
  v1[q.size() - opt.size() + 6] = 1;
  const auto bad = respond(r, v1);
  CHECK(bad.rcode == Rcode::badvers);
  CHECK(bad.answers.empty());
  CHECK(bad.edns);

  // Malformed OPTs: option overrunning RDATA, RDATA overrunning the message,
  // non-root owner name, a second additional record, bytes after the OPT.
  auto overrun = q;
  overrun[overrun.size() - 9] = 9;  // option length 9 > 8
  CHECK(respond(r, overrun).rcode == Rcode::formerr);
  auto rdlong = q;
  rdlong[q.size() - opt.size() + 10] = 0x0d;
  CHECK(respond(r, rdlong).rcode == Rcode::formerr);
  auto trailing = q;
  trailing.push_back(0);
  CHECK(respond(r, trailing).rcode == Rcode::formerr);
  auto two = q;
  two[11] = 2;
  CHECK(respond(r, two).rcode == Rcode::formerr);
  auto notopt = q;
  notopt[q.size() - opt.size() + 2] = 1;  // type A in the additional section
  CHECK(respond(r, notopt).rcode == Rcode::formerr);
}

TEST_CASE("dns: responses are truncated to 512 bytes, or the EDNS0 size") {
  std::vector<net::IpAddr> many4, many6;
  for (int i = 0; i < 40; ++i) many4.push_back(net::IpAddr::v4(100, 83, 1, uint8_t(i)));
  for (int i = 0; i < 50; ++i) {
    net::IpAddr a = kServer6;
    a.b[15] = uint8_t(i);
    many6.push_back(a);
  }
  Responder r;
  std::vector<net::IpAddr> all = many4;
  all.insert(all.end(), many6.begin(), many6.end());
  r.set_zone("home.ovl", {{"big", all}});

  const auto plain = r.answer(query("big.home.ovl", kTypeA));
  REQUIRE(plain);
  CHECK(plain->size() <= kClassicUdpSize);
  const auto p = parse_response(*plain);
  REQUIRE(p);
  CHECK(p->tc());
  CHECK(p->answers.size() > 20);
  CHECK(p->answers.size() < 40);
  CHECK(plain->size() + 16 > kClassicUdpSize);  // filled as far as it goes

  // A small advertised size still allows 512; 4096 allows all 40 A records.
  const Response small = respond(r, query("big.home.ovl", kTypeA, 256));
  CHECK(small.tc());
  CHECK(small.answers.size() == p->answers.size() - 1);  // the OPT takes room
  const auto roomy = r.answer(query("big.home.ovl", kTypeA, 4096));
  REQUIRE(roomy);
  const auto ro = parse_response(*roomy);
  REQUIRE(ro);
  CHECK_FALSE(ro->tc());
  CHECK(ro->answers.size() == 40);

  // 50 AAAA records need more than our own 1232-byte ceiling.
  const auto v6 = r.answer(query("big.home.ovl", kTypeAAAA, 4096));
  REQUIRE(v6);
  CHECK(v6->size() <= kMaxUdpSize);
  const auto r6 = parse_response(*v6);
  REQUIRE(r6);
  CHECK(r6->tc());
  CHECK(r6->edns);
  CHECK(r6->answers.size() < 50);
  CHECK(r6->answers.size() > 40);
}

TEST_CASE("dns: compression pointers and reserved label types in a query are rejected") {
  const Responder r = make_responder();
  // "server" then a pointer back to... anything: FORMERR, no question echoed.
  const auto ptr = unhex("abcd 0100 0001 0000 0000 0000  06 736572766572 c00c  0001 0001");
  const Response resp = respond(r, ptr);
  CHECK(resp.id == 0xabcd);
  CHECK(resp.rcode == Rcode::formerr);
  CHECK_FALSE(resp.question);
  CHECK(resp.answers.empty());
  // A pointer as the whole name, and the reserved 0x40 / 0x80 types.
  for (const char* q : {"abcd 0100 0001 0000 0000 0000 c000 0001 0001",
                        "abcd 0100 0001 0000 0000 0000 41 00 0001 0001",
                        "abcd 0100 0001 0000 0000 0000 80 00 0001 0001"}) {
    CAPTURE(q);
    CHECK(respond(r, unhex(q)).rcode == Rcode::formerr);
  }
}

TEST_CASE("dns: label and name limits") {
  const Responder r = make_responder();
  auto build = [](std::vector<size_t> labels) {
    std::vector<uint8_t> q = unhex("0001 0000 0001 0000 0000 0000");
    for (size_t n : labels) {
      q.push_back(uint8_t(n));
      q.insert(q.end(), n, 'a');
    }
    q.push_back(0);
    const auto tail = unhex("0001 0001");
    q.insert(q.end(), tail.begin(), tail.end());
    return q;
  };
  CHECK(respond(r, build({63})).rcode == Rcode::refused);                      // fine, not ours
  CHECK(respond(r, build({63, 63, 63, 61})).rcode == Rcode::refused);          // exactly 255 bytes
  CHECK(respond(r, build({63, 63, 63, 62})).rcode == Rcode::formerr);          // 256
  CHECK(respond(r, build({64 - 1, 1, 1})).question);
  CHECK_FALSE(Name::from_text(std::string(64, 'a')));
  CHECK(Name::from_text(std::string(63, 'a')));
  CHECK_FALSE(Name::from_text("a..b"));
  CHECK_FALSE(Name::from_text(".a"));
  CHECK(Name::from_text("")->size == 1);
  CHECK(Name::from_text(".")->size == 1);
  CHECK(Name::from_text("a.B.c.")->str() == "a.B.c");
  CHECK(Name::from_text("x.Home.OVL")->in_zone(*Name::from_text("home.ovl")));
  CHECK_FALSE(Name::from_text("xhome.ovl")->in_zone(*Name::from_text("home.ovl")));
  CHECK(Name::from_text("anything")->in_zone(*Name::from_text(".")));
  // A 64-byte "label" (length byte 0x40) is the reserved type, not a long label.
  auto l64 = build({63});
  l64[12] = 64;
  l64.insert(l64.begin() + 13, 'a');
  CHECK(respond(r, l64).rcode == Rcode::formerr);
}

TEST_CASE("dns: header-level errors and garbage") {
  const Responder r = make_responder();
  // Too short for a header, or a response: no reply at all.
  for (size_t n = 0; n < kHeaderSize; ++n) CHECK_FALSE(r.answer(std::vector<uint8_t>(n, 0)));
  auto resp = unhex(kQueryServerA);
  resp[2] |= 0x80;
  CHECK_FALSE(r.answer(resp));
  // Opcode STATUS (2): NOTIMP, opcode echoed.
  auto status = unhex(kQueryServerA);
  status[2] = 0x10;
  const auto st = r.answer(status);
  REQUIRE(st);
  CHECK(respond(r, status).rcode == Rcode::notimp);
  CHECK(((*st)[2] >> 3 & 0xF) == 2);
  // QDCOUNT 0 or 2, an answer or authority record in a query: FORMERR.
  for (int idx : {5, 7, 9}) {
    auto q = unhex(kQueryServerA);
    q[idx] = idx == 5 ? 2 : 1;
    CAPTURE(idx);
    CHECK(respond(r, q).rcode == Rcode::formerr);
  }
  auto none = unhex("1234 0100 0000 0000 0000 0000");
  const Response n = respond(r, none);
  CHECK(n.rcode == Rcode::formerr);
  CHECK(n.id == 0x1234);
  CHECK_FALSE(n.question);
  // Question parsed but junk after it: FORMERR with the question echoed.
  auto junk = unhex(kQueryServerA);
  junk.push_back(0x99);
  const Response j = respond(r, junk);
  CHECK(j.rcode == Rcode::formerr);
  REQUIRE(j.question);
  CHECK(j.question->name.str() == "Server.Home.OVL");
}

TEST_CASE("dns: every truncation of a valid query is rejected without a crash") {
  const Responder r = make_responder();
  for (uint16_t udp : {uint16_t(0), uint16_t(1232)}) {
    auto q = query("server.home.ovl", kTypeAAAA, udp);
    q[11] = udp ? 1 : 0;
    for (size_t n = 0; n < q.size(); ++n) {
      CAPTURE(n);
      const std::vector<uint8_t> cut(q.begin(), q.begin() + long(n));
      const auto out = r.answer(cut);
      if (n < kHeaderSize) {
        CHECK_FALSE(out);
        continue;
      }
      REQUIRE(out);
      const auto p = parse_response(*out);
      REQUIRE(p);
      CHECK(p->id == 0xBEEF);
      CHECK(p->rcode == Rcode::formerr);
      CHECK(p->answers.empty());
      CHECK_FALSE(parse_query(cut)->error == Rcode::noerror);
    }
    CHECK(respond(r, q).answers.size() == 1);
  }
}

TEST_CASE("dns: set_zone skips bad names, merges duplicates, replaces the zone") {
  Responder r;
  r.set_zone("Home.OVL.", {{"a.b", {kServer4}},
                           {"", {kServer4}},
                           {std::string(64, 'x'), {kServer4}},
                           {"dup", {kServer4}},
                           {"DUP", {kServer6}}});
  CHECK(respond(r, query("a.b.home.ovl", kTypeA)).rcode == Rcode::nxdomain);
  CHECK(respond(r, query("dup.home.ovl", kTypeANY)).answers.size() == 2);
  r.set_zone("work.ovl", {{"dup", {kLaptop4}}});
  CHECK(respond(r, query("dup.home.ovl", kTypeA)).rcode == Rcode::refused);
  const Response w = respond(r, query("dup.work.ovl", kTypeA));
  REQUIRE(w.answers.size() == 1);
  CHECK(w.answers[0].rdata == std::vector<uint8_t>{100, 83, 0, 2});
  r.set_zone("bad..domain", {{"dup", {kLaptop4}}});
  CHECK(respond(r, query("dup", kTypeA)).rcode == Rcode::refused);
}

TEST_CASE("dns: IPv4/UDP wrapper answers with correct checksums") {
  const Responder r = make_responder();
  const net::IpAddr client = net::IpAddr::v4(100, 83, 0, 2);
  const auto dnsq = query("server.home.ovl", kTypeA);
  for (size_t options : {size_t(0), size_t(8)}) {
    CAPTURE(options);
    auto pkt = ip_udp_packet(dnsq, client, 40000, kResolver, 53, options);
    pkt.push_back(0xEE);  // bytes past the IPv4 total length are ignored
    const auto out = r.answer_ip_packet(pkt, kResolver);
    REQUIRE(out);
    const auto& o = *out;
    REQUIRE(o.size() >= 28);
    CHECK(o[0] == 0x45);
    CHECK(size_t(o[2] << 8 | o[3]) == o.size());
    CHECK((o[6] << 8 | o[7]) == 0);  // no fragmenting flags or offset
    CHECK(o[8] == 64);
    CHECK(o[9] == 17);
    CHECK(std::equal(o.begin() + 12, o.begin() + 16, kResolver.b.begin()));
    CHECK(std::equal(o.begin() + 16, o.begin() + 20, client.b.begin()));
    CHECK(ones_sum(o, 0, 20) == 0xFFFF);  // header checksum verifies
    CHECK((o[20] << 8 | o[21]) == 53);
    CHECK((o[22] << 8 | o[23]) == 40000);
    const size_t ulen = size_t(o[24] << 8 | o[25]);
    CHECK(ulen == o.size() - 20);
    CHECK((o[26] | o[27]) != 0);  // a checksum is present
    // Pseudo-header: src, dst, zero, protocol, UDP length; then the datagram.
    std::vector<uint8_t> pseudo(o.begin() + 12, o.begin() + 20);
    pseudo.insert(pseudo.end(), {0, 17, uint8_t(ulen >> 8), uint8_t(ulen)});
    CHECK(ones_sum(o, 20, ulen, ones_sum(pseudo, 0, pseudo.size())) == 0xFFFF);
    const std::vector<uint8_t> payload(o.begin() + 28, o.end());
    CHECK(payload == *r.answer(dnsq));
  }
}

TEST_CASE("dns: IPv4/UDP wrapper drops what is not a query to the resolver") {
  const Responder r = make_responder();
  const net::IpAddr client = net::IpAddr::v4(100, 83, 0, 2);
  const auto dnsq = query("server.home.ovl", kTypeA);
  const auto good = ip_udp_packet(dnsq, client, 40000, kResolver, 53);
  REQUIRE(r.answer_ip_packet(good, kResolver));
  auto refix = [](std::vector<uint8_t> p) {  // recompute the header checksum after an edit
    const size_t ihl = size_t(p[0] & 15) * 4;
    p[10] = p[11] = 0;
    if (ihl < 20 || ihl > p.size()) return p;
    const uint16_t c = static_cast<uint16_t>(~ones_sum(p, 0, ihl));
    p[10] = uint8_t(c >> 8);
    p[11] = uint8_t(c);
    return p;
  };
  CHECK_FALSE(r.answer_ip_packet(ip_udp_packet(dnsq, client, 40000, net::IpAddr::v4(1, 1, 1, 1), 53), kResolver));
  CHECK_FALSE(r.answer_ip_packet(ip_udp_packet(dnsq, client, 40000, kResolver, 5353), kResolver));
  CHECK_FALSE(r.answer_ip_packet(ip_udp_packet(dnsq, client, 0, kResolver, 53), kResolver));
  CHECK_FALSE(r.answer_ip_packet(ip_udp_packet(dnsq, kResolver, 40000, kResolver, 53), kResolver));
  CHECK_FALSE(r.answer_ip_packet(ip_udp_packet(dnsq, net::IpAddr::v4(224, 0, 0, 251), 5353, kResolver, 53), kResolver));
  CHECK_FALSE(r.answer_ip_packet(good, *net::IpAddr::parse("fd00::53")));
  auto p = good;
  p[11] ^= 1;  // bad header checksum
  CHECK_FALSE(r.answer_ip_packet(p, kResolver));
  p = good;
  p[9] = 6;  // TCP
  CHECK_FALSE(r.answer_ip_packet(refix(p), kResolver));
  p = good;
  p[0] = 0x65;  // version 6
  CHECK_FALSE(r.answer_ip_packet(refix(p), kResolver));
  p = good;
  p[0] = 0x44;  // IHL 4
  CHECK_FALSE(r.answer_ip_packet(refix(p), kResolver));
  p = good;
  p[6] = 0x20;  // more fragments
  CHECK_FALSE(r.answer_ip_packet(refix(p), kResolver));
  p = good;
  p[7] = 0x01;  // fragment offset
  CHECK_FALSE(r.answer_ip_packet(refix(p), kResolver));
  p = good;
  p[25] += 1;  // UDP length disagrees with the IP payload
  CHECK_FALSE(r.answer_ip_packet(p, kResolver));
  p = good;
  p[3] += 1;  // total length beyond the buffer
  CHECK_FALSE(r.answer_ip_packet(refix(p), kResolver));
  // Every truncation of the buffer: nothing, and no crash.
  for (size_t n = 0; n < good.size(); ++n)
    CHECK_FALSE(r.answer_ip_packet(std::span(good).first(n), kResolver));
  // A DNS response sent to the resolver gets no answer either.
  auto respq = dnsq;
  respq[2] |= 0x80;
  CHECK_FALSE(r.answer_ip_packet(ip_udp_packet(respq, client, 40000, kResolver, 53), kResolver));
}
