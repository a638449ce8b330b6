// An in-memory control::Registry for tests that must not touch SQLite (the
// sim tests link `engine` only). It keeps the semantics that
// src/store/coordinator_store.hpp documents for the SQLite store:
//
//  * enroll() is atomic (one mutex; a refused enrollment changes nothing):
//    unknown id and wrong secret are both unknown_invite; then revoked, then
//    expired (now >= expires_unix, 0 = never); a key that is already enrolled
//    gets its record back without consuming a use; then used_up;
//  * a new node gets the lowest free address of the CIDR, never the network
//    or broadcast address (network_full when none is left);
//  * names: requested_name, else the invite's name, else fallback_name, else
//    "node"; cleaned up with sanitize_node_name and made unique with "-2",
//    "-3"... suffixes that keep it a valid DNS label;
//  * node ids are never reused (AUTOINCREMENT), nodes() is ordered by id,
//    a node's groups are sorted and unique, invites() is oldest first;
//  * rename_node() refuses invalid and taken names; renaming to the current
//    name succeeds; set_endpoints()/touch() on a missing id do nothing;
//  * routes: the advertised set is replaced whole, approvals stay; both kept
//    normalized (sorted, unique, host bits cleared).
//  * a new network holds the policy "default"; policy names are unique.
//
// Not modelled: store::Error (a database failure), and the event log's time
// for calls that carry no `now` (remove, rename, revoke), recorded as 0.
#pragma once
#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "engine/control/registry.hpp"
#include "engine/control/routes.hpp"
#include "engine/crypto/keys.hpp"

namespace ovl::test {

class MemoryRegistry final : public control::Registry {
 public:
  struct Event {
    int64_t at_unix = 0;
    std::string kind, detail;
  };

  // Invite ids come from `rng` when given, else from a counter (so ids are
  // reproducible either way). Throws std::invalid_argument unless the CIDR is
  // IPv4 with a prefix length of 8..30, like CoordinatorStore::create_network.
  explicit MemoryRegistry(control::NetworkInfo info, crypto::Rng* rng = nullptr) : net_(std::move(info)), rng_(rng) {
    if (net_.cidr.addr.v6 || net_.cidr.len < 8 || net_.cidr.len > 30)
      throw std::invalid_argument("the network range must be an IPv4 CIDR from /8 to /30, not " + net_.cidr.str());
    net_.cidr = net_.cidr.masked();
    events_.push_back({net_.created_unix, "network_created", "network " + net_.name + " " + net_.cidr.str()});
    policies_.push_back(policy::default_policy(net_.created_unix));
  }

  // ------------------------------------------------------------ Registry
  control::NetworkInfo network() override {
    std::lock_guard lk(mu_);
    return net_;
  }

  std::variant<control::NodeRecord, control::EnrollError> enroll(const control::EnrollRequest& req,
                                                                 int64_t now_unix) override {
    write_fault();
    std::lock_guard lk(mu_);
    auto inv = invites_.find(req.invite_id);
    if (inv == invites_.end()) return control::EnrollError::unknown_invite;
    if (!crypto::ct_equal(inv->second.secret_hash, req.secret_hash)) return control::EnrollError::unknown_invite;
    control::InviteRecord& r = inv->second;
    if (r.revoked) return control::EnrollError::revoked;
    if (r.opts.expires_unix != 0 && now_unix >= r.opts.expires_unix) return control::EnrollError::expired;
    // A retried join (its reply was lost) gets its record, consuming nothing.
    if (auto* n = find_key(req.public_key)) return *n;
    if (r.uses_left == 0) return control::EnrollError::used_up;

    const std::string wanted = !req.requested_name.empty() ? req.requested_name
                               : !r.opts.name.empty()      ? r.opts.name
                               : !req.fallback_name.empty() ? req.fallback_name
                                                            : std::string("node");
    auto placed = place(wanted);
    if (auto* e = std::get_if<control::EnrollError>(&placed)) return *e;
    if (r.uses_left > 0) --r.uses_left;
    ++r.used;
    auto& p = std::get<Placement>(placed);
    const control::NodeRecord& rec = insert(req.public_key, p, r.opts.ephemeral, r.opts.groups, now_unix);
    events_.push_back({now_unix, "node_enrolled", "node " + rec.name + " (" + rec.ip.str() + ") joined with invite " + r.id});
    return rec;
  }

