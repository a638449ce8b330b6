#include "engine/nat/prober.hpp"

#include <algorithm>

#include "engine/crypto/box.hpp"

namespace ovl::nat {

using namespace std::chrono_literals;

const char* describe(PathKind k) { return k == PathKind::lan ? "lan" : "public"; }

PathKind classify(const net::IpAddr& ip) {
  const auto& b = ip.b;
  if (!ip.v6) {
    bool lan = b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
               (b[0] == 169 && b[1] == 254);
    return lan ? PathKind::lan : PathKind::public_;
  }
  bool lan = (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
  // fd6f:766c:7279::/48 is ovl's own virtual range (a spray socket): that
  // path crosses the internet, it is public.
  if (b[0] == 0xfd && b[1] == 0x6f && b[2] == 0x76 && b[3] == 0x6c && b[4] == 0x72 && b[5] == 0x79) lan = false;
  return lan ? PathKind::lan : PathKind::public_;
}

Prober::Prober(const crypto::SecretKey& self) : self_(self), self_pub_(crypto::public_from_private(self)) {}

Prober::Peer& Prober::peer_state(const crypto::PublicKey& peer) {
  auto [it, fresh] = peers_.try_emplace(peer);
  if (fresh) it->second.key_ok = crypto::box_shared(it->second.shared, self_, peer);
  return it->second;
}

Prober::Candidate* Prober::add(Peer& p, const net::Endpoint& ep, bool from_map, Time now) {
  for (auto& c : p.cands)
    if (c.ep == ep) {
      c.from_map = c.from_map || from_map;
      return &c;
    }
  if (!ep.valid() || ep.ip.is_unspecified()) return nullptr;
  if (p.cands.size() >= kMaxCandidates) {
    // Make room by forgetting a learned candidate that does not answer.
    auto victim = std::find_if(p.cands.begin(), p.cands.end(), [&](const Candidate& c) {
      return !c.from_map && !c.alive(now) && !(p.chosen && *p.chosen == c.ep);
    });
    if (victim == p.cands.end()) return nullptr;
    p.cands.erase(victim);
  }
  Candidate c;
  c.ep = ep;
  c.kind = classify(ep.ip);
  c.from_map = from_map;
  c.added = now;
  p.cands.push_back(c);
  return &p.cands.back();
}

void Prober::set_peer(const crypto::PublicKey& peer, const std::vector<net::Endpoint>& candidates, bool online,
                      Time now) {
  if (peer == self_pub_) return;
  Peer& p = peer_state(peer);
  bool changed = online && !p.online;
  p.online = online;
  // Map candidates that left the map are dropped unless they still answer.
  std::erase_if(p.cands, [&](const Candidate& c) {
    return c.from_map && !c.alive(now) && std::find(candidates.begin(), candidates.end(), c.ep) == candidates.end();
  });
  for (auto& ep : candidates) {
    bool known = std::any_of(p.cands.begin(), p.cands.end(), [&](const Candidate& c) { return c.ep == ep; });
    if (add(p, ep, true, now) && !known) changed = true;
  }
  if (changed) {
    p.fast_until = now + kFastFor;
    next_ = std::min(next_, now);
  }
}

void Prober::remove_peer(const crypto::PublicKey& peer) {
  peers_.erase(peer);
  std::erase_if(pending_, [&](const auto& kv) { return kv.second.peer == peer; });
}

void Prober::drop_candidate(const crypto::PublicKey& peer, const net::Endpoint& ep) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  std::erase_if(it->second.cands, [&](const Candidate& c) { return c.ep == ep; });
  if (it->second.chosen && *it->second.chosen == ep) it->second.chosen.reset();
}

void Prober::wake(const crypto::PublicKey& peer, const std::vector<net::Endpoint>& candidates, Time now) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;  // not in our map (yet): nothing to probe with
  for (auto& ep : candidates) add(it->second, ep, false, now);
  it->second.online = true;
  it->second.fast_until = now + kFastFor;
  // Ping at once: the peer probes us now too, which is what opens both NATs.
  for (auto& c : it->second.cands) c.last_ping = Time(-1);
  next_ = std::min(next_, now);
}

void Prober::send(const crypto::PublicKey& key, const Peer& p, const disco::Message& m, const net::Endpoint& to,
                  crypto::Rng& rng, std::vector<Send>& out) {
  (void)key;
  std::array<uint8_t, 24> nonce;
  rng.fill(nonce);
  Send s{to, std::vector<uint8_t>(disco::kMaxSize)};
  s.bytes.resize(disco::seal(m, self_pub_, p.shared, nonce, s.bytes));
  out.push_back(std::move(s));
}

void Prober::ping(const crypto::PublicKey& key, Peer& p, Candidate& c, Time now, crypto::Rng& rng,
                  std::vector<Send>& out) {
  c.last_ping = now;
  if (pending_.size() >= kMaxPending) return;
  disco::Message m;
  rng.fill(m.txid);
  pending_[m.txid] = {key, c.ep, now};
  send(key, p, m, c.ep, rng, out);
}

void Prober::ping_once(const crypto::PublicKey& peer, const net::Endpoint& to, Time now, crypto::Rng& rng,
                       std::vector<Send>& out) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.key_ok || pending_.size() >= kMaxPending) return;
  disco::Message m;
  rng.fill(m.txid);
  pending_[m.txid] = {peer, to, now};
  send(peer, it->second, m, to, rng, out);
}

