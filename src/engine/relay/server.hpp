// Relay server state (sans-IO): forwards opaque WireGuard datagrams between
// nodes that proved enrolment with a coordinator-minted credential and
// possession of their private key (credential.hpp). Time (monotonic `now`,
// wall-clock `now_unix`) and the relay secret are passed in; nothing here
// touches a socket or a clock.
//
// Contract:
//  * ALLOCATE with a valid credential (expires_unix > now_unix) for a key not
//    revoked, else REFUSED 1 (bad), 2 (expired) or 4 (revoked), 6 bytes.
//    With a valid credential but a cookie not made for this source address
//    (in this or the previous kCookieBucket): CHALLENGE (21 bytes) carrying
//    the right one. With the right cookie but a proof not made with the
//    node's key: REFUSED 6. Otherwise it binds key -> source endpoint (a
//    later ALLOCATE from elsewhere moves it: the node roamed; an endpoint
//    holds one key, so a new key on an endpoint evicts the old one) and
//    answers ALLOCATED (13 bytes).
//  * SEND: the sender is whoever holds the allocation for the source
//    endpoint; none -> REFUSED 3. The destination (a node id, protocol.hpp)
//    must be allocated, else the datagram is dropped silently. Forwarded as
//    DATA carrying the sender's id. A key whose id another allocated key
//    holds cannot allocate (dropped, counted as `id_taken`). A sender whose credential has expired since it allocated loses the
//    allocation and gets REFUSED 2 (it should re-allocate with a fresh one).
//  * Per-sender token bucket over SEND bytes; over budget -> dropped and
//    counted, with at most one REFUSED 5 per second per sender.
//  * Malformed datagrams and relay->client types are dropped and counted as
//    `bad`, never answered. The only bytes ever sent to a source that has not
//    authenticated are 6-byte REFUSED replies to >= 38-byte requests and
//    21-byte CHALLENGEs to 125-byte ALLOCATEs, so no source gets more bytes
//    than it sent (no amplification).
//  * The packet path allocates nothing: every answer, and every forward, is
//    written over the received datagram (SEND and DATA headers have the same
//    size), so a batch of receive buffers is also the batch to send.
//  * Bounded memory: at most max_nodes allocations (an ALLOCATE for a new key
//    beyond that is dropped, counted as `full`); expire() forgets idle ones.
//    Nothing is stored for unauthenticated sources.
#pragma once
#include <chrono>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"
#include "engine/relay/credential.hpp"
#include "engine/relay/protocol.hpp"

namespace ovl::relay {

// Server::Options (declared outside the class so it can be a default argument).
struct ServerOptions {
  uint64_t bytes_per_sec_per_node = 32ull << 20;
  uint64_t burst_bytes = 4ull << 20;  // clamped to Server::kMaxBurstBytes
  size_t max_nodes = 100000;
  std::chrono::nanoseconds idle_timeout = std::chrono::seconds(120);
};

class Server {
 public:
  using Options = ServerOptions;
  static constexpr uint64_t kMaxBurstBytes = 1ull << 34;  // keeps the bucket's ns-scaled arithmetic in 64 bits

  using Time = std::chrono::nanoseconds;

  explicit Server(RelaySecret secret, Options opts = {});
  ~Server();

  // One datagram `d` from `from`. At most one datagram results (a reply to
  // `from` or a forward): it is written over the start of `d`, its
  // destination into `to`, and its length (<= d.size()) returned; 0 means
  // nothing to send. Never throws and never allocates, except that the
  // first ALLOCATE of a key adds it to the tables.
  size_t on_datagram(std::span<uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix,
                     net::Endpoint& to);

  // The node was removed from the network: drop its allocation now and
  // refuse its ALLOCATEs (REFUSED 4) until unrevoke(). True if it was not
  // revoked already.
  bool revoke(const crypto::PublicKey& node);
  void unrevoke(const crypto::PublicKey& node);
  // Forget allocations with no ALLOCATE or SEND from their node for longer than idle_timeout.
  void expire(Time now);

  size_t allocations() const { return by_key_.size(); }
  bool is_allocated(const crypto::PublicKey& node) const { return by_key_.count(node) != 0; }

  struct Counters {
    uint64_t forwarded = 0;       // DATA sent
    uint64_t dropped_unauth = 0;  // refused ALLOCATEs and SENDs from unallocated sources
    uint64_t refused = 0;         // REFUSED replies sent
    uint64_t rate_limited = 0;    // SENDs dropped by the token bucket
    uint64_t bad = 0;             // malformed or unexpected datagrams, never answered
    uint64_t no_destination = 0;  // SENDs to a key with no allocation (or to the sender itself)
    uint64_t full = 0;            // ALLOCATEs dropped because max_nodes was reached
    uint64_t challenged = 0;      // CHALLENGEs sent (ALLOCATEs without this address's cookie)
    uint64_t revoked = 0;         // genuine REVOKEs from the coordinator
    uint64_t id_taken = 0;        // ALLOCATEs dropped: another key has the same node id
  };
  const Counters& counters() const { return counters_; }

 private:
  struct KeyHash {
    size_t operator()(const crypto::PublicKey& k) const;
  };
  struct IdHash {
    size_t operator()(const NodeId& id) const;
  };
  struct EndpointHash {
    size_t operator()(const net::Endpoint& e) const;
  };
  struct Allocation {
    net::Endpoint ep;
    uint64_t expires_unix = 0;
    Time last_seen{0};
    uint64_t tokens = 0;  // bytes * 1e9 (ns-scaled, so refills never round away)
    Time refilled{0};
    Time last_rate_refusal{0};
    bool refused_rate_once = false;
  };

  size_t on_allocate(std::span<uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix, net::Endpoint& to);
  size_t on_send(std::span<uint8_t> d, const net::Endpoint& from, Time now, int64_t now_unix, net::Endpoint& to);
  size_t refuse(std::span<uint8_t> d, RefuseReason why);
  bool cookie_ok(const Cookie& c, const net::Endpoint& from, Time now) const;
  const crypto::SecretKey* proof_key_for(const crypto::PublicKey& node);
  bool take_tokens(Allocation& a, size_t bytes, Time now);
  void erase(const crypto::PublicKey& node);
  void forget(std::unordered_map<crypto::PublicKey, Allocation, KeyHash>::iterator it);  // from all three tables

  RelaySecret secret_;
  crypto::SecretKey relay_key_;   // X25519, derived from the secret
  crypto::SecretKey cookie_key_;  // derived from the secret
  Options opts_;
  uint64_t burst_scaled_ = 0;
  std::unordered_map<crypto::PublicKey, Allocation, KeyHash> by_key_;
  std::unordered_map<net::Endpoint, crypto::PublicKey, EndpointHash> by_ep_;
  std::unordered_map<NodeId, crypto::PublicKey, IdHash> by_id_;  // node id -> key, for every allocation
  std::unordered_set<crypto::PublicKey, KeyHash> revoked_;
  // DH results per node key (only keys with a genuine credential get here),
  // so renewals and a flood of proofed ALLOCATEs cost no X25519 each.
  std::unordered_map<crypto::PublicKey, crypto::SecretKey, KeyHash> proof_keys_;
  Time last_full_sweep_{0};
  bool swept_once_ = false;
  Counters counters_;
};

}  // namespace ovl::relay
