#include "engine/io/packet_plane.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/io/system_env.hpp"
#include "engine/log.hpp"
#include "engine/relay/client.hpp"
#include "engine/wg/keypair.hpp"

namespace ovl::io {

namespace {

// Logs the 1st, 2nd, 4th, 8th... occurrence of a per-packet error: visible,
// but a flood cannot flood the log (or allocate on every packet).
void log_sometimes(uint64_t count, const char* what, ssize_t neg_errno) {
  if (count & (count - 1)) return;
  log::warn("%s: %s (%llu so far)", what, std::strerror(static_cast<int>(-neg_errno)),
            static_cast<unsigned long long>(count));
}

constexpr size_t align16(size_t n) { return (n + 15) & ~size_t(15); }

// Arena bytes one sealed datagram of an inner packet of `len` bytes takes:
// transport header, padded plaintext, tag. A multiple of 16.
constexpr size_t sealed_footprint(size_t len) { return wg::kTransportHeaderSize + wg::padded_len(len) + wg::kTagSize; }

// Room a TUN read needs in the arena: the packet with head- and tailroom,
// plus at least one segment of it if it turns out to be a super-packet.
constexpr size_t kReadNeed = 2 * align16(wg::kHeadroom + PacketPlane::kMaxPacket + wg::kTailroom);

}  // namespace

PacketPlane::PacketPlane(asio::io_context& io, wg::Device& dev, tun::TunDevice& tun, UdpSocket& udp)
    : io_(io),
      dev_(dev),
      tun_(tun),
      udp_(udp),
      udp_wait_(io, udp.fd()),
      tun_wait_(io, tun.fd()),
      timer_(io),
      // Default-initialised (not zeroed): pages cost memory only once used.
      tx_(new uint8_t[kTxArena]),
      pending_(new Pending[kMaxPending]),
      rx_(new uint8_t[kRxSlots * kRxSlot]),
      rx_items_(new RxItem[kMaxRxItems]),
      gro_(std::make_unique<net::TcpCoalescer>()) {
  static_assert(kTxArena >= 2 * kReadNeed);
  const Offloads o = offloads_from_env();
  udp.enable_offloads(o.gso, o.gro);
  pool_ = std::make_unique<WorkerPool>(o.mt ? WorkerPool::default_workers() : 0);
  log::info("data plane: TUN %s, TSO %s; UDP GSO %s, GRO %s; %u crypto worker thread(s)",
            tun.vnet_hdr() ? "with virtio header" : "plain", tun.tso() ? "on" : "off", udp_.gso() ? "on" : "off",
            udp_.gro() ? "on" : "off", pool_->workers());
}

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
  if (in_tx(datagram.data()) && n_pending_ < kMaxPending) {
    pending_[n_pending_++] = {to, datagram.data(), datagram.size()};
    return;
  }
  send_now(to, datagram);
}

void PacketPlane::send_transport(const net::Endpoint& to, wg::Keypair& kp, uint64_t counter, uint8_t* pkt,
                                 size_t len) {
  if (!in_tx(pkt) || n_pending_ == kMaxPending || (virtual_send && relay::is_virtual_endpoint(to)))
    return Output::send_transport(to, kp, counter, pkt, len);  // sealed and sent now
  Pending& e = pending_[n_pending_++];
  e.to = to;
  e.data = pkt - wg::kTransportHeaderSize;
  e.len = sealed_footprint(len);
  e.seal = true;
  e.remote_index = kp.remote_index;
  e.counter = counter;
  e.inner_len = len;
  e.key = kp.send_key;
}

void PacketPlane::send_now(const net::Endpoint& to, std::span<const uint8_t> datagram) {
  ssize_t n = udp_.send(to, datagram);
  if (n >= 0) {
    ++stats_.udp_tx;
  } else if (n != -EAGAIN && n != -EWOULDBLOCK) {
    log_sometimes(++stats_.udp_tx_errors, "UDP send failed", n);
  } else {
    ++stats_.udp_tx_errors;  // socket buffer full: dropped, like a lossy link
  }
}

// The one place decrypted packets leave for TUN (a packet filter belongs
// here). Packets decrypted in the rx arena wait for flush_tun(), which may
// merge TCP segments; they may be patched in place there, which is why the
// const is cast away: the arena is ours.
void PacketPlane::write_tun(std::span<const uint8_t> packet) {
  if (filter && !policy::passes(filter->inbound(packet, now_))) return;  // counted by the filter
  if (tun_.vnet_hdr() && in_rx(packet.data())) {
    std::span<uint8_t> p(const_cast<uint8_t*>(packet.data()), packet.size());
    if (gro_->add(p)) return;
    flush_tun();
    if (gro_->add(p)) return;
  }
  ssize_t n = tun_.write(packet);
  if (n >= 0) ++stats_.tun_tx;
  else log_sometimes(++stats_.tun_tx_errors, "TUN write failed", n);
}

