#include "tun/netlink.hpp"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <stdexcept>
#include <cstring>
#include <string>
#include <system_error>

namespace ovl::tun {

// One request message, built in a fixed buffer: every request we send is a
// family header plus a few small attributes.
struct Netlink::Message {
  alignas(nlmsghdr) std::array<uint8_t, 512> buf{};

  Message(uint16_t type, uint16_t flags) {
    auto* h = hdr();
    h->nlmsg_len = NLMSG_LENGTH(0);
    h->nlmsg_type = type;
    h->nlmsg_flags = flags | NLM_F_REQUEST | NLM_F_ACK;
  }
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf.data()); }

  // Reserves `len` zeroed bytes at the (aligned) end of the message.
  void* append(size_t len) {
    size_t off = NLMSG_ALIGN(hdr()->nlmsg_len);
    // All callers pass small compile-time sizes; overflow is a programming error.
    if (off + len > buf.size()) throw std::length_error("netlink message too long");
    hdr()->nlmsg_len = static_cast<uint32_t>(off + len);
    return buf.data() + off;
  }
  template <class T>
  T* family_header() { return static_cast<T*>(append(sizeof(T))); }

  void attr(uint16_t type, const void* data, size_t len) {
    auto* a = static_cast<rtattr*>(append(RTA_LENGTH(len)));
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(a), data, len);
  }
  void attr_u32(uint16_t type, uint32_t v) { attr(type, &v, sizeof v); }
  void attr_u8(uint16_t type, uint8_t v) { attr(type, &v, sizeof v); }

  // Nested attributes: begin returns the nest's offset, end fixes its length.
  size_t nest_begin(uint16_t type) {
    auto* a = static_cast<rtattr*>(append(RTA_LENGTH(0)));
    a->rta_type = type;
    return reinterpret_cast<uint8_t*>(a) - buf.data();
  }
  void nest_end(size_t off) {
    auto* a = reinterpret_cast<rtattr*>(buf.data() + off);
    a->rta_len = static_cast<uint16_t>(hdr()->nlmsg_len - off);
  }
};

Netlink::Netlink() {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open rtnetlink socket");
  // Extended acks give human-readable reasons; capped acks keep them small.
  // Both are optional (old kernels), so failures are ignored.
  int one = 1;
  ::setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  ::setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;
    ::close(fd_);
    throw std::system_error(e, std::generic_category(), "cannot bind rtnetlink socket");
  }
}

Netlink::~Netlink() {
  if (fd_ >= 0) ::close(fd_);
}

int Netlink::transact(Message& m, char* extack, size_t extack_len) {
  if (extack_len) extack[0] = 0;
  auto* h = m.hdr();
  h->nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = ::sendto(fd_, h, h->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw std::system_error(errno, std::generic_category(), "rtnetlink send failed");

  alignas(nlmsghdr) std::array<uint8_t, 8192> rx;
  for (;;) {
    sockaddr_nl from{};
    socklen_t fl = sizeof from;
    n = ::recvfrom(fd_, rx.data(), rx.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "rtnetlink receive failed");
    }
    if (from.nl_pid != 0) continue;  // only the kernel answers requests
    int len = static_cast<int>(n);
    for (auto* r = reinterpret_cast<nlmsghdr*>(rx.data()); NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
      if (r->nlmsg_seq != h->nlmsg_seq || r->nlmsg_type != NLMSG_ERROR) continue;
      if (r->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EPROTO;
      auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(r));
      // Extended-ack TLVs follow the error header and (unless capped) a copy
      // of our request's payload.
      if ((r->nlmsg_flags & NLM_F_ACK_TLVS) && extack_len) {
        size_t off = NLMSG_LENGTH(sizeof(nlmsgerr));
        if (!(r->nlmsg_flags & NLM_F_CAPPED)) off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
        auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<uint8_t*>(r) + off);
        int alen = static_cast<int>(r->nlmsg_len) - static_cast<int>(off);
        for (; alen > 0 && RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
          if (a->rta_type != NLMSGERR_ATTR_MSG) continue;
          size_t sl = strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a));
          if (sl >= extack_len) sl = extack_len - 1;
          std::memcpy(extack, RTA_DATA(a), sl);
          extack[sl] = 0;
        }
      }
      return -e->error;
    }
  }
}