  // Throws std::runtime_error when the network has no free address.
  control::NodeRecord add_node(const crypto::PublicKey& key, const std::string& name, int64_t now_unix) override {
    write_fault();
    std::lock_guard lk(mu_);
    if (auto* n = find_key(key)) return *n;
    auto placed = place(name.empty() ? std::string("node") : name);
    if (auto* e = std::get_if<control::EnrollError>(&placed))
      throw std::runtime_error(std::string("cannot add a node: ") + control::describe(*e));
    const control::NodeRecord& rec = insert(key, std::get<Placement>(placed), false, {}, now_unix);
    events_.push_back({now_unix, "node_added", "node " + rec.name + " (" + rec.ip.str() + ") added"});
    return rec;
  }

  std::optional<control::NodeRecord> node_by_key(const crypto::PublicKey& key) override {
    std::lock_guard lk(mu_);
    if (auto* n = find_key(key)) return *n;
    return std::nullopt;
  }

  std::optional<control::NodeRecord> node_by_name(const std::string& name) override {
    std::lock_guard lk(mu_);
    for (auto& [id, n] : nodes_)
      if (n.name == name) return n;
    return std::nullopt;
  }

  std::vector<control::NodeRecord> nodes() override {
    std::lock_guard lk(mu_);
    std::vector<control::NodeRecord> r;
    r.reserve(nodes_.size());
    for (auto& [id, n] : nodes_) r.push_back(n);
    return r;
  }

  bool remove_node(int64_t id) override {
    write_fault();
    std::lock_guard lk(mu_);
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return false;
    events_.push_back({0, "node_removed", "node " + it->second.name + " (" + it->second.ip.str() + ") removed"});
    nodes_.erase(it);
    return true;
  }

  void add_revocation(const crypto::PublicKey& key, int64_t now_unix) override {
    write_fault();
    std::lock_guard lk(mu_);
    std::erase_if(revoked_, [&](auto& r) { return r.first == key; });
    revoked_.emplace_back(key, now_unix);
  }
  std::vector<crypto::PublicKey> revocations(int64_t since_unix) override {
    std::lock_guard lk(mu_);
    std::erase_if(revoked_, [&](auto& r) { return r.second < since_unix; });
    std::vector<crypto::PublicKey> keys;
    for (auto& r : revoked_) keys.push_back(r.first);
    return keys;
  }

  bool rename_node(int64_t id, const std::string& new_name) override {
    write_fault();
    if (!control::valid_node_name(new_name)) return false;
    std::lock_guard lk(mu_);
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return false;
    if (it->second.name == new_name) return true;
    for (auto& [other, n] : nodes_)
      if (n.name == new_name) return false;
    events_.push_back({0, "node_renamed", "node " + it->second.name + " renamed to " + new_name});
    it->second.name = new_name;
    return true;
  }

  void set_endpoints(int64_t id, const std::vector<net::Endpoint>& eps) override {
    write_fault();
    std::lock_guard lk(mu_);
    if (auto it = nodes_.find(id); it != nodes_.end()) it->second.endpoints = eps;
  }

  void touch(int64_t id, int64_t now_unix) override {
    write_fault();
    std::lock_guard lk(mu_);
    if (auto it = nodes_.find(id); it != nodes_.end()) it->second.last_seen_unix = now_unix;
  }

  void set_advertised_routes(int64_t id, const std::vector<net::Prefix>& routes) override {
    std::lock_guard lk(mu_);
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return;
    it->second.advertised_routes.clear();
    for (auto& p : routes) it->second.advertised_routes.push_back(p.masked());
    control::normalize_routes(it->second.advertised_routes);
  }

