// Subnet routes and exit nodes: which prefixes a node may offer behind it.
//
// The data model is deliberately flat, so that the policy filter can use it
// too: a node *advertises* a set of IPv4 and IPv6 prefixes (0.0.0.0/0 and
// ::/0 = "exit node"), an admin *approves* prefixes per node on the
// coordinator, and the map carries for each peer the prefixes that are both
// (its "routes"). Other nodes send traffic for those prefixes to that peer; an
// exit route is used only by nodes that chose that peer as their exit node.
//
// An exit node is one thing to a user, in both address families, as in
// Tailscale: `--advertise-exit-node` advertises 0.0.0.0/0 and ::/0, and one
// approval of either covers both (stored as 0.0.0.0/0, the canonical form, so
// approvals made before IPv6 exits existed keep working). A node of an older
// version that advertises only 0.0.0.0/0 is an IPv4-only exit.
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
inline net::Prefix exit_route6() { return net::Prefix{net::IpAddr{.v6 = true}, 0}; }
inline bool is_exit_route(const net::Prefix& p) { return p.len == 0; }

// The overlay's own address ranges: its IPv4 range and, when the network has
// one, its IPv6 ULA /48. No route may overlap them.
struct OverlayRanges {
  net::Prefix v4;
  std::optional<net::Prefix> v6;
};

// Parses and checks a route a user typed ("10.1.0.0/24", "fd00:10::/64";
// "0.0.0.0/0" or "::/0" only when `allow_exit`): a prefix with an explicit
// length and no host bits, not loopback/link-local/multicast/reserved, not
// overlapping the overlay's own ranges or the resolver address. nullopt with
// `why` (a sentence naming the input) otherwise.
std::optional<net::Prefix> parse_route(std::string_view text, const OverlayRanges& overlay, bool allow_exit,
                                       std::string& why);
// The same checks for a prefix that is already parsed (e.g. from the wire).
bool valid_route(const net::Prefix& p, const OverlayRanges& overlay, bool allow_exit, std::string& why);

// Sorted, without duplicates: the canonical form stored and sent.
void normalize_routes(std::vector<net::Prefix>& routes);
// What a node advertises: normalized, and an exit route in one family means
// the exit route in both.
void normalize_advertised(std::vector<net::Prefix>& routes);
// Whether `p` is approved by the set `approved`: listed, or an exit route
// when either exit route is.
bool route_approved(const std::vector<net::Prefix>& approved, const net::Prefix& p);
// The routes in use: those of `advertised` that `approved` approves (both
// normalized; the result is too).
std::vector<net::Prefix> active_routes(const std::vector<net::Prefix>& advertised,
                                       const std::vector<net::Prefix>& approved);
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
// first, then the oldest (lowest id). The exit routes (0.0.0.0/0, ::/0) are
// used only from the chosen exit node, and only when approved.
RoutePlan plan_routes(const std::vector<PeerInfo>& peers, const crypto::PublicKey& self,
                      const std::vector<net::Prefix>& own, const std::string& exit_node);

}  // namespace ovl::control
