#include "engine/nat/spray.hpp"

#include <algorithm>
#include <cstring>
#include <set>

namespace ovl::nat {

namespace {
constexpr uint8_t kPrefix[8] = {0xfd, 0x6f, 0x76, 0x6c, 0x72, 0x79, 0x00, 0x73};
}

net::Endpoint socket_endpoint(uint32_t id) {
  net::Endpoint ep;
  ep.ip.v6 = true;
  std::memcpy(ep.ip.b.data(), kPrefix, sizeof kPrefix);
  for (int i = 0; i < 4; ++i) ep.ip.b[12 + i] = static_cast<uint8_t>(id >> (24 - 8 * i));
  ep.port = 1;
  return ep;
}

std::optional<uint32_t> socket_id(const net::Endpoint& ep) {
  if (!ep.ip.v6 || std::memcmp(ep.ip.b.data(), kPrefix, sizeof kPrefix) != 0) return std::nullopt;
  uint32_t id = 0;
  for (int i = 0; i < 4; ++i) id = id << 8 | ep.ip.b[12 + i];
  return id;
}

Spray::Role Spray::role_for(Mapping self, Mapping peer) {
  if (self == Mapping::endpoint_dependent && peer == Mapping::endpoint_independent) return Role::hard;
  if (self == Mapping::endpoint_independent && peer == Mapping::endpoint_dependent) return Role::easy;
  return Role::none;
}

bool Spray::should_offer(const crypto::PublicKey& key, Role role, const net::Endpoint& peer_public, Time now) {
  if (role == Role::none) return false;
  Peer& p = peers_[key];
  if (!p.first_seen) p.first_seen = now;
  p.role = role;
  p.peer_public = peer_public;
  if (p.active || now < p.cooldown_until || now - *p.first_seen < kSettle) return false;
  if (p.offered && now - *p.offered < kOfferValid) return false;
  p.offered = now;
  return true;
}

bool Spray::on_offer(const crypto::PublicKey& key, Role role, const net::Endpoint& peer_public, Time now) {
  if (role == Role::none) return false;
  Peer& p = peers_[key];
  p.role = role;
  p.peer_public = peer_public;
  p.peer_offered = now;
  if (p.active || now < p.cooldown_until) return false;
  if (p.offered && now - *p.offered < kOfferValid) return false;  // ours is out: this is the answer
  p.offered = now;
  return true;
}

void Spray::succeeded(const crypto::PublicKey& key, Time now) {
  auto it = peers_.find(key);
  if (it == peers_.end()) return;
  if (it->second.active) finish(key, it->second, true, now, nullptr);
  it->second.outcome = "succeeded";
}

void Spray::finish(const crypto::PublicKey& key, Peer& p, bool success, Time now, Actions* out) {
  p.active = false;
  p.offered.reset();
  p.peer_offered.reset();
  p.outcome = success ? "succeeded" : "failed";
  if (success) p.failures = 0;
  else p.cooldown_until = now + kCooldown * (1 << std::min(p.failures++, 5));
  if (out) out->finished.push_back({key, success});
  else pending_finished_.push_back({key, success});
}

void Spray::on_timer(Time now, crypto::Rng& rng, Actions& out) {
  for (auto& f : pending_finished_) out.finished.push_back(f);
  pending_finished_.clear();
  for (auto& [key, p] : peers_) {
    if (!p.active) {
      bool agreed = p.offered && p.peer_offered && now - *p.offered < kOfferValid &&
                    now - *p.peer_offered < kOfferValid && now >= p.cooldown_until;
      if (!agreed) {
        if (p.offered && now - *p.offered >= kOfferValid) p.offered.reset();
        if (p.peer_offered && now - *p.peer_offered >= kOfferValid) p.peer_offered.reset();
        continue;
      }
      p.active = true;
      p.start = now;
      p.chunk = 0;
      p.outcome = "spraying";
      if (p.role == Role::hard) {
        out.open.push_back({key, p.peer_public});
        p.next = now + kWindow;
      } else {
        p.next = now + kEasyDelay;
      }
      continue;
    }
    if (now < p.next) continue;
    if (p.role == Role::hard || p.chunk >= kRounds * kChunks) {
      finish(key, p, false, now, &out);
      continue;
    }
    // One chunk of the current round: distinct random ports.
    std::set<uint16_t> ports;
    const uint32_t span = 65536u - kPortLo;
    while (ports.size() < static_cast<size_t>(kPortsPerRound / kChunks))
      ports.insert(static_cast<uint16_t>(kPortLo + rng.uniform(span)));
    for (uint16_t port : ports) out.probe.push_back({key, net::Endpoint{p.peer_public.ip, port}});
    ++p.chunk;
    if (p.chunk % kChunks) p.next = now + kChunkEvery;
    else if (p.chunk < kRounds * kChunks) p.next = p.start + kEasyDelay + kRoundEvery * (p.chunk / kChunks);
    else p.next = now + kRoundEvery;  // time for the last answers
  }
}

Spray::Time Spray::next_deadline() const {
  Time next = Time::max();
  if (!pending_finished_.empty()) return Time(0);
  for (auto& [key, p] : peers_) {
    if (p.active) next = std::min(next, p.next);
    else if (p.offered && p.peer_offered) next = std::min({next, std::max(p.cooldown_until, Time(0)), *p.offered + kOfferValid, *p.peer_offered + kOfferValid});
  }
  return next;
}

std::string Spray::state(const crypto::PublicKey& key) const {
  auto it = peers_.find(key);
  return it == peers_.end() ? std::string() : it->second.outcome;
}

}  // namespace ovl::nat