  bool set_route_approved(int64_t id, const net::Prefix& prefix, bool approved, int64_t now_unix) override {
    std::lock_guard lk(mu_);
    auto it = nodes_.find(id);
    if (it == nodes_.end()) return false;
    auto& a = it->second.approved_routes;
    std::erase(a, prefix.masked());
    if (approved) a.push_back(prefix.masked());
    control::normalize_routes(a);
    events_.push_back({now_unix, approved ? "route_approved" : "route_unapproved", prefix.masked().str()});
    return true;
  }

  // opts.uses must be -1 or >= 1, groups non-empty one-line strings
  // (std::invalid_argument otherwise), as in the SQLite store.
  control::InviteRecord create_invite(const control::InviteOptions& opts, const std::array<uint8_t, 32>& secret_hash,
                                      int64_t now_unix) override {
    write_fault();
    if (opts.uses != -1 && opts.uses < 1)
      throw std::invalid_argument("an invite allows 1 or more uses, or -1 for unlimited");
    for (const auto& g : opts.groups)
      if (g.empty() || g.find('\n') != std::string::npos)
        throw std::invalid_argument("a group name must be non-empty and on one line");
    std::lock_guard lk(mu_);
    std::string id;
    while (id.empty() || invites_.count(id)) id = new_invite_id();
    control::InviteRecord r;
    r.id = id;
    r.secret_hash = secret_hash;
    r.opts = opts;
    r.uses_left = opts.uses;
    r.created_unix = now_unix;
    invites_[id] = r;
    invite_order_.push_back(id);
    events_.push_back({now_unix, "invite_created", "invite " + id + " created"});
    return r;
  }

  std::vector<control::InviteRecord> invites() override {
    std::lock_guard lk(mu_);
    std::vector<control::InviteRecord> r;
    for (auto& id : invite_order_) r.push_back(invites_.at(id));
    std::stable_sort(r.begin(), r.end(), [](auto& a, auto& b) { return a.created_unix < b.created_unix; });
    return r;
  }

  bool revoke_invite(const std::string& id) override {
    write_fault();
    std::lock_guard lk(mu_);
    auto it = invites_.find(id);
    if (it == invites_.end()) return false;
    if (!it->second.revoked) {
      it->second.revoked = true;
      events_.push_back({0, "invite_revoked", "invite " + id + " revoked"});
    }
    return true;
  }

