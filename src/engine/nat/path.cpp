#include "engine/nat/path.hpp"

namespace ovl::nat {

PathSelector::Action PathSelector::decide(const crypto::PublicKey& peer, const Observation& o, Time now) {
  auto [it, fresh] = state_.try_emplace(peer);
  State& s = it->second;
  if (fresh || s.was_relay != o.on_relay) {  // a new peer, or the path changed (roaming, our switch)
    s.since = now;
    s.rx_changed = now;
    s.tx_at_rx = o.tx_bytes;
    s.was_relay = o.on_relay;
    if (!o.on_relay) s.reason.clear();
  }
  if (o.rx_bytes != s.rx) {
    s.rx_changed = now;
    s.tx_at_rx = o.tx_bytes;
  }
  s.rx = o.rx_bytes;
  s.tx = o.tx_bytes;

  if (o.direct_alive && !o.on_best) {
    s.reason.clear();
    return Action::use_direct;
  }
  if (o.on_relay) {
    if (!o.relay_reason.empty()) s.reason = o.relay_reason;
    if (o.have_direct && now - s.last_probe >= kProbeEvery) {
      s.last_probe = now;
      return Action::probe_direct;
    }
    return Action::none;
  }
  if (!o.relay_ready) return Action::none;
  if (o.direct_lost) {
    s.reason = "direct path stopped answering";
    s.last_probe = now;
    return Action::use_relay;
  }
  if (!o.session && !o.direct_alive && now - s.since >= kDirectGrace) {
    s.reason = o.relay_reason.empty() ? "direct probes unanswered" : o.relay_reason;
    s.last_probe = now;
    return Action::use_relay;
  }
  if (o.session && !o.direct_alive && o.tx_bytes - s.tx_at_rx > kBusyBytes && now - s.rx_changed >= kLostAfter) {
    s.reason = "direct path stopped answering";
    s.last_probe = now;
    return Action::use_relay;
  }
  return Action::none;
}

std::string PathSelector::reason(const crypto::PublicKey& peer) const {
  auto it = state_.find(peer);
  return it == state_.end() ? std::string() : it->second.reason;
}

}  // namespace ovl::nat
