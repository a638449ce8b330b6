// Fuzz target for the policy packet classifier and filter
// (engine/policy/packet.hpp, filter.hpp).
//
// Arbitrary bytes go in as a received packet, and wrapped as the quote of an
// ICMP error. Nothing crashes, and:
//  * bytes past the packet's own length never change what it classifies as,
//    and cutting into the declared length makes it malformed;
//  * the fields agree with each other (ports only for TCP/UDP first
//    fragments, ICMP kinds only for ICMP, a cause only for ICMP errors);
//  * a reply's flow is the flow its mirror image would open;
//  * the filter: with no rules nothing passes except later fragments and
//    replies to flows it saw sent; "everything from the network" passes
//    every well-formed packet from it; malformed means unclassifiable.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "engine/policy/filter.hpp"
#include "engine/policy/packet.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using namespace ovl::policy;
using ovl::fuzz::check;

bool same_info(const PacketInfo& a, const PacketInfo& b) {
  return a.src == b.src && a.dst == b.dst && a.proto == b.proto && a.later_fragment == b.later_fragment &&
         a.has_ports == b.has_ports && a.src_port == b.src_port && a.dst_port == b.dst_port && a.icmp == b.icmp &&
         a.icmp_id == b.icmp_id && a.has_cause == b.has_cause && (!a.has_cause || a.cause == b.cause);
}

size_t declared_length(std::span<const uint8_t> in) {
  if ((in[0] >> 4) == 4) return size_t(in[2]) << 8 | in[3];
  return 40 + (size_t(in[4]) << 8 | in[5]);
}

void check_fields(const PacketInfo& p, std::span<const uint8_t> in) {
  check(p.src.v6 == ((in[0] >> 4) == 6) && p.dst.v6 == p.src.v6, "address family follows the version");
  if (p.has_ports) check((p.proto == kProtoTcp || p.proto == kProtoUdp) && !p.later_fragment, "ports: TCP/UDP, first fragment");
  if (p.later_fragment) check(!p.has_ports && p.icmp == IcmpKind::none, "later fragments carry no transport fields");
  if (p.icmp != IcmpKind::none) check(p.proto == (p.src.v6 ? kProtoIcmp6 : kProtoIcmp), "ICMP kinds only for ICMP");
  if (p.has_cause) check(p.icmp == IcmpKind::error && p.cause.v6 == p.src.v6, "a cause only for ICMP errors");
}

// The packet a peer would send back: addresses and ports swapped, an echo
// request turned into its reply.
void check_mirror(const PacketInfo& p) {
  auto answered = answered_flow(p);
  if (!answered || p.icmp == IcmpKind::error) return;
  PacketInfo m = p;
  std::swap(m.src, m.dst);
  std::swap(m.src_port, m.dst_port);
  if (m.icmp == IcmpKind::echo_reply) m.icmp = IcmpKind::echo_request;
  auto sent = sent_flow(m);
  check(sent && *sent == *answered, "a reply's flow is the one its mirror opens");
}

void check_filter(std::span<const uint8_t> in, const std::optional<PacketInfo>& info) {
  const Time now = std::chrono::seconds(100);
  Filter deny(64, 1);
  deny.set_rules(RuleSet{});
  Verdict v = deny.inbound(in, now);
  check(v == Verdict::malformed ? !info : info.has_value(), "malformed iff unclassifiable");
  if (info) check(v == (info->later_fragment ? Verdict::fragment : Verdict::denied), "no rules: denied");
  deny.outbound(in, now);
  if (info && !info->later_fragment) {
    auto a = answered_flow(*info);
    auto s = sent_flow(*info);
    bool self_reply = a && s && *a == *s;  // a packet that answers itself (a to a, same ports)
    Verdict again = deny.inbound(in, now + std::chrono::seconds(1));
    check(again == (self_reply ? Verdict::reply : Verdict::denied), "only a sent flow's replies pass");
  }

  Filter all(64, 2);
  RuleSet rs;
  rs.rules.push_back({{*net::Prefix::parse("0.0.0.0/0"), *net::Prefix::parse("::/0")},
                      {*net::Prefix::parse("0.0.0.0/0"), *net::Prefix::parse("::/0")},
                      Proto::any,
                      {}});
  all.set_rules(rs);
  Verdict w = all.inbound(in, now);
  if (info) check(w == Verdict::pass || w == Verdict::fragment, "allow-all passes everything well-formed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  const auto info = classify(in);
  if (info) {
    check_fields(*info, in);
    check_mirror(*info);
    const size_t len = declared_length(in);
    check(len <= size, "declared length fits");
    // Trailing bytes (padding) are not part of the packet.
    std::vector<uint8_t> padded(in.begin(), in.end());
    padded.insert(padded.end(), {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04});
    auto again = classify(padded);
    check(again && same_info(*again, *info), "padding changes nothing");
    if (len > 0) check(!classify(in.first(len - 1)), "a cut packet is malformed");
  }
  check_filter(in, info);

  // The bytes as the quote of an ICMP "destination unreachable" to 100.64.0.1.
  if (size <= 1400) {
    std::vector<uint8_t> pkt(28 + size, 0);
    pkt[0] = 0x45;
    pkt[2] = uint8_t(pkt.size() >> 8);
    pkt[3] = uint8_t(pkt.size());
    pkt[9] = kProtoIcmp;
    const uint8_t src[4] = {100, 64, 0, 2}, dst[4] = {100, 64, 0, 1};
    std::memcpy(&pkt[12], src, 4);
    std::memcpy(&pkt[16], dst, 4);
    pkt[20] = 3;
    pkt[21] = 3;
    if (size) std::memcpy(&pkt[28], data, size);
    auto e = classify(pkt);
    check(e && e->icmp == IcmpKind::error, "an ICMP error with any quote is well-formed");
    check_fields(*e, pkt);
    if (e->has_cause) {
      check(!e->cause.v6 && size >= 28, "an IPv4 error quotes IPv4, with 8 transport bytes");
      auto a = answered_flow(*e);
      check(a.has_value() == (std::memcmp(e->cause.local.data(), dst, 4) == 0), "answers only the quote's sender");
    }
  }
  return 0;
}
