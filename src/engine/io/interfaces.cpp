#include "engine/io/interfaces.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>

namespace ovl::io {

std::vector<net::IpAddr> local_addresses(const std::vector<std::string>& exclude) {
  std::vector<net::IpAddr> r;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return r;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    if (std::find(exclude.begin(), exclude.end(), i->ifa_name) != exclude.end()) continue;
    net::IpAddr a;
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
    if (std::find(r.begin(), r.end(), a) == r.end()) r.push_back(a);
  }
  freeifaddrs(list);
  return r;
}

}  // namespace ovl::io
