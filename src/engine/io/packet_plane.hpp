// The data path of a node on an asio loop: a wg::Device between a TUN device
// and the node's UDP socket, plus the device's timer.
//
//   TUN readable  -> device.on_tun  (packet read with kHeadroom/kTailroom room)
//   UDP readable  -> device.on_udp
//   timer due     -> device.on_timer (only ever moved earlier; see rearm())
//
// With a `filter`, packets read from TUN are shown to it (it tracks the
// flows this node opens) and packets the device decrypted reach TUN only if
// it lets them pass: the receiving node enforces access policies.
//
// Internal to engine/io: it includes asio, so only the loop .cpp files that
// already pay for asio include it. Receive buffers are allocated once; the
// packet path neither allocates nor throws. Several packets are taken per
// wake-up (bounded, so neither source starves the other).
#pragma once
#include <asio.hpp>

#include <array>
#include <functional>
#include <optional>

#include "engine/io/loop_stats.hpp"
#include "engine/io/udp_socket.hpp"
#include "engine/policy/filter.hpp"
#include "engine/wg/device.hpp"
#include "tun/tun_device.hpp"

namespace ovl::io {

class PacketPlane final : public wg::Output {
 public:
  static constexpr int kBatch = 64;
  static constexpr size_t kMaxPacket = 65535;

  PacketPlane(asio::io_context& io, wg::Device& dev, tun::TunDevice& tun, UdpSocket& udp);
  ~PacketPlane() override;

  void start();
  // Datagrams that are not WireGuard messages (disco, STUN) go here when set.
  std::function<void(std::span<uint8_t>, const net::Endpoint&)> other_udp;
  // Packets read from TUN that are addressed to this IPv4 address are handed
  // to `local_service` instead of the device (the node's DNS resolver).
  std::optional<net::IpAddr> local_address;
  std::function<void(std::span<const uint8_t>)> local_service;
  // Datagrams the device sends to a relay's virtual endpoint go here.
  std::function<void(const net::Endpoint&, std::span<const uint8_t>)> virtual_send;
  // Access policy filter (owned by the daemon; nullptr: none).
  policy::Filter* filter = nullptr;
  // Call after changing the device from outside an event (peers added...).
  void rearm();
  const LoopStats& stats() const { return stats_; }

  void send_udp(const net::Endpoint& to, std::span<const uint8_t> datagram) override;
  void write_tun(std::span<const uint8_t> packet) override;

 private:
  void wait_udp();
  void wait_tun();
  void on_udp_readable();
  void on_tun_readable();

  asio::io_context& io_;
  wg::Device& dev_;
  tun::TunDevice& tun_;
  UdpSocket& udp_;
  // Used only to wait for readability; the fds stay owned by UdpSocket and
  // TunDevice and are released (not closed) in the destructor.
  asio::posix::stream_descriptor udp_wait_;
  asio::posix::stream_descriptor tun_wait_;
  asio::steady_timer timer_;
  wg::Time armed_ = wg::Time::max();  // when the timer fires; max() when idle
  wg::Time now_{0};                   // of the event being handled (for the filter)
  LoopStats stats_;
  alignas(16) std::array<uint8_t, wg::kHeadroom + kMaxPacket + wg::kTailroom> tun_buf_;
  alignas(16) std::array<uint8_t, kMaxPacket + 1> udp_buf_;
};

}  // namespace ovl::io
