#include "engine/relay/client.hpp"

#include <cstring>

#include "engine/relay/credential.hpp"

namespace ovl::relay {

namespace {
constexpr uint8_t kPrefix[6] = {0xfd, 0x6f, 0x76, 0x6c, 0x72, 0x79};
}

bool is_virtual_endpoint(const net::Endpoint& ep) { return ep.ip.v6 && std::memcmp(ep.ip.b.data(), kPrefix, 6) == 0; }

Client::Client(const crypto::SecretKey& self) : self_private_(self), self_(crypto::public_from_private(self)) {}

void Client::configure(std::vector<control::RelayGrant> grants, Time now) {
  std::vector<Slot> next;
  for (auto& g : grants) {
    Slot s;
    for (auto& old : slots_)
      if (old.grant.relay == g.relay) s = old;  // cookies and leases are per relay
    if (!(s.grant == g)) {
      s.grant = g;
      s.can_prove = proof_key(s.proof_key, self_private_, g.relay_key);
      s.allocated = false;
      s.unanswered = 0;
      s.next = now;
      s.refusal = s.can_prove ? "" : "the coordinator's grant names no usable relay key";
    }
    next.push_back(s);
  }
  slots_ = std::move(next);
  via_.clear();  // slot numbers changed meaning
}

size_t Client::best() const {
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].allocated) return i;
  return 0;
}

bool Client::ready() const { return !slots_.empty() && slots_[best()].allocated; }
const net::Endpoint& Client::relay() const {
  static const net::Endpoint none{};
  return slots_.empty() ? none : slots_[best()].grant.relay;
}
const char* Client::last_refusal() const { return slots_.empty() ? "" : slots_[best()].refusal; }

Client::Time Client::next_deadline() const {
  Time t = Time::max();
  for (auto& s : slots_)
    if (s.can_prove) t = std::min(t, s.next);
  return slots_.empty() ? Time{0} : t;
}

std::vector<Client::Outgoing> Client::on_timer(Time now) {
  std::vector<Outgoing> out;
  for (auto& s : slots_) {
    if (!s.can_prove || now < s.next) continue;
    // The previous request still unanswered when the next is due counts
    // against the relay; enough in a row and its lease is not assumed any
    // more (traffic moves to the next relay) and it is asked less often.
    bool dead = false;
    if (s.sent_at && ++s.unanswered >= kDeadAfter) {
      s.allocated = false;
      s.refusal = "the relay does not answer";
      dead = true;
    }
    Allocate a{self_, s.grant.expires_unix, s.grant.mac, s.cookie, {}};
    sign_allocate(a, s.proof_key);
    std::vector<uint8_t> b(kAllocateSize);
    serialize(a, std::span<uint8_t, kAllocateSize>(b.data(), b.size()));
    out.push_back({s.grant.relay, std::move(b)});
    s.sent_at = now;  // the ALLOCATED that answers it gives the round-trip time
    s.next = now + (dead ? kDeadRetryEvery : kRetryEvery);  // an answer moves this to the renewal
  }
  return out;
}

std::span<const uint8_t> Client::on_message(std::span<const uint8_t> d, const net::Endpoint& from, Time now,
                                            net::Endpoint& src_virtual) {
  size_t i = 0;
  while (i < slots_.size() && !(slots_[i].grant.relay == from)) ++i;
  if (i == slots_.size()) return {};  // only our relays speak for peers
  auto type = message_type(d).value_or(MsgType::allocate);
  if (type == MsgType::data) {
    auto m = parse_data(d);
    if (!m) return {};
    via_[m->source] = i;  // answer through the relay the peer uses
    src_virtual = endpoint_for(m->source);
    return m->payload;
  }
  on_slot_message(i, type, d, now);
  return {};
}

void Client::on_slot_message(size_t i, MsgType type, std::span<const uint8_t> d, Time now) {
  Slot& s = slots_[i];
  switch (type) {
    case MsgType::allocated:
      if (parse_allocated(d)) {
        // A better relay than the one in use is back: every peer is sent
        // there again (each answers through the relay it hears us on), so
        // the pairs that moved to a fallback return to it.
        if (!ready() || i < best()) via_.clear();
        s.allocated = true;
        s.unanswered = 0;
        s.refusal = "";
        // Leases are renewed one at a time; an answer that arrives after
        // the next request went out would count short, which the next
        // renewal corrects.
        if (s.sent_at) s.rtt = now - *s.sent_at, s.sent_at.reset();
        s.next = now + kRenewEvery;
      }
      return;
    case MsgType::challenge:
      if (auto c = parse_challenge(d)) {
        // A new cookie is answered now; the same one again means our answer
        // did not convince the relay, so wait for the usual retry.
        if (c->cookie != s.cookie) s.next = now;
        s.cookie = c->cookie;
        s.unanswered = 0;  // it is alive
        s.sent_at.reset();
      }
      return;
    case MsgType::refused:
      if (auto r = parse_refused(d)) {
        s.allocated = false;
        s.unanswered = 0;
        s.sent_at.reset();
        switch (r->reason) {
          case RefuseReason::bad_credential: s.refusal = "the relay refused our credential"; break;
          case RefuseReason::expired_credential: s.refusal = "our relay credential expired"; break;
          case RefuseReason::not_allocated: s.refusal = "the relay lost our lease"; s.next = now; break;
          case RefuseReason::revoked: s.refusal = "the relay revoked this node"; break;
          case RefuseReason::rate_limited:
            s.allocated = true;
            s.refusal = "rate limited by the relay";
            s.next = now + kRenewEvery;
            break;
          case RefuseReason::bad_proof: s.refusal = "the relay did not accept our proof of key"; break;
        }
      }
      return;
    default:
      return;
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

size_t Client::slot_for(const NodeId& peer) const {
  if (auto it = via_.find(peer); it != via_.end() && it->second < slots_.size() && slots_[it->second].allocated)
    return it->second;
  return best();
}

const net::Endpoint& Client::relay_for(const net::Endpoint& virtual_ep) const {
  auto peer = peer_for(virtual_ep);
  return peer && !slots_.empty() ? slots_[slot_for(*peer)].grant.relay : relay();
}

size_t Client::wrap(const net::Endpoint& virtual_ep, std::span<const uint8_t> payload, std::span<uint8_t> out,
                    net::Endpoint& to) const {
  auto peer = peer_for(virtual_ep);
  if (!peer || slots_.empty()) return 0;
  size_t i = slot_for(*peer);
  if (!slots_[i].allocated) return 0;
  to = slots_[i].grant.relay;
  return serialize_send(*peer, payload, out);
}

}  // namespace ovl::relay
