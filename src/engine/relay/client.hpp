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
//
// Several relays: the coordinator lists its relays in order of preference
// and the node holds a lease on every one that answers. It sends to a peer
// through the relay it last heard that peer from (where the peer holds a
// lease, by the same rule), else through the best relay that holds our
// lease. So a relay that dies costs the pairs using it only the time to
// notice (kDeadAfter requests unanswered, 2 s apart: ~6 s, at most ~16 s
// after its last answer), a relay back from the dead is used again by
// everyone, and two nodes that see different relays fail (one reachable
// from some nodes only) still meet on one they share: each answers on the
// relay the other's packets came through. A relay given up is asked again
// every kDeadRetryEvery; when a better relay than the one in use grants a
// lease again, traffic to every peer goes there again, and the peers follow.
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
  static constexpr int kDeadAfter = 3;
  static constexpr Time kDeadRetryEvery = std::chrono::seconds(10);

  explicit Client(const crypto::SecretKey& self);

  // Use these relay grants (from the coordinator's welcome), best first. A
  // relay whose grant changed is asked for a lease at once; one whose grant
  // is the same keeps its state.
  void configure(std::vector<control::RelayGrant> grants, Time now);
  bool configured() const { return !slots_.empty(); }
  bool ready() const;                 // some relay holds our lease
  // The best relay that holds our lease (else the first; an empty endpoint
  // when none is configured: safe to call at any time).
  const net::Endpoint& relay() const;
  size_t relay_count() const { return slots_.size(); }
  const net::Endpoint& relay_at(size_t i) const { return slots_.at(i).grant.relay; }
  bool ready_at(size_t i) const { return slots_.at(i).allocated; }
  const char* refusal_at(size_t i) const { return slots_.at(i).refusal; }
  std::optional<Time> rtt_at(size_t i) const { return slots_.at(i).rtt; }

  // The ALLOCATEs due now, each to its relay.
  struct Outgoing {
    net::Endpoint to;
    std::vector<uint8_t> bytes;
  };
  std::vector<Outgoing> on_timer(Time now);
  Time next_deadline() const;

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
  // (which needs kForwardHeaderSize + payload bytes) and sets `to`, the relay
  // to send it to; returns its size, or 0 when the endpoint is unknown or no
  // relay holds our lease.
  size_t wrap(const net::Endpoint& virtual_ep, std::span<const uint8_t> payload, std::span<uint8_t> out,
              net::Endpoint& to) const;
  // The relay traffic to the peer behind `virtual_ep` goes through.
  const net::Endpoint& relay_for(const net::Endpoint& virtual_ep) const;

  const char* last_refusal() const;  // of relay()

 private:
  // One relay of the list and our lease there.
  struct Slot {
    control::RelayGrant grant;
    crypto::SecretKey proof_key;   // shared with the grant's relay
    bool can_prove = false;        // the grant names a usable relay key
    Cookie cookie{};               // the relay's last challenge to us
    bool allocated = false;        // it holds our lease
    int unanswered = 0;            // requests in a row it left unanswered
    Time next{0};                  // our next request to it
    std::optional<Time> sent_at;   // the last request still unanswered
    std::optional<Time> rtt;       // of the last request it accepted
    const char* refusal = "";
  };
  // The slot to send through: the best one holding our lease, else 0; for
  // a peer, the one it was last heard through if that holds our lease.
  size_t best() const;
  size_t slot_for(const NodeId& peer) const;
  void on_slot_message(size_t i, MsgType type, std::span<const uint8_t> d, Time now);

  crypto::SecretKey self_private_;
  crypto::PublicKey self_;
  std::vector<Slot> slots_;
  std::map<NodeId, size_t> via_;  // the slot each peer was last heard through
  std::map<NodeId, uint32_t> ids_;
  std::map<uint32_t, NodeId> keys_;
};

}  // namespace ovl::relay
