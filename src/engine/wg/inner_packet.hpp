// The few fields of an inner IP packet the tunnel needs: the destination
// (routing out) and the source and true length (checking and trimming in).
#pragma once
#include <cstdint>
#include <optional>
#include <span>

#include "engine/net/ip.hpp"

namespace ovl::wg {

struct InnerPacket {
  net::IpAddr src, dst;
  size_t len = 0;  // the IP total length; <= the buffer (which may be padded)
};

// nullopt unless `b` starts with a well-formed IPv4 or IPv6 header whose
// length fits in `b`.
std::optional<InnerPacket> inner_packet(std::span<const uint8_t> b);
std::optional<net::IpAddr> inner_destination(std::span<const uint8_t> b);

}  // namespace ovl::wg