void Netlink::fail(int err, const char* what, const net::Prefix* p, const Link& link, const char* extack) {
  std::string msg = what;
  if (p) msg += " " + p->str();
  msg += " on ";
  msg += link.name;
  if (extack && *extack) msg += std::string(" (") + extack + ")";
  throw std::system_error(err, std::generic_category(), msg);
}

namespace {

uint8_t family_of(const net::Prefix& p) { return p.addr.v6 ? AF_INET6 : AF_INET; }

}  // namespace

bool Netlink::add_address(const Link& link, const net::Prefix& p) {
  Message m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifa = m.family_header<ifaddrmsg>();
  ifa->ifa_family = family_of(p);
  ifa->ifa_prefixlen = p.len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(link.index);
  m.attr(IFA_LOCAL, p.addr.b.data(), p.addr.size());
  m.attr(IFA_ADDRESS, p.addr.b.data(), p.addr.size());
  if (p.addr.v6) m.attr_u32(IFA_FLAGS, IFA_F_NODAD);
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  if (err == EEXIST) return false;
  if (err) fail(err, "cannot add address", &p, link, ext);
  return true;
}

bool Netlink::del_address(const Link& link, const net::Prefix& p) {
  Message m(RTM_DELADDR, 0);
  auto* ifa = m.family_header<ifaddrmsg>();
  ifa->ifa_family = family_of(p);
  ifa->ifa_prefixlen = p.len;
  ifa->ifa_index = static_cast<uint32_t>(link.index);
  m.attr(IFA_LOCAL, p.addr.b.data(), p.addr.size());
  m.attr(IFA_ADDRESS, p.addr.b.data(), p.addr.size());
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  if (err == EADDRNOTAVAIL || err == ENOENT || err == ENODEV) return false;
  if (err) fail(err, "cannot remove address", &p, link, ext);
  return true;
}

