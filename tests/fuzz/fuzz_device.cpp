// Fuzz target for wg::Device: two real devices, A and B, peers of each other,
// joined by a network the fuzzer controls.
//
// Each input is a small script run on a fresh, deterministic pair (fixed
// keys, seeded RNGs, a virtual clock), so every input replays exactly. By
// default the script starts from an established session: A has sent one
// packet, which went through a real handshake and arrived at B. Then up to
// kMaxOps records drive the pair:
//
//   input   := header record*
//   header  := bit0 skip the handshake prefix      bit1 under-load threshold 1
//              bit2 B has no endpoint for A        bit3 persistent keepalive 25 s
//              bit4 both use a preshared key       bit5 heal at the end, check liveness
//   record  := op byte (op % 10 selects), then op-specific bytes:
//     0 deliver   idx flags [mutation]   an in-flight datagram (sent by A or B)
//     1 replay    idx flags [mutation]   any datagram sent so far (they stay in a log)
//     2 raw       flags len bytes        fuzz bytes as a datagram to A or B (len 255: a real
//                                        initiation from a device neither knows)
//     3 tun       flags len [hdr] bytes  a packet read from A's or B's TUN
//     4 time      delta                  advance the clock, run due timers
//     5 next                             jump to the earliest deadline, run timers
//     6 flush     n                      deliver the oldest n in-flight datagrams as sent
//     7 burst     flags                  one device sends 2^k packets (all lost but the last two)
//     8 drop      flags                  lose in-flight datagrams
//     9 peer      flags                  remove / reconfigure a device's peer, probe a path,
//                                        add / remove a third peer (silent, or a low-order key)
//   deliver/replay flags: bit0 keep it in flight, bit1 reflect it to its sender,
//   bits2-3 source address, bits4-5 flip / truncate / append, bit6 recompute mac1
//   (what anyone who knows the receiver's public key can do).
//
// Invariants (abort on violation; ASan/UBSan do the rest in the fuzz build):
//  * a TUN write happens only while handling a transport datagram that the
//    other device really sent, at most once per datagram, and carries a packet
//    the other device's TUN really gave it (source in the sender's allowed
//    IPs); the written packet lies inside the datagram buffer;
//  * a datagram nobody sent (forged, flipped, truncated, reflected; handshake
//    messages compared without their MACs and unauthenticated sender index)
//    never authenticates and never makes a device send anything but a cookie
//    reply; a datagram authenticates at most once;
//  * a device only sends handshake initiations and transport data to an
//    endpoint it was configured with or heard an authenticated message from;
//  * every datagram sent is a well-formed message of its exact size
//    (handshakes <= 148 bytes, transport = 32 + the packet padded to 16);
//    a transport counter is never reused under a session (receiver index);
//    the encrypted packet lies in the caller's headroom/tailroom and is not
//    the plaintext;
//  * on_timer(now) leaves no deadline at or before now;
//  * a forged datagram changes no peer status and arms no timer;
//  * changing a peer's preshared key ends its sessions (device.hpp);
//  * liveness (header bit5): once the network heals and both configs are
//    restored, pings get through both ways within two minutes.
#include "device_world.hpp"