void PacketPlane::flush_tun() {
  gro_->flush([this](const net::VnetHdr& h, std::span<const std::span<const uint8_t>> parts) {
    uint8_t hb[net::kVnetHdrSize];
    net::write_vnet_hdr(h, hb);
    ssize_t n = tun_.write_parts(hb, parts);
    if (n >= 0) stats_.tun_tx += parts.size();
    else log_sometimes(stats_.tun_tx_errors += parts.size(), "TUN write failed", n);
  });
}

// Groups the queued datagrams into messages: a run of datagrams to the same
// endpoint that lie back to back with equal sizes (the last may be shorter)
// becomes one UDP GSO message.
void PacketPlane::flush_tx() {
  auto seal = [this](size_t i) {
    Pending& e = pending_[i];
    if (!e.seal) return;
    wg::seal_transport(e.key, e.remote_index, e.counter, const_cast<uint8_t*>(e.data) + wg::kTransportHeaderSize,
                       e.inner_len);
    crypto::wipe(e.key.data(), e.key.b.size());
    e.seal = false;
  };
  pool_->run(n_pending_, seal);
  std::array<UdpSocket::TxMsg, UdpSocket::kMaxBatch> msgs;
  int nm = 0;
  const bool gso = udp_.gso();
  for (size_t i = 0; i < n_pending_;) {
    const Pending& first = pending_[i++];
    size_t total = first.len, count = 1;
    while (gso && i < n_pending_ && count < kGsoMaxSegments) {
      const Pending& prev = pending_[i - 1];
      const Pending& next = pending_[i];
      if (next.data != prev.data + prev.len || next.len > first.len || total + next.len > kGsoMaxBytes ||
          !(next.to == first.to))
        break;
      total += next.len;
      ++count;
      ++i;
      if (next.len < first.len) break;
    }
    msgs[nm++] = {first.to, first.data, total, static_cast<uint16_t>(count > 1 ? first.len : 0)};
    if (nm == UdpSocket::kMaxBatch) {
      send_msgs(msgs.data(), nm);
      nm = 0;
    }
  }
  if (nm) send_msgs(msgs.data(), nm);
  n_pending_ = 0;
  tx_used_ = 0;
}

void PacketPlane::send_msgs(const UdpSocket::TxMsg* msgs, int n) {
  auto datagrams = [](const UdpSocket::TxMsg& m) -> uint64_t {
    return m.segment ? (m.len + m.segment - 1) / m.segment : 1;
  };
  for (int k = 0; k < n;) {
    int r = udp_.send_batch(msgs + k, n - k);
    if (r > 0) {
      for (int j = 0; j < r; ++j) stats_.udp_tx += datagrams(msgs[k + j]);
      k += r;
      continue;
    }
    const UdpSocket::TxMsg& m = msgs[k++];
    if (m.segment && !udp_.gso()) {
      // The kernel refused GSO (send_batch switched it off): this message
      // goes datagram by datagram, and later ones are never merged.
      if (!gso_warned_) log::info("UDP segmentation offload refused (%s); sending datagrams one by one",
                                  std::strerror(-r));
      gso_warned_ = true;
      for (size_t off = 0; off < m.len; off += m.segment)
        send_now(m.to, {m.data + off, std::min<size_t>(m.segment, m.len - off)});
      continue;
    }
    if (r == -EAGAIN || r == -EWOULDBLOCK) stats_.udp_tx_errors += datagrams(m);  // full: dropped
    else log_sometimes(stats_.udp_tx_errors += datagrams(m), "UDP send failed", r);
  }
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
  // A few rounds of recvmmsg per wake-up; each round's packets reach TUN
  // before its buffers are reused.
  for (int round = 0; round < 4; ++round) {
    for (int j = 0; j < kRxSlots; ++j) rx_msgs_[j].buf = {rx_.get() + j * kRxSlot, kRxSlot};
    int got = udp_.recv_batch(rx_msgs_.data(), kRxSlots);
    if (got < 0) {
      if (got == -EAGAIN || got == -EWOULDBLOCK) break;
      if (got == -EINTR) continue;
      // e.g. a queued ICMP error; the next datagram may be fine.
      log_sometimes(++stats_.udp_rx_errors, "UDP receive failed", got);
      continue;
    }
    size_t n = 0;
    for (int j = 0; j < got; ++j) {
      UdpSocket::RxMsg& m = rx_msgs_[j];
      if (m.truncated) {
        ++stats_.udp_rx_errors;  // larger than any WireGuard datagram we accept
        continue;
      }
      // With GRO one buffer holds datagrams of `segment` bytes (the last
      // may be shorter); without, exactly one (possibly empty) datagram.
      const size_t seg = m.segment ? m.segment : m.len;
      size_t off = 0;
      do {
        RxItem& it = rx_items_[n++];
        it.d = {m.buf.data() + off, std::min(seg, m.len - off)};
        it.from = &m.from;
        off += seg;
      } while (off < m.len && n < kMaxRxItems);
    }
    stats_.udp_rx += n;
    dispatch_rx(n, now);
    flush_tun();
    if (got < kRxSlots) break;
  }
  flush_tx();
  rearm();
  wait_udp();
}

