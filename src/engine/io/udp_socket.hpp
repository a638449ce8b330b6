// The node's one UDP socket (WireGuard, and later disco/STUN, share it).
//
// Dual-stack: an AF_INET6 socket with IPV6_V6ONLY off, so IPv4 peers arrive as
// v4-mapped addresses; those are converted to and from plain IPv4
// net::Endpoints at this boundary, so protocol code never sees ::ffff:a.b.c.d.
// On a host without IPv6 it falls back to an AF_INET socket.
//
// No asio here: the event loop waits on fd() and calls recv/send, or the
// batched recv_batch/send_batch (recvmmsg/sendmmsg with UDP GRO/GSO where
// the kernel has them; each falls back on its own: no GRO means one datagram
// per message, no GSO means one sendmmsg entry per datagram).
#pragma once
#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>

#include "engine/net/ip.hpp"

namespace ovl::io {

class UdpSocket {
 public:
  // Binds the wildcard address (or `bind_ip`) on `port` (0 = let the kernel
  // choose). Throws std::system_error, e.g. "cannot bind UDP port 51820:
  // Address already in use".
  explicit UdpSocket(uint16_t port, std::optional<net::IpAddr> bind_ip = std::nullopt);
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  int fd() const { return fd_; }
  uint16_t port() const { return port_; }  // the bound port, also when 0 was asked for
  bool dual_stack() const { return v6_; }

  // Non-blocking; never throw. Return the datagram length or -errno
  // (-EAGAIN when nothing is queued / the send buffer is full).
  ssize_t recv(std::span<uint8_t> buf, net::Endpoint& from) noexcept;
  ssize_t send(const net::Endpoint& to, std::span<const uint8_t> datagram) noexcept;

  // Opt-in, for the one reader that uses recv_batch: with GRO on, a plain
  // recv() could return several datagrams glued together.
  void enable_offloads(bool gso, bool gro) noexcept;

  static constexpr int kMaxBatch = 64;
  // A receive slot: `buf` is filled by the kernel; on return `len` bytes
  // arrived from `from`. With GRO, `segment` > 0 says the bytes are
  // several datagrams of `segment` bytes each (the last may be shorter).
  struct RxMsg {
    std::span<uint8_t> buf;
    size_t len = 0;
    uint16_t segment = 0;
    bool truncated = false;
    net::Endpoint from;
  };
  // Fills up to n (<= kMaxBatch) slots; returns how many, or -errno.
  int recv_batch(RxMsg* msgs, int n) noexcept;
  // `len` bytes of datagrams to `to`; `segment` > 0 (only when gso()) means
  // they are datagrams of `segment` bytes each, the last possibly shorter.
  struct TxMsg {
    net::Endpoint to;
    const uint8_t* data = nullptr;
    size_t len = 0;
    uint16_t segment = 0;
  };
  // Sends what the socket buffer takes; returns how many messages went, or
  // -errno if the first failed. A GSO message the kernel refuses switches
  // GSO off for good (the caller then resends it split).
  int send_batch(const TxMsg* msgs, int n) noexcept;
  bool gso() const { return gso_; }
  bool gro() const { return gro_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  bool v6_ = false;
  bool gso_ = false, gro_ = false;
};

// Conversions at the socket boundary. to_sockaddr writes a v4-mapped IPv6
// address when `v6_socket` and `ep` is IPv4; it fails (returns 0) for an IPv6
// endpoint on an IPv4 socket. from_sockaddr unmaps v4-mapped addresses.
socklen_t to_sockaddr(const net::Endpoint& ep, bool v6_socket, sockaddr_storage& out) noexcept;
net::Endpoint from_sockaddr(const sockaddr_storage& sa) noexcept;

}  // namespace ovl::io
