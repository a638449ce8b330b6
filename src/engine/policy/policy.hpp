// Access policies: what an admin writes, and what it compiles to.
//
// An admin writes Policies over nodes and groups ("group servers may reach
// node db on tcp/5432"). The coordinator compiles them, separately for each
// receiving node, into a RuleSet over addresses only: which sources may send
// which protocol, to which ports, of which destinations. A node enforces its
// own RuleSet on the packets it decrypted (filter.hpp) and never learns the
// policies themselves.
//
// Rules carry destination prefixes (not just "this node") so that routed
// subnets behind a node can be filtered by the same rules later: their
// prefixes are more destinations of the node that routes them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::policy {

enum class Proto : uint8_t { any, tcp, udp, icmp };
const char* proto_name(Proto p);  // "any", "tcp", "udp", "icmp"
std::optional<Proto> parse_proto(std::string_view s);

// An inclusive port range; lo <= hi, both >= 1.
struct PortRange {
  uint16_t lo = 0, hi = 0;
  bool operator==(const PortRange&) const = default;
};

// "22,8000-8100": comma-separated ports and lo-hi ranges (1..65535). The
// result is sorted with overlaps merged. nullopt (and `why`) for an empty
// list, a port out of range, a range with lo > hi, or anything else.
std::optional<std::vector<PortRange>> parse_ports(std::string_view s, std::string* why = nullptr);
std::string format_ports(const std::vector<PortRange>& ports);  // "" for none

// Who a policy is about: every node, the members of a group, or one node
// (by id, so a rename does not change the policy).
struct Selector {
  enum class Kind : uint8_t { all, group, node };
  Kind kind = Kind::all;
  std::string group;    // Kind::group
  int64_t node_id = 0;  // Kind::node
  // Storage form: "*", "group:NAME", "node:ID".
  std::string str() const;
  static std::optional<Selector> parse(std::string_view s);
  bool operator==(const Selector&) const = default;
};

struct Policy {
  std::string name;
  Selector from, to;
  Proto proto = Proto::any;
  // Empty: every port. Only with tcp, udp or any (then: tcp and udp on these
  // ports, and nothing else).
  std::vector<PortRange> ports;
  int64_t created_unix = 0;
  bool operator==(const Policy&) const = default;
};

inline constexpr std::string_view kDefaultPolicyName = "default";
// The policy a new network starts with: everything between all nodes.
Policy default_policy(int64_t now_unix);

// Policy names: 1-63 chars of [a-z0-9_-]. Group names: 1-63 chars of
// [A-Za-z0-9_.-] (no ':' or '*', which selectors use).
bool valid_policy_name(std::string_view s);
bool valid_group_name(std::string_view s);

// ---- compiled form ----

struct Rule {
  std::vector<net::Prefix> src;
  std::vector<net::Prefix> dst;
  Proto proto = Proto::any;
  std::vector<PortRange> ports;  // empty: every port
  bool operator==(const Rule&) const = default;
};

// What one node admits. Nothing matches an empty set: default deny.
struct RuleSet {
  std::vector<Rule> rules;
  bool operator==(const RuleSet&) const = default;
};

// A node as the compiler sees it.
struct Member {
  int64_t id = 0;
  std::vector<net::IpAddr> addrs;  // its overlay addresses
  std::vector<std::string> groups;
  // Subnet routes it carries (approved and advertised; 0.0.0.0/0 for an exit
  // node): traffic to them is traffic to this node, so the policies that
  // admit traffic to it admit routed traffic too.
  std::vector<net::Prefix> routes;
};

// Compiles one set of policies for many receiving nodes: the groups are
// resolved to addresses once, then each node's rules are a pass over the
// policies. `network` are the overlay ranges: "*" as a source is those
// (every address of every node lies in them; one prefix instead of N
// addresses) plus every member's subnet routes, so that with the `default`
// policy a host on a routed LAN reaches the overlay as in Tailscale (an exit
// route is not a source: "the internet" only ever answers flows).
class Compiler {
 public:
  Compiler(std::vector<Policy> policies, const std::vector<Member>& members, std::vector<net::Prefix> network);
  // One more member, as if it had been in `members` (a join need not
  // rebuild the compiler: O(its groups), not O(N)). Its id must be new.
  void add_member(const Member& m);
  // The rules of the policies whose `to` covers `dest`, with dst = dest's
  // own addresses and the subnets it routes. Policies whose sources resolve to nothing are left out.
  RuleSet for_node(const Member& dest) const;

 private:
  bool covers(const Selector& s, const Member& m) const;
  std::vector<net::Prefix> sources(const Selector& s) const;
  std::vector<Policy> policies_;
  std::vector<net::Prefix> network_;
  std::vector<std::pair<std::string, std::vector<net::Prefix>>> groups_;  // sorted by name
  std::vector<std::pair<int64_t, std::vector<net::Prefix>>> nodes_;       // sorted by id
};

}  // namespace ovl::policy
