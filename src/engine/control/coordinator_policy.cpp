// The coordinator's groups and access policies: admin operations, their
// checks, and compiling each node's filter (engine/policy/policy.hpp).
#include <algorithm>
#include <set>

#include "engine/control/coordinator.hpp"
#include "engine/control/routes.hpp"
#include "engine/log.hpp"

namespace ovl::control {

namespace {

std::string list(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

}  // namespace

policy::Member Coordinator::member(const NodeRecord& n) const {
  policy::Member m{n.id, {n.ip}, n.groups, active_routes(n.advertised_routes, n.approved_routes)};
  if (auto ip6 = node_ipv6(ula(), n.ip)) m.addrs.push_back(*ip6);  // the same node over IPv6
  return m;
}

const policy::Compiler& Coordinator::compiler() {
  if (compiler_) return *compiler_;
  std::vector<policy::Member> members;
  for (auto& [id, p] : peers()) members.push_back(member(p.rec));  // the in-memory map, not a scan of the store
  // Every node's address lies in the network's ranges: "*" as a source is
  // those prefixes (IPv4 range and IPv6 ULA) rather than a list as long as
  // the network.
  std::vector<net::Prefix> ranges{reg_.network().cidr.masked()};
  if (valid_ula(ula())) ranges.push_back(ula());
  return compiler_.emplace(reg_.policies(), members, ranges);
}

policy::RuleSet Coordinator::filter_for(int64_t node_id) {
  auto p = peers().find(node_id);
  return p != peers().end() ? compiler().for_node(member(p->second.rec)) : policy::RuleSet{};
}

// Whether a node's arrival or departure can change any node's filter: a
// policy names it or one of its groups, or it routes subnets and a policy
// admits "*" (whose sources include them). Otherwise "*" is the network's
// ranges, the same whoever is in it, so with only the default policy a storm
// of joins compiles no filters at all.
bool Coordinator::policies_select(const NodeRecord& n) {
  auto routes = active_routes(n.advertised_routes, n.approved_routes);
  const bool routes_subnets = std::any_of(routes.begin(), routes.end(), [](auto& r) { return !is_exit_route(r); });
  for (auto& p : reg_.policies())
    for (const policy::Selector* s : {&p.from, &p.to}) {
      if (routes_subnets && s == &p.from && s->kind == policy::Selector::Kind::all) return true;
      if (s->kind == policy::Selector::Kind::node && s->node_id == n.id) return true;
      if (s->kind == policy::Selector::Kind::group && std::find(n.groups.begin(), n.groups.end(), s->group) != n.groups.end())
        return true;
    }
  return false;
}

std::vector<std::string> Coordinator::known_groups() {
  std::set<std::string> g;
  for (auto& n : reg_.nodes()) g.insert(n.groups.begin(), n.groups.end());
  // A group an invite hands out exists before its first node joins, so a
  // policy for it can be written first.
  for (auto& i : reg_.invites())
    if (!i.revoked) g.insert(i.opts.groups.begin(), i.opts.groups.end());
  return {g.begin(), g.end()};
}

std::vector<GroupView> Coordinator::groups() {
  std::map<std::string, std::vector<std::string>> m;
  for (auto& g : known_groups()) m[g];
  for (auto& n : reg_.nodes())
    for (auto& g : n.groups) m[g].push_back(n.name);
  std::vector<GroupView> r;
  for (auto& [name, nodes] : m) r.push_back({name, nodes});
  return r;
}

std::optional<policy::Selector> Coordinator::resolve(const std::string& which, const std::vector<std::string>& groups,
                                                     std::string& err) {
  using K = policy::Selector::Kind;
  if (which == "*") return policy::Selector{};
  const bool is_group = std::binary_search(groups.begin(), groups.end(), which);
  if (which.rfind("group:", 0) == 0) {
    std::string g = which.substr(6);
    if (!std::binary_search(groups.begin(), groups.end(), g)) {
      err = "no group named \"" + g + "\" (groups: " + list(groups) + ")";
      return std::nullopt;
    }
    return policy::Selector{K::group, g, 0};
  }
  if (which.rfind("node:", 0) == 0) {
    auto n = find(which.substr(5));
    if (!n) {
      err = "no node named \"" + which.substr(5) + "\"";
      return std::nullopt;
    }
    return policy::Selector{K::node, "", n->id};
  }
  auto n = find(which);
  if (n && is_group) {
    err = "\"" + which + "\" is both a node and a group; write node:" + which + " or group:" + which;
    return std::nullopt;
  }
  if (n) return policy::Selector{K::node, "", n->id};
  if (is_group) return policy::Selector{K::group, which, 0};
  err = "no node or group named \"" + which + "\" (groups: " + list(groups) + "; \"*\" means every node)";
  return std::nullopt;
}

std::string Coordinator::selector_name(const policy::Selector& s) {
  using K = policy::Selector::Kind;
  if (s.kind == K::all) return "*";
  if (s.kind == K::group) return "group:" + s.group;
  for (auto& n : reg_.nodes())
    if (n.id == s.node_id) return "node:" + n.name;
  return "node:#" + std::to_string(s.node_id);  // removed since
}

bool Coordinator::group_add(const std::string& which, const std::string& group, CoordinatorOutput& out,
                            std::string& err) {
  if (!policy::valid_group_name(group)) {
    err = "\"" + group + "\" is not a valid group name (use A-Z, a-z, 0-9, '.', '_' and '-', at most 63 characters)";
    return false;
  }
  auto n = find(which);
  if (!n) {
    err = "no node named \"" + which + "\"";
    return false;
  }
  if (!reg_.add_to_group(n->id, group)) {
    err = "node " + n->name + " is already in group " + group;
    return false;
  }
  log::info("node %s added to group %s", n->name.c_str(), group.c_str());
  if (auto updated = reg_.node_by_key(n->public_key)) upsert_peer(*updated);  // its groups, in the map
  pending_filters_ = true;
  maybe_flush(out);
  return true;
}

bool Coordinator::group_remove(const std::string& which, const std::string& group, CoordinatorOutput& out,
                               std::string& err) {
  auto n = find(which);
  if (!n) {
    err = "no node named \"" + which + "\"";
    return false;
  }
  if (!reg_.remove_from_group(n->id, group)) {
    err = "node " + n->name + " is not in group \"" + group + "\" (its groups: " + list(n->groups) + ")";
    return false;
  }
  log::info("node %s removed from group %s", n->name.c_str(), group.c_str());
  if (auto updated = reg_.node_by_key(n->public_key)) upsert_peer(*updated);  // its groups, in the map
  pending_filters_ = true;
  maybe_flush(out);
  return true;
}

bool Coordinator::add_policy(const PolicySpec& spec, CoordinatorOutput& out, std::string& err) {
  if (!policy::valid_policy_name(spec.name)) {
    err = "\"" + spec.name + "\" is not a valid policy name (use a-z, 0-9, '_' and '-', at most 63 characters)";
    return false;
  }
  auto existing = reg_.policies();
  for (auto& p : existing)
    if (p.name == spec.name) {
      err = "a policy named \"" + spec.name + "\" already exists (remove it first with `ovl policy rm " + spec.name + "`)";
      return false;
    }
  policy::Policy p;
  p.name = spec.name;
  auto proto = policy::parse_proto(spec.proto);
  if (!proto) {
    err = "--proto must be tcp, udp, icmp or any, not \"" + spec.proto.substr(0, 16) + "\"";
    return false;
  }
  p.proto = *proto;
  if (!spec.ports.empty()) {
    std::string why;
    auto ports = policy::parse_ports(spec.ports, &why);
    if (!ports) {
      err = "--ports: " + why + " (write ports like 22,8000-8100)";
      return false;
    }
    if (p.proto == policy::Proto::icmp) {
      err = "--ports applies to tcp and udp; ICMP has no ports";
      return false;
    }
    p.ports = std::move(*ports);
  }
  auto groups = known_groups();
  auto from = resolve(spec.from, groups, err);
  if (!from) return err = "--from: " + err, false;
  auto to = resolve(spec.to, groups, err);
  if (!to) return err = "--to: " + err, false;
  p.from = *from;
  p.to = *to;
  p.created_unix = wall_ns_() / 1000000000;
  if (!reg_.add_policy(p)) {  // raced by another admin call: the name was taken meanwhile
    err = "a policy named \"" + spec.name + "\" already exists";
    return false;
  }
  compiler_stale();
  log::info("policy %s added: %s -> %s %s %s", p.name.c_str(), selector_name(p.from).c_str(), selector_name(p.to).c_str(),
            policy::proto_name(p.proto), policy::format_ports(p.ports).c_str());
  pending_filters_ = true;
  maybe_flush(out);
  return true;
}

bool Coordinator::remove_policy(const std::string& name, CoordinatorOutput& out, std::string& err) {
  if (!reg_.remove_policy(name)) {
    std::vector<std::string> names;
    for (auto& p : reg_.policies()) names.push_back(p.name);
    err = "no policy named \"" + name + "\" (policies: " + list(names) + ")";
    return false;
  }
  log::info("policy %s removed", name.c_str());
  compiler_stale();
  pending_filters_ = true;
  maybe_flush(out);
  return true;
}

}  // namespace ovl::control
