// A relay on its own UDP socket: relay::Server (sans-IO) behind a batched,
// allocation-free receive/forward loop, plus STUN Binding answers on the same
// port. The coordinator embeds one; `ovl relay` runs one alone
// (relay_daemon.hpp).
//
// Per wake-up it takes up to kBatch datagrams with one recvmmsg, lets the
// server rewrite each in place (forwards and answers are written over the
// received bytes) and hands them back to the kernel with one sendmmsg;
// recvfrom/sendto when the *mmsg calls are missing. Nothing is allocated per
// datagram.
#pragma once
#include <asio.hpp>

#include <sys/socket.h>

#include <array>
#include <memory>
#include <vector>

#include "engine/io/udp_socket.hpp"
#include "engine/relay/server.hpp"

namespace ovl::io {

class RelayService {
 public:
  static constexpr size_t kBatch = 32;
  static constexpr size_t kMaxDatagram = 65536;
  static constexpr int kBatchesPerWake = 8;  // then let other handlers run

  // Binds `listen` (an unspecified IP = every address); throws
  // std::system_error when the port is taken. `stun_source` is what STUN
  // answers to classic clients give as SOURCE-ADDRESS.
  RelayService(asio::io_context& io, const net::Endpoint& listen, const relay::RelaySecret& secret,
               const net::Endpoint& stun_source, relay::ServerOptions opts = {});
  ~RelayService();
  RelayService(const RelayService&) = delete;
  RelayService& operator=(const RelayService&) = delete;

  void start();
  uint16_t port() const { return udp_.port(); }
  relay::Server& server() { return server_; }
  // Datagrams taken from the socket, and in how many receive calls (how well
  // batching works under the actual load).
  uint64_t datagrams() const { return datagrams_; }
  uint64_t receive_calls() const { return receive_calls_; }

 private:
  void arm();
  void drain();
  size_t receive(size_t& got);  // fills rx_*; returns how many, 0 when empty
  void transmit(size_t count);  // sends tx_[0..count)
  void schedule_expiry();

  UdpSocket udp_;
  asio::posix::stream_descriptor wait_;
  asio::steady_timer expiry_;
  relay::Server server_;
  net::Endpoint stun_source_;
  bool use_mmsg_ = true;
  uint64_t datagrams_ = 0, receive_calls_ = 0;
  std::vector<uint8_t> bufs_;  // kBatch * kMaxDatagram, allocated once
  std::array<mmsghdr, kBatch> rx_{};
  std::array<iovec, kBatch> rx_iov_{};
  std::array<sockaddr_storage, kBatch> rx_addr_{};
  std::array<mmsghdr, kBatch> tx_{};
  std::array<iovec, kBatch> tx_iov_{};
  std::array<sockaddr_storage, kBatch> tx_addr_{};
};

}  // namespace ovl::io