  bool add_to_group(int64_t node_id, const std::string& group) override {
    std::lock_guard lk(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return false;
    auto& g = it->second.groups;
    auto pos = std::lower_bound(g.begin(), g.end(), group);
    if (pos != g.end() && *pos == group) return false;
    g.insert(pos, group);
    return true;
  }

  bool remove_from_group(int64_t node_id, const std::string& group) override {
    std::lock_guard lk(mu_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return false;
    auto& g = it->second.groups;
    auto pos = std::find(g.begin(), g.end(), group);
    if (pos == g.end()) return false;
    g.erase(pos);
    return true;
  }

  std::vector<policy::Policy> policies() override {
    std::lock_guard lk(mu_);
    return policies_;
  }

  bool add_policy(const policy::Policy& p) override {
    std::lock_guard lk(mu_);
    for (auto& q : policies_)
      if (q.name == p.name) return false;
    policies_.push_back(p);
    return true;
  }

  bool remove_policy(const std::string& name) override {
    std::lock_guard lk(mu_);
    auto it = std::find_if(policies_.begin(), policies_.end(), [&](auto& q) { return q.name == name; });
    if (it == policies_.end()) return false;
    policies_.erase(it);
    return true;
  }

  void log_event(const std::string& kind, const std::string& detail, int64_t now_unix) override {
    write_fault();
    std::lock_guard lk(mu_);
    events_.push_back({now_unix, kind, detail});
  }

  // ------------------------------------------------------------ for tests
  // Non-empty: every write throws std::runtime_error with this text, like the
  // SQLite store on a full ("database or disk is full") or read-only disk.
  std::string fail_writes;

  std::vector<Event> events() {  // oldest first
    std::lock_guard lk(mu_);
    return events_;
  }
  std::optional<control::InviteRecord> invite(const std::string& id) {
    std::lock_guard lk(mu_);
    if (auto it = invites_.find(id); it != invites_.end()) return it->second;
    return std::nullopt;
  }

 private:
  void write_fault() const {
    if (!fail_writes.empty()) throw std::runtime_error("state database: " + fail_writes);
  }
  struct Placement {
    std::string name;
    net::IpAddr ip;
  };

  static uint32_t v4_value(const net::IpAddr& a) {
    return uint32_t{a.b[0]} << 24 | uint32_t{a.b[1]} << 16 | uint32_t{a.b[2]} << 8 | a.b[3];
  }
  static net::IpAddr v4_from(uint32_t v) {
    return net::IpAddr::v4(static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                           static_cast<uint8_t>(v));
  }
  // "laptop" + 3 -> "laptop-3", still a valid DNS label of at most 63 chars.
  static std::string with_suffix(const std::string& base, size_t n) {
    if (n == 1) return base;
    std::string suffix = "-" + std::to_string(n);
    std::string b = base.substr(0, 63 - suffix.size());
    while (!b.empty() && b.back() == '-') b.pop_back();
    return b + suffix;
  }

  control::NodeRecord* find_key(const crypto::PublicKey& key) {
    for (auto& [id, n] : nodes_)
      if (n.public_key == key) return &n;
    return nullptr;
  }

  std::variant<Placement, control::EnrollError> place(const std::string& wanted) {
    const uint32_t base = v4_value(net_.cidr.addr);
    std::set<uint32_t> taken;
    std::set<std::string> names;
    for (auto& [id, n] : nodes_) {
      names.insert(n.name);
      if (net_.cidr.contains(n.ip)) taken.insert(v4_value(n.ip) - base);
    }
    uint32_t next = 1;  // offset 0 is the network address
    while (taken.count(next)) ++next;
    const uint64_t size = uint64_t{1} << (32 - net_.cidr.len);
    if (next >= size - 1) return control::EnrollError::network_full;  // the last one is broadcast
    const std::string base_name = control::sanitize_node_name(wanted);
    for (size_t i = 1; i <= names.size() + 1; ++i) {
      std::string c = with_suffix(base_name, i);
      if (!names.count(c)) return Placement{std::move(c), v4_from(base + next)};
    }
    return control::EnrollError::name_taken;
  }

  const control::NodeRecord& insert(const crypto::PublicKey& key, const Placement& p, bool ephemeral,
                                    const std::vector<std::string>& groups, int64_t now_unix) {
    control::NodeRecord r;
    r.id = ++last_node_id_;
    r.name = p.name;
    r.public_key = key;
    r.ip = p.ip;
    std::set<std::string> g(groups.begin(), groups.end());
    r.groups.assign(g.begin(), g.end());
    r.ephemeral = ephemeral;
    r.created_unix = now_unix;
    return nodes_[r.id] = std::move(r);
  }

  std::string new_invite_id() {
    std::array<uint8_t, 8> raw{};
    if (rng_) {
      rng_->fill(raw);
    } else {
      uint64_t v = ++invite_counter_ * 0x9e3779b97f4a7c15ull;
      for (auto& b : raw) {
        b = static_cast<uint8_t>(v >> 56);
        v <<= 8;
      }
    }
    static constexpr char d[] = "0123456789abcdef";
    std::string s;
    for (uint8_t x : raw) {
      s += d[x >> 4];
      s += d[x & 15];
    }
    return s;
  }

  std::mutex mu_;
  std::vector<std::pair<crypto::PublicKey, int64_t>> revoked_;
  control::NetworkInfo net_;
  crypto::Rng* rng_;
  std::map<int64_t, control::NodeRecord> nodes_;  // by id
  int64_t last_node_id_ = 0;
  std::map<std::string, control::InviteRecord> invites_;
  std::vector<std::string> invite_order_;
  uint64_t invite_counter_ = 0;
  std::vector<Event> events_;
  std::vector<policy::Policy> policies_;  // oldest first; starts with "default"
};

}  // namespace ovl::test