void PacketPlane::dispatch_rx(size_t n, wg::Time now) {
  size_t to_open = 0;
  for (size_t i = 0; i < n; ++i) {
    RxItem& it = rx_items_[i];
    it.opened = (!other_udp || wg::is_wireguard_message(it.d)) && dev_.transport_recv_key(it.d, now, it.key);
    to_open += it.opened;
  }
  if (to_open > 1) {
    auto open = [this](size_t i) {
      RxItem& it = rx_items_[i];
      if (it.opened) it.authentic = wg::decrypt_transport(it.key, it.d);
    };
    pool_->run(n, open);
  }
  for (size_t i = 0; i < n; ++i) {
    RxItem& it = rx_items_[i];
    if (it.opened && to_open > 1) {
      dev_.on_opened_transport(it.d, it.key, it.authentic, *it.from, now, *this);
      crypto::wipe(it.key.data(), it.key.b.size());
      continue;
    }
    if (it.opened) crypto::wipe(it.key.data(), it.key.b.size());  // a lone one: decrypted inline below
    if (other_udp && !wg::is_wireguard_message(it.d)) {
      other_udp(it.d, *it.from);
    } else {
      dev_.on_udp(it.d, *it.from, now, *this);
    }
  }
}

void PacketPlane::to_device(std::span<uint8_t> pkt, wg::Time now) {
  if (filter) filter->outbound(pkt, now);  // flows this node opens: their replies pass
  if (local_address && pkt.size() >= 20 && (pkt[0] >> 4) == 4 &&
      std::memcmp(pkt.data() + 16, local_address->b.data(), 4) == 0) {
    local_service(pkt);
    return;
  }
  dev_.on_tun(pkt, now, *this);
}

void PacketPlane::on_tun_readable() {
  const wg::Time now = now_ = monotonic_now();
  const size_t vh = tun_.vnet_hdr() ? net::kVnetHdrSize : 0;
  for (int i = 0; i < kBatch; ++i) {
    if (kTxArena - tx_used_ < kReadNeed) flush_tx();
    // The virtio header lands in the packet's headroom, which sealing
    // overwrites later (after the header was parsed).
    uint8_t* pkt = tx_.get() + tx_used_ + wg::kHeadroom;
    ssize_t n = tun_.read(std::span<uint8_t>(pkt - vh, kMaxPacket + vh));
    if (n < 0) {
      if (n == -EAGAIN || n == -EWOULDBLOCK) break;
      if (n == -EINTR) continue;
      // EBADFD/EIO: the interface is gone (deleted by someone); nothing
      // sensible is left to do but to stop.
      throw std::runtime_error("reading from TUN device " + tun_.name() + " failed: " +
                               std::strerror(static_cast<int>(-n)));
    }
    if (static_cast<size_t>(n) <= vh) continue;
    const size_t len = static_cast<size_t>(n) - vh;
    ++stats_.tun_rx;
    net::VnetHdr h;
    if (vh) h = net::parse_vnet_hdr(pkt - vh);
    if ((h.gso_type & ~net::kGsoEcn) != net::kGsoNone) {
      handle_tso(pkt, len, h, now);
      continue;
    }
    if ((h.flags & net::kVnetNeedsCsum) && !net::complete_checksum({pkt, len}, h)) {
      ++stats_.tun_rx_errors;
      continue;
    }
    to_device({pkt, len}, now);
    tx_used_ += sealed_footprint(len);  // the next datagram starts where this one ends
  }
  flush_tx();
  rearm();
  wait_tun();
}

// Cuts a TSO super-packet (in the arena at `pkt`) into segments written
// after it, each with the head- and tailroom sealing needs, at a stride that
// puts the sealed datagrams back to back.
void PacketPlane::handle_tso(uint8_t* pkt, size_t len, const net::VnetHdr& h, wg::Time now) {
  net::TsoShape s;
  if (!net::tso_shape({pkt, len}, h, s)) {
    ++stats_.tun_rx_errors;
    return;
  }
  const size_t stride = sealed_footprint(s.max_segment_len());
  const size_t area0 = tx_used_ + align16(wg::kHeadroom + len + wg::kTailroom);
  size_t area = area0;
  for (size_t done = 0; done < s.segments;) {
    size_t room = (kTxArena - area) / stride;
    if (room == 0) {
      // Send what is queued; the super-packet itself stays where it is.
      flush_tx();
      area = area0;
      continue;
    }
    size_t k = std::min({room, s.segments - done, size_t{64}});
    uint16_t lens[64];
    uint8_t* out = tx_.get() + area + wg::kHeadroom;
    net::tso_segment({pkt, len}, s, done, k, out, stride, lens);
    for (size_t j = 0; j < k; ++j) to_device({out + j * stride, lens[j]}, now);
    stats_.tun_rx += k - (done == 0 ? 1 : 0);  // count segments, not reads
    area += k * stride;
    done += k;
  }
  tx_used_ = area;
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
