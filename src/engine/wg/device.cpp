#include "engine/wg/device.hpp"

#include <cstring>

#include "engine/log.hpp"
#include "engine/wg/device_impl.hpp"
#include "engine/wg/inner_packet.hpp"

namespace ovl::wg {

bool is_wireguard_message(std::span<const uint8_t> d) { return message_type(d).has_value(); }

void Output::send_transport(const net::Endpoint& to, Keypair& kp, uint64_t counter, uint8_t* pkt, size_t len) {
  size_t n = seal_transport(kp, counter, pkt, len);
  send_udp(to, {pkt - kTransportHeaderSize, n});
}

Device::Device(const crypto::SecretKey& private_key, DeviceEnv env, DeviceOptions opts)
    : impl_(std::make_unique<Impl>()) {
  impl_->self.private_key = private_key;
  impl_->self.public_key = crypto::public_from_private(private_key);
  impl_->env = std::move(env);
  impl_->opts = opts;
  impl_->checker.init(impl_->self.public_key);
}

Device::~Device() = default;

const crypto::PublicKey& Device::public_key() const { return impl_->self.public_key; }
size_t Device::peer_count() const { return impl_->by_key.size(); }
const DeviceCounters& Device::counters() const { return impl_->counters; }
Time Device::next_deadline() const { return impl_->earliest; }

void Device::set_peer(const PeerConfig& cfg, Time now) {
  Impl& d = *impl_;
  auto& slot = d.by_key[cfg.public_key];
  bool fresh = !slot;
  if (fresh) {
    slot = std::make_unique<Peer>();
    slot->id = d.next_peer_id++;
    slot->cookies.init(cfg.public_key);
    d.by_id[slot->id] = slot.get();
  }
  Peer& p = *slot;
  auto old_endpoint = p.cfg.endpoint;
  auto old_allowed = std::move(p.cfg.allowed_ips);
  uint16_t old_keepalive = p.cfg.persistent_keepalive;
  const crypto::SecretKey old_psk = p.keys.psk;
  p.cfg = cfg;
  if (!cfg.endpoint) p.cfg.endpoint = old_endpoint;  // keep a roamed-to endpoint
  p.keys = PeerKeys::make(d.self, cfg.public_key, cfg.preshared_key ? &*cfg.preshared_key : nullptr);
  // Sessions (and a pending handshake) made with the old preshared key end
  // with it: whoever rotates a key expects the old one to stop working.
  if (!fresh && !crypto::ct_equal(old_psk.b, p.keys.psk.b)) d.zero_keys(p);
  if (!p.keys.valid) log::warn("peer %s has a low-order public key; it can never handshake",
                               crypto::to_base64(cfg.public_key).c_str());
  // Hosts re-apply their whole configuration on every change (the daemon
  // does per map delta), so only redo what changed: removing a peer's
  // prefixes rebuilds the trie, and a keepalive is a packet on the wire.
  if (fresh || old_allowed != cfg.allowed_ips) {
    d.allowed.remove_peer(p.id);
    for (auto& pfx : cfg.allowed_ips) d.allowed.insert(pfx, p.id);
  }
  // Like wireguard-go: a persistent keepalive starts the session right away
  // (and again when the peer moved to a new endpoint).
  bool moved = p.cfg.endpoint != old_endpoint;
  if (cfg.persistent_keepalive && p.cfg.endpoint && (fresh || moved || old_keepalive != cfg.persistent_keepalive))
    d.arm(p.t_persistent, now);
  else if (!cfg.persistent_keepalive) p.t_persistent = kNever;
}

bool Device::remove_peer(const crypto::PublicKey& pk) {
  Impl& d = *impl_;
  auto it = d.by_key.find(pk);
  if (it == d.by_key.end()) return false;
  Peer& p = *it->second;
  d.zero_keys(p);
  d.allowed.remove_peer(p.id);
  d.by_id.erase(p.id);
  d.by_key.erase(it);
  return true;
}

std::vector<PeerStatus> Device::status() const {
  std::vector<PeerStatus> r;
  for (auto& [k, p] : impl_->by_key) {
    PeerStatus s;
    s.public_key = k;
    s.endpoint = p->cfg.endpoint;
    s.allowed_ips = p->cfg.allowed_ips;
    s.last_handshake_unix_ns = p->last_handshake_unix_ns;
    s.rx_bytes = p->rx_bytes;
    s.tx_bytes = p->tx_bytes;
    s.persistent_keepalive = p->cfg.persistent_keepalive;
    s.has_session = p->current != nullptr;
    r.push_back(std::move(s));
  }
  return r;
}

void Device::on_udp(std::span<uint8_t> dgram, const net::Endpoint& from, Time now, Output& out) {
  Impl& d = *impl_;
  auto type = message_type(dgram);
  if (!type) {
    ++d.counters.rx_invalid;
    return;
  }
  switch (*type) {
    case MsgType::initiation: d.on_initiation(dgram, from, now, out); break;
    case MsgType::response: d.on_response(dgram, from, now, out); break;
    case MsgType::cookie_reply: d.on_cookie_reply(dgram, now); break;
    case MsgType::transport: d.on_transport(dgram, from, now, out); break;
  }
}

void Device::on_tun(std::span<uint8_t> pkt, Time now, Output& out) {
  Impl& d = *impl_;
  auto dst = inner_destination(pkt);
  std::optional<AllowedIps::PeerId> id;
  if (dst) id = d.allowed.lookup(*dst);
  if (!id) {
    ++d.counters.tx_no_route;
    return;
  }
  Peer& p = *d.by_id.at(*id);
  Keypair* kp = p.current.get();
  if (p.staged.empty() && kp && !kp->send_expired(now) && p.cfg.endpoint) {
    d.send_packet(p, *kp, pkt.data(), pkt.size(), now, out);
    return;
  }
  d.stage(p, pkt);
  d.send_staged(p, now, out);
}

bool Device::probe(const crypto::PublicKey& pk, const net::Endpoint& to, Time now, Output& out) {
  Impl& d = *impl_;
  auto it = d.by_key.find(pk);
  if (it == d.by_key.end()) return false;
  Peer& p = *it->second;
  if (p.last_probe != Time::min() && now - p.last_probe < std::chrono::seconds(1)) return false;
  p.last_probe = now;
  bool sent = d.write_initiation(p, to, now, out);
  if (sent && log::enabled(log::Level::debug))
    log::debug("probing %s at %s", crypto::to_base64(pk).c_str(), to.str().c_str());
  return sent;
}

void Device::on_timer(Time now, Output& out) {
  Impl& d = *impl_;
  if (now < d.earliest) return;
  d.earliest = kNever;
  for (auto& [k, p] : d.by_key) {
    d.run_timers(*p, now, out);
    d.earliest = std::min(d.earliest, p->earliest_deadline());
  }
}

// ---- Impl: message handling ----

bool Device::Impl::under_load(Time now) {
  if (now - load_window_start >= std::chrono::seconds(1)) {
    load_window_start = now;
    load_count = 0;
  }
  if (++load_count > opts.under_load_handshakes_per_sec) under_load_until = now + std::chrono::seconds(1);
  return now < under_load_until;
}

uint32_t Device::Impl::new_index(Peer& p, Keypair* kp) {
  for (;;) {
    uint32_t i = env.rng->u32();
    if (i != 0 && index.emplace(i, IndexEntry{&p, kp}).second) return i;
  }
}

void Device::Impl::drop_keypair(std::unique_ptr<Keypair>& kp) {
  if (!kp) return;
  index.erase(kp->local_index);
  kp.reset();
}

void Device::Impl::zero_keys(Peer& p) {
  drop_keypair(p.current);
  drop_keypair(p.previous);
  drop_keypair(p.next);
  auto it = index.find(p.hs.local_index);
  if (it != index.end() && it->second.kp == nullptr) index.erase(it);
  p.hs.clear();
}

// Where a new session goes (the rotation rules of wireguard-go's
// BeginSymmetricSession): the initiator uses it at once; the responder keeps
// it as `next` until the initiator's first packet confirms it.
void Device::Impl::install_keypair(Peer& p, std::unique_ptr<Keypair> kp) {
  if (kp->initiator) {
    if (p.next) {
      drop_keypair(p.previous);
      p.previous = std::move(p.next);
      drop_keypair(p.current);
    } else {
      drop_keypair(p.previous);
      p.previous = std::move(p.current);
    }
    p.current = std::move(kp);
  } else {
    drop_keypair(p.next);
    drop_keypair(p.previous);
    p.next = std::move(kp);
  }
}

static std::unique_ptr<Keypair> make_keypair(SessionKeys& keys, bool initiator, uint32_t remote_index, Time now) {
  auto kp = std::make_unique<Keypair>();
  kp->send_key = keys.send;
  kp->recv_key = keys.recv;
  kp->initiator = initiator;
  kp->remote_index = remote_index;
  kp->created = now;
  return kp;
}

void Device::Impl::on_initiation(std::span<uint8_t> dg, const net::Endpoint& from, Time now, Output& out) {
  bool loaded = under_load(now);
  if (!checker.check_mac1(dg, kInitiationMac1Offset)) {
    ++counters.rx_invalid;
    return;
  }
  auto msg = parse_initiation(dg);
  if (loaded) {
    if (!checker.check_mac2(dg, kInitiationMac2Offset, from, now)) {
      CookieReply r = checker.make_reply(dg, kInitiationMac1Offset, msg->sender, from, now, *env.rng);
      serialize(r, std::span<uint8_t, kCookieReplySize>(scratch.data(), kCookieReplySize));
      out.send_udp(from, {scratch.data(), kCookieReplySize});
      ++counters.cookies_sent;
      return;
    }
    if (!limiter.allow(from.ip, now)) {
      ++counters.handshakes_rate_limited;
      return;
    }
  }
  auto c = consume_initiation(self, *msg, [&](const crypto::PublicKey& pk) -> const PeerKeys* {
    auto it = by_key.find(pk);
    return it == by_key.end() ? nullptr : &it->second->keys;
  });
  if (!c) {
    ++counters.rx_invalid;
    log::debug("handshake initiation from %s not accepted (unknown key or bad MAC)", from.str().c_str());
    return;
  }
  Peer& p = *by_key.at(c->remote_static);
  // A replayed initiation carries an old timestamp; a flood of fresh ones is
  // limited to one per kHandshakeInitiationRate.
  if (std::memcmp(c->timestamp.data(), p.latest_timestamp.data(), kTimestampSize) <= 0) {
    ++counters.rx_replayed;
    return;
  }
  if (p.last_initiation_consumed != Time::min() && now - p.last_initiation_consumed < kHandshakeInitiationRate) {
    ++counters.handshakes_rate_limited;
    return;
  }
  p.latest_timestamp = c->timestamp;
  p.last_initiation_consumed = now;

  auto old = index.find(p.hs.local_index);
  if (old != index.end() && old->second.kp == nullptr) index.erase(old);
  p.hs.clear();
  p.hs.state = Handshake::State::initiation_consumed;
  p.hs.hash = c->hash;
  p.hs.chaining_key = c->chaining_key;
  p.hs.remote_ephemeral = c->remote_ephemeral;
  p.hs.remote_index = c->remote_index;
  p.cfg.endpoint = from;
  timers_any_authenticated_received(p);
  timers_traversal(p, now);

  auto kp = std::make_unique<Keypair>();
  Keypair* raw = kp.get();
  uint32_t local = new_index(p, raw);
  Response resp;
  uint32_t remote = p.hs.remote_index;
  auto keys = create_response(p.hs, p.keys, *env.rng, local, resp);
  if (!keys) {
    index.erase(local);
    ++counters.rx_invalid;
    return;
  }
  kp->send_key = keys->send;
  kp->recv_key = keys->recv;
  kp->initiator = false;
  kp->remote_index = remote;
  kp->local_index = local;
  kp->created = now;
  install_keypair(p, std::move(kp));
  if (log::enabled(log::Level::debug))
    log::debug("handshake initiation from %s (%s): responding", crypto::to_base64(p.cfg.public_key).c_str(),
               from.str().c_str());

  auto buf = std::span<uint8_t, kResponseSize>(scratch.data(), kResponseSize);
  serialize(resp, buf);
  p.cookies.add_macs(buf, kResponseMac1Offset, now);
  out.send_udp(from, buf);
  p.tx_bytes += kResponseSize;
  timers_session_derived(p, now);
  timers_any_authenticated_sent(p);
  timers_traversal(p, now);
}

void Device::Impl::on_response(std::span<uint8_t> dg, const net::Endpoint& from, Time now, Output& out) {
  bool loaded = under_load(now);
  if (!checker.check_mac1(dg, kResponseMac1Offset)) {
    ++counters.rx_invalid;
    return;
  }
  auto msg = parse_response(dg);
  if (loaded) {
    if (!checker.check_mac2(dg, kResponseMac2Offset, from, now)) {
      CookieReply r = checker.make_reply(dg, kResponseMac1Offset, msg->sender, from, now, *env.rng);
      serialize(r, std::span<uint8_t, kCookieReplySize>(scratch.data(), kCookieReplySize));
      out.send_udp(from, {scratch.data(), kCookieReplySize});
      ++counters.cookies_sent;
      return;
    }
    if (!limiter.allow(from.ip, now)) {
      ++counters.handshakes_rate_limited;
      return;
    }
  }
  auto it = index.find(msg->receiver);
  if (it == index.end() || it->second.kp != nullptr) {
    ++counters.rx_invalid;
    return;
  }
  Peer& p = *it->second.peer;
  if (p.hs.state != Handshake::State::initiation_created || p.hs.local_index != msg->receiver) {
    ++counters.rx_invalid;
    return;
  }
  auto keys = consume_response(p.hs, self, p.keys, *msg);
  if (!keys) {
    ++counters.rx_invalid;
    return;
  }
  auto kp = make_keypair(*keys, true, msg->sender, now);
  kp->local_index = msg->receiver;
  it->second.kp = kp.get();  // the handshake's index now names the session
  p.hs.local_index = 0;
  install_keypair(p, std::move(kp));
  p.cfg.endpoint = from;
  p.rx_bytes += dg.size();
  timers_handshake_complete(p);
  p.last_handshake_unix_ns = env.wall_ns();
  if (log::enabled(log::Level::debug))
    log::debug("handshake with %s (%s) complete", crypto::to_base64(p.cfg.public_key).c_str(), from.str().c_str());
  timers_session_derived(p, now);
  timers_any_authenticated_received(p);
  timers_traversal(p, now);
  // Confirm the session to the responder: it cannot send until it hears us.
  if (p.staged.empty()) send_keepalive(p, now, out);
  else send_staged(p, now, out);
}

void Device::Impl::on_cookie_reply(std::span<uint8_t> dg, Time now) {
  auto msg = parse_cookie_reply(dg);
  auto it = index.find(msg->receiver);
  if (it == index.end() || !it->second.peer->cookies.consume_reply(*msg, now)) {
    ++counters.rx_invalid;
    return;
  }
  log::debug("cookie received from %s: under load", crypto::to_base64(it->second.peer->cfg.public_key).c_str());
}

// The session a transport message is for, if it is still receiving.
Keypair* Device::Impl::live_keypair(std::span<const uint8_t> dg, Time now, Peer** peer) const {
  auto it = index.find(get_le32(dg.data() + 4));
  if (it == index.end() || it->second.kp == nullptr || it->second.kp->recv_expired(now)) return nullptr;
  if (peer) *peer = it->second.peer;
  return it->second.kp;
}

bool Device::transport_recv_key(std::span<const uint8_t> dg, Time now, crypto::SecretKey& key) const {
  if (message_type(dg) != MsgType::transport) return false;
  const Keypair* kp = impl_->live_keypair(dg, now);
  if (!kp) return false;
  key = kp->recv_key;
  return true;
}

void Device::on_opened_transport(std::span<uint8_t> dg, const crypto::SecretKey& key, bool authentic,
                                 const net::Endpoint& from, Time now, Output& out) {
  Impl& d = *impl_;
  Peer* p = nullptr;
  Keypair* kp = d.live_keypair(dg, now, &p);
  // Decrypted with another session's key (this one was replaced meanwhile):
  // the ciphertext is gone, so it is dropped like any stale message.
  if (!kp || !authentic || !crypto::ct_equal(kp->recv_key.b, key.b)) {
    ++d.counters.rx_invalid;
    return;
  }
  std::span<uint8_t> plain;
  if (accept_opened(*kp, dg, plain) != OpenResult::ok) {
    ++d.counters.rx_replayed;
    return;
  }
  d.after_open(*p, *kp, dg, plain, from, now, out);
}

void Device::Impl::on_transport(std::span<uint8_t> dg, const net::Endpoint& from, Time now, Output& out) {
  Peer* pp = nullptr;
  Keypair* kpp = live_keypair(dg, now, &pp);
  if (!kpp) {
    ++counters.rx_invalid;
    return;
  }
  std::span<uint8_t> plain;
  switch (open_transport(*kpp, dg, plain)) {
    case OpenResult::bad_auth: ++counters.rx_invalid; return;
    case OpenResult::replayed: ++counters.rx_replayed; return;
    case OpenResult::ok: break;
  }
  after_open(*pp, *kpp, dg, plain, from, now, out);
}

// Everything after a transport message authenticated and passed the replay
// window.
void Device::Impl::after_open(Peer& p, Keypair& kp, std::span<uint8_t> dg, std::span<uint8_t> plain,
                              const net::Endpoint& from, Time now, Output& out) {
  if (p.next.get() == &kp) {
    // First packet on the responder's new session: it is confirmed.
    drop_keypair(p.previous);
    p.previous = std::move(p.current);
    p.current = std::move(p.next);
    timers_handshake_complete(p);
    p.last_handshake_unix_ns = env.wall_ns();
    send_staged(p, now, out);
  }
  if (!(p.cfg.endpoint == from)) p.cfg.endpoint = from;  // roaming follows authenticated packets
  p.rx_bytes += dg.size();
  keep_key_fresh_receiving(p, now, out);
  timers_traversal(p, now);
  timers_any_authenticated_received(p);
  if (plain.empty()) return;  // keepalive

  auto inner = inner_packet(plain);
  if (!inner) {
    ++counters.rx_invalid;
    return;
  }
  auto owner = allowed.lookup(inner->src);
  if (!owner || *owner != p.id) {
    ++counters.rx_bad_source;
    return;
  }
  out.write_tun(plain.first(inner->len));
  timers_data_received(p, now);
}

}  // namespace ovl::wg
