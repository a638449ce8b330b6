// The node's one UDP socket (WireGuard, and later disco/STUN, share it).
//
// Dual-stack: an AF_INET6 socket with IPV6_V6ONLY off, so IPv4 peers arrive as
// v4-mapped addresses; those are converted to and from plain IPv4
// net::Endpoints at this boundary, so protocol code never sees ::ffff:a.b.c.d.
// On a host without IPv6 it falls back to an AF_INET socket.
//
// No asio here: the event loop waits on fd() and calls recv/send, which is
// also where recvmmsg/sendmmsg and UDP GSO/GRO batching will go.
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

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  bool v6_ = false;
};

// Conversions at the socket boundary. to_sockaddr writes a v4-mapped IPv6
// address when `v6_socket` and `ep` is IPv4; it fails (returns 0) for an IPv6
// endpoint on an IPv4 socket. from_sockaddr unmaps v4-mapped addresses.
socklen_t to_sockaddr(const net::Endpoint& ep, bool v6_socket, sockaddr_storage& out) noexcept;
net::Endpoint from_sockaddr(const sockaddr_storage& sa) noexcept;

}  // namespace ovl::io
