// Learns this node's public (server-reflexive) UDP mapping, sans-IO.
//
// STUN Binding requests go out of the node's own WireGuard socket (so the
// mapping they reveal is the one peers must use) to the coordinator's UDP
// port and to the port above it. The same mapping from both means the NAT
// maps endpoint-independently; different mappings mean endpoint-dependent
// ("symmetric") mapping, where a peer cannot reuse the address we learned.
// Re-checked every kRecheck; retried quickly until a first answer.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/nat/stun.hpp"
#include "engine/net/ip.hpp"

namespace ovl::nat {

enum class Mapping { unknown, endpoint_independent, endpoint_dependent };
const char* describe(Mapping m);  // "unknown", "endpoint-independent", "endpoint-dependent"

class Discovery {
 public:
  using Time = std::chrono::nanoseconds;
  static constexpr Time kRecheck = std::chrono::seconds(25);
  static constexpr Time kAnswerTimeout = std::chrono::seconds(3);

  struct Send {
    net::Endpoint to;
    std::vector<uint8_t> bytes;
  };

  // `server` is the coordinator's UDP address; its port + 1 is the second probe.
  explicit Discovery(std::optional<net::Endpoint> server);

  // Requests due at `now` are appended to `out`.
  void on_timer(Time now, crypto::Rng& rng, std::vector<Send>& out);
  Time next_deadline() const { return next_; }
  // A STUN success response arrived from `from`. Returns true when what we
  // know (reflexive address or mapping behaviour) changed.
  bool on_response(const StunResponse& r, const net::Endpoint& from, Time now);
  // Probe again now (the local network changed, the control link came back).
  void recheck(Time now) { next_ = now; }

  const std::optional<net::Endpoint>& reflexive() const { return reflexive_; }
  Mapping mapping() const { return mapping_; }
  std::optional<Time> last_rtt() const { return rtt_; }

 private:
  struct Pending {
    bool alt;
    Time sent;
  };
  std::optional<net::Endpoint> server_;
  std::map<TxId, Pending> pending_;
  Time next_{0};
  int failures_ = 0;
  std::optional<net::Endpoint> reflexive_, alt_mapped_;
  Mapping mapping_ = Mapping::unknown;
  std::optional<Time> rtt_;
};

}  // namespace ovl::nat
