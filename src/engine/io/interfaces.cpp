#include "engine/io/interfaces.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>

namespace ovl::io {

namespace {

unsigned mask_bits(const sockaddr* m, size_t len) {
  unsigned bits = 0;
  const auto* b = m->sa_family == AF_INET
                      ? reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(m)->sin_addr)
                      : reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(m)->sin6_addr);
  for (size_t i = 0; i < len; ++i) bits += static_cast<unsigned>(__builtin_popcount(b[i]));
  return bits;
}

// Calls f(address, prefix length) for every usable interface address.
template <class F>
void each_address(const std::vector<std::string>& exclude, F f) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    net::IpAddr a;
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    if (std::find(exclude.begin(), exclude.end(), i->ifa_name) != exclude.end()) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      auto* s = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      a = net::IpAddr::from_bytes({reinterpret_cast<const uint8_t*>(&s->sin_addr), 4});
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* s = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      a = net::IpAddr::from_bytes({reinterpret_cast<const uint8_t*>(&s->sin6_addr), 16});
      if (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80) continue;  // link-local: needs a scope
    } else {
      continue;
    }
    unsigned len = i->ifa_netmask ? mask_bits(i->ifa_netmask, a.size()) : static_cast<unsigned>(a.size() * 8);
    f(a, len);
  }
  freeifaddrs(list);
}

}  // namespace

std::vector<net::IpAddr> local_addresses(const std::vector<std::string>& exclude) {
  std::vector<net::IpAddr> r;
  each_address(exclude, [&](const net::IpAddr& a, unsigned) {
    if (std::find(r.begin(), r.end(), a) == r.end()) r.push_back(a);
  });
  return r;
}

std::vector<net::Prefix> local_subnets(const std::vector<std::string>& exclude) {
  std::vector<net::Prefix> r;
  each_address(exclude, [&](const net::IpAddr& a, unsigned len) {
    auto p = net::Prefix{a, static_cast<uint8_t>(len)}.masked();
    if (std::find(r.begin(), r.end(), p) == r.end()) r.push_back(p);
  });
  return r;
}

}  // namespace ovl::io
