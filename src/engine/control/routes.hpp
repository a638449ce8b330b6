// Subnet routes and exit nodes: which prefixes a node may offer behind it.
//
// The data model is deliberately flat, so that the policy filter can use it
// too: a node *advertises* a set of IPv4 prefixes (0.0.0.0/0 = "exit node"),
// an admin *approves* prefixes per node on the coordinator, and the map
// carries for each peer the prefixes that are both (its "routes"). Other
// nodes send traffic for those prefixes to that peer; an exit route is used
// only by nodes that chose that peer as their exit node.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/control/messages.hpp"
#include "engine/net/ip.hpp"

namespace ovl::control {

// A node advertises at most this many prefixes (bounds map size).
inline constexpr size_t kMaxRoutesPerNode = 64;

inline net::Prefix exit_route() { return net::Prefix{net::IpAddr::v4(0, 0, 0, 0), 0}; }
inline bool is_exit_route(const net::Prefix& p) { return !p.addr.v6 && p.len == 0; }

// Parses and checks a route a user typed ("10.1.0.0/24"; "0.0.0.0/0" only when
// `allow_exit`): an IPv4 prefix with an explicit length and no host bits,
// not loopback/multicast/reserved, not overlapping the overlay's own range
// or the resolver address. nullopt with `why` (a sentence naming the input)
// otherwise.
std::optional<net::Prefix> parse_route(std::string_view text, const net::Prefix& overlay, bool allow_exit,
                                       std::string& why);
// The same checks for a prefix that is already parsed (e.g. from the wire).
bool valid_route(const net::Prefix& p, const net::Prefix& overlay, bool allow_exit, std::string& why);

// Sorted, without duplicates: the canonical form stored and sent.
void normalize_routes(std::vector<net::Prefix>& routes);
// a ∩ b, both normalized.
std::vector<net::Prefix> intersect_routes(const std::vector<net::Prefix>& a, const std::vector<net::Prefix>& b);
bool prefixes_overlap(const net::Prefix& a, const net::Prefix& b);

// Which peer each routed prefix goes to, as a node sees it (pure; the daemon
// turns it into allowed IPs, TUN routes and the exit route).
struct RoutePlan {
  // Extra allowed IPs per peer, beyond its overlay address.
  std::map<crypto::PublicKey, std::vector<net::Prefix>> routes;
  std::optional<crypto::PublicKey> exit_peer;  // the exit node in use
  std::string exit_problem;                    // why `exit_node` is not in use ("" if it is, or none is set)
};
// `peers` is the map (it may include self), `own` what this node advertises
// (those stay local), `exit_node` the chosen exit node by name or overlay IP
// ("" = none). A prefix routed by several peers goes to one: an online one
// first, then the oldest (lowest id). 0.0.0.0/0 is used only from the chosen
// exit node, and only when its exit route is approved.
RoutePlan plan_routes(const std::vector<PeerInfo>& peers, const crypto::PublicKey& self,
                      const std::vector<net::Prefix>& own, const std::string& exit_node);

}  // namespace ovl::control
