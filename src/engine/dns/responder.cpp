#include "engine/dns/responder.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace ovl::dns {
namespace {

uint16_t get16(std::span<const uint8_t> b, size_t off) { return static_cast<uint16_t>(b[off] << 8 | b[off + 1]); }
void set16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return out;
}

// A source we must never answer: ourselves (a loop), "this host", limited
// broadcast and multicast (RFC 1122 §3.2.2: no replies to those).
bool bad_source(std::span<const uint8_t> src, const net::IpAddr& resolver) {
  if (std::equal(src.begin(), src.end(), resolver.b.begin())) return true;
  if (src[0] == 0 || (src[0] & 0xF0) == 0xE0) return true;
  return src[0] == 255 && src[1] == 255 && src[2] == 255 && src[3] == 255;
}

}  // namespace

uint32_t checksum_add(uint32_t sum, std::span<const uint8_t> data) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += uint32_t(data[i]) << 8 | data[i + 1];
  if (i < data.size()) sum += uint32_t(data[i]) << 8;  // odd length: pad with a zero byte
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return sum;
}

uint16_t checksum_finish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void Responder::set_zone(std::string domain, std::vector<Record> records) {
  has_zone_ = false;
  by_label_.clear();
  const auto d = Name::from_text(domain);
  if (!d) return;
  domain_ = d->lowered();
  has_zone_ = true;
  for (Record& r : records) {
    if (r.name.empty() || r.name.size() > kMaxLabelSize || r.name.find('.') != std::string::npos) continue;
    // NAME.DOMAIN must fit in 255 bytes: one length byte plus the label in front of the domain.
    if (1 + r.name.size() + domain_.size > kMaxNameSize) continue;
    Entry& e = by_label_[lower_ascii(r.name)];
    e.addrs.insert(e.addrs.end(), r.addrs.begin(), r.addrs.end());
  }
}

std::optional<std::vector<uint8_t>> Responder::answer(std::span<const uint8_t> query) const {
  const auto q = parse_query(query);
  if (!q) return std::nullopt;
  if (q->error != Rcode::noerror) return build_response(*q, q->error, false, {}, 0);
  const Question& question = *q->question;
  if (!has_zone_ || (question.qclass != kClassIN && question.qclass != kClassANY))
    return build_response(*q, Rcode::refused, false, {}, 0);

  const Name& name = question.name;
  const size_t labels = name.label_count();
  const size_t zone_labels = domain_.label_count();
  const Entry* entry = nullptr;
  auto lookup = [&]() -> const Entry* {
    const std::string key = lower_ascii({reinterpret_cast<const char*>(name.wire.data() + 1), name.wire[0]});
    const auto it = by_label_.find(key);
    return it == by_label_.end() ? nullptr : &it->second;
  };
  if (name.in_zone(domain_)) {
    if (labels == zone_labels) return build_response(*q, Rcode::noerror, true, {}, 0);  // the apex: NODATA
    if (labels == zone_labels + 1) entry = lookup();
    if (!entry) return build_response(*q, Rcode::nxdomain, true, {}, 0);
  } else if (labels == 1) {
    entry = lookup();
    if (!entry) return build_response(*q, Rcode::refused, false, {}, 0);
  } else {
    return build_response(*q, Rcode::refused, false, {}, 0);
  }

  std::vector<net::IpAddr> addrs;
  for (const net::IpAddr& a : entry->addrs) {
    if ((question.qtype == kTypeA && !a.v6) || (question.qtype == kTypeAAAA && a.v6) || question.qtype == kTypeANY)
      addrs.push_back(a);
  }
  return build_response(*q, Rcode::noerror, true, addrs, kTtlSeconds);
}

std::optional<std::vector<uint8_t>> Responder::answer_ip_packet(std::span<const uint8_t> ip_packet,
                                                                const net::IpAddr& resolver_ip) const {
  if (resolver_ip.v6 || ip_packet.size() < net::kIpv4HeaderMinSize) return std::nullopt;
  const auto& b = ip_packet;
  if ((b[0] >> 4) != 4) return std::nullopt;
  const size_t ihl = size_t(b[0] & 0x0F) * 4;
  const size_t total = get16(b, 2);
  if (ihl < net::kIpv4HeaderMinSize || total > b.size() || total < ihl + net::kUdpHeaderSize) return std::nullopt;
  if (checksum_finish(checksum_add(0, b.first(ihl))) != 0) return std::nullopt;
  if (get16(b, 6) & 0x3FFF) return std::nullopt;  // MF set or a non-zero offset: a fragment
  if (b[9] != net::kProtoUdp) return std::nullopt;
  const auto src = b.subspan(12, 4);
  const auto dst = b.subspan(16, 4);
  if (!std::equal(dst.begin(), dst.end(), resolver_ip.b.begin())) return std::nullopt;
  if (bad_source(src, resolver_ip)) return std::nullopt;
  const auto udp = b.subspan(ihl, total - ihl);
  const uint16_t sport = get16(udp, 0);
  if (sport == 0 || get16(udp, 2) != kDnsPort || get16(udp, 4) != udp.size()) return std::nullopt;

  const auto dns = answer(udp.subspan(net::kUdpHeaderSize));
  if (!dns) return std::nullopt;

  const size_t udp_len = net::kUdpHeaderSize + dns->size();
  const size_t ip_len = net::kIpv4HeaderMinSize + udp_len;
  std::vector<uint8_t> out(ip_len, 0);
  uint8_t* ip = out.data();
  ip[0] = 0x45;
  set16(ip + 2, static_cast<uint16_t>(ip_len));
  ip[8] = kReplyIpTtl;
  ip[9] = net::kProtoUdp;
  std::memcpy(ip + 12, resolver_ip.b.data(), 4);
  std::memcpy(ip + 16, src.data(), 4);
  set16(ip + 10, checksum_finish(checksum_add(0, {ip, net::kIpv4HeaderMinSize})));

  uint8_t* u = ip + net::kIpv4HeaderMinSize;
  set16(u, kDnsPort);
  set16(u + 2, sport);
  set16(u + 4, static_cast<uint16_t>(udp_len));
  std::memcpy(u + net::kUdpHeaderSize, dns->data(), dns->size());
  const uint8_t pseudo[4] = {0, net::kProtoUdp, static_cast<uint8_t>(udp_len >> 8), static_cast<uint8_t>(udp_len)};
  uint32_t sum = checksum_add(0, {ip + 12, 8});  // source and destination
  sum = checksum_add(sum, pseudo);
  sum = checksum_add(sum, {u, udp_len});
  uint16_t c = checksum_finish(sum);
  if (c == 0) c = 0xFFFF;  // RFC 768: zero means "no checksum"
  set16(u + 6, c);
  return out;
}

}  // namespace ovl::dns
