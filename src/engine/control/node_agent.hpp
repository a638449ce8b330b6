// The node's side of the control plane, sans-IO: one control link at a time
// to the coordinator, the enrollment hello, and the network map kept
// current from full maps and deltas. The daemon owns the socket, feeds bytes
// in, writes out what this produces, and applies the map to the tunnel.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/control/messages.hpp"
#include "engine/control/secure_channel.hpp"

namespace ovl::control {

struct KeyLess {
  bool operator()(const crypto::PublicKey& a, const crypto::PublicKey& b) const { return a < b; }
};

// What the node knows of its network; also what it caches on disk so it can
// come back up while the coordinator is away.
// What changed in the map since it was last applied: everything (a welcome
// or a full map), or the peers a run of deltas touched. Lets the daemon do
// work in proportion to a delta, not to the network.
struct MapChanges {
  bool full = false;
  std::set<crypto::PublicKey, KeyLess> upserted, removed;  // disjoint
  bool empty() const { return !full && upserted.empty() && removed.empty(); }
};

struct NetState {
  std::optional<Welcome> welcome;
  uint64_t version = 0;
  std::map<crypto::PublicKey, PeerInfo, KeyLess> peers;  // includes self
  // What this node admits (nullopt: the coordinator predates policies).
  std::optional<policy::RuleSet> filter;
  std::string to_json() const;
  static std::optional<NetState> from_json(std::string_view s);
};

class NodeAgent {
 public:
  // `name` is the explicit name ("" lets the invite or `hostname` decide).
  NodeAgent(const crypto::SecretKey& node_key, const crypto::PublicKey& coordinator_key, std::string name,
            std::string hostname, uint16_t listen_port);

  // Enroll on the next link (joining). Cleared once the coordinator welcomed us.
  void set_invite(const std::string& invite_id, const std::string& secret_b64url);
  // Local candidates and the STUN-learned public mapping. Returns the bytes
  // of an update to send when a link is up and they changed (else empty).
  std::vector<uint8_t> set_endpoints(std::vector<net::Endpoint> lan, std::optional<net::Endpoint> reflexive);
  void restore(NetState s) { state_ = std::move(s); }
  // The routes this node advertises (the whole set). Returns the bytes of an
  // update to send when a link is up and they changed (else empty); the next
  // hello carries them in any case.
  std::vector<uint8_t> set_routes(std::vector<net::Prefix> routes);
  const std::vector<net::Prefix>& routes() const { return routes_; }

  // A new TCP link is up: returns the bytes to write (handshake + hello).
  std::vector<uint8_t> on_connected(crypto::Rng& rng, int64_t wall_ns);
  // Bytes from the link. Returns false if the link must be closed (protocol
  // error, or the coordinator refused us: see refused()).
  bool on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& to_write);
  void on_disconnected();
  std::vector<uint8_t> ping();  // bytes of a liveness ping (empty if no link)
  // Bytes of a call-me-maybe for the coordinator to forward (empty if no link).
  std::vector<uint8_t> call_me_maybe(const CallMeMaybe& c);
  // Call-me-maybes forwarded to us since the last call.
  std::vector<CallMeMaybe> take_calls() { return std::exchange(calls_, {}); }

  bool linked() const { return ch_ && ch_->established() && welcomed_; }
  // A link is up but the coordinator has not completed the handshake.
  bool handshake_pending() const { return ch_ && !ch_->established(); }
  const NetState& state() const { return state_; }
  // True once per change of the map (cleared by the call).
  bool take_map_changed() {
    bool c = map_changed_;
    map_changed_ = false;
    return c;
  }
  // What changed since the last call (cleared by the call).
  MapChanges take_changes() { return std::exchange(changes_, {}); }
  // Set when the coordinator refused this node (bad invite, removed):
  // reconnecting will not help.
  const std::optional<ErrorMsg>& refused() const { return refused_; }
  const std::string& last_error() const { return last_error_; }

 private:
  void handle(const Message& m);
  crypto::SecretKey key_;
  crypto::PublicKey coordinator_;
  std::string name_, hostname_;
  uint16_t listen_port_;
  std::optional<std::string> invite_id_, invite_secret_;
  std::vector<net::Endpoint> endpoints_;
  std::optional<net::Endpoint> reflexive_;
  std::vector<net::Prefix> routes_;
  std::vector<net::Prefix> hello_routes_;  // what the last hello carried
  std::unique_ptr<SecureChannel> ch_;
  NetState state_;
  bool welcomed_ = false;
  bool map_changed_ = false;
  MapChanges changes_;
  std::optional<ErrorMsg> refused_;
  std::string last_error_;
  std::vector<CallMeMaybe> calls_;
};

}  // namespace ovl::control
