#include "engine/io/packet_plane.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/io/system_env.hpp"
#include "engine/log.hpp"
#include "engine/relay/client.hpp"

namespace ovl::io {

namespace {

// Logs the 1st, 2nd, 4th, 8th... occurrence of a per-packet error: visible,
// but a flood cannot flood the log (or allocate on every packet).
void log_sometimes(uint64_t count, const char* what, ssize_t neg_errno) {
  if (count & (count - 1)) return;
  log::warn("%s: %s (%llu so far)", what, std::strerror(static_cast<int>(-neg_errno)),
            static_cast<unsigned long long>(count));
}

}  // namespace

PacketPlane::PacketPlane(asio::io_context& io, wg::Device& dev, tun::TunDevice& tun, UdpSocket& udp)
    : io_(io), dev_(dev), tun_(tun), udp_(udp), udp_wait_(io, udp.fd()), tun_wait_(io, tun.fd()), timer_(io) {}

PacketPlane::~PacketPlane() {
  udp_wait_.release();
  tun_wait_.release();
}

void PacketPlane::start() {
  wait_udp();
  wait_tun();
  rearm();
}

void PacketPlane::send_udp(const net::Endpoint& to, std::span<const uint8_t> datagram) {
  if (virtual_send && relay::is_virtual_endpoint(to)) return virtual_send(to, datagram);
  ssize_t n = udp_.send(to, datagram);
  if (n >= 0) {
    ++stats_.udp_tx;
  } else if (n != -EAGAIN && n != -EWOULDBLOCK) {
    log_sometimes(++stats_.udp_tx_errors, "UDP send failed", n);
  } else {
    ++stats_.udp_tx_errors;  // socket buffer full: dropped, like a lossy link
  }
}

void PacketPlane::write_tun(std::span<const uint8_t> packet) {
  if (filter && !policy::passes(filter->inbound(packet, now_))) return;  // counted by the filter
  ssize_t n = tun_.write(packet);
  if (n >= 0) ++stats_.tun_tx;
  else log_sometimes(++stats_.tun_tx_errors, "TUN write failed", n);
}

void PacketPlane::wait_udp() {
  udp_wait_.async_wait(asio::posix::descriptor_base::wait_read, [this](const std::error_code& ec) {
    if (!ec) on_udp_readable();
  });
}

void PacketPlane::wait_tun() {
  tun_wait_.async_wait(asio::posix::descriptor_base::wait_read, [this](const std::error_code& ec) {
    if (!ec) on_tun_readable();
  });
}

void PacketPlane::on_udp_readable() {
  const wg::Time now = now_ = monotonic_now();
  for (int i = 0; i < kBatch; ++i) {
    net::Endpoint from;
    ssize_t n = udp_.recv(udp_buf_, from);
    if (n < 0) {
      if (n == -EAGAIN || n == -EWOULDBLOCK) break;
      if (n == -EINTR) continue;
      // e.g. a queued ICMP error; the next datagram may be fine.
      log_sometimes(++stats_.udp_rx_errors, "UDP receive failed", n);
      continue;
    }
    ++stats_.udp_rx;
    std::span<uint8_t> d(udp_buf_.data(), static_cast<size_t>(n));
    if (other_udp && !wg::is_wireguard_message(d)) other_udp(d, from);
    else dev_.on_udp(d, from, now, *this);
  }
  rearm();
  wait_udp();
}

void PacketPlane::on_tun_readable() {
  const wg::Time now = now_ = monotonic_now();
  uint8_t* pkt = tun_buf_.data() + wg::kHeadroom;
  for (int i = 0; i < kBatch; ++i) {
    ssize_t n = tun_.read(std::span<uint8_t>(pkt, kMaxPacket));
    if (n < 0) {
      if (n == -EAGAIN || n == -EWOULDBLOCK) break;
      if (n == -EINTR) continue;
      // EBADFD/EIO: the interface is gone (deleted by someone); nothing
      // sensible is left to do but to stop.
      throw std::runtime_error("reading from TUN device " + tun_.name() + " failed: " +
                               std::strerror(static_cast<int>(-n)));
    }
    if (n == 0) continue;
    ++stats_.tun_rx;
    if (local_address && n >= 20 && (pkt[0] >> 4) == 4 && std::memcmp(pkt + 16, local_address->b.data(), 4) == 0) {
      local_service({pkt, static_cast<size_t>(n)});
      continue;
    }
    if (filter) filter->outbound({pkt, static_cast<size_t>(n)}, now);
    dev_.on_tun(std::span<uint8_t>(pkt, static_cast<size_t>(n)), now, *this);
  }
  rearm();
  wait_tun();
}

// Called after every event. The timer is only moved *earlier*: if the new
// deadline is later than the armed one we let the timer fire early, and
// on_timer (which tolerates being called with nothing due) re-arms it. That
// avoids cancelling and re-posting a wait on every packet, since the device
// pushes its keepalive deadlines back on nearly every packet.
void PacketPlane::rearm() {
  const wg::Time d = dev_.next_deadline();
  if (d >= armed_) return;
  armed_ = d;
  timer_.expires_at(
      asio::steady_timer::time_point(std::chrono::duration_cast<asio::steady_timer::duration>(d)));
  timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;  // replaced by an earlier deadline, or shutdown
    armed_ = wg::Time::max();
    now_ = monotonic_now();
    dev_.on_timer(now_, *this);
    rearm();
  });
}

}  // namespace ovl::io
