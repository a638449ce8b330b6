// A relay on its own UDP socket: relay::Server (sans-IO) behind a batched,
// allocation-free receive/forward loop, plus STUN Binding answers on the same
// port. The coordinator embeds one; `ovl relay` runs one alone
// (relay_daemon.hpp).
//
// Per wake-up it takes up to kBatch datagrams with one recvmmsg, lets the
// server rewrite each in place (forwards and answers are written over the
// received bytes) and hands them back to the kernel with one sendmmsg, runs
// to one destination coalesced with UDP GSO; recvfrom/sendmsg when the
// *mmsg calls are missing, one datagram per message when GSO is. Nothing is
// allocated per datagram.
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
  static constexpr size_t kMaxSegments = 64;     // the kernel's UDP_MAX_SEGMENTS
  static constexpr size_t kMaxGsoBytes = 65000;  // one UDP datagram's payload, with room

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
  int fd() const { return udp_.fd(); }
  relay::Server& server() { return server_; }
  // Datagrams taken from the socket, and in how many receive calls (how well
  // batching works under the actual load).
  uint64_t datagrams() const { return datagrams_; }
  uint64_t receive_calls() const { return receive_calls_; }

 private:
  void arm();
  void drain();
  size_t receive(size_t& got);  // fills rx_*; returns how many, 0 when empty
  void transmit(size_t count);  // sends tx_*[0..count)
  size_t build_messages(size_t first, size_t count);
  bool same_destination(size_t a, size_t b) const;
  void schedule_expiry();

  UdpSocket udp_;
  asio::posix::stream_descriptor wait_;
  asio::steady_timer expiry_;
  relay::Server server_;
  net::Endpoint stun_source_;
  bool use_mmsg_ = true;
  bool use_gso_ = true;
  size_t gso_max_segment_ = kMaxGsoBytes;  // larger datagrams are sent one per message
  uint64_t datagrams_ = 0, receive_calls_ = 0;
  std::vector<uint8_t> bufs_;  // kBatch * kMaxDatagram, allocated once
  std::array<mmsghdr, kBatch> rx_{};
  std::array<iovec, kBatch> rx_iov_{};
  std::array<sockaddr_storage, kBatch> rx_addr_{};
  // What to send: datagram i is tx_iov_[i] to tx_addr_[i] (tx_namelen_[i] bytes).
  std::array<iovec, kBatch> tx_iov_{};
  std::array<sockaddr_storage, kBatch> tx_addr_{};
  std::array<socklen_t, kBatch> tx_namelen_{};
  std::array<mmsghdr, kBatch> msgs_{};  // the messages built from them
  std::array<size_t, kBatch> first_{};
  struct alignas(cmsghdr) Control {
    uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
    uint8_t* data() { return b; }
    static constexpr size_t size() { return sizeof b; }
  };
  std::array<Control, kBatch> ctrl_{};
};

}  // namespace ovl::io
