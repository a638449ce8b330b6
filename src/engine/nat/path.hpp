// Per-peer path choice between a direct UDP path and a relay, sans-IO.
//
// Two sources tell whether a direct path works: disco (nat::Prober: pings
// and pongs on every candidate, with RTTs) and the WireGuard session itself
// (for peers that do not answer disco, e.g. stock WireGuard). The selector
// watches each peer (fed once a second) and says what to do:
//   - a direct path answers disco and the device is not on it -> use it
//     (relay -> direct as soon as a pong arrives; or a better direct path)
//   - the disco path in use went silent (Prober::kAliveFor)    -> use the relay
//   - no session and no disco answer for kDirectGrace          -> use the relay
//   - a direct session whose replies stopped for kLostAfter    -> use the relay
//   - on the relay, every kProbeEvery                          -> probe direct
// A probe is a handshake initiation to the direct candidate; if the peer
// answers from there, roaming moves the session to the direct path by itself.
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"

namespace ovl::nat {

class PathSelector {
 public:
  using Time = std::chrono::nanoseconds;
  static constexpr Time kDirectGrace = std::chrono::seconds(4);
  static constexpr Time kLostAfter = std::chrono::seconds(4);
  static constexpr Time kProbeEvery = std::chrono::seconds(15);
  static constexpr uint64_t kBusyBytes = 1024;  // sent without any reply: the path is gone

  struct Observation {
    bool on_relay = false;      // the device's endpoint for the peer is the relay
    bool session = false;       // a handshake completed recently
    uint64_t rx_bytes = 0, tx_bytes = 0;
    bool have_direct = false;   // a direct candidate is known
    bool relay_ready = false;   // a relay is configured and accepted us
    bool direct_alive = false;  // disco: a direct path answers now
    bool on_best = false;       // the device already uses that path
    bool direct_lost = false;   // disco: a direct path answered before, none does now
    // Why no direct path works, when the caller knows better than "direct
    // probes unanswered" (NAT types, no UDP); kept up to date while relayed.
    std::string relay_reason;
  };
  enum class Action { none, use_relay, probe_direct, use_direct };

  Action decide(const crypto::PublicKey& peer, const Observation& o, Time now);
  // Why the peer is relayed (for `ovl status`), or "" when it is not.
  std::string reason(const crypto::PublicKey& peer) const;
  void forget(const crypto::PublicKey& peer) { state_.erase(peer); }

 private:
  struct State {
    Time since{0};          // when the current phase (direct or relay) began
    uint64_t rx = 0, tx = 0;
    Time rx_changed{0};     // last time rx grew
    uint64_t tx_at_rx = 0;  // tx when rx last grew
    Time last_probe{0};
    bool was_relay = false;
    std::string reason;
  };
  std::map<crypto::PublicKey, State> state_;
};

}  // namespace ovl::nat
