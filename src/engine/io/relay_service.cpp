#include "engine/io/relay_service.hpp"

#include <errno.h>
#include <netinet/udp.h>

#include <csignal>
#include <cstring>

#include "engine/io/relay_daemon.hpp"
#include "engine/io/system_env.hpp"
#include "engine/log.hpp"
#include "engine/nat/stun.hpp"

namespace ovl::io {

using namespace std::chrono_literals;

RelayService::RelayService(asio::io_context& io, const net::Endpoint& listen, const relay::RelaySecret& secret,
                           const net::Endpoint& stun_source, relay::ServerOptions opts)
    : udp_(listen.port, listen.ip.is_unspecified() ? std::nullopt : std::optional<net::IpAddr>(listen.ip)),
      wait_(io, udp_.fd()),
      expiry_(io),
      server_(secret, opts),
      stun_source_(stun_source),
      bufs_(kBatch * kMaxDatagram) {
  for (size_t i = 0; i < kBatch; ++i) rx_iov_[i] = {bufs_.data() + i * kMaxDatagram, kMaxDatagram};
}

RelayService::~RelayService() { wait_.release(); }

void RelayService::start() {
  arm();
  schedule_expiry();
}

void RelayService::arm() {
  wait_.async_wait(asio::posix::descriptor_base::wait_read, [this](const std::error_code& ec) {
    if (ec) return;
    drain();
    arm();
  });
}

// Idle allocations are swept on a timer, not per wake-up: a full scan of a
// large table per batch would cost more than the forwarding.
void RelayService::schedule_expiry() {
  expiry_.expires_after(10s);
  expiry_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    server_.expire(monotonic_now());
    schedule_expiry();
  });
}

size_t RelayService::receive(size_t& got) {
  got = 0;
  if (use_mmsg_) {
    for (size_t i = 0; i < kBatch; ++i) {
      rx_[i].msg_hdr = {};
      rx_[i].msg_hdr.msg_iov = &rx_iov_[i];
      rx_[i].msg_hdr.msg_iovlen = 1;
      rx_[i].msg_hdr.msg_name = &rx_addr_[i];
      rx_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    int n = ::recvmmsg(udp_.fd(), rx_.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n >= 0) return got = static_cast<size_t>(n);
    if (errno != ENOSYS) return 0;
    use_mmsg_ = false;
    log::info("relay: no recvmmsg/sendmmsg here; one datagram per system call");
  }
  for (; got < kBatch; ++got) {
    socklen_t len = sizeof(sockaddr_storage);
    ssize_t n = ::recvfrom(udp_.fd(), rx_iov_[got].iov_base, kMaxDatagram, MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&rx_addr_[got]), &len);
    if (n < 0) break;
    rx_[got].msg_len = static_cast<unsigned>(n);
  }
  return got;
}

bool RelayService::same_destination(size_t a, size_t b) const {
  return tx_namelen_[a] == tx_namelen_[b] && std::memcmp(&tx_addr_[a], &tx_addr_[b], tx_namelen_[a]) == 0;
}

// Datagrams [first, count) as messages: with UDP GSO, a run of consecutive
// datagrams to one destination, all of one size but the last, becomes one
// message the kernel cuts apart after routing it once (a bulk transfer
// through the relay is mostly such runs). Returns the message count;
// first_[k] is message k's first datagram.
size_t RelayService::build_messages(size_t first, size_t count) {
  size_t nmsg = 0;
  for (size_t i = first; i < count; ++nmsg) {
    size_t j = i + 1;
    const size_t seg = tx_iov_[i].iov_len;
    if (use_gso_ && seg <= gso_max_segment_) {
      size_t total = seg;
      while (j < count && j - i < kMaxSegments && tx_iov_[j].iov_len <= seg && same_destination(i, j) &&
             total + tx_iov_[j].iov_len <= kMaxGsoBytes) {
        total += tx_iov_[j].iov_len;
        if (tx_iov_[j++].iov_len < seg) break;  // only the last may be shorter
      }
    }
    mmsghdr& m = msgs_[nmsg];
    m = {};
    m.msg_hdr.msg_name = &tx_addr_[i];
    m.msg_hdr.msg_namelen = tx_namelen_[i];
    m.msg_hdr.msg_iov = &tx_iov_[i];
    m.msg_hdr.msg_iovlen = j - i;
    if (j - i > 1) {
      m.msg_hdr.msg_control = ctrl_[nmsg].data();
      m.msg_hdr.msg_controllen = ctrl_[nmsg].size();
      cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto size = static_cast<uint16_t>(seg);
      std::memcpy(CMSG_DATA(c), &size, sizeof size);
    }
    first_[nmsg] = i;
    i = j;
  }
  return nmsg;
}

