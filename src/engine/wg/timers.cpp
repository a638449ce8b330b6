// The send path and WireGuard's timer state machine (paper section 6, with
// the event names of wireguard-go's timers.go so the two can be compared).
#include <cstring>

#include "engine/log.hpp"
#include "engine/wg/device_impl.hpp"

namespace ovl::wg {

using namespace std::chrono_literals;

Time Device::Impl::jitter() { return std::chrono::milliseconds(env.rng->uniform(334)); }

void Device::Impl::send_initiation(Peer& p, Time now, bool retry, Output& out) {
  if (!retry) p.handshake_attempts = 0;
  if (p.last_sent_handshake != Time::min() && now - p.last_sent_handshake < kRekeyTimeout) return;
  p.last_sent_handshake = now;
  if (!p.cfg.endpoint) {
    // Nowhere to send yet; retry on the timer, as if it were lost.
    timers_handshake_initiated(p, now);
    return;
  }
  if (!write_initiation(p, *p.cfg.endpoint, now, out)) return;
  if (log::enabled(log::Level::debug))
    log::debug("handshake initiation to %s (%s)%s", crypto::to_base64(p.cfg.public_key).c_str(),
               p.cfg.endpoint->str().c_str(), retry ? ", retry" : "");
  timers_handshake_initiated(p, now);
}

// Builds a fresh initiation (replacing any pending one) and sends it to `to`.
bool Device::Impl::write_initiation(Peer& p, const net::Endpoint& to, Time now, Output& out) {
  auto old = index.find(p.hs.local_index);
  if (old != index.end() && old->second.kp == nullptr) index.erase(old);
  uint32_t local = new_index(p, nullptr);
  Initiation msg;
  if (!create_initiation(p.hs, self, p.keys, tai64n(env.wall_ns()), *env.rng, local, msg)) {
    index.erase(local);
    p.hs.clear();
    return false;
  }
  auto buf = std::span<uint8_t, kInitiationSize>(scratch.data(), kInitiationSize);
  serialize(msg, buf);
  p.cookies.add_macs(buf, kInitiationMac1Offset, now);
  timers_traversal(p, now);
  timers_any_authenticated_sent(p);
  out.send_udp(to, buf);
  p.tx_bytes += kInitiationSize;
  return true;
}

void Device::Impl::stage(Peer& p, std::span<const uint8_t> pkt) {
  if (p.staged.size() >= kMaxStagedPackets) p.staged.pop_front();
  StagedPacket s;
  s.buf.resize(kHeadroom + pkt.size() + kTailroom);
  s.len = pkt.size();
  if (!pkt.empty()) std::memcpy(s.data(), pkt.data(), pkt.size());
  p.staged.push_back(std::move(s));
}

void Device::Impl::send_staged(Peer& p, Time now, Output& out) {
  Keypair* kp = p.current.get();
  if (!kp || kp->send_expired(now) || !p.cfg.endpoint) {
    send_initiation(p, now, false, out);
    return;
  }
  while (!p.staged.empty()) {
    StagedPacket s = std::move(p.staged.front());
    p.staged.pop_front();
    send_packet(p, *kp, s.data(), s.len, now, out);
  }
}

void Device::Impl::send_keepalive(Peer& p, Time now, Output& out) {
  if (p.staged.empty()) stage(p, {});
  send_staged(p, now, out);
}

void Device::Impl::send_packet(Peer& p, Keypair& kp, uint8_t* pkt, size_t len, Time now, Output& out) {
  uint64_t counter = kp.send_counter.fetch_add(1, std::memory_order_relaxed);
  if (counter >= kRejectAfterMessages) {
    stage(p, {pkt, len});
    send_initiation(p, now, false, out);
    return;
  }
  out.send_transport(*p.cfg.endpoint, kp, counter, pkt, len);
  p.tx_bytes += kTransportHeaderSize + padded_len(len) + kTagSize;
  timers_traversal(p, now);
  timers_any_authenticated_sent(p);
  if (len) timers_data_sent(p, now);
  keep_key_fresh_sending(p, now, out);
}

// The initiator of a session rekeys it when it gets old; the responder waits
// (so both sides do not rekey at once), except near the reject limit.
void Device::Impl::keep_key_fresh_sending(Peer& p, Time now, Output& out) {
  Keypair* kp = p.current.get();
  if (!kp) return;
  uint64_t sent = kp->send_counter.load(std::memory_order_relaxed);
  if (sent > kRekeyAfterMessages || (kp->initiator && now - kp->created >= opts.rekey_after_time))
    send_initiation(p, now, false, out);
}

void Device::Impl::keep_key_fresh_receiving(Peer& p, Time now, Output& out) {
  if (p.sent_last_minute_handshake) return;
  Keypair* kp = p.current.get();
  if (kp && kp->initiator && now - kp->created >= kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout) {
    p.sent_last_minute_handshake = true;
    send_initiation(p, now, false, out);
  }
}

// We sent data: expect to hear back within 15 s, or start a new handshake.
void Device::Impl::timers_data_sent(Peer& p, Time now) {
  if (p.t_new_handshake == kNever) arm(p.t_new_handshake, now + kKeepaliveTimeout + kRekeyTimeout + jitter());
}

// We got data: answer within 10 s, with a keepalive if nothing else goes out.
void Device::Impl::timers_data_received(Peer& p, Time now) {
  if (p.t_send_keepalive == kNever) arm(p.t_send_keepalive, now + kKeepaliveTimeout);
  else p.need_another_keepalive = true;
}

void Device::Impl::timers_any_authenticated_sent(Peer& p) { p.t_send_keepalive = kNever; }
void Device::Impl::timers_any_authenticated_received(Peer& p) { p.t_new_handshake = kNever; }

void Device::Impl::timers_traversal(Peer& p, Time now) {
  if (p.cfg.persistent_keepalive) arm(p.t_persistent, now + std::chrono::seconds(p.cfg.persistent_keepalive));
}

void Device::Impl::timers_handshake_initiated(Peer& p, Time now) {
  arm(p.t_retransmit, now + kRekeyTimeout + jitter());
}

void Device::Impl::timers_handshake_complete(Peer& p) {
  p.t_retransmit = kNever;
  p.handshake_attempts = 0;
  p.sent_last_minute_handshake = false;
}

void Device::Impl::timers_session_derived(Peer& p, Time now) { arm(p.t_zero_keys, now + kRejectAfterTime * 3); }

void Device::Impl::run_timers(Peer& p, Time now, Output& out) {
  if (p.t_retransmit <= now) {
    p.t_retransmit = kNever;
    if (p.handshake_attempts > kMaxHandshakeAttempts) {
      log::info("handshake with %s did not complete after %d attempts; giving up",
                crypto::to_base64(p.cfg.public_key).c_str(), kMaxHandshakeAttempts + 2);
      p.t_send_keepalive = kNever;
      p.staged.clear();
      if (p.t_zero_keys == kNever) arm(p.t_zero_keys, now + kRejectAfterTime * 3);
    } else {
      ++p.handshake_attempts;
      log::debug("handshake with %s unanswered, retrying (attempt %d)", crypto::to_base64(p.cfg.public_key).c_str(),
                 p.handshake_attempts + 1);
      send_initiation(p, now, true, out);
    }
  }
  if (p.t_send_keepalive <= now) {
    p.t_send_keepalive = kNever;
    send_keepalive(p, now, out);
    if (p.need_another_keepalive) {
      p.need_another_keepalive = false;
      arm(p.t_send_keepalive, now + kKeepaliveTimeout);
    }
  }
  if (p.t_new_handshake <= now) {
    p.t_new_handshake = kNever;
    log::debug("no reply from %s for %lld s after sending data; new handshake",
               crypto::to_base64(p.cfg.public_key).c_str(),
               static_cast<long long>((kKeepaliveTimeout + kRekeyTimeout) / 1s));
    send_initiation(p, now, false, out);
  }
  if (p.t_zero_keys <= now) {
    p.t_zero_keys = kNever;
    zero_keys(p);
  }
  if (p.t_persistent <= now) {
    p.t_persistent = kNever;
    if (p.cfg.persistent_keepalive) send_keepalive(p, now, out);
  }
}

}  // namespace ovl::wg
