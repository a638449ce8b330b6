#include "engine/io/udp_socket.hpp"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <array>

#include <cstring>
#include <string>
#include <system_error>

namespace ovl::io {

namespace {

// Big socket buffers absorb bursts between two wake-ups of the single
// event-loop thread (wireguard-go asks for 7 MiB too). The *FORCE variants
// exceed rmem_max but need CAP_NET_ADMIN; otherwise take what we can get.
void grow_buffers(int fd) {
  int size = 7 << 20;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

// Room for one int-sized control message (UDP_SEGMENT / UDP_GRO).
constexpr size_t kCmsgSpace = CMSG_SPACE(sizeof(int));

}  // namespace

UdpSocket::UdpSocket(uint16_t port, std::optional<net::IpAddr> bind_ip) {
  fd_ = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  v6_ = fd_ >= 0;
  if (fd_ < 0 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT))
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open UDP socket");

  int err = 0;
  if (v6_) {
    int off = 0;
    if (::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) err = errno;
  }
  if (!err) {
    grow_buffers(fd_);
    sockaddr_storage ss{};
    socklen_t len;
    if (bind_ip) {
      len = to_sockaddr({*bind_ip, port}, v6_, ss);
      if (!len) err = EAFNOSUPPORT;
    } else if (v6_) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_addr = in6addr_any;
      s6->sin6_port = htons(port);
      len = sizeof *s6;
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_addr.s_addr = htonl(INADDR_ANY);
      s4->sin_port = htons(port);
      len = sizeof *s4;
    }
    if (err) {
    } else if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
      err = errno;
    } else {
      len = sizeof ss;
      if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) err = errno;
      else port_ = from_sockaddr(ss).port;
    }
  }
  if (err) {
    ::close(fd_);
    throw std::system_error(err, std::generic_category(),
                            bind_ip ? "cannot bind UDP " + net::Endpoint{*bind_ip, port}.str()
                            : port  ? "cannot bind UDP port " + std::to_string(port)
                                    : "cannot bind a UDP port");
  }
}

UdpSocket::~UdpSocket() { ::close(fd_); }

void UdpSocket::enable_offloads(bool gso, bool gro) noexcept {
  // Both are optional: kernels before 4.18 (GSO) / 5.0 (GRO) say no, and
  // datagrams then go one by one.
  int seg = 0;
  socklen_t sl = sizeof seg;
  gso_ = gso && ::getsockopt(fd_, IPPROTO_UDP, UDP_SEGMENT, &seg, &sl) == 0;
  int on = gro ? 1 : 0;
  gro_ = ::setsockopt(fd_, IPPROTO_UDP, UDP_GRO, &on, sizeof on) == 0 && gro;
}

ssize_t UdpSocket::recv(std::span<uint8_t> buf, net::Endpoint& from) noexcept {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&ss), &len);
  if (n < 0) return -errno;
  from = from_sockaddr(ss);
  return n;
}

ssize_t UdpSocket::send(const net::Endpoint& to, std::span<const uint8_t> datagram) noexcept {
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(to, v6_, ss);
  if (!len) return -EAFNOSUPPORT;
  ssize_t n = ::sendto(fd_, datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                       reinterpret_cast<sockaddr*>(&ss), len);
  return n < 0 ? -errno : n;
}

int UdpSocket::recv_batch(RxMsg* msgs, int n) noexcept {
  if (n > kMaxBatch) n = kMaxBatch;
  std::array<mmsghdr, kMaxBatch> mh;
  std::array<iovec, kMaxBatch> iov;
  std::array<sockaddr_storage, kMaxBatch> sa;
  alignas(cmsghdr) std::array<std::array<uint8_t, kCmsgSpace>, kMaxBatch> ctl;
  for (int i = 0; i < n; ++i) {
    iov[i] = {msgs[i].buf.data(), msgs[i].buf.size()};
    mh[i] = {};
    mh[i].msg_hdr.msg_name = &sa[i];
    mh[i].msg_hdr.msg_namelen = sizeof sa[i];
    mh[i].msg_hdr.msg_iov = &iov[i];
    mh[i].msg_hdr.msg_iovlen = 1;
    if (gro_) {
      mh[i].msg_hdr.msg_control = ctl[i].data();
      mh[i].msg_hdr.msg_controllen = kCmsgSpace;
    }
  }
  int got = ::recvmmsg(fd_, mh.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  if (got < 0) return -errno;
  for (int i = 0; i < got; ++i) {
    RxMsg& m = msgs[i];
    m.len = mh[i].msg_len;
    m.truncated = mh[i].msg_hdr.msg_flags & MSG_TRUNC;
    m.segment = 0;
    m.from = from_sockaddr(sa[i]);
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh[i].msg_hdr); gro_ && c; c = CMSG_NXTHDR(&mh[i].msg_hdr, c)) {
      if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
        int seg;
        std::memcpy(&seg, CMSG_DATA(c), sizeof seg);
        if (seg > 0 && static_cast<size_t>(seg) < m.len) m.segment = static_cast<uint16_t>(seg);
      }
    }
  }
  return got;
}

