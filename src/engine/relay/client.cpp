#include "engine/relay/client.hpp"

#include <cstring>

#include "engine/relay/credential.hpp"

namespace ovl::relay {

namespace {
constexpr uint8_t kPrefix[6] = {0xfd, 0x6f, 0x76, 0x6c, 0x72, 0x79};
}

bool is_virtual_endpoint(const net::Endpoint& ep) { return ep.ip.v6 && std::memcmp(ep.ip.b.data(), kPrefix, 6) == 0; }

Client::Client(const crypto::SecretKey& self) : self_private_(self), self_(crypto::public_from_private(self)) {}

void Client::configure(const control::RelayGrant& g, Time now) {
  if (grant_ && *grant_ == g) return;
  if (!grant_ || grant_->relay != g.relay) cookie_ = {};  // cookies are per relay
  grant_ = g;
  allocated_ = false;
  next_ = now;
  can_prove_ = proof_key(proof_key_, self_private_, g.relay_key);
  refusal_ = can_prove_ ? "" : "the coordinator's grant names no usable relay key";
}

std::optional<std::vector<uint8_t>> Client::on_timer(Time now) {
  if (!grant_ || !can_prove_ || now < next_) return std::nullopt;
  Allocate a{self_, grant_->expires_unix, grant_->mac, cookie_, {}};
  sign_allocate(a, proof_key_);
  std::vector<uint8_t> b(kAllocateSize);
  serialize(a, std::span<uint8_t, kAllocateSize>(b.data(), b.size()));
  next_ = now + (allocated_ ? kRenewEvery : kRetryEvery);
  sent_at_ = now;  // the ALLOCATED that answers it gives the round-trip time
  return b;
}

std::span<const uint8_t> Client::on_message(std::span<const uint8_t> d, const net::Endpoint& from, Time now,
                                            net::Endpoint& src_virtual) {
  if (!grant_ || !(from == grant_->relay)) return {};  // only our relay speaks for peers
  switch (message_type(d).value_or(MsgType::allocate)) {
    case MsgType::data: {
      auto m = parse_data(d);
      if (!m) return {};
      src_virtual = endpoint_for(m->source);
      return m->payload;
    }
    case MsgType::allocated:
      if (parse_allocated(d)) {
        allocated_ = true;
        refusal_ = "";
        // Leases are renewed one at a time; an answer that arrives after
        // the next request went out would count short, which the next
        // renewal corrects.
        if (sent_at_) rtt_ = now - *sent_at_, sent_at_.reset();
        next_ = now + kRenewEvery;
      }
      return {};
    case MsgType::challenge:
      if (auto c = parse_challenge(d)) {
        // A new cookie is answered now; the same one again means our answer
        // did not convince the relay, so wait for the usual retry.
        if (c->cookie != cookie_) next_ = now;
        cookie_ = c->cookie;
      }
      return {};
    case MsgType::refused:
      if (auto r = parse_refused(d)) {
        allocated_ = false;
        switch (r->reason) {
          case RefuseReason::bad_credential: refusal_ = "the relay refused our credential"; break;
          case RefuseReason::expired_credential: refusal_ = "our relay credential expired"; break;
          case RefuseReason::not_allocated: refusal_ = "the relay lost our lease"; next_ = now; break;
          case RefuseReason::revoked: refusal_ = "the relay revoked this node"; break;
          case RefuseReason::rate_limited: allocated_ = true; refusal_ = "rate limited by the relay"; break;
          case RefuseReason::bad_proof: refusal_ = "the relay did not accept our proof of key"; break;
        }
      }
      return {};
    default:
      return {};
  }
}

net::Endpoint Client::endpoint_for(const NodeId& peer) {
  auto [it, fresh] = ids_.try_emplace(peer, static_cast<uint32_t>(ids_.size() + 1));
  if (fresh) keys_[it->second] = peer;
  net::Endpoint ep;
  ep.ip.v6 = true;
  std::memcpy(ep.ip.b.data(), kPrefix, 6);
  for (int i = 0; i < 4; ++i) ep.ip.b[12 + i] = static_cast<uint8_t>(it->second >> (24 - 8 * i));
  ep.port = 1;
  return ep;
}

std::optional<NodeId> Client::peer_for(const net::Endpoint& ep) const {
  if (!is_virtual_endpoint(ep)) return std::nullopt;
  uint32_t id = 0;
  for (int i = 0; i < 4; ++i) id = id << 8 | ep.ip.b[12 + i];
  auto it = keys_.find(id);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

size_t Client::wrap(const net::Endpoint& virtual_ep, std::span<const uint8_t> payload, std::span<uint8_t> out) const {
  if (!allocated_) return 0;
  auto peer = peer_for(virtual_ep);
  if (!peer) return 0;
  return serialize_send(*peer, payload, out);
}

}  // namespace ovl::relay
