#include "engine/io/tunnel_loop.hpp"

#include <asio.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/io/system_env.hpp"
#include "engine/io/udp_socket.hpp"
#include "engine/log.hpp"

namespace ovl::io {

namespace {

// Packets handled per source per wake-up before yielding to the other
// source and the timer.
constexpr int kBatch = 64;
constexpr size_t kMaxPacket = 65535;

// Logs the 1st, 2nd, 4th, 8th... occurrence of a per-packet error: visible,
// but a flood cannot flood the log (or allocate on every packet).
void log_sometimes(uint64_t count, const char* what, ssize_t neg_errno) {
  if (count & (count - 1)) return;
  log::warn("%s: %s (%llu so far)", what, std::strerror(static_cast<int>(-neg_errno)),
            static_cast<unsigned long long>(count));
}

}  // namespace

struct TunnelLoop::Impl final : wg::Output {
  wg::Device& dev;
  tun::TunDevice& tun;
  UdpSocket udp;

  asio::io_context io{1};
  // Used only to wait for readability; the fds stay owned by UdpSocket and
  // TunDevice and are released (not closed) in ~Impl.
  asio::posix::stream_descriptor udp_wait{io, udp.fd()};
  asio::posix::stream_descriptor tun_wait{io, tun.fd()};
  asio::steady_timer timer{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};

  // When the timer is set to fire; Time::max() when it is idle.
  wg::Time armed = wg::Time::max();
  std::atomic<bool> stop_requested{false};
  bool started = false;
  LoopStats stats;

  // The device encrypts in place into the room around a TUN packet.
  alignas(16) std::array<uint8_t, wg::kHeadroom + kMaxPacket + wg::kTailroom> tun_buf;
  alignas(16) std::array<uint8_t, kMaxPacket + 1> udp_buf;

  Impl(wg::Device& d, tun::TunDevice& t, uint16_t port) : dev(d), tun(t), udp(port) {}

  ~Impl() override {
    udp_wait.release();
    tun_wait.release();
  }

  // --- wg::Output -----------------------------------------------------------

  void send_udp(const net::Endpoint& to, std::span<const uint8_t> datagram) override {
    ssize_t n = udp.send(to, datagram);
    if (n >= 0) {
      ++stats.udp_tx;
    } else if (n != -EAGAIN && n != -EWOULDBLOCK) {
      log_sometimes(++stats.udp_tx_errors, "UDP send failed", n);
    } else {
      ++stats.udp_tx_errors;  // socket buffer full: dropped, like a lossy link
    }
  }

  void write_tun(std::span<const uint8_t> packet) override {
    ssize_t n = tun.write(packet);
    if (n >= 0) {
      ++stats.tun_tx;
    } else {
      log_sometimes(++stats.tun_tx_errors, "TUN write failed", n);
    }
  }

  // --- event handlers -------------------------------------------------------

  void wait_udp() {
    udp_wait.async_wait(asio::posix::descriptor_base::wait_read, [this](const std::error_code& ec) {
      if (ec) return;  // cancelled at shutdown
      on_udp_readable();
    });
  }

  void wait_tun() {
    tun_wait.async_wait(asio::posix::descriptor_base::wait_read, [this](const std::error_code& ec) {
      if (ec) return;
      on_tun_readable();
    });
  }

  void wait_signals() {
    signals.async_wait([this](const std::error_code& ec, int sig) {
      if (ec) return;
      log::info("%s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop_requested = true;
      io.stop();
    });
  }

  void on_udp_readable() {
    const wg::Time now = monotonic_now();
    for (int i = 0; i < kBatch; ++i) {
      net::Endpoint from;
      ssize_t n = udp.recv(udp_buf, from);
      if (n < 0) {
        if (n == -EAGAIN || n == -EWOULDBLOCK) break;
        if (n == -EINTR) continue;
        // e.g. a queued ICMP error; the next datagram may be fine.
        log_sometimes(++stats.udp_rx_errors, "UDP receive failed", n);
        continue;
      }
      ++stats.udp_rx;
      dev.on_udp(std::span<uint8_t>(udp_buf.data(), static_cast<size_t>(n)), from, now, *this);
    }
    rearm_timer();
    wait_udp();
  }

  void on_tun_readable() {
    const wg::Time now = monotonic_now();
    uint8_t* pkt = tun_buf.data() + wg::kHeadroom;
    for (int i = 0; i < kBatch; ++i) {
      ssize_t n = tun.read(std::span<uint8_t>(pkt, kMaxPacket));
      if (n < 0) {
        if (n == -EAGAIN || n == -EWOULDBLOCK) break;
        if (n == -EINTR) continue;
        // EBADFD/EIO: the interface is gone (deleted by someone); nothing
        // sensible is left to do but to stop the tunnel.
        throw std::runtime_error("reading from TUN device " + tun.name() +
                                 " failed: " + std::strerror(static_cast<int>(-n)));
      }
      if (n == 0) continue;
      ++stats.tun_rx;
      dev.on_tun(std::span<uint8_t>(pkt, static_cast<size_t>(n)), now, *this);
    }
    rearm_timer();
    wait_tun();
  }

  // Called after every event. The timer is only moved *earlier*: if the new
  // deadline is later than the armed one we let the timer fire early, and
  // on_timer (which tolerates being called with nothing due) re-arms it.
  // That avoids cancelling and re-posting a wait on every packet, since the
  // device pushes its keepalive deadlines back on nearly every packet.
  void rearm_timer() {
    const wg::Time d = dev.next_deadline();
    if (d >= armed) return;
    armed = d;
    timer.expires_at(asio::steady_timer::time_point(
        std::chrono::duration_cast<asio::steady_timer::duration>(d)));
    timer.async_wait([this](const std::error_code& ec) {
      if (ec) return;  // replaced by an earlier deadline, or shutdown
      armed = wg::Time::max();
      dev.on_timer(monotonic_now(), *this);
      rearm_timer();
    });
  }

  void run() {
    if (stop_requested) return;
    if (!started) {
      started = true;
      wait_signals();
      wait_udp();
      wait_tun();
      rearm_timer();
    } else {
      io.restart();
    }
    io.run();
  }
};

TunnelLoop::TunnelLoop(wg::Device& device, tun::TunDevice& tun, uint16_t listen_port)
    : impl_(std::make_unique<Impl>(device, tun, listen_port)) {}

TunnelLoop::~TunnelLoop() = default;

void TunnelLoop::run() { impl_->run(); }

void TunnelLoop::stop() {
  impl_->stop_requested = true;
  impl_->io.stop();
}

uint16_t TunnelLoop::bound_port() const { return impl_->udp.port(); }

const LoopStats& TunnelLoop::stats() const { return impl_->stats; }

}  // namespace ovl::io
