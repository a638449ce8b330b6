// The data path of a node on an asio loop: a wg::Device between a TUN device
// and the node's UDP socket, plus the device's timer.
//
//   TUN readable  -> (TSO super-packet: segment) -> device.on_tun, in place
//                    in the tx arena -> sealed datagrams queued -> flush_tx:
//                    equal-size runs to one peer go as one UDP GSO message,
//                    all of them in one sendmmsg
//   UDP readable  -> recvmmsg (UDP GRO: one buffer holds many datagrams)
//                    -> device.on_udp, decrypted in place -> packets for TUN
//                    queued -> flush_tun: TCP segments of one stream merged
//                    into one super-packet (net::TcpCoalescer), one writev
//   timer due     -> device.on_timer (only ever moved earlier; see rearm())
//
// With a `filter`, packets read from TUN are shown to it (it tracks the
// flows this node opens) and packets the device decrypted reach TUN only if
// it lets them pass: the receiving node enforces access policies.
//
// Each offload falls back on its own (no TSO: one packet per read; no GSO:
// one sendmmsg entry per datagram; no GRO: one datagram per recvmmsg slot;
// no virtio header: packets written one by one). Buffers are allocated once
// (and only touched when traffic flows); the packet path neither allocates
// nor throws. Reads per wake-up are bounded so neither source starves.
//
// write_tun() is the single place where decrypted packets leave for TUN.
// Internal to engine/io: it includes asio, so only the loop .cpp files that
// already pay for asio include it.
#pragma once
#include <asio.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>

#include "engine/io/loop_stats.hpp"
#include "engine/io/udp_socket.hpp"
#include "engine/policy/filter.hpp"
#include "engine/io/worker_pool.hpp"
#include "engine/net/gro.hpp"
#include "engine/wg/device.hpp"
#include "tun/tun_device.hpp"

namespace ovl::io {

class PacketPlane final : public wg::Output {
 public:
  static constexpr int kBatch = 64;             // TUN reads per wake-up
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

  // Output. Datagrams sealed inside the tx arena and packets decrypted
  // inside the rx arena are queued until the end of the batch; anything
  // else (handshakes, staged packets, relayed input) goes out at once.
  void send_udp(const net::Endpoint& to, std::span<const uint8_t> datagram) override;
  void write_tun(std::span<const uint8_t> packet) override;
  // Transport messages for packets in the tx arena are sealed in flush_tx,
  // the whole batch at once on the worker pool.
  void send_transport(const net::Endpoint& to, wg::Keypair& kp, uint64_t counter, uint8_t* pkt,
                      size_t len) override;

 private:
  static constexpr size_t kTxArena = 512 * 1024;
  static constexpr int kRxSlots = 16;
  static constexpr size_t kRxSlot = 65536;
  static constexpr size_t kMaxPending = 1024;
  static constexpr size_t kMaxRxItems = kRxSlots * 64;  // UDP GRO merges at most 64 datagrams
  static constexpr size_t kGsoMaxBytes = 65000;  // under the 64 KB IP limit with headers
  static constexpr size_t kGsoMaxSegments = 64;

  void wait_udp();
  void wait_tun();
  void on_udp_readable();
  void on_tun_readable();
  void handle_tso(uint8_t* pkt, size_t len, const net::VnetHdr& h, wg::Time now);
  void to_device(std::span<uint8_t> pkt, wg::Time now);
  void send_now(const net::Endpoint& to, std::span<const uint8_t> datagram);
  void flush_tx();
  void send_msgs(const UdpSocket::TxMsg* msgs, int n);
  void flush_tun();
  void dispatch_rx(size_t n, wg::Time now);
  bool in_tx(const uint8_t* p) const { return p >= tx_.get() && p < tx_.get() + kTxArena; }
  bool in_rx(const uint8_t* p) const { return p >= rx_.get() && p < rx_.get() + kRxSlots * kRxSlot; }

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

  // TUN -> UDP. Packets are read into the arena at tx_used_ with kHeadroom
  // before them and sealed in place, so consecutive datagrams lie back to
  // back; TSO segments are written after their super-packet at a stride that
  // makes them contiguous too. Arena bytes are reused after flush_tx().
  std::unique_ptr<uint8_t[]> tx_;
  size_t tx_used_ = 0;
  struct Pending {
    net::Endpoint to;
    const uint8_t* data;  // the datagram (once sealed)
    size_t len;
    // Still to seal: the inner packet is at data + 16, inner_len bytes.
    bool seal = false;
    uint32_t remote_index = 0;
    uint64_t counter = 0;
    size_t inner_len = 0;
    crypto::SecretKey key;  // wiped after use
  };
  std::unique_ptr<Pending[]> pending_;
  size_t n_pending_ = 0;
  bool gso_warned_ = false;

  // UDP -> TUN. Each round's datagrams are listed first; transport
  // messages for live sessions are decrypted in parallel, then all are
  // handed to the device in arrival order.
  std::unique_ptr<uint8_t[]> rx_;
  std::array<UdpSocket::RxMsg, kRxSlots> rx_msgs_;
  struct RxItem {
    std::span<uint8_t> d;
    const net::Endpoint* from;
    bool opened = false;     // decrypted in parallel (key says with what)
    bool authentic = false;
    crypto::SecretKey key;
  };
  std::unique_ptr<RxItem[]> rx_items_;
  std::unique_ptr<net::TcpCoalescer> gro_;
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace ovl::io
