// The coordinator's Registry on SQLite.
//
// Every mutating call is one transaction; enroll() validates the invite,
// consumes a use, allocates the address and inserts the node in one
// BEGIN IMMEDIATE transaction, so any number of connections (threads or
// processes, each with its own Db) racing on one invite stay correct.
//
// Errors of the database itself (disk full, read-only file) throw
// store::Error; a call that throws has changed nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_set>
#include <variant>
#include <vector>

#include "engine/control/registry.hpp"
#include "engine/crypto/keys.hpp"
#include "store/db.hpp"

namespace ovl::store {

struct Event {
  int64_t id = 0;
  int64_t at_unix = 0;
  std::string kind;    // "network_created", "node_enrolled", "node_removed", ...
  std::string detail;  // a sentence for the admin; never holds a secret
};

class CoordinatorStore final : public control::Registry {
 public:
  // `db` must outlive the store. Invite ids come from the system RNG, or
  // from `rng` (which must outlive the store too).
  explicit CoordinatorStore(Db& db);
  CoordinatorStore(Db& db, crypto::Rng& rng);

  static bool has_network(Db& db);
  // Stores the network with the policy a network starts with ("default",
  // everything between all nodes); throws store::Error if one exists already and
  // std::invalid_argument unless info.cidr is IPv4 with room for hosts
  // (prefix length 8..30). The CIDR is stored with its host bits cleared.
  void create_network(const control::NetworkInfo& info);

  // Newest first.
  std::vector<Event> events(size_t limit = 100);

  // control::Registry. network() throws store::Error before create_network().
  control::NetworkInfo network() override;
  // The node's name: requested_name, else the invite's name, else "node";
  // cleaned up with sanitize_node_name, then suffixed "-2", "-3"... until
  // unique. An already enrolled key gets its record back (nothing consumed)
  // as long as the invite authenticates and is neither revoked nor expired:
  // that makes a retried join after a lost reply succeed.
  std::variant<control::NodeRecord, control::EnrollError> enroll(const control::EnrollRequest& req,
                                                                 int64_t now_unix) override;
  // Throws store::Error when the network has no free address. A key that is
  // already enrolled gets its existing record.
  control::NodeRecord add_node(const crypto::PublicKey& key, const std::string& name, int64_t now_unix) override;
  std::optional<control::NodeRecord> node_by_key(const crypto::PublicKey& key) override;
  std::optional<control::NodeRecord> node_by_name(const std::string& name) override;
  std::vector<control::NodeRecord> nodes() override;  // by id
  bool remove_node(int64_t id) override;
  void add_revocation(const crypto::PublicKey& key, int64_t now_unix) override;
  std::vector<crypto::PublicKey> revocations(int64_t since_unix) override;
  bool rename_node(int64_t id, const std::string& new_name) override;
  void set_endpoints(int64_t id, const std::vector<net::Endpoint>& eps) override;
  void touch(int64_t id, int64_t now_unix) override;
  // coordinator_routes.cpp
  void set_advertised_routes(int64_t id, const std::vector<net::Prefix>& routes) override;
  bool set_route_approved(int64_t id, const net::Prefix& prefix, bool approved, int64_t now_unix) override;
  // opts.uses must be -1 or >= 1, and groups non-empty strings without a
  // newline (std::invalid_argument otherwise). expires_unix 0 = never.
  control::InviteRecord create_invite(const control::InviteOptions& opts, const std::array<uint8_t, 32>& secret_hash,
                                      int64_t now_unix) override;
  std::vector<control::InviteRecord> invites() override;  // oldest first
  bool revoke_invite(const std::string& id) override;     // false if no such invite
  void log_event(const std::string& kind, const std::string& detail, int64_t now_unix) override;
  // Groups and policies (store/policies.cpp). Policies are stored as given;
  // checking that they make sense is the coordinator's job.
  bool add_to_group(int64_t node_id, const std::string& group) override;
  bool remove_from_group(int64_t node_id, const std::string& group) override;
  std::vector<policy::Policy> policies() override;
  bool add_policy(const policy::Policy& p) override;
  bool remove_policy(const std::string& name) override;

 private:
  // Where a new node goes: a unique name and the lowest free address.
  struct Placement {
    std::string name;
    net::IpAddr ip;
  };
  std::variant<Placement, control::EnrollError> place(const std::string& wanted_name);
  // place() reads the taken names and addresses once and then keeps them
  // current itself, so a join costs O(log n), not a scan of every node.
  // SQLite's data_version tells when another connection (another process)
  // wrote: then the sets are read again.
  struct Taken {
    bool loaded = false;
    int64_t data_version = 0;
    std::set<uint32_t> hosts;  // host offsets inside the CIDR
    uint32_t low = 1;          // no free host below this one
    std::unordered_set<std::string> names;
  };
  Taken& taken();
  void forget_taken() { taken_.loaded = false; }
  // After a commit of ours (data_version only counts other connections').
  void note_node(const std::string& name, const net::IpAddr& ip, bool present);
  control::NodeRecord insert_node(const crypto::PublicKey& key, const Placement& p, bool ephemeral,
                                  const std::vector<std::string>& groups, int64_t now_unix);
  // Steps `st` (a SELECT of the node columns) and reads its first row.
  std::optional<control::NodeRecord> first_node(Stmt& st);
  std::vector<std::string> groups_of(int64_t node_id);
  // Fills advertised_routes/approved_routes of the given nodes (by id).
  void load_routes(std::vector<control::NodeRecord*> nodes);
  bool insert_policy(const policy::Policy& p);  // the row only; false if the name is taken

  Db& db_;
  Taken taken_;
  crypto::SystemRng system_rng_;
  crypto::Rng& rng_;
};

}  // namespace ovl::store