namespace {

// (Re)configures x's peer (the other device), as the host would.
void World::set_main_peer(int x, const PeerConfig& c) {
  Node& node = n[x];
  const bool existed = main_peer(x).has_value();
  const crypto::SecretKey psk = c.preshared_key ? *c.preshared_key : crypto::SecretKey{};
  const bool psk_changed = existed && psk.b != node.psk.b;
  node.psk = psk;
  if (c.endpoint) node.trusted.insert(*c.endpoint);
  node.dev->set_peer(c, now);
  if (psk_changed) check(!main_peer(x)->has_session, "changing the preshared key ends the peer's sessions");
}

PeerConfig World::config_for(int x, bool with_endpoint) const {
  const Fixed& f = fixed();
  const int y = 1 - x;
  PeerConfig c;
  c.public_key = f.pub[y];
  c.allowed_ips = {net::Prefix{f.overlay4[y], 32}, net::Prefix{f.overlay6[y], 128}};
  if (with_endpoint) c.endpoint = f.ep[y];
  if (n[x].has_psk) c.preshared_key = f.psk;
  if (header_ & 8) c.persistent_keepalive = 25;
  return c;
}

void World::on_send(Node& x, const net::Endpoint& to, std::span<const uint8_t> d) {
  const auto type = message_type(d);
  check(type.has_value(), "a device sends only well-formed WireGuard messages");
  check(d.size() <= kInitiationSize || *type == MsgType::transport, "handshake messages are at most 148 bytes");

  if (keep_sent) TRACE("    %c sends %s (%zu) to %s\n", "AB"[x.id], type_name(type), d.size(), to.str().c_str());
  const bool in_udp = ctx == Ctx::udp && ctx_node == x.id;
  if (in_udp && !ctx_genuine)
    check(*type == MsgType::cookie_reply, "a datagram nobody sent makes a device send only a cookie reply");

  switch (*type) {
    case MsgType::cookie_reply:
      check(in_udp && to == ctx_from, "cookie replies answer the datagram being handled");
      check(ctx_type == MsgType::initiation || ctx_type == MsgType::response, "cookie replies answer handshakes");
      break;
    case MsgType::response:
      check(in_udp && to == ctx_from && ctx_type == MsgType::initiation, "responses answer an initiation");
      ctx_sent_response = true;
      // A new session towards the initiator's index: its counters start over
      // (under new keys). Only a replayed initiation, after the peer was
      // removed and added again, can reuse an index.
      x.next_counter.erase(parse_response(d)->receiver);
      break;
    case MsgType::initiation:
    case MsgType::transport:
      if (in_udp && to == ctx_from && !x.trusted.count(to)) ctx_sent_to_from = true;  // checked after on_udp
      else check(x.trusted.count(to) > 0, "initiations and data go only to a configured or authenticated endpoint");
      break;
  }

  if (*type == MsgType::transport) {
    check(x.transport_sizes.count(d.size()) > 0, "transport size is 32 + a packet padded to 16");
    // One session's counters go out strictly increasing: never a nonce twice.
    auto h = parse_transport_header(d);
    // The initiator's new session (from the response being handled) may
    // reuse an index an attacker wrote into the response.
    if (in_udp && ctx_type == MsgType::response && h->counter == 0 && h->receiver == get_le32(ctx_dgram.data() + 4))
      x.next_counter.erase(h->receiver);
    auto [it, fresh] = x.next_counter.try_emplace(h->receiver, 0);
    check(h->counter >= it->second, "a transport counter is never reused");
    it->second = h->counter + 1;
    if (ctx == Ctx::tun && ctx_node == x.id && d.data() + kTransportHeaderSize == ctx_pkt) {
      // The packet was encrypted in place inside the caller's buffer.
      check(d.size() == kTransportMinSize + pad16(ctx_plain.size()), "in-place transport size");
      check(d.data() >= ctx_lo && d.data() + d.size() <= ctx_hi, "transport stays in headroom + packet + tailroom");
      if (ctx_plain.size() >= 16)
        check(std::memcmp(d.data() + kTransportHeaderSize, ctx_plain.data(), ctx_plain.size()) != 0,
              "the packet is encrypted");
    }
  }

  if (!keep_sent) return;
  const Bytes bytes(d.begin(), d.end());
  x.sent_loose.insert(loose(bytes));
  inflight.push_back({x.id, bytes});
  if (inflight.size() > kMaxInFlight) inflight.pop_front();
  if (log.size() < kMaxLog) log.push_back({x.id, bytes});
}

void World::on_write(Node& x, std::span<const uint8_t> p) {
  const Fixed& f = fixed();
  const Node& y = n[1 - x.id];
  check(ctx == Ctx::udp && ctx_node == x.id, "TUN writes happen only while handling a datagram");
  check(ctx_type == MsgType::transport && ctx_genuine, "TUN writes come only from real transport datagrams");
  check(++ctx_writes == 1, "one datagram, one TUN write");
  check(p.data() >= ctx_lo && p.data() + p.size() <= ctx_hi, "the written packet lies inside the datagram");
  check(x.written.insert(ctx_dgram).second, "a datagram is written to TUN at most once (replay)");
  auto inner = inner_packet(p);
  check(inner && inner->len == p.size(), "the written packet is one whole IP packet");
  check(inner->src == f.overlay4[y.id] || inner->src == f.overlay6[y.id], "the source is in the sender's allowed IPs");
  // It is a packet the other side's TUN gave it; the IP length may reach into
  // the zero padding (as in Linux WireGuard), but not past it.
  bool found = false;
  for (const Bytes& q : y.tun_in) {
    if (q.empty()) continue;
    const size_t common = std::min(q.size(), p.size());
    if (std::memcmp(q.data(), p.data(), common) != 0) continue;
    if (p.size() > q.size() &&
        (p.size() > pad16(q.size()) || std::any_of(p.begin() + q.size(), p.end(), [](uint8_t b) { return b; })))
      continue;
    found = true;
    break;
  }
  check(found, "a TUN write carries a packet the other device really sent");
  ++x.tun_writes;
  if (p.size() >= 24 && std::memcmp(p.data() + 20, "PING", 4) == 0) ping_arrived[x.id] = true;
  TRACE("    %c writes %zu bytes to TUN\n", "AB"[x.id], p.size());
}

void World::deliver(int to, const net::Endpoint& from, Bytes d) {
  Node& x = n[to];
  const Node& y = n[1 - to];
  ExactBuf buf(d.size());
  if (!d.empty()) std::memcpy(buf.data(), d.data(), d.size());

  ctx = Ctx::udp;
  ctx_node = to;
  ctx_from = from;
  ctx_type = message_type(d);
  const Bytes l = loose(d);
  ctx_genuine = y.sent_loose.count(l) > 0;
  ctx_sent_to_from = ctx_sent_response = false;
  ctx_writes = 0;
  ctx_lo = buf.data();
  ctx_hi = buf.data() + d.size();
  ctx_dgram = std::move(d);
  const uint64_t rx_before = rx_bytes(to);  // (status() below also feeds the forgery check)
  const auto status_before = x.dev->status();
  const Time deadline_before = x.dev->next_deadline();
  TRACE("  t=%.3fs %c <- %s %s (%zu)%s\n", now.count() / 1e9, "AB"[to], from.str().c_str(), type_name(ctx_type),
        ctx_dgram.size(), ctx_genuine ? " genuine" : "");

  x.dev->on_udp({buf.data(), ctx_dgram.size()}, from, now, x);

  // Accepted: a response went out (initiation) or the peer's receive counter
  // moved (response, transport).
  const bool accepted = ctx_sent_response || rx_bytes(to) != rx_before;
  if (accepted) {
    TRACE("    accepted\n");
    check(ctx_genuine, "only datagrams the other device sent authenticate");
    check(x.authenticated.insert(l).second, "a datagram authenticates at most once (replay)");
    x.trusted.insert(from);
  }
  check(!ctx_sent_to_from || accepted, "a device follows a new endpoint only after authenticating it");
  if (!ctx_genuine) {
    // A forgery changes nothing a peer's status shows and arms no timer.
    const auto after = x.dev->status();
    check(after.size() == status_before.size(), "a forged datagram adds or removes no peer");
    for (size_t i = 0; i < after.size(); ++i) {
      const PeerStatus &a = status_before[i], &b = after[i];
      check(a.public_key == b.public_key && a.endpoint == b.endpoint && a.rx_bytes == b.rx_bytes &&
                a.tx_bytes == b.tx_bytes && a.has_session == b.has_session &&
                a.last_handshake_unix_ns == b.last_handshake_unix_ns,
            "a forged datagram leaves the peer's status alone");
    }
    check(x.dev->next_deadline() == deadline_before, "a forged datagram arms no timer");
  }
  ctx = Ctx::none;
}

void World::tun(int x, const Bytes& pkt, bool known) {
  Node& node = n[x];
  if (!known) {
    node.tun_in.insert(pkt);
    node.transport_sizes.insert(kTransportMinSize + pad16(pkt.size()));
  }
  ExactBuf buf(kHeadroom + pkt.size() + kTailroom);
  std::memset(buf.data(), 0xee, buf.cap);
  uint8_t* p = buf.data() + kHeadroom;
  if (!pkt.empty()) std::memcpy(p, pkt.data(), pkt.size());
  ctx = Ctx::tun;
  ctx_node = x;
  ctx_pkt = p;
  ctx_plain = pkt;
  ctx_lo = buf.data();
  ctx_hi = buf.data() + buf.cap;
  if (keep_sent) TRACE("  t=%.3fs %c tun %zu bytes\n", now.count() / 1e9, "AB"[x], pkt.size());
  node.dev->on_tun({p, pkt.size()}, now, node);
  ctx = Ctx::none;
}

void World::timers() {
  for (Node& x : n) {
    if (x.dev->next_deadline() <= now) TRACE("  t=%.3fs %c timers\n", now.count() / 1e9, "AB"[x.id]);
    ctx = Ctx::timer;
    ctx_node = x.id;
    x.dev->on_timer(now, x);
    check(x.dev->next_deadline() > now, "on_timer leaves no deadline at or before now");
  }
  ctx = Ctx::none;
}

void World::run_prefix() {
  const Fixed& f = fixed();
  tun(0, ipv4_packet(f.overlay4[0], f.overlay4[1], Bytes(16, 'p')));
  for (int i = 0; i < 8 && !inflight.empty(); ++i) {
    Sent s = std::move(inflight.front());
    inflight.pop_front();
    deliver(1 - s.from, f.ep[s.from], std::move(s.bytes));
  }
  check(n[1].tun_writes == 1 && inflight.empty(), "harness: the handshake prefix completes");
}

void World::mutate_and_deliver(Sent s, uint8_t flags, Reader& r) {
  const Fixed& f = fixed();
  Bytes& d = s.bytes;
  switch ((flags >> 4) & 3) {
    case 0: break;
    case 1:  // flip
      if (!d.empty()) {
        const size_t pos = r.u16() % d.size();
        d[pos] ^= r.u8();
      }
      break;
    case 2:  // truncate
      if (!d.empty()) d.resize(r.u16() % d.size());
      break;
    case 3: {  // append
      Bytes more = r.take(r.u8() % 33);
      d.insert(d.end(), more.begin(), more.end());
      break;
    }
  }
  const int to = (flags & 2) ? s.from : 1 - s.from;  // bit1: reflect to the sender
  if (flags & 0x40) fix_macs(d, f.pub[to], now);    // bit6: recompute mac1
  const int src = (flags >> 2) & 3;
  const net::Endpoint& from = src == 0 ? f.ep[s.from] : f.strangers[src - 1];
  deliver(to, from, std::move(d));
}

void World::peer_op(uint8_t flags) {
  const Fixed& f = fixed();
  const int x = flags & 1;
  const int action = (flags >> 1) & 7;
  const int arg = (flags >> 4) & 3;
  Node& node = n[x];
  if (action == 4) {  // probe another path to the peer
    const net::Endpoint to = arg == 0 ? f.ep[1 - x] : f.strangers[arg - 1];
    node.trusted.insert(to);  // the host asked for it
    node.dev->probe(f.pub[1 - x], to, now, node);
    return;
  }
  if (action == 5 || action == 6) {  // a second peer: a device that never answers, or a low-order key
    const bool ghost = action == 5;
    PeerConfig c;
    c.public_key = ghost ? f.ghost : crypto::PublicKey{};
    c.allowed_ips = {net::Prefix{f.ghost4, 16}, net::Prefix{f.ghost6, 16}};
    if (arg) c.endpoint = f.strangers[arg - 1];
    if (flags & 0x40) c.persistent_keepalive = 1;
    if (c.endpoint) node.trusted.insert(*c.endpoint);
    node.dev->set_peer(c, now);
    return;
  }
  if (action == 7) {
    node.dev->remove_peer(f.ghost);
    node.dev->remove_peer(crypto::PublicKey{});
    return;
  }
  // After any reconfiguration an old datagram may legitimately be accepted
  // again (a removed peer forgets its latest initiation timestamp).
  node.authenticated.clear();
  if (action == 0) {
    node.dev->remove_peer(f.pub[1 - x]);
    return;
  }
  if (action == 3) node.has_psk = !node.has_psk;
  const bool stranger = action == 2;  // 1: the same config again
  const bool with_endpoint = stranger || !(x == 1 && (header_ & 4));
  PeerConfig c = config_for(x, with_endpoint);
  if (stranger) c.endpoint = f.strangers[arg % 3];
  if (node.has_psk && (flags & 0x80)) c.preshared_key = f.other_psk;  // a mismatched key
  static constexpr uint16_t kKeepalive[4] = {0, 1, 25, 0};
  if (flags & 0x40) c.persistent_keepalive = kKeepalive[arg];
  set_main_peer(x, c);
}

void World::run(Reader& r) {
  const Fixed& f = fixed();
  for (size_t ops = 0; ops < kMaxOps && !r.empty(); ++ops) {
    const uint8_t op = r.u8();
    TRACE("op %zu: %d\n", ops, op % 10);
    switch (op % 10) {
      case 0: {  // deliver an in-flight datagram
        const uint8_t idx = r.u8(), flags = r.u8();
        if (inflight.empty()) break;
        const size_t i = idx % inflight.size();
        Sent s = inflight[i];
        if (!(flags & 1)) inflight.erase(inflight.begin() + static_cast<long>(i));  // bit0: keep a copy
        mutate_and_deliver(std::move(s), flags, r);
        break;
      }
      case 1: {  // replay anything sent so far
        const uint8_t idx = r.u8(), flags = r.u8();
        if (log.empty()) break;
        mutate_and_deliver(log[idx % log.size()], flags, r);
        break;
      }
      case 2: {  // raw bytes
        const uint8_t flags = r.u8();
        const size_t len = r.u8();
        // len 255: a real initiation from a device the receiver does not know
        Bytes d = len == 255 ? f.unknown_initiation[flags & 1] : r.take(len);
        // bit3: borrow a live session/handshake index from a real datagram
        if ((flags & 8) && !log.empty() && d.size() >= 8) {
          const Bytes& src = log[r.u8() % log.size()].bytes;
          std::memcpy(d.data() + 4, src.data() + 4, 4);
        }
        // bit4: a well-formed header for the chosen length
        if ((flags & 16) && d.size() >= 4) {
          d[0] = static_cast<uint8_t>(1 + (flags >> 5) % 4);
          d[1] = d[2] = d[3] = 0;
        }
        const int to = flags & 1;
        if (flags & 0x80) fix_macs(d, f.pub[to], now);  // bit7: a valid mac1
        const int src = (flags >> 1) & 3;
        deliver(to, src == 0 ? f.ep[1 - to] : f.strangers[src - 1], std::move(d));
        break;
      }
      case 3: {  // a packet from TUN
        const uint8_t flags = r.u8();
        const int x = flags & 1;
        const int y = 1 - x;
        const size_t len = r.u8();
        Bytes pkt;
        switch ((flags >> 1) & 3) {
          case 0: pkt = r.take(len); break;
          case 1:
          case 3: {
            std::optional<uint16_t> total;
            if (flags & 0x10) total = r.u16();  // lie about the length
            net::IpAddr src = f.overlay4[x], dst = f.overlay4[y];
            if (flags & 0x20) src = take_addr(r, 4);
            if (flags & 0x40) dst = take_addr(r, 4);
            if (flags & 0x80) dst = f.ghost4;
            // mode 3: a big packet (up to 2 KiB) of a fixed pattern
            Bytes payload = ((flags >> 1) & 3) == 3 ? Bytes(len * 8, static_cast<uint8_t>(len)) : r.take(len);
            pkt = ipv4_packet(src, dst, payload, total);
            break;
          }
          case 2: {
            std::optional<uint16_t> total;
            if (flags & 0x10) total = r.u16();
            net::IpAddr src = f.overlay6[x], dst = f.overlay6[y];
            if (flags & 0x20) src = take_addr(r, 16);
            if (flags & 0x40) dst = take_addr(r, 16);
            if (flags & 0x80) dst = f.ghost6;
            pkt = ipv6_packet(src, dst, r.take(len), total);
            break;
          }
        }
        tun(x, pkt);
        break;
      }
      case 4: {  // advance the clock
        static constexpr Time kUnit[4] = {1ms, 100ms, 1s, 30s};
        const uint8_t v = r.u8();
        now += (v & 63) * kUnit[v >> 6];
        timers();
        break;
      }
      case 5: {  // jump to the next deadline
        const Time next = std::min(n[0].dev->next_deadline(), n[1].dev->next_deadline());
        if (next != Time::max() && next - now <= 1h) now = std::max(now, next);
        timers();
        break;
      }
      case 6: {  // the network delivers the oldest datagrams
        const size_t k = r.u8() % 16 + 1;
        for (size_t i = 0; i < k && !inflight.empty(); ++i) {
          Sent s = std::move(inflight.front());
          inflight.pop_front();
          deliver(1 - s.from, f.ep[s.from], std::move(s.bytes));
        }
        break;
      }
      case 7: {  // a burst of packets, to move counters and replay windows far
        const uint8_t flags = r.u8();
        const int x = flags & 1;
        // 1 to 8192 packets, most bursts short; two long ones cross the
        // replay window (8128 counters).
        size_t count = size_t{1} << ((flags >> 1) % 14);
        count = std::min(count, kMaxBurstPackets - burst_packets);
        burst_packets += count;
        const Bytes pkt = ipv4_packet(f.overlay4[x], f.overlay4[1 - x], Bytes(12, 'b'));
        for (size_t i = 0; i < count; ++i) {
          keep_sent = i + 2 >= count;  // the last two survive
          tun(x, pkt, i > 0);
        }
        keep_sent = true;
        break;
      }
      case 8: {  // the network loses datagrams
        const uint8_t flags = r.u8();
        if (flags & 1) inflight.clear();
        else if (!inflight.empty()) inflight.erase(inflight.begin() + static_cast<long>((flags >> 1) % inflight.size()));
        break;
      }
      case 9: peer_op(r.u8()); break;
    }
  }
}

// The network stops misbehaving and both peers get their original config
// back (endpoints included): whatever the script did, each side pinging once
// a second must get through within two minutes (a forged or replayed packet,
// a lost handshake or a broken session may cost time, never the tunnel).
void World::heal_and_check_liveness() {
  const Fixed& f = fixed();
  for (int x = 0; x < 2; ++x) {
    n[x].has_psk = header_ & 16;
    n[x].authenticated.clear();
    set_main_peer(x, config_for(x, true));
  }
  inflight.clear();
  TRACE("heal at t=%.3fs\n", now.count() / 1e9);
  const Time start = now;
  // B pings half a second after A: in perfect lockstep both would start a
  // handshake within one round trip every time, each dropping its own for the
  // other's, and neither would complete (WireGuard relies on timing noise
  // there, as wireguard-go and Linux do).
  Time next_ping[2] = {now, now + 500ms};
  uint32_t seq = 0;
  while (!(ping_arrived[0] && ping_arrived[1])) {
    check(now - start <= 120s, "liveness: after the network heals, packets flow both ways within 2 minutes");
    if (!inflight.empty()) {  // everything in flight arrives 1 ms later, in order
      now += 1ms;
      for (size_t k = inflight.size(); k > 0 && !inflight.empty(); --k) {
        Sent s = std::move(inflight.front());
        inflight.pop_front();
        deliver(1 - s.from, f.ep[s.from], std::move(s.bytes));
      }
      timers();
      continue;
    }
    now = std::max(now, std::min({next_ping[0], next_ping[1], n[0].dev->next_deadline(), n[1].dev->next_deadline()}));
    for (int x = 0; x < 2; ++x) {
      if (now < next_ping[x]) continue;
      next_ping[x] = now + 1s;
      if (ping_arrived[1 - x]) continue;
      Bytes payload = {'P', 'I', 'N', 'G', static_cast<uint8_t>(x)};
      payload.resize(9);
      std::memcpy(payload.data() + 5, &seq, 4);
      ++seq;
      tun(x, ipv4_packet(f.overlay4[x], f.overlay4[1 - x], payload));
    }
    timers();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Reader r{data, size};
  const uint8_t header = r.u8();
  World w(header);
  if (!(header & 1)) w.run_prefix();
  w.run(r);
  if (header & 32) w.heal_and_check_liveness();
  return 0;
}