void RelayService::transmit(size_t count) {
  size_t next = 0;  // the first datagram not yet handed to the kernel
  while (next < count) {
    const size_t nmsg = build_messages(next, count);
    int n = 0;
    if (use_mmsg_) {
      n = ::sendmmsg(udp_.fd(), msgs_.data(), static_cast<unsigned>(nmsg), MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
      while (static_cast<size_t>(n) < nmsg && ::sendmsg(udp_.fd(), &msgs_[n].msg_hdr, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        ++n;
      if (n == 0) n = -1;  // errno from the failed sendmsg
    }
    if (n > 0) {
      next = static_cast<size_t>(n) < nmsg ? first_[n] : count;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // send buffer full: UDP drops, like a busy link
    if (msgs_[0].msg_hdr.msg_iovlen > 1 && use_gso_) {
      // The same datagrams again, one per message. EINVAL: segments this big
      // do not fit the path's MTU unfragmented (GSO never fragments), so
      // group only smaller ones; anything else: no UDP GSO here at all.
      const size_t seg = msgs_[0].msg_hdr.msg_iov[0].iov_len;
      if (errno == EINVAL && seg > 1) {
        gso_max_segment_ = seg - 1;
      } else {
        use_gso_ = false;
        log::info("relay: UDP GSO unavailable (%s); one datagram per message", std::strerror(errno));
      }
      continue;
    }
    next = nmsg > 1 ? first_[1] : count;  // this one failed (e.g. unreachable): skip it, send the rest
  }
}

void RelayService::drain() {
  const auto now = monotonic_now();
  const int64_t now_unix = wall_clock_ns() / 1000000000;
  for (int round = 0; round < kBatchesPerWake; ++round) {
    size_t got = 0;
    if (receive(got) == 0) return;
    ++receive_calls_;
    datagrams_ += got;
    size_t out = 0;
    for (size_t i = 0; i < got; ++i) {
      std::span<uint8_t> d(static_cast<uint8_t*>(rx_iov_[i].iov_base), rx_[i].msg_len);
      const net::Endpoint from = from_sockaddr(rx_addr_[i]);
      if (nat::is_stun(d)) {
        // Rare and small: answered on its own, off the batch.
        if (auto req = nat::parse_request(d)) {
          auto resp = nat::binding_response(*req, from, stun_source_);
          if (!resp.empty()) udp_.send(from, resp);
        }
        continue;
      }
      net::Endpoint to;
      const uint64_t revoked = server_.counters().revoked;
      const size_t n = server_.on_datagram(d, from, now, now_unix, to);
      if (server_.counters().revoked != revoked)
        log::info("relay: a node removed from the network is refused from now on (REVOKE from %s)", from.str().c_str());
      if (!n) continue;
      const socklen_t len = to_sockaddr(to, udp_.dual_stack(), tx_addr_[out]);
      if (!len) continue;
      tx_iov_[out] = {d.data(), n};
      tx_namelen_[out] = len;
      ++out;
    }
    transmit(out);
    if (got < kBatch) return;  // the socket is empty
  }
}

int run_relay_daemon(const RelayDaemonOptions& opts) {
  asio::io_context io{1};
  RelayService relay(io, opts.listen, opts.secret, opts.listen);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const std::error_code& ec, int) {
    if (!ec) io.stop();
  });
  relay.start();
  net::Endpoint shown = opts.listen;
  shown.port = relay.port();
  log::info("relay listening on UDP %s (relay key %s)", shown.str().c_str(),
            crypto::to_base64(relay::relay_public_key(opts.secret)).c_str());
  io.run();
  const auto& c = relay.server().counters();
  log::info("relay stopping: %llu forwarded, %llu refused, %llu rate limited; %.1f datagrams per receive call",
            static_cast<unsigned long long>(c.forwarded), static_cast<unsigned long long>(c.refused),
            static_cast<unsigned long long>(c.rate_limited),
            relay.receive_calls() ? double(relay.datagrams()) / double(relay.receive_calls()) : 0.0);
  return 0;
}

}  // namespace ovl::io
