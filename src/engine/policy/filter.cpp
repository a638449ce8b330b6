#include "engine/policy/filter.hpp"

#include <algorithm>

namespace ovl::policy {

Filter::Filter(size_t flow_capacity, uint64_t flow_seed, Timeouts t) : flows_(flow_capacity, flow_seed), timeouts_(t) {}

void Filter::set_rules(std::optional<RuleSet> rs) {
  rules_.clear();
  by_host_.clear();
  by_prefix_.clear();
  enforcing_ = rs.has_value();
  if (!rs) return;
  for (auto& r : rs->rules) {
    const auto idx = static_cast<uint32_t>(rules_.size());
    rules_.push_back({r.dst, r.proto, r.ports});
    for (auto& s : r.src) {
      if (s.len == (s.addr.v6 ? 128 : 32)) by_host_.emplace_back(s.addr, idx);
      else by_prefix_.emplace_back(s.masked(), idx);
    }
  }
  std::sort(by_host_.begin(), by_host_.end());
}

void Filter::set_sources(const std::vector<net::IpAddr>& sources) {
  std::vector<std::pair<net::IpAddr, uint64_t>> next;
  next.reserve(sources.size());
  for (auto& a : sources) next.emplace_back(a, 0);
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  for (auto& [a, n] : next) {
    auto it = std::lower_bound(denied_by_src_.begin(), denied_by_src_.end(), std::make_pair(a, uint64_t{0}));
    if (it != denied_by_src_.end() && it->first == a) n = it->second;
  }
  denied_by_src_ = std::move(next);
}

bool Filter::has_source(const net::IpAddr& a) const {
  return std::binary_search(denied_by_src_.begin(), denied_by_src_.end(), std::make_pair(a, uint64_t{0}),
                            [](auto& x, auto& y) { return x.first < y.first; });
}

uint64_t Filter::denied_from(const net::IpAddr& src) const {
  auto it = std::lower_bound(denied_by_src_.begin(), denied_by_src_.end(), std::make_pair(src, uint64_t{0}));
  return it != denied_by_src_.end() && it->first == src ? it->second : 0;
}

void Filter::count_denied(const net::IpAddr& src) {
  ++denied_;
  auto it = std::lower_bound(denied_by_src_.begin(), denied_by_src_.end(), std::make_pair(src, uint64_t{0}));
  if (it != denied_by_src_.end() && it->first == src) ++it->second;
}

Time Filter::timeout(uint8_t proto) const {
  if (proto == kProtoTcp) return timeouts_.tcp;
  if (proto == kProtoUdp) return timeouts_.udp;
  return timeouts_.icmp;
}

bool Filter::admits(const Compiled& r, const PacketInfo& p) const {
  if (!std::any_of(r.dst.begin(), r.dst.end(), [&](const net::Prefix& d) { return d.contains(p.dst); })) return false;
  switch (r.proto) {
    case Proto::any:
      if (r.ports.empty()) return true;
      break;  // ports given: TCP and UDP on those ports
    case Proto::tcp:
      if (p.proto != kProtoTcp) return false;
      break;
    case Proto::udp:
      if (p.proto != kProtoUdp) return false;
      break;
    case Proto::icmp:
      return is_icmp(p.proto);
  }
  if (r.ports.empty()) return true;
  if (!p.has_ports) return false;
  return std::any_of(r.ports.begin(), r.ports.end(),
                     [&](const PortRange& pr) { return p.dst_port >= pr.lo && p.dst_port <= pr.hi; });
}

bool Filter::rules_admit(const PacketInfo& p) const {
  auto it = std::lower_bound(by_host_.begin(), by_host_.end(), std::make_pair(p.src, uint32_t{0}));
  for (; it != by_host_.end() && it->first == p.src; ++it)
    if (admits(rules_[it->second], p)) return true;
  for (auto& [pfx, idx] : by_prefix_)
    if (pfx.contains(p.src) && admits(rules_[idx], p)) return true;
  return false;
}

void Filter::outbound(std::span<const uint8_t> pkt, Time now) {
  auto p = classify(pkt);
  if (!p) return;
  if (auto k = sent_flow(*p)) flows_.note(*k, now, now + timeout(k->proto));
}

Verdict Filter::inbound(std::span<const uint8_t> pkt, Time now) {
  if (!enforcing_) return Verdict::unfiltered;
  auto p = classify(pkt);
  if (!p) {
    ++denied_;
    return Verdict::malformed;
  }
  if (p->later_fragment) return Verdict::fragment;
  if (rules_admit(*p)) return Verdict::pass;
  if (auto k = answered_flow(*p); k && flows_.touch(*k, now, now + timeout(k->proto))) {
    ++replies_;
    return Verdict::reply;
  }
  count_denied(p->src);
  return Verdict::denied;
}

}  // namespace ovl::policy
