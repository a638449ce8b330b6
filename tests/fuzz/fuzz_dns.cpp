// Fuzz target for the DNS responder (engine/dns/message.hpp, responder.hpp).
//
// Arbitrary bytes go in as a DNS datagram, as a raw IPv4 packet, and wrapped
// in a valid IPv4/UDP packet to the resolver. Nothing crashes; any response
// parses back as a response with the query's id and question (byte for
// byte), fits the size the query allowed, answers only when the query was
// well formed, and the IPv4 wrapper carries exactly answer()'s bytes with
// valid header and UDP checksums.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "engine/dns/message.hpp"
#include "engine/dns/responder.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using namespace ovl::dns;
using ovl::fuzz::check;
using ovl::fuzz::same;

const net::IpAddr kResolver = net::IpAddr::v4(100, 100, 100, 100);
const net::IpAddr kClient = net::IpAddr::v4(100, 83, 0, 2);

const Responder& responder() {
  static const Responder r = [] {
    Responder x;
    std::vector<net::IpAddr> many;
    for (int i = 0; i < 60; ++i) many.push_back(net::IpAddr::v4(100, 83, 2, uint8_t(i)));
    for (int i = 0; i < 60; ++i) {
      net::IpAddr a = *net::IpAddr::parse("fd7a:115c:a1e0::");
      a.b[15] = uint8_t(i);
      many.push_back(a);
    }
    x.set_zone("home.ovl", {{"server", {net::IpAddr::v4(100, 83, 0, 1), *net::IpAddr::parse("fd7a:115c:a1e0::1")}},
                            {"a", {net::IpAddr::v4(100, 83, 0, 3)}},
                            {"big", many}});
    return x;
  }();
  return r;
}

uint16_t sum16(std::span<const uint8_t> d, uint32_t s = 0) {
  for (size_t i = 0; i < d.size(); i += 2) s += uint32_t(d[i]) << 8 | (i + 1 < d.size() ? d[i + 1] : 0);
  while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
  return static_cast<uint16_t>(s);
}

void check_dns(std::span<const uint8_t> in, const std::optional<std::vector<uint8_t>>& out) {
  const auto q = parse_query(in);
  if (!out) {
    check(!q, "no reply only for non-queries");
    check(in.size() < kHeaderSize || (in[2] & 0x80), "non-query means short or QR set");
    return;
  }
  check(q.has_value(), "a reply means the input was a query");
  const auto r = parse_response(*out);
  check(r.has_value(), "every reply parses as a response");
  check(r->id == uint16_t(in[0] << 8 | in[1]), "same id");
  check(out->size() <= q->max_response_size(), "size limit");
  check(r->edns == q->edns, "OPT echoed iff the query had one");
  check(r->question.has_value() == q->question.has_value(), "question echoed iff parsed");
  if (q->question) {
    const auto qn = q->question->name.bytes();
    check(same(qn, in.subspan(kHeaderSize, qn.size())), "parsed question is the input's bytes");
    check(same(r->question->name.bytes(), qn), "question name echoed byte for byte");
    check(r->question->qtype == q->question->qtype && r->question->qclass == q->question->qclass, "qtype/qclass");
    // A parsed question survives build_query -> parse_query.
    const auto again = parse_query(build_query(q->id, q->question->name, q->question->qtype, q->question->qclass));
    check(again && again->error == Rcode::noerror && same(again->question->name.bytes(), qn), "query round trip");
  }
  if (q->error != Rcode::noerror) check(r->rcode == q->error, "errors answered with their code");
  if (!r->answers.empty()) {
    check(q->error == Rcode::noerror && r->rcode == Rcode::noerror && r->aa(), "answers only to good queries");
    for (const auto& rr : r->answers) {
      check(rr.name.equals_ci(r->question->name), "answer named like the question");
      check(rr.type == kTypeA || rr.type == kTypeAAAA, "A or AAAA");
      check(rr.ttl == kTtlSeconds, "ttl");
    }
  }
}

void check_ip(std::span<const uint8_t> pkt, const std::optional<std::vector<uint8_t>>& out) {
  if (!out) return;
  const auto& o = *out;
  check(o.size() >= 28 && o[0] == 0x45 && size_t(o[2] << 8 | o[3]) == o.size() && o[9] == 17, "IPv4/UDP reply");
  check(sum16(std::span(o).first(20)) == 0xFFFF, "IPv4 header checksum");
  const size_t ulen = size_t(o[24] << 8 | o[25]);
  check(ulen == o.size() - 20, "UDP length");
  const uint8_t pseudo[12] = {o[12], o[13], o[14], o[15], o[16], o[17], o[18], o[19],
                              0, 17, uint8_t(ulen >> 8), uint8_t(ulen)};
  check(sum16(std::span(o).subspan(20), sum16(pseudo)) == 0xFFFF, "UDP checksum");
  check(same(std::span(o).subspan(12, 4), kResolver.bytes()) && same(std::span(o).subspan(16, 4), pkt.subspan(12, 4)),
        "addresses swapped");
  const size_t ihl = size_t(pkt[0] & 15) * 4;
  const auto dns_in = pkt.subspan(ihl + 8, size_t(pkt[ihl + 4] << 8 | pkt[ihl + 5]) - 8);
  const auto direct = responder().answer(dns_in);
  check(direct && same(*direct, std::span(o).subspan(28)), "the wrapper carries answer()'s bytes");
  check_dns(dns_in, direct);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  const Responder& r = responder();

  check_dns(in, r.answer(in));

  check_ip(in, r.answer_ip_packet(in, kResolver));

  // The same bytes as the payload of a valid packet to the resolver.
  if (size <= 1400) {
    std::vector<uint8_t> pkt(28 + size, 0);
    pkt[0] = 0x45;
    pkt[2] = uint8_t(pkt.size() >> 8);
    pkt[3] = uint8_t(pkt.size());
    pkt[8] = 64;
    pkt[9] = 17;
    std::memcpy(&pkt[12], kClient.b.data(), 4);
    std::memcpy(&pkt[16], kResolver.b.data(), 4);
    const uint16_t c = static_cast<uint16_t>(~sum16(std::span(pkt).first(20)));
    pkt[10] = uint8_t(c >> 8);
    pkt[11] = uint8_t(c);
    pkt[20] = 0x9c;
    pkt[21] = 0x40;  // port 40000
    pkt[23] = 53;
    pkt[24] = uint8_t((8 + size) >> 8);
    pkt[25] = uint8_t(8 + size);
    if (size) std::memcpy(&pkt[28], data, size);
    const auto out = r.answer_ip_packet(pkt, kResolver);
    check(out.has_value() == r.answer(in).has_value(), "wrapped query answered iff the bare one is");
    check_ip(pkt, out);
  }
  return 0;
}
