// The node's side of a relay, sans-IO.
//
// The device addresses a relayed peer by a *virtual endpoint*: an address in
// a reserved IPv6 range that names "peer P through the relay". WireGuard
// needs nothing else: roaming, keepalives and handshakes work unchanged, and
// a probe answered from a direct address moves the peer off the relay by
// itself. The I/O layer asks this class to wrap datagrams sent to a virtual
// endpoint into relay SEND messages, and to turn relay DATA messages back
// into datagrams "from" the sender's virtual endpoint.
//
// The relay lease (ALLOCATE with the coordinator's grant) is renewed every
// kRenewEvery, which also keeps the NAT mapping toward the relay open. Each
// ALLOCATE echoes the relay's last CHALLENGE cookie for our address and is
// proved with our private key (credential.hpp); a CHALLENGE with a new
// cookie (first contact, our NAT mapping changed) is answered at once.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "engine/control/messages.hpp"
#include "engine/relay/protocol.hpp"

namespace ovl::relay {

// fd6f:766c:7279::/48 ("ovl" "ry"): never routed, only meaningful inside ovl.
bool is_virtual_endpoint(const net::Endpoint& ep);

class Client {
 public:
  using Time = std::chrono::nanoseconds;
  // A restarted relay has forgotten every lease and cannot tell the peers
  // that do not send: the renewal period bounds how long they stay
  // unreachable (and keeps NAT mappings toward the relay open).
  static constexpr Time kRenewEvery = std::chrono::seconds(10);
  static constexpr Time kRetryEvery = std::chrono::seconds(2);

  explicit Client(const crypto::SecretKey& self);

  // Use this relay grant (from the coordinator's welcome). A new grant
  // re-allocates at once.
  void configure(const control::RelayGrant& g, Time now);
  bool configured() const { return grant_.has_value(); }
  bool ready() const { return allocated_; }  // the relay accepted our lease
  const net::Endpoint& relay() const { return grant_->relay; }

  // An ALLOCATE to send to relay() when one is due.
  std::optional<std::vector<uint8_t>> on_timer(Time now);
  Time next_deadline() const { return next_; }

  // A relay message arrived on our port from `from`. For DATA from the relay,
  // returns the inner datagram and sets `src_virtual`; otherwise handles
  // ALLOCATED/REFUSED/CHALLENGE and returns an empty span (an ALLOCATE may
  // then be due at once: next_deadline() <= now).
  std::span<const uint8_t> on_message(std::span<const uint8_t> d, const net::Endpoint& from, Time now,
                                      net::Endpoint& src_virtual);

  // The virtual endpoint for a peer (stable for the life of this Client);
  // relay messages name peers by node id (protocol.hpp).
  net::Endpoint endpoint_for(const crypto::PublicKey& peer) { return endpoint_for(node_id(peer)); }
  net::Endpoint endpoint_for(const NodeId& peer);
  std::optional<NodeId> peer_for(const net::Endpoint& virtual_ep) const;
  // Wraps `payload` for the peer behind `virtual_ep` as a SEND into `out`
  // (which needs kForwardHeaderSize + payload bytes); returns its size, or 0
  // when the endpoint is unknown or no relay is ready.
  size_t wrap(const net::Endpoint& virtual_ep, std::span<const uint8_t> payload, std::span<uint8_t> out) const;

  const char* last_refusal() const { return refusal_; }
  // Round trip of the last lease request the relay accepted (netcheck).
  std::optional<Time> last_rtt() const { return rtt_; }

 private:
  crypto::SecretKey self_private_;
  crypto::PublicKey self_;
  std::optional<control::RelayGrant> grant_;
  crypto::SecretKey proof_key_;  // shared with the grant's relay
  bool can_prove_ = false;       // the grant names a usable relay key
  Cookie cookie_{};              // the relay's last challenge to us
  bool allocated_ = false;
  Time next_{0};
  std::optional<Time> sent_at_;  // the last ALLOCATE still unanswered
  std::optional<Time> rtt_;
  const char* refusal_ = "";
  std::map<NodeId, uint32_t> ids_;
  std::map<uint32_t, NodeId> keys_;
};

}  // namespace ovl::relay
