#include "engine/net/ip.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace ovl::net {

IpAddr IpAddr::from_bytes(std::span<const uint8_t> bytes) {
  IpAddr r;
  r.v6 = bytes.size() == 16;
  std::memcpy(r.b.data(), bytes.data(), r.v6 ? 16 : 4);
  return r;
}

bool IpAddr::is_unspecified() const {
  for (size_t i = 0; i < size(); ++i)
    if (b[i]) return false;
  return true;
}

bool IpAddr::is_loopback() const {
  if (!v6) return b[0] == 127;
  for (size_t i = 0; i < 15; ++i)
    if (b[i]) return false;
  return b[15] == 1;
}

// inet_pton/inet_ntop are pure text conversions (no I/O), so protocol code may use them.
std::optional<IpAddr> IpAddr::parse(std::string_view s) {
  // inet_pton stops at a NUL; "1.2.3.4\0junk" must not parse as 1.2.3.4.
  if (s.empty() || s.size() > 45 || s.find('\0') != std::string_view::npos) return std::nullopt;
  char buf[64];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  IpAddr r;
  if (inet_pton(AF_INET, buf, r.b.data()) == 1) return r;
  if (inet_pton(AF_INET6, buf, r.b.data()) == 1) {
    r.v6 = true;
    return r;
  }
  return std::nullopt;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, b.data(), buf, sizeof buf);
  return buf;
}

std::optional<Prefix> Prefix::parse(std::string_view s) {
  auto slash = s.find('/');
  auto a = IpAddr::parse(s.substr(0, slash));
  if (!a) return std::nullopt;
  unsigned max = a->v6 ? 128 : 32, len = max;
  if (slash != std::string_view::npos) {
    auto t = s.substr(slash + 1);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), len);
    if (ec != std::errc() || p != t.data() + t.size() || t.empty() || len > max) return std::nullopt;
  }
  return Prefix{*a, static_cast<uint8_t>(len)};
}

bool Prefix::contains(const IpAddr& a) const {
  if (a.v6 != addr.v6) return false;
  unsigned bits = std::min<unsigned>(len, addr.v6 ? 128 : 32);
  unsigned full = bits / 8, rem = bits % 8;
  if (std::memcmp(a.b.data(), addr.b.data(), full) != 0) return false;
  if (rem == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (a.b[full] & mask) == (addr.b[full] & mask);
}

Prefix Prefix::masked() const {
  Prefix r = *this;
  r.len = static_cast<uint8_t>(std::min<unsigned>(len, addr.v6 ? 128 : 32));
  unsigned full = r.len / 8, rem = r.len % 8;
  for (unsigned i = full; i < 16; ++i) {
    if (i == full && rem) r.addr.b[i] &= static_cast<uint8_t>(0xff << (8 - rem));
    else r.addr.b[i] = 0;
  }
  return r;
}

std::string Prefix::str() const { return addr.str() + "/" + std::to_string(len); }

std::optional<Endpoint> Endpoint::parse(std::string_view s) {
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6 only
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 needs brackets
  }
  auto ip = IpAddr::parse(host);
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (!ip || ec != std::errc() || end != port.data() + port.size() || port.empty() || p == 0 || p > 65535)
    return std::nullopt;
  return Endpoint{*ip, static_cast<uint16_t>(p)};
}

std::string Endpoint::str() const {
  // Built by appends: GCC 12 warns falsely (-Wrestrict) on "[" + string.
  std::string r;
  if (ip.v6) r += '[';
  r += ip.str();
  if (ip.v6) r += ']';
  r += ':';
  r += std::to_string(port);
  return r;
}

}  // namespace ovl::net
