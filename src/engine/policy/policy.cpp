#include "engine/policy/policy.hpp"

#include <algorithm>
#include <charconv>

namespace ovl::policy {

const char* proto_name(Proto p) {
  switch (p) {
    case Proto::any: return "any";
    case Proto::tcp: return "tcp";
    case Proto::udp: return "udp";
    case Proto::icmp: return "icmp";
  }
  return "any";
}

std::optional<Proto> parse_proto(std::string_view s) {
  for (Proto p : {Proto::any, Proto::tcp, Proto::udp, Proto::icmp})
    if (s == proto_name(p)) return p;
  return std::nullopt;
}

namespace {

std::optional<uint16_t> port_number(std::string_view s) {
  unsigned v = 0;
  if (s.empty() || s.size() > 5) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

bool fail(std::string* why, std::string m) {
  if (why) *why = std::move(m);
  return false;
}

}  // namespace

std::optional<std::vector<PortRange>> parse_ports(std::string_view s, std::string* why) {
  std::vector<PortRange> r;
  if (s.empty()) return fail(why, "the port list is empty"), std::nullopt;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(',', start);
    std::string_view item = s.substr(start, end == std::string_view::npos ? s.npos : end - start);
    // Quoted back only when short and printable: the message stays readable.
    auto bad = [&](const std::string& what) {
      std::string shown(item.substr(0, 32));
      bool printable = std::all_of(shown.begin(), shown.end(), [](char c) { return c > ' ' && c < 127; });
      fail(why, printable ? "\"" + shown + "\" " + what : "the port list " + what);
      return std::nullopt;
    };
    size_t dash = item.find('-');
    PortRange pr;
    if (dash == std::string_view::npos) {
      auto p = port_number(item);
      if (!p) return bad("is not a port (1-65535)");
      pr = {*p, *p};
    } else {
      auto lo = port_number(item.substr(0, dash));
      auto hi = port_number(item.substr(dash + 1));
      if (!lo || !hi) return bad("is not a port range like 8000-8100 (ports 1-65535)");
      if (*lo > *hi) return bad("is a range whose start is above its end");
      pr = {*lo, *hi};
    }
    r.push_back(pr);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  std::sort(r.begin(), r.end(), [](auto& a, auto& b) { return a.lo < b.lo; });
  std::vector<PortRange> merged;
  for (auto& p : r) {
    if (!merged.empty() && uint32_t(p.lo) <= uint32_t(merged.back().hi) + 1)
      merged.back().hi = std::max(merged.back().hi, p.hi);
    else
      merged.push_back(p);
  }
  return merged;
}

std::string format_ports(const std::vector<PortRange>& ports) {
  std::string s;
  for (auto& p : ports) {
    if (!s.empty()) s += ',';
    s += std::to_string(p.lo);
    if (p.hi != p.lo) s += "-" + std::to_string(p.hi);
  }
  return s;
}

std::string Selector::str() const {
  switch (kind) {
    case Kind::all: return "*";
    case Kind::group: return "group:" + group;
    case Kind::node: return "node:" + std::to_string(node_id);
  }
  return "*";
}

std::optional<Selector> Selector::parse(std::string_view s) {
  Selector r;
  if (s == "*") return r;
  if (s.substr(0, 6) == "group:" && valid_group_name(s.substr(6))) {
    r.kind = Kind::group;
    r.group = std::string(s.substr(6));
    return r;
  }
  if (s.substr(0, 5) == "node:") {
    auto d = s.substr(5);
    int64_t id = 0;
    auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), id);
    if (ec != std::errc() || p != d.data() + d.size() || id <= 0) return std::nullopt;
    r.kind = Kind::node;
    r.node_id = id;
    return r;
  }
  return std::nullopt;
}

Policy default_policy(int64_t now_unix) {
  Policy p;
  p.name = std::string(kDefaultPolicyName);
  p.created_unix = now_unix;
  return p;
}

namespace {
bool name_chars(std::string_view s, bool upper_and_dot) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              (upper_and_dot && ((c >= 'A' && c <= 'Z') || c == '.'));
    if (!ok) return false;
  }
  return true;
}
}  // namespace

bool valid_policy_name(std::string_view s) { return name_chars(s, false); }
bool valid_group_name(std::string_view s) { return name_chars(s, true); }

// ---- compiler ----

namespace {
net::Prefix host_prefix(const net::IpAddr& a) { return {a, static_cast<uint8_t>(a.v6 ? 128 : 32)}; }
}  // namespace

Compiler::Compiler(std::vector<Policy> policies, const std::vector<Member>& members, std::vector<net::Prefix> network)
    : policies_(std::move(policies)), network_(std::move(network)) {
  nodes_.reserve(members.size());
  for (auto& m : members) add_member(m);
}

void Compiler::add_member(const Member& m) {
  for (auto& r : m.routes)
    if (r.len > 0 && std::find(network_.begin(), network_.end(), r.masked()) == network_.end())
      network_.push_back(r.masked());
  std::vector<net::Prefix> hosts;
  for (auto& a : m.addrs) hosts.push_back(host_prefix(a));
  for (auto& g : m.groups) {
    auto it = std::lower_bound(groups_.begin(), groups_.end(), g, [](auto& e, auto& k) { return e.first < k; });
    if (it == groups_.end() || it->first != g) it = groups_.insert(it, {g, {}});
    it->second.insert(it->second.end(), hosts.begin(), hosts.end());
  }
  // Members come by id (a join has the highest): appending keeps the order.
  auto at = std::upper_bound(nodes_.begin(), nodes_.end(), m.id, [](int64_t k, auto& e) { return k < e.first; });
  nodes_.emplace(at, m.id, std::move(hosts));
}

bool Compiler::covers(const Selector& s, const Member& m) const {
  switch (s.kind) {
    case Selector::Kind::all: return true;
    case Selector::Kind::node: return s.node_id == m.id;
    case Selector::Kind::group: return std::find(m.groups.begin(), m.groups.end(), s.group) != m.groups.end();
  }
  return false;
}

std::vector<net::Prefix> Compiler::sources(const Selector& s) const {
  switch (s.kind) {
    case Selector::Kind::all: return network_;
    case Selector::Kind::group: {
      auto it = std::lower_bound(groups_.begin(), groups_.end(), s.group, [](auto& e, auto& k) { return e.first < k; });
      return it != groups_.end() && it->first == s.group ? it->second : std::vector<net::Prefix>{};
    }
    case Selector::Kind::node: {
      auto it = std::lower_bound(nodes_.begin(), nodes_.end(), s.node_id, [](auto& e, auto& k) { return e.first < k; });
      return it != nodes_.end() && it->first == s.node_id ? it->second : std::vector<net::Prefix>{};
    }
  }
  return {};
}

RuleSet Compiler::for_node(const Member& dest) const {
  RuleSet rs;
  std::vector<net::Prefix> own;
  for (auto& a : dest.addrs) own.push_back(host_prefix(a));
  for (auto& r : dest.routes) own.push_back(r.masked());
  for (auto& p : policies_) {
    if (!covers(p.to, dest)) continue;
    Rule r;
    r.src = sources(p.from);
    if (r.src.empty() || own.empty()) continue;
    r.dst = own;
    r.proto = p.proto;
    r.ports = p.ports;
    rs.rules.push_back(std::move(r));
  }
  return rs;
}

}  // namespace ovl::policy
