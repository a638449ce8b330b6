// The coordinator's logic, sans-IO: enrollment over secure control links,
// the network map and its deltas, admin operations. Connections are numbered
// by the I/O layer, which feeds bytes in and writes out what this produces.
//
// Map distribution: a node gets the full map once when its link comes up,
// then only deltas. A delta is serialized once per event and the same bytes
// are sealed for every link (never a per-node recomputation of the map).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "engine/control/messages.hpp"
#include "engine/control/registry.hpp"
#include "engine/control/secure_channel.hpp"
#include "engine/control/token.hpp"
#include "engine/relay/credential.hpp"

namespace ovl::control {

using ConnId = uint64_t;

class CoordinatorOutput {
 public:
  virtual ~CoordinatorOutput() = default;
  virtual void write(ConnId c, std::span<const uint8_t> bytes) = 0;
  // Close after the bytes written so far are flushed.
  virtual void close(ConnId c) = 0;
};

struct CreatedInvite {
  std::string token;  // shown once; the coordinator keeps only the secret's hash
  InviteRecord record;
};

struct NodeView {
  NodeRecord node;
  bool online = false;
};

struct GroupView {
  std::string name;
  std::vector<std::string> nodes;  // member names
};

// An admin's policy as typed: `from`/`to` are "*", a group or node name, or
// "group:NAME" / "node:NAME" when a name is both; ports "" = every port.
struct PolicySpec {
  std::string name, from, to, proto = "any", ports;
};

class Coordinator {
 public:
  // `advertise` are the endpoints written into tokens (TCP control port; the
  // UDP port of the same number serves STUN and relay).
  Coordinator(Registry& reg, const crypto::SecretKey& key, crypto::Rng& rng, std::function<int64_t()> wall_ns,
              std::vector<net::Endpoint> advertise);
  ~Coordinator();

  const crypto::PublicKey& public_key() const { return pub_; }

  // Relays that accept this network's nodes: every welcome carries a grant
  // (a credential valid for `grant_ttl_s`) for each.
  void set_relays(const relay::RelaySecret& secret, std::vector<net::Endpoint> relays, int64_t grant_ttl_s = 24 * 3600);
  // Called with the key of every removed node (the embedded relay drops it).
  std::function<void(const crypto::PublicKey&)> on_removed;

  void on_connect(ConnId c, const net::Endpoint& remote);
  void on_bytes(ConnId c, std::span<const uint8_t> bytes, CoordinatorOutput& out);
  void on_disconnect(ConnId c, CoordinatorOutput& out);

  // Admin operations (from the local API).
  CreatedInvite create_invite(const InviteOptions& opts);
  // By name, overlay IP or public key. Removed nodes vanish from every map and
  // their control link is closed.
  bool remove_node(const std::string& which, CoordinatorOutput& out, std::string& err);
  bool rename_node(const std::string& which, const std::string& new_name, CoordinatorOutput& out, std::string& err);
  std::vector<NodeView> nodes();

  // Groups and policies (coordinator_policy.cpp). Each change reaches every
  // node as a delta; a node's delta carries its new filter when the change
  // altered it. The bool calls return false with `err`, a sentence for the
  // admin, when the request makes no sense (unknown node or group, bad
  // ports, a duplicate name...); nothing is changed then.
  bool group_add(const std::string& node, const std::string& group, CoordinatorOutput& out, std::string& err);
  bool group_remove(const std::string& node, const std::string& group, CoordinatorOutput& out, std::string& err);
  std::vector<GroupView> groups();  // by name; groups of active invites too
  bool add_policy(const PolicySpec& spec, CoordinatorOutput& out, std::string& err);
  bool remove_policy(const std::string& name, CoordinatorOutput& out, std::string& err);
  std::vector<policy::Policy> policies() { return reg_.policies(); }
  // "*", "group:NAME", "node:NAME" (a removed node: "node:#ID").
  std::string selector_name(const policy::Selector& s);
  // The filter a node receives (what its map carries).
  policy::RuleSet filter_for(int64_t node_id);
  // Ephemeral nodes offline for longer than `grace` seconds are removed.
  void expire_ephemeral(int64_t grace_s, CoordinatorOutput& out);
  uint64_t map_version() const { return version_; }
  size_t connected() const;
  // True once the link's node said hello and was accepted.
  bool linked(ConnId c) const;

 private:
  struct Conn;
  void handle(Conn& c, const Message& m, CoordinatorOutput& out);
  void on_hello(Conn& c, const Hello& h, CoordinatorOutput& out);
  void forward_call(Conn& c, const CallMeMaybe& cmm, CoordinatorOutput& out);
  void fail(Conn& c, const std::string& code, const std::string& msg, CoordinatorOutput& out);
  void send(Conn& c, const std::string& json, CoordinatorOutput& out);
  // `filters`: the change may alter what nodes admit; every linked node's
  // filter is compiled again and sent along where it changed.
  void broadcast(const Delta& d, CoordinatorOutput& out, std::optional<ConnId> except = std::nullopt,
                 bool filters = false);
  policy::Compiler compiler();
  static policy::Member member(const NodeRecord& n);
  std::optional<policy::Selector> resolve(const std::string& which, const std::vector<std::string>& known_groups,
                                          std::string& err);
  std::vector<std::string> known_groups();
  PeerInfo peer_info(const NodeRecord& n) const;
  static std::vector<net::Endpoint> candidates(const Conn& c, const std::vector<net::Endpoint>& lan,
                                               const std::optional<net::Endpoint>& reflexive);
  std::optional<NodeRecord> find(const std::string& which);
  // Bookkeeping writes (last seen, endpoints, the audit log) are best effort:
  // a full or read-only disk must cost neither a link nor the coordinator.
  template <class F>
  void best_effort(const char* what, F&& write);

  Registry& reg_;
  crypto::SecretKey key_;
  crypto::PublicKey pub_{};
  crypto::Rng& rng_;
  std::function<int64_t()> wall_ns_;
  std::vector<net::Endpoint> advertise_;
  relay::RelaySecret relay_secret_{};
  std::vector<net::Endpoint> relays_;
  int64_t grant_ttl_s_ = 0;
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
  std::map<int64_t, ConnId> online_;             // node id -> its link
  std::map<int64_t, int64_t> offline_since_;     // ephemeral bookkeeping (unix s)
  uint64_t version_ = 1;
};

}  // namespace ovl::control
