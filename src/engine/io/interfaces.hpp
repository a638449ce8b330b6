// The host's own addresses, for LAN candidates and default invite endpoints.
#pragma once
#include <string>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::io {

// Addresses of interfaces that are up, excluding loopback, link-local IPv6,
// and any interface named in `exclude` (the overlay's own TUN).
std::vector<net::IpAddr> local_addresses(const std::vector<std::string>& exclude = {});
// The same interfaces' subnets (address with its prefix length, host bits cleared).
std::vector<net::Prefix> local_subnets(const std::vector<std::string>& exclude = {});

}  // namespace ovl::io
