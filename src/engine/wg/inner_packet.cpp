#include "engine/wg/inner_packet.hpp"

namespace ovl::wg {

std::optional<InnerPacket> inner_packet(std::span<const uint8_t> b) {
  if (b.empty()) return std::nullopt;
  InnerPacket r;
  switch (b[0] >> 4) {
    case 4:
      if (b.size() < 20) return std::nullopt;
      r.len = size_t(b[2]) << 8 | b[3];
      if (r.len < 20 || r.len > b.size()) return std::nullopt;
      r.src = net::IpAddr::from_bytes(b.subspan(12, 4));
      r.dst = net::IpAddr::from_bytes(b.subspan(16, 4));
      return r;
    case 6:
      if (b.size() < 40) return std::nullopt;
      r.len = 40 + (size_t(b[4]) << 8 | b[5]);
      if (r.len > b.size()) return std::nullopt;
      r.src = net::IpAddr::from_bytes(b.subspan(8, 16));
      r.dst = net::IpAddr::from_bytes(b.subspan(24, 16));
      return r;
    default:
      return std::nullopt;
  }
}

std::optional<net::IpAddr> inner_destination(std::span<const uint8_t> b) {
  if (b.empty()) return std::nullopt;
  if ((b[0] >> 4) == 4 && b.size() >= 20) return net::IpAddr::from_bytes(b.subspan(16, 4));
  if ((b[0] >> 4) == 6 && b.size() >= 40) return net::IpAddr::from_bytes(b.subspan(24, 16));
  return std::nullopt;
}

}  // namespace ovl::wg
