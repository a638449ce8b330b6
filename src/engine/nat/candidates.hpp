// Which of a peer's candidate endpoints to try first, before path probing
// exists: the coordinator lists a node's candidates with the address it
// observed (its public mapping) first, then the node's own interface
// addresses (LAN candidates).
#pragma once
#include <optional>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::nat {

// Two nodes behind the same NAT share a public address and cannot count on
// the router to hairpin, so they talk over their LAN; everyone else uses the
// public mapping. A LAN candidate is only trusted when the public addresses
// match, since 192.168.1.0/24 at another site is a different network.
std::optional<net::Endpoint> choose_endpoint(const std::vector<net::Endpoint>& peer, const std::vector<net::Endpoint>& self,
                                             const std::vector<net::Prefix>& local_subnets);

}  // namespace ovl::nat
