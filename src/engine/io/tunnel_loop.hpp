// The event loop of a standalone tunnel: one thread that drives a
// wg::Device from a TUN interface, one UDP socket and one timer.
//
//   TUN readable      -> device.on_tun   (packet read with kHeadroom/kTailroom room)
//   UDP readable      -> device.on_udp
//   timer due         -> device.on_timer (re-armed to next_deadline() after every event)
//   SIGINT / SIGTERM  -> run() returns
//
// The device's Output writes straight to the socket and the TUN fd; packets
// that cannot be sent right away are dropped and counted, as WireGuard does.
// Receive buffers are allocated once; the packet path neither allocates nor
// throws. Several packets are taken per wake-up (bounded, so neither source
// starves the other).
//
// This header deliberately does not include asio (pimpl): asio is slow to
// compile and only tunnel_loop.cpp needs it.
#pragma once
#include <cstdint>
#include <memory>

#include "engine/io/loop_stats.hpp"
#include "engine/wg/device.hpp"
#include "tun/tun_device.hpp"

namespace ovl::io {



class TunnelLoop {
 public:
  // Binds the UDP socket (`listen_port` 0 = ephemeral); throws std::system_error
  // if that fails. `device` and `tun` must outlive the loop.
  TunnelLoop(wg::Device& device, tun::TunDevice& tun, uint16_t listen_port);
  ~TunnelLoop();
  TunnelLoop(const TunnelLoop&) = delete;
  TunnelLoop& operator=(const TunnelLoop&) = delete;

  // Runs until stop(), SIGINT or SIGTERM. Throws if the TUN interface fails
  // for good (e.g. it was deleted under us).
  void run();
  // Makes run() return soon; callable from any thread (not from a signal
  // handler: signals are already handled by the loop).
  void stop();
  uint16_t bound_port() const;
  const LoopStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovl::io
