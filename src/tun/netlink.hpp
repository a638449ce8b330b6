// A minimal rtnetlink (NETLINK_ROUTE) client for configuring a network
// interface: addresses and routes. Start-up/teardown path only; every call
// is a blocking request/acknowledge round trip with the kernel.
//
// Errors are std::system_error carrying the kernel's errno; when the kernel
// sends an extended-ack message (e.g. "Nexthop device is not up") it is
// appended to what(). Calls that have a natural "already done" outcome
// (EEXIST on add, ENOENT/ESRCH/EADDRNOTAVAIL on delete) return false instead
// of throwing.
#pragma once
#include <cstdint>
#include <string_view>

#include "engine/net/ip.hpp"

namespace ovl::tun {

class Netlink {
 public:
  // The interface a call is about; the name only appears in error messages.
  struct Link {
    int index = 0;
    std::string_view name;
  };

  Netlink();  // opens and binds the socket; throws std::system_error
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  // Adds `p.addr` with prefix length `p.len` to the interface (the kernel then
  // adds the connected route for the prefix). IPv6 addresses skip duplicate
  // address detection: a TUN link has nobody to collide with.
  // Returns false if the address was already there.
  bool add_address(const Link& link, const net::Prefix& p);
  // Returns false if the address was not there.
  bool del_address(const Link& link, const net::Prefix& p);

  // Routes the prefix (host bits must be clear) to the interface, in the main
  // table (or `table`). Returns false if an identical route already exists.
  static constexpr uint32_t kMainTable = 254;
  bool add_route(const Link& link, const net::Prefix& dst, uint32_t table = kMainTable);
  // Returns false if no such route exists.
  bool del_route(const Link& link, const net::Prefix& dst, uint32_t table = kMainTable);

  // A policy-routing rule (`ip rule`, or `ip -6 rule` when `v6`): at
  // `priority`, look up `table`; only for packets whose mark is not
  // `not_fwmark` (when non-zero); ignoring routes of prefix length <=
  // `suppress_prefixlen` (when >= 0).
  struct Rule {
    bool v6 = false;
    uint32_t priority = 0;
    uint32_t table = kMainTable;
    uint32_t not_fwmark = 0;
    int suppress_prefixlen = -1;
  };
  // Returns false if an identical rule already exists.
  bool add_rule(const Rule& r);
  // Returns false if no such rule exists.
  bool del_rule(const Rule& r);

  // An `unreachable` route for `dst` (no device) at `metric`, in the main
  // table: where no route with a lower metric exists, connecting to an
  // address in `dst` fails at once with EHOSTUNREACH instead of following
  // the default route. Returns false if it already exists / did not exist.
  bool add_unreachable_route(const net::Prefix& dst, uint32_t metric);
  bool del_unreachable_route(const net::Prefix& dst, uint32_t metric);

  // Stops the kernel from generating an IPv6 link-local address on the
  // interface (IN6_ADDR_GEN_MODE_NONE), as the WireGuard kernel module does:
  // a layer-3 tunnel has no use for one, and without it the kernel does not
  // send router solicitations / MLD reports into the tunnel.
  // Returns false if IPv6 is unavailable on the interface.
  bool disable_ipv6_link_local(const Link& link);

 private:
  struct Message;
  // Sends the request and waits for its acknowledgement. Returns 0 or the
  // kernel's (positive) errno; `extack` receives the kernel's text, if any.
  int transact(Message& m, char* extack, size_t extack_len);
  bool unreachable_route(bool add, const net::Prefix& dst, uint32_t metric);
  [[noreturn]] void fail(int err, const char* what, const net::Prefix* p, const Link& link, const char* extack);

  int fd_ = -1;
  uint32_t seq_ = 0;
};

}  // namespace ovl::tun
