// The coordinator's logic, sans-IO: enrollment over secure control links,
// the network map and its deltas, admin operations. Connections are numbered
// by the I/O layer, which feeds bytes in and writes out what this produces.
//
// Map distribution: a node gets the full map once when its link comes up,
// then only deltas. The coordinator keeps the map in memory with each peer's
// JSON already encoded, so a full map is a concatenation and a delta is
// serialized once and the same bytes are sealed for every link (never a
// per-node recomputation of the map). Changes collect in one pending delta;
// with defer_deltas(true) the I/O layer decides when to flush it, so a burst
// of N joins costs a few broadcasts instead of N (O(N) sealed writes each).
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
#include "engine/control/routes.hpp"
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
  // The same, handing over the buffer (a full map can be megabytes: an
  // output that queues bytes can keep this one instead of copying it).
  virtual void write_owned(ConnId c, std::vector<uint8_t> bytes) { write(c, bytes); }
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
  // Approves (or unapproves) a route a node advertises; the change reaches
  // every node as a delta. On failure `err` says why (unknown node, a prefix
  // that is malformed, overlaps the overlay or is not advertised by the node
  // when approving); nothing is stored then.
  bool approve_route(const std::string& which, const std::string& prefix, bool approve, CoordinatorOutput& out,
                     std::string& err);

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
  // The same, compiled from scratch rather than from the cached compiler:
  // tests check that the cache never hands out a stale filter.
  policy::RuleSet fresh_filter_for(int64_t node_id) {
    compiler_.reset();
    return filter_for(node_id);
  }
  // Ephemeral nodes offline for longer than `grace` seconds are removed.
  void expire_ephemeral(int64_t grace_s, CoordinatorOutput& out);
  uint64_t map_version() const { return version_; }

  // Deltas. By default every call that changes the map broadcasts its delta
  // before it returns. With defer_deltas(true) changes accumulate (later ones
  // for the same node replace earlier ones) until flush_deltas(): the I/O
  // layer flushes after a burst of input, bounding broadcasts per second.
  void defer_deltas(bool on) { defer_ = on; }
  // Removed nodes whose relay grants may still be valid: the relays are told
  // to refuse them (again) at start and periodically, since a relay forgets
  // on restart and one that was down missed the REVOKE. Empty without relays.
  std::vector<crypto::PublicKey> revoked_keys();
  bool deltas_pending() const { return !pending_up_.empty() || !pending_rm_.empty() || pending_filters_; }
  void flush_deltas(CoordinatorOutput& out);
  size_t connected() const;
  // True once the link's node said hello and was accepted.
  bool linked(ConnId c) const;

 private:
  struct Conn;
  void handle(Conn& c, const Message& m, CoordinatorOutput& out);
  void on_hello(Conn& c, const Hello& h, CoordinatorOutput& out);
  void forward_call(Conn& c, const CallMeMaybe& cmm, CoordinatorOutput& out);
  void fail(Conn& c, const std::string& code, const std::string& msg, CoordinatorOutput& out);
  void send(Conn& c, std::string_view json, CoordinatorOutput& out);
  PeerInfo peer_info(const NodeRecord& n) const;
  // The in-memory map (loaded from the registry on first use).
  struct Peer {
    NodeRecord rec;
    std::string json;  // encode_peer(peer_info(rec)), kept current
  };
  std::map<int64_t, Peer>& peers();
  // `rec` changed (or its online state did): re-encode it, queue it in the
  // pending delta. remove_peer drops it and queues its key for removal.
  void upsert_peer(const NodeRecord& rec);
  void refresh_peer(int64_t id);
  void remove_peer(int64_t id);
  void maybe_flush(CoordinatorOutput& out) {
    if (!defer_) flush_deltas(out);
  }
  void send_full_map(Conn& c, uint64_t version, const policy::RuleSet& filter, CoordinatorOutput& out);
  void flush_one(CoordinatorOutput& out);
  // The policies compiled against the members, cached: a hello compiles its
  // node's filter from it, so a storm of joins must not rebuild it (O(N))
  // each time. Dropped whenever what it depends on changes: a member added or
  // removed, a member's groups or routes, the policies (compiler_stale()).
  const policy::Compiler& compiler();
  void compiler_stale() { compiler_.reset(); }
  policy::Member member(const NodeRecord& n) const;
  std::optional<policy::Selector> resolve(const std::string& which, const std::vector<std::string>& known_groups,
                                          std::string& err);
  std::vector<std::string> known_groups();
  bool policies_select(const NodeRecord& n);  // a policy names the node or one of its groups
  const net::Prefix& ula() const;  // the network's, read once (it never changes)
  OverlayRanges overlay_ranges() const;  // what no route may overlap
  static std::vector<net::Endpoint> candidates(const Conn& c, const std::vector<net::Endpoint>& lan,
                                               const std::optional<net::Endpoint>& reflexive);
  std::optional<NodeRecord> find(const std::string& which);
  // The routes a node says it advertises, cleaned of anything invalid.
  std::vector<net::Prefix> checked_routes(const std::string& node, std::vector<net::Prefix> routes);
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
  crypto::PublicKey relay_key_{};  // derived from relay_secret_ (shared by all its relays)
  std::vector<net::Endpoint> relays_;
  int64_t grant_ttl_s_ = 0;
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
  std::map<int64_t, ConnId> online_;             // node id -> its link
  std::map<int64_t, int64_t> offline_since_;     // ephemeral bookkeeping (unix s)
  uint64_t version_ = 1;
  mutable std::optional<net::Prefix> ula_;
  std::optional<std::map<int64_t, Peer>> peers_;
  std::optional<policy::Compiler> compiler_;
  std::string map_body_;  // {"peers":[ and the peers' JSON joined by commas, when valid
  bool map_body_valid_ = false;
  std::set<int64_t> pending_up_;               // node ids in the next delta
  std::vector<crypto::PublicKey> pending_rm_;  // keys removed in the next delta
  uint64_t change_seq_ = 0;                    // counts changes queued into pending deltas
  bool defer_ = false;
  bool flushing_ = false;
  bool pending_filters_ = false;               // the next delta may change nodes' filters
};

}  // namespace ovl::control