int UdpSocket::send_batch(const TxMsg* msgs, int n) noexcept {
  if (n > kMaxBatch) n = kMaxBatch;
  std::array<mmsghdr, kMaxBatch> mh;
  std::array<iovec, kMaxBatch> iov;
  std::array<sockaddr_storage, kMaxBatch> sa;
  alignas(cmsghdr) std::array<std::array<uint8_t, kCmsgSpace>, kMaxBatch> ctl;
  int k = 0;
  for (; k < n; ++k) {
    const TxMsg& m = msgs[k];
    socklen_t len = to_sockaddr(m.to, v6_, sa[k]);
    if (!len) break;  // an IPv6 peer on an IPv4-only socket: stop before it
    iov[k] = {const_cast<uint8_t*>(m.data), m.len};
    mh[k] = {};
    mh[k].msg_hdr.msg_name = &sa[k];
    mh[k].msg_hdr.msg_namelen = len;
    mh[k].msg_hdr.msg_iov = &iov[k];
    mh[k].msg_hdr.msg_iovlen = 1;
    if (m.segment && m.segment < m.len) {
      mh[k].msg_hdr.msg_control = ctl[k].data();
      mh[k].msg_hdr.msg_controllen = kCmsgSpace;
      cmsghdr* c = CMSG_FIRSTHDR(&mh[k].msg_hdr);
      c->cmsg_level = IPPROTO_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = m.segment;
      std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
    }
  }
  if (k == 0) return n ? -EAFNOSUPPORT : 0;
  int sent = ::sendmmsg(fd_, mh.data(), static_cast<unsigned>(k), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent < 0) {
    int e = errno;
    // EIO: the route's device cannot checksum-offload UDP; EINVAL and
    // friends: GSO is not usable here. Either way the datagrams go out one
    // by one from now on.
    if (msgs[0].segment && (e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP)) gso_ = false;
    return -e;
  }
  return sent;
}

socklen_t to_sockaddr(const net::Endpoint& ep, bool v6_socket, sockaddr_storage& out) noexcept {
  std::memset(&out, 0, sizeof out);
  if (v6_socket) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&out);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(ep.port);
    if (ep.ip.v6) {
      std::memcpy(&s6->sin6_addr, ep.ip.b.data(), 16);
    } else {
      s6->sin6_addr.s6_addr[10] = 0xff;
      s6->sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(&s6->sin6_addr.s6_addr[12], ep.ip.b.data(), 4);
    }
    return sizeof *s6;
  }
  if (ep.ip.v6) return 0;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&out);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(ep.port);
  std::memcpy(&s4->sin_addr, ep.ip.b.data(), 4);
  return sizeof *s4;
}

net::Endpoint from_sockaddr(const sockaddr_storage& sa) noexcept {
  net::Endpoint ep;
  if (sa.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    ep.port = ntohs(s6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      ep.ip = net::IpAddr::from_bytes({&s6->sin6_addr.s6_addr[12], 4});
    } else {
      ep.ip = net::IpAddr::from_bytes({s6->sin6_addr.s6_addr, 16});
    }
  } else if (sa.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&sa);
    ep.port = ntohs(s4->sin_port);
    ep.ip = net::IpAddr::from_bytes({reinterpret_cast<const uint8_t*>(&s4->sin_addr), 4});
  }
  return ep;
}

}  // namespace ovl::io
