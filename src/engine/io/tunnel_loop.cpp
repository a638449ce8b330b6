#include "engine/io/tunnel_loop.hpp"

#include <atomic>
#include <csignal>

#include "engine/io/packet_plane.hpp"
#include "engine/log.hpp"

namespace ovl::io {

struct TunnelLoop::Impl {
  asio::io_context io{1};
  UdpSocket udp;
  PacketPlane plane;
  asio::signal_set signals{io, SIGINT, SIGTERM};
  std::atomic<bool> stop_requested{false};
  bool started = false;

  Impl(wg::Device& d, tun::TunDevice& t, uint16_t port) : udp(port), plane(io, d, t, udp) {}

  void wait_signals() {
    signals.async_wait([this](const std::error_code& ec, int sig) {
      if (ec) return;
      log::info("%s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop_requested = true;
      io.stop();
    });
  }

  void run() {
    if (stop_requested) return;
    if (!started) {
      started = true;
      wait_signals();
      plane.start();
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

const LoopStats& TunnelLoop::stats() const { return impl_->plane.stats(); }

}  // namespace ovl::io