void Prober::expire_pending(Time now) {
  std::erase_if(pending_, [&](const auto& kv) { return now - kv.second.sent > kPendingFor; });
}

void Prober::on_timer(Time now, crypto::Rng& rng, std::vector<Send>& out) {
  expire_pending(now);
  Time next = now + kReprobe;
  for (auto& [key, p] : peers_) {
    if (!p.key_ok || !p.online) continue;
    choose(p, now);
    const bool fast = now < p.fast_until;
    for (auto& c : p.cands) {
      Time every = fast ? kFastEvery : !p.chosen ? kRetry : *p.chosen == c.ep ? kHeartbeat : kReprobe;
      if (c.last_ping.count() < 0 || now - c.last_ping >= every) ping(key, p, c, now, rng, out);
      next = std::min(next, c.last_ping + every);
    }
    // A candidate still waiting for its first pong may be about to die.
    if (p.chosen)
      for (auto& c : p.cands)
        if (c.ep == *p.chosen && c.alive(now)) next = std::min(next, c.last_pong + kAliveFor);
  }
  next_ = std::max(next, now + 10ms);
}

void Prober::choose(Peer& p, Time now) {
  const Candidate* cur = nullptr;
  const Candidate* best = nullptr;
  for (auto& c : p.cands) {
    if (!c.alive(now) || !c.rtt) continue;
    if (p.chosen && c.ep == *p.chosen) cur = &c;
    if (!best || c.kind < best->kind || (c.kind == best->kind && *c.rtt < *best->rtt)) best = &c;
  }
  if (!best) {
    if (p.chosen) {  // the path in use went silent: look for another one quickly
      p.chosen.reset();
      p.fast_until = now + kFastFor;
    }
    return;
  }
  p.ever_alive = true;
  if (cur && cur != best) {
    // Hysteresis: keep a working path unless the other is a better kind or
    // clearly faster (20% and a millisecond), so two close paths do not flap.
    bool better = best->kind < cur->kind || (best->kind == cur->kind && *best->rtt * 5 < *cur->rtt * 4 &&
                                              *cur->rtt - *best->rtt > 1ms);
    if (!better) return;
  }
  p.chosen = best->ep;
}

std::optional<crypto::PublicKey> Prober::on_datagram(std::span<const uint8_t> d, const net::Endpoint& from, Time now,
                                                     crypto::Rng& rng, std::vector<Send>& out) {
  auto key = disco::sender(d);
  if (!key || *key == self_pub_) return std::nullopt;
  auto it = peers_.find(*key);
  if (it == peers_.end() || !it->second.key_ok) return std::nullopt;
  Peer& p = it->second;
  auto m = disco::open(d, p.shared);
  if (!m) return std::nullopt;
  if (m->type == disco::Type::ping) {
    if (std::find(p.recent.begin(), p.recent.end(), m->txid) != p.recent.end()) return std::nullopt;  // replayed
    if (p.recent.size() < kRecentPings) p.recent.push_back(m->txid);
    else p.recent[p.recent_next++ % kRecentPings] = m->txid;
    disco::Message pong{disco::Type::pong, m->txid, from};
    send(*key, p, pong, from, rng, out);
    // Peer-reflexive: the peer reaches us from here, so try answering there.
    bool known = has_candidate(*key, from);
    if (!known)
      if (auto* c = add(p, from, false, now)) ping(*key, p, *c, now, rng, out);
    return key;
  }
  auto pend = pending_.find(m->txid);
  if (pend == pending_.end() || pend->second.peer != *key) return key;  // late or not ours
  Pending pg = pend->second;
  pending_.erase(pend);
  if (!(pg.to == from)) {
    // Answered, but from elsewhere: that address is a candidate to try.
    if (!has_candidate(*key, from))
      if (auto* c = add(p, from, false, now)) ping(*key, p, *c, now, rng, out);
    return key;
  }
  Candidate* c = add(p, from, false, now);
  if (!c) return key;
  Time sample = now - pg.sent;
  c->rtt = c->rtt ? (*c->rtt * 3 + sample) / 4 : sample;
  c->last_pong = now;
  choose(p, now);
  next_ = std::min(next_, now);
  return key;
}

std::optional<Prober::Path> Prober::best(const crypto::PublicKey& peer, Time now) const {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.chosen) return std::nullopt;
  for (auto& c : it->second.cands)
    if (c.ep == *it->second.chosen && c.alive(now)) return Path{c.ep, c.kind, c.rtt.value_or(Time(0))};
  return std::nullopt;
}

bool Prober::lost(const crypto::PublicKey& peer, Time now) const {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.ever_alive) return false;
  for (auto& c : it->second.cands)
    if (c.alive(now)) return false;
  return true;
}

bool Prober::answered(const crypto::PublicKey& peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second.ever_alive;
}

bool Prober::has_candidate(const crypto::PublicKey& peer, const net::Endpoint& ep) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return false;
  return std::any_of(it->second.cands.begin(), it->second.cands.end(), [&](const Candidate& c) { return c.ep == ep; });
}

std::vector<Prober::CandidateView> Prober::candidates(const crypto::PublicKey& peer, Time now) const {
  std::vector<CandidateView> r;
  auto it = peers_.find(peer);
  if (it == peers_.end()) return r;
  for (auto& c : it->second.cands) r.push_back({c.ep, c.kind, c.alive(now), c.rtt});
  return r;
}

}  // namespace ovl::nat
