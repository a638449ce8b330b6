// A Linux TUN interface (layer 3, no packet-info header), owned for the
// lifetime of the object.
//
// Lifecycle: the constructor creates the interface (non-persistent), sets its
// MTU and brings it up; add_address/add_route configure it through
// rtnetlink. Destruction closes the fd, and the kernel then deletes a
// non-persistent interface together with its addresses and routes, so
// nothing is left behind even if the process is killed. If the name belongs
// to an existing *persistent* TUN (made with `ip tuntap add`), the object
// attaches to it and on destruction undoes exactly what it added (routes,
// addresses, link up, MTU) but leaves the interface.
//
// All configuration calls throw (std::system_error naming what failed);
// read/write are the packet path and never throw.
//
// Offloads (the constructor's `offload`): the interface is opened with
// IFF_VNET_HDR, so every packet read or written is preceded by a virtio-net
// header (engine/net/gso.hpp), and TUNSETOFFLOAD asks the kernel for TCP
// segmentation and checksum offload: a read may then return a TCP super-
// packet of up to 64 KB with a partial checksum, which the reader segments.
// Where the kernel refuses, this falls back step by step: no TSO (headers
// still present, always "no GSO"), or no virtio header at all.
// Later work this layout keeps open: IFF_MULTI_QUEUE (one fd per queue).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/net/ip.hpp"
#include "tun/netlink.hpp"

namespace ovl::tun {

inline constexpr uint32_t kDefaultMtu = 1420;

// 1-15 characters of [a-zA-Z0-9_=+.-], not "." or ".." (wg-quick's rule,
// which is a subset of what the kernel accepts).
bool valid_interface_name(std::string_view name);

class TunDevice {
 public:
  TunDevice(std::string_view name, uint32_t mtu = kDefaultMtu, bool offload = false);
  ~TunDevice();
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  const std::string& name() const { return name_; }
  int ifindex() const { return ifindex_; }
  uint32_t mtu() const { return mtu_; }
  // Non-blocking; for the event loop to wait on. Owned by this object.
  int fd() const { return fd_; }
  // True when attached to a pre-existing persistent TUN.
  bool persistent() const { return persistent_; }
  // True when reads and writes carry a virtio-net header (IFF_VNET_HDR).
  bool vnet_hdr() const { return vnet_hdr_; }
  // True when the kernel may hand us TSO super-packets and partial checksums.
  bool tso() const { return tso_; }

  // Interface address with its prefix length, e.g. 10.0.0.1/24.
  void add_address(const net::Prefix& addr);
  // Routes the prefix (host bits are cleared first) to this interface.
  // Returns false, adding nothing, if an identical route already exists.
  bool add_route(const net::Prefix& dst);
  bool remove_route(const net::Prefix& dst);

  // One packet per call, preceded by the virtio-net header when vnet_hdr().
  // Returns the bytes read, or -errno (-EAGAIN: nothing to read). A read into
  // a buffer smaller than the packet truncates it: pass 65535 (+ header).
  ssize_t read(std::span<uint8_t> buf) noexcept;
  // Writes one plain IP packet (adding an all-zero header when vnet_hdr()).
  ssize_t write(std::span<const uint8_t> packet) noexcept;
  // Writes one packet given as the 10-byte virtio-net header `hdr` (used
  // only when vnet_hdr()) and the packet bytes gathered from `parts`
  // (at most 64): a coalesced TCP super-packet in one system call.
  ssize_t write_parts(const uint8_t* hdr, std::span<const std::span<const uint8_t>> parts) noexcept;

 private:
  void set_mtu(uint32_t mtu);
  void set_up(bool up);
  void undo() noexcept;  // for persistent interfaces only
  Netlink::Link link() const { return {ifindex_, name_}; }

  std::string name_;
  int fd_ = -1;
  int ifindex_ = 0;
  uint32_t mtu_ = 0;
  bool persistent_ = false;
  bool vnet_hdr_ = false, tso_ = false;
  // What to undo on a persistent interface.
  uint32_t old_mtu_ = 0;
  bool brought_up_ = false;
  std::vector<net::Prefix> added_addresses_;
  std::vector<net::Prefix> added_routes_;
  Netlink nl_;
};

}  // namespace ovl::tun
