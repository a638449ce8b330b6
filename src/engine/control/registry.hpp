// The coordinator's view of its persistent state. The coordinator logic
// (sans-IO) talks only to this interface; src/store implements it on SQLite
// and tests may implement it in memory.
//
// Every mutating call is atomic: it either fully happens or changes nothing.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"
#include "engine/policy/policy.hpp"

namespace ovl::control {

struct NetworkInfo {
  std::string id;    // 32 hex chars, random at creation
  std::string name;  // e.g. "home"; the DNS domain is NAME.ovl
  net::Prefix cidr;  // IPv4 overlay range, e.g. 100.83.0.0/16
  // IPv6 overlay range: a random ULA /48 (RFC 4193) picked at creation;
  // len 0 = none yet (CoordinatorStore::create_network then picks one).
  net::Prefix ula;
  int64_t created_unix = 0;
};

// IPv6 inside the overlay. Every node's address is the network's ULA /48,
// subnet 0, with the node's IPv4 overlay address as the last 32 bits:
// fd12:3456:789a::100.83.0.2 = fd12:3456:789a::6453:2. It needs no
// allocation of its own: unique and stable because the IPv4 address is, and
// any node can tell a peer's IPv6 address from its IPv4 one. The TUN device
// carries it as a /64 (subnet 0 holds every node).
inline constexpr uint8_t kUlaPrefixLen = 48;
inline constexpr uint8_t kOverlay6SubnetLen = 64;
// A /48 inside fd00::/8 (the locally assigned half of fc00::/7).
bool valid_ula(const net::Prefix& p);
// fd00::/8 plus 40 random bits (RFC 4193 section 3.2: a random Global ID).
net::Prefix random_ula(crypto::Rng& rng);
// nullopt unless `ula` is valid and `ip4` is IPv4.
std::optional<net::IpAddr> node_ipv6(const net::Prefix& ula, const net::IpAddr& ip4);

struct NodeRecord {
  int64_t id = 0;
  std::string name;  // unique in the network
  crypto::PublicKey public_key{};
  net::IpAddr ip;  // overlay IPv4 address
  std::vector<std::string> groups;
  bool ephemeral = false;
  int64_t created_unix = 0;
  int64_t last_seen_unix = 0;  // 0 = never connected
  std::vector<net::Endpoint> endpoints;  // as last reported by the node
  // Subnet/exit routes (control/routes.hpp), each normalized: what the node
  // offers, and what an admin approved. Routed = both.
  std::vector<net::Prefix> advertised_routes;
  std::vector<net::Prefix> approved_routes;
};

struct InviteOptions {
  int uses = 1;  // -1 = reusable without limit
  int64_t expires_unix = 0;
  std::vector<std::string> groups;
  bool ephemeral = false;
  std::string name;  // suggested node name ("" = the node picks)
};

struct InviteRecord {
  std::string id;                    // 16 hex chars, public (it is in the token)
  std::array<uint8_t, 32> secret_hash{};  // BLAKE2s of the secret; the secret itself is never stored
  InviteOptions opts;
  int uses_left = 0;  // -1 = unlimited
  int used = 0;
  bool revoked = false;
  int64_t created_unix = 0;
};

enum class EnrollError {
  unknown_invite,   // no such invite id, or the secret does not match (not told apart, on purpose)
  expired,
  revoked,
  used_up,
  network_full,     // no free address left in the CIDR
  name_taken,       // an explicit name collides and cannot be suffixed
};
const char* describe(EnrollError e);  // a sentence for the user

struct EnrollRequest {
  std::string invite_id;
  std::array<uint8_t, 32> secret_hash{};  // BLAKE2s(secret), compared in constant time
  crypto::PublicKey public_key{};
  std::string requested_name;  // explicit --name; may be adjusted to be unique ("laptop" -> "laptop-2")
  std::string fallback_name;   // the host's name, used when neither --name nor the invite names the node
};

class Registry {
 public:
  virtual ~Registry() = default;

  virtual NetworkInfo network() = 0;

  // Validates the invite, consumes one use, allocates the lowest free address
  // and inserts the node: all in one write transaction, so a single-use
  // invite raced by many enrollments admits exactly one. A public key that is
  // already enrolled gets its existing record back and consumes nothing.
  virtual std::variant<NodeRecord, EnrollError> enroll(const EnrollRequest& req, int64_t now_unix) = 0;

  // Adds a node without an invite (the coordinator's own first node).
  virtual NodeRecord add_node(const crypto::PublicKey& key, const std::string& name, int64_t now_unix) = 0;

  virtual std::optional<NodeRecord> node_by_key(const crypto::PublicKey& key) = 0;
  virtual std::optional<NodeRecord> node_by_name(const std::string& name) = 0;
  virtual std::vector<NodeRecord> nodes() = 0;
  virtual bool remove_node(int64_t id) = 0;
  // Keys of removed nodes that relays must refuse: recorded at removal,
  // listed while removed at or after `since_unix` (older ones are dropped).
  virtual void add_revocation(const crypto::PublicKey& key, int64_t now_unix) = 0;
  virtual std::vector<crypto::PublicKey> revocations(int64_t since_unix) = 0;
  // false if the new name is taken or invalid
  virtual bool rename_node(int64_t id, const std::string& new_name) = 0;
  virtual void set_endpoints(int64_t id, const std::vector<net::Endpoint>& eps) = 0;
  virtual void touch(int64_t id, int64_t now_unix) = 0;  // last_seen
  // Replaces the node's advertised routes as a whole (approvals stay, so a
  // withdrawn and re-advertised prefix needs no second approval). Nothing
  // happens for a missing id.
  virtual void set_advertised_routes(int64_t id, const std::vector<net::Prefix>& routes) = 0;
  // Approves or unapproves one prefix of a node; false if there is no such node.
  virtual bool set_route_approved(int64_t id, const net::Prefix& prefix, bool approved, int64_t now_unix) = 0;

  virtual InviteRecord create_invite(const InviteOptions& opts, const std::array<uint8_t, 32>& secret_hash,
                                     int64_t now_unix) = 0;
  virtual std::vector<InviteRecord> invites() = 0;
  virtual bool revoke_invite(const std::string& id) = 0;

  // Group membership. add: false if the node was already in the group (or
  // does not exist); remove: false if it was not in it.
  virtual bool add_to_group(int64_t node_id, const std::string& group) = 0;
  virtual bool remove_from_group(int64_t node_id, const std::string& group) = 0;

  // Access policies, by name (unique). A new network holds one: "default",
  // everything between all nodes. add: false if the name is taken.
  virtual std::vector<policy::Policy> policies() = 0;  // oldest first
  virtual bool add_policy(const policy::Policy& p) = 0;
  virtual bool remove_policy(const std::string& name) = 0;

  // Append-only audit log ("node laptop joined with invite 1a2b...").
  virtual void log_event(const std::string& kind, const std::string& detail, int64_t now_unix) = 0;
};

// Node names: 1-63 chars of [a-z0-9-], not starting or ending with '-'
// (a DNS label). Returns a cleaned-up version of a hostname, or "node".
bool valid_node_name(const std::string& s);
std::string sanitize_node_name(const std::string& s);

}  // namespace ovl::control
