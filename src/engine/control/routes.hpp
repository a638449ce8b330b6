// Subnet routes and exit nodes: which prefixes a node may offer behind it.
//
// The data model is deliberately flat, so that the policy filter can use it
// too: a node *advertises* a set of IPv4 prefixes (0.0.0.0/0 = "exit node"),
// an admin *approves* prefixes per node on the coordinator, and the map
// carries for each peer the prefixes that are both (its "routes"). Other
// nodes send traffic for those prefixes to that peer; an exit route is used
// only by nodes that chose that peer as their exit node.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace ovl::control