namespace {

void fill_route(rtmsg* rt, const net::Prefix& dst, bool del, uint32_t table) {
  rt->rtm_family = family_of(dst);
  rt->rtm_dst_len = dst.len;
  rt->rtm_table = table < 256 ? static_cast<uint8_t>(table) : uint8_t{RT_TABLE_UNSPEC};  // larger ids go in RTA_TABLE
  rt->rtm_protocol = del ? RTPROT_UNSPEC : RTPROT_STATIC;
  // A device route without gateway has link scope (what `ip route add ... dev`
  // sends); RT_SCOPE_NOWHERE on delete matches whatever scope it has.
  rt->rtm_scope = del ? RT_SCOPE_NOWHERE : (dst.addr.v6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  rt->rtm_type = del ? RTN_UNSPEC : RTN_UNICAST;
}

}  // namespace

bool Netlink::add_route(const Link& link, const net::Prefix& dst, uint32_t table) {
  // EXCL so that an existing identical route (e.g. the connected route of our
  // own address, or a default route through another link) is reported rather
  // than silently stacked next to it.
  Message m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  fill_route(m.family_header<rtmsg>(), dst, false, table);
  m.attr_u32(RTA_TABLE, table);
  if (dst.len) m.attr(RTA_DST, dst.addr.b.data(), dst.addr.size());
  m.attr_u32(RTA_OIF, static_cast<uint32_t>(link.index));
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  if (err == EEXIST) return false;
  if (err) fail(err, "cannot add route", &dst, link, ext);
  return true;
}

bool Netlink::del_route(const Link& link, const net::Prefix& dst, uint32_t table) {
  Message m(RTM_DELROUTE, 0);
  fill_route(m.family_header<rtmsg>(), dst, true, table);
  m.attr_u32(RTA_TABLE, table);
  if (dst.len) m.attr(RTA_DST, dst.addr.b.data(), dst.addr.size());
  m.attr_u32(RTA_OIF, static_cast<uint32_t>(link.index));
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  if (err == ESRCH || err == ENOENT || err == ENODEV) return false;
  if (err) fail(err, "cannot remove route", &dst, link, ext);
  return true;
}

namespace {

void fill_rule(Netlink::Rule r, fib_rule_hdr* h) {
  h->family = r.v6 ? AF_INET6 : AF_INET;
  h->table = r.table < 256 ? static_cast<uint8_t>(r.table) : uint8_t{RT_TABLE_UNSPEC};
  h->action = FR_ACT_TO_TBL;
  if (r.not_fwmark) h->flags |= FIB_RULE_INVERT;
}

// What `ip rule` would print, for error messages.
std::string rule_text(const Netlink::Rule& r) {
  std::string s = std::string(r.v6 ? "IPv6 " : "") + "policy rule " + std::to_string(r.priority) + ": ";
  if (r.not_fwmark) s += "not fwmark " + std::to_string(r.not_fwmark) + " ";
  s += "lookup " + std::to_string(r.table);
  if (r.suppress_prefixlen >= 0) s += " suppress_prefixlength " + std::to_string(r.suppress_prefixlen);
  return s;
}

template <class M>
void rule_attrs(const Netlink::Rule& r, M& m) {
  m.attr_u32(FRA_PRIORITY, r.priority);
  m.attr_u32(FRA_TABLE, r.table);
  if (r.not_fwmark) {
    m.attr_u32(FRA_FWMARK, r.not_fwmark);
    m.attr_u32(FRA_FWMASK, 0xffffffffu);
  }
  if (r.suppress_prefixlen >= 0) m.attr_u32(FRA_SUPPRESS_PREFIXLEN, static_cast<uint32_t>(r.suppress_prefixlen));
}

}  // namespace

bool Netlink::add_rule(const Rule& r) {
  Message m(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
  fill_rule(r, m.family_header<fib_rule_hdr>());
  rule_attrs(r, m);
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  if (err == EEXIST) return false;
  if (err) fail(err, ("cannot add " + rule_text(r)).c_str(), nullptr, {0, "this namespace"}, ext);
  return true;
}

bool Netlink::del_rule(const Rule& r) {
  Message m(RTM_DELRULE, 0);
  fill_rule(r, m.family_header<fib_rule_hdr>());
  rule_attrs(r, m);
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  // EAFNOSUPPORT: IPv6 is off in this kernel, so no such rule can exist.
  if (err == ENOENT || err == ESRCH || err == EAFNOSUPPORT) return false;
  if (err) fail(err, ("cannot remove " + rule_text(r)).c_str(), nullptr, {0, "this namespace"}, ext);
  return true;
}

// An interface-less route of type unreachable, at a metric of its own.
bool Netlink::unreachable_route(bool add, const net::Prefix& dst, uint32_t metric) {
  Message m(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  auto* rt = m.family_header<rtmsg>();
  rt->rtm_family = family_of(dst);
  rt->rtm_dst_len = dst.len;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = add ? RTPROT_STATIC : RTPROT_UNSPEC;
  rt->rtm_scope = add ? RT_SCOPE_UNIVERSE : RT_SCOPE_NOWHERE;
  rt->rtm_type = RTN_UNREACHABLE;  // also on delete: only that route matches
  if (dst.len) m.attr(RTA_DST, dst.addr.b.data(), dst.addr.size());
  m.attr_u32(RTA_PRIORITY, metric);
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  if (add && err == EEXIST) return false;
  if (!add && (err == ESRCH || err == ENOENT)) return false;
  if (err) fail(err, add ? "cannot add unreachable route" : "cannot remove unreachable route", &dst, Link{0, "(no device)"}, ext);
  return true;
}

bool Netlink::add_unreachable_route(const net::Prefix& dst, uint32_t metric) { return unreachable_route(true, dst, metric); }
bool Netlink::del_unreachable_route(const net::Prefix& dst, uint32_t metric) { return unreachable_route(false, dst, metric); }

bool Netlink::disable_ipv6_link_local(const Link& link) {
  Message m(RTM_NEWLINK, 0);
  auto* ifi = m.family_header<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = link.index;
  size_t spec = m.nest_begin(IFLA_AF_SPEC);
  size_t inet6 = m.nest_begin(AF_INET6);
  m.attr_u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
  m.nest_end(inet6);
  m.nest_end(spec);
  char ext[256];
  int err = transact(m, ext, sizeof ext);
  if (err == EAFNOSUPPORT || err == EOPNOTSUPP || err == EACCES) return false;
  if (err) fail(err, "cannot set IPv6 address generation mode", nullptr, link, ext);
  return true;
}

}  // namespace ovl::tun
