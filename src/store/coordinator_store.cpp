#include "store/coordinator_store.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace ovl::store {

using control::EnrollError;
using control::InviteOptions;
using control::InviteRecord;
using control::NetworkInfo;
using control::NodeRecord;

namespace {

constexpr const char* kNodeCols = "id, name, public_key, ip, ephemeral, created, last_seen, endpoints";
constexpr const char* kInviteCols = "id, secret_hash, uses_left, used, expires, revoked, groups, ephemeral, name, created";
constexpr size_t kInviteIdBytes = 8;  // 16 hex chars, the token's invite id field
constexpr size_t kMaxName = 63;

std::string to_hex(std::span<const uint8_t> b) {
  static constexpr char d[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

uint32_t v4_value(const net::IpAddr& a) {
  return uint32_t{a.b[0]} << 24 | uint32_t{a.b[1]} << 16 | uint32_t{a.b[2]} << 8 | a.b[3];
}

net::IpAddr v4_from(uint32_t v) {
  return net::IpAddr::v4(static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                         static_cast<uint8_t>(v));
}

template <class T, class F>
std::string join(const std::vector<T>& items, char sep, F&& str) {
  std::string out;
  for (const auto& it : items) {
    if (!out.empty()) out += sep;
    out += str(it);
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string encode_endpoints(const std::vector<net::Endpoint>& eps) {
  return join(eps, ',', [](const net::Endpoint& e) { return e.str(); });
}

std::vector<net::Endpoint> decode_endpoints(const std::string& s) {
  std::vector<net::Endpoint> out;
  for (const auto& part : split(s, ','))
    if (auto e = net::Endpoint::parse(part)) out.push_back(*e);
  return out;
}

// "laptop" + 3 -> "laptop-3", cutting the base so the result stays a valid
// DNS label (63 chars, no '-' before the suffix's own).
std::string with_suffix(const std::string& base, size_t n) {
  if (n == 1) return base;
  std::string suffix = "-" + std::to_string(n);
  std::string b = base.substr(0, kMaxName - suffix.size());
  while (!b.empty() && b.back() == '-') b.pop_back();
  return b + suffix;
}

NodeRecord read_node_row(const Stmt& st) {
  NodeRecord r;
  r.id = st.col_int(0);
  r.name = st.col_text(1);
  auto key = st.col_blob(2);
  if (key.size() == r.public_key.size()) std::copy(key.begin(), key.end(), r.public_key.begin());
  if (auto ip = net::IpAddr::parse(st.col_text(3))) r.ip = *ip;
  r.ephemeral = st.col_int(4) != 0;
  r.created_unix = st.col_int(5);
  r.last_seen_unix = st.col_int(6);
  r.endpoints = decode_endpoints(st.col_text(7));
  return r;
}

InviteRecord read_invite_row(const Stmt& st) {
  InviteRecord r;
  r.id = st.col_text(0);
  auto h = st.col_blob(1);
  if (h.size() == r.secret_hash.size()) std::copy(h.begin(), h.end(), r.secret_hash.begin());
  r.uses_left = static_cast<int>(st.col_int(2));
  r.used = static_cast<int>(st.col_int(3));
  r.opts.uses = r.uses_left < 0 ? -1 : r.uses_left + r.used;  // the original allowance
  r.opts.expires_unix = st.col_int(4);
  r.revoked = st.col_int(5) != 0;
  r.opts.groups = split(st.col_text(6), '\n');
  r.opts.ephemeral = st.col_int(7) != 0;
  r.opts.name = st.col_text(8);
  r.created_unix = st.col_int(9);
  return r;
}

// The event log's timestamp for the Registry calls that carry no `now`
// (remove, rename, revoke): the wall clock as SQLite reads it, which is all
// an audit log needs.
int64_t db_clock(Db& db) {
  auto t = db.prepare("SELECT CAST(strftime('%s', 'now') AS INTEGER)");
  return t.step() ? t.col_int(0) : 0;
}

std::string sql(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) s += p;
  return s;
}

}  // namespace

CoordinatorStore::CoordinatorStore(Db& db) : db_(db), rng_(system_rng_) {}
CoordinatorStore::CoordinatorStore(Db& db, crypto::Rng& rng) : db_(db), rng_(rng) {}

// ---------------------------------------------------------------- network

bool CoordinatorStore::has_network(Db& db) { return db.prepare("SELECT 1 FROM network").step(); }

void CoordinatorStore::create_network(const NetworkInfo& info) {
  if (info.cidr.addr.v6 || info.cidr.len < 8 || info.cidr.len > 30)
    throw std::invalid_argument("the network range must be an IPv4 CIDR from /8 to /30, not " + info.cidr.str());
  Tx tx(db_);
  if (has_network(db_)) throw Error("state database " + db_.path() + " already holds a network");
  const std::string cidr = info.cidr.masked().str();
  if (info.ula.len != 0 && !control::valid_ula(info.ula))
    throw std::invalid_argument("the network's IPv6 range must be a /48 inside fd00::/8, not " + info.ula.str());
  const net::Prefix ula = info.ula.len ? info.ula.masked() : control::random_ula(rng_);
  db_.prepare("INSERT INTO network (id, name, cidr, created, ula) VALUES (?, ?, ?, ?, ?)")
      .bind_text(1, info.id)
      .bind_text(2, info.name)
      .bind_text(3, cidr)
      .bind_int(4, info.created_unix)
      .bind_text(5, ula.str())
      .run();
  insert_policy(policy::default_policy(info.created_unix));
  log_event("network_created", "network " + info.name + " " + cidr + " created (policy default: all nodes reach each other)",
            info.created_unix);
  tx.commit();
}

NetworkInfo CoordinatorStore::network() {
  auto st = db_.prepare("SELECT id, name, cidr, created, ula FROM network");
  if (!st.step()) throw Error("state database " + db_.path() + " holds no network yet");
  NetworkInfo n;
  n.id = st.col_text(0);
  n.name = st.col_text(1);
  auto cidr = net::Prefix::parse(st.col_text(2));
  if (!cidr) throw Error("state database " + db_.path() + ": the stored network range is not a CIDR");
  n.cidr = *cidr;
  n.created_unix = st.col_int(3);
  auto ula = net::Prefix::parse(st.col_text(4));
  if (!ula || !control::valid_ula(*ula))
    throw Error("state database " + db_.path() + ": the stored IPv6 range is not a ULA /48");
  n.ula = ula->masked();
  return n;
}

// ---------------------------------------------------------------- nodes

// Called inside the caller's transaction, so the data_version it checks and
// the rows it may read belong to one snapshot.
CoordinatorStore::Taken& CoordinatorStore::taken() {
  auto dv = db_.prepare("PRAGMA data_version");
  int64_t version = dv.step() ? dv.col_int(0) : -1;
  if (taken_.loaded && taken_.data_version == version) return taken_;
  taken_ = Taken{};
  const net::Prefix cidr = network().cidr.masked();
  const uint32_t base = v4_value(cidr.addr);
  auto st = db_.prepare("SELECT name, ip FROM nodes");
  while (st.step()) {
    taken_.names.insert(st.col_text(0));
    auto ip = net::IpAddr::parse(st.col_text(1));
    if (ip && cidr.contains(*ip)) taken_.hosts.insert(v4_value(*ip) - base);
  }
  taken_.loaded = true;
  taken_.data_version = version;
  return taken_;
}

std::variant<CoordinatorStore::Placement, EnrollError> CoordinatorStore::place(const std::string& wanted_name) {
  const net::Prefix cidr = network().cidr.masked();
  const uint32_t base = v4_value(cidr.addr);
  Taken& t = taken();

  // Lowest free host: offset 0 is the network address and the last one the
  // broadcast address; neither is handed out. Hosts below `low` are all
  // taken, so the walk starts there and is short when nodes only join.
  uint32_t next = t.low;
  for (auto it = t.hosts.lower_bound(next); it != t.hosts.end() && *it == next; ++it) ++next;
  t.low = next;
  const uint64_t size = uint64_t{1} << (32 - cidr.len);
  if (cidr.len > 30 || next >= size - 1) return EnrollError::network_full;

  const std::string base_name = control::sanitize_node_name(wanted_name);
  // At most names.size() candidates can be taken, so this always finds one.
  for (size_t n = 1; n <= t.names.size() + 1; ++n) {
    std::string candidate = with_suffix(base_name, n);
    if (!t.names.contains(candidate)) return Placement{std::move(candidate), v4_from(base + next)};
  }
  return EnrollError::name_taken;
}

void CoordinatorStore::note_node(const std::string& name, const net::IpAddr& ip, bool present) {
  if (!taken_.loaded) return;
  const net::Prefix cidr = network().cidr.masked();
  uint32_t host = cidr.contains(ip) ? v4_value(ip) - v4_value(cidr.addr) : 0;
  if (present) {
    taken_.names.insert(name);
    if (host) taken_.hosts.insert(host);
  } else {
    taken_.names.erase(name);
    if (host) {
      taken_.hosts.erase(host);
      taken_.low = std::min(taken_.low, host);
    }
  }
}

NodeRecord CoordinatorStore::insert_node(const crypto::PublicKey& key, const Placement& p, bool ephemeral,
                                         const std::vector<std::string>& groups, int64_t now_unix) {
  db_.prepare("INSERT INTO nodes (name, public_key, ip, ephemeral, created) VALUES (?, ?, ?, ?, ?)")
      .bind_text(1, p.name)
      .bind_blob(2, key)
      .bind_text(3, p.ip.str())
      .bind_int(4, ephemeral ? 1 : 0)
      .bind_int(5, now_unix)
      .run();
  const int64_t id = db_.last_insert_id();
  auto g = db_.prepare("INSERT OR IGNORE INTO node_groups (node_id, grp) VALUES (?, ?)");
  for (const auto& grp : groups) {
    g.reset();
    g.bind_int(1, id).bind_text(2, grp).run();
  }
  auto st = db_.prepare(sql({"SELECT ", kNodeCols, " FROM nodes WHERE id = ?"}));
  st.bind_int(1, id);
  return *first_node(st);
}

std::optional<NodeRecord> CoordinatorStore::first_node(Stmt& st) {
  if (!st.step()) return std::nullopt;
  NodeRecord r = read_node_row(st);
  r.groups = groups_of(r.id);
  load_routes({&r});
  return r;
}

std::vector<std::string> CoordinatorStore::groups_of(int64_t node_id) {
  std::vector<std::string> out;
  auto st = db_.prepare("SELECT grp FROM node_groups WHERE node_id = ? ORDER BY grp");
  st.bind_int(1, node_id);
  while (st.step()) out.push_back(st.col_text(0));
  return out;
}

std::variant<NodeRecord, EnrollError> CoordinatorStore::enroll(const control::EnrollRequest& req, int64_t now_unix) {
  // BEGIN IMMEDIATE: every enrollment holds the write lock from its first
  // read of the invite to its commit, so the uses_left it reads is the one
  // it decrements. Any early return rolls back, leaving nothing behind.
  Tx tx(db_);
  InviteRecord inv;
  {
    auto st = db_.prepare(sql({"SELECT ", kInviteCols, " FROM invites WHERE id = ?"}));
    st.bind_text(1, req.invite_id);
    if (!st.step()) return EnrollError::unknown_invite;
    auto stored_hash = st.col_blob(1);
    // Constant time, so response timing does not reveal how much of a
    // guessed secret was right.
    if (!crypto::ct_equal(stored_hash, req.secret_hash)) return EnrollError::unknown_invite;
    inv = read_invite_row(st);
  }
  if (inv.revoked) return EnrollError::revoked;
  if (inv.opts.expires_unix != 0 && now_unix >= inv.opts.expires_unix) return EnrollError::expired;
  // Checked before uses_left: a node whose join succeeded but whose reply
  // was lost retries with the same single-use token and must get its record.
  if (auto existing = node_by_key(req.public_key)) return *existing;
  if (inv.uses_left == 0) return EnrollError::used_up;

  const std::string wanted = !req.requested_name.empty() ? req.requested_name
                            : !inv.opts.name.empty()     ? inv.opts.name
                            : !req.fallback_name.empty() ? req.fallback_name
                                                         : std::string("node");
  auto placed = place(wanted);
  if (auto* err = std::get_if<EnrollError>(&placed)) return *err;
  const auto& p = std::get<Placement>(placed);

  db_.prepare(
         "UPDATE invites SET uses_left = CASE WHEN uses_left < 0 THEN uses_left ELSE uses_left - 1 END,"
         " used = used + 1 WHERE id = ?")
      .bind_text(1, inv.id)
      .run();
  NodeRecord rec = insert_node(req.public_key, p, inv.opts.ephemeral, inv.opts.groups, now_unix);
  log_event("node_enrolled",
            "node " + rec.name + " (" + rec.ip.str() + ", key " + crypto::to_base64(rec.public_key) +
                ") joined with invite " + inv.id,
            now_unix);
  tx.commit();
  note_node(rec.name, rec.ip, true);
  return rec;
}

NodeRecord CoordinatorStore::add_node(const crypto::PublicKey& key, const std::string& name, int64_t now_unix) {
  Tx tx(db_);
  if (auto existing = node_by_key(key)) return *existing;
  auto placed = place(name.empty() ? std::string("node") : name);
  if (std::holds_alternative<EnrollError>(placed))
    throw Error("state database " + db_.path() + ": cannot add a node: " +
                control::describe(std::get<EnrollError>(placed)));
  NodeRecord rec = insert_node(key, std::get<Placement>(placed), false, {}, now_unix);
  log_event("node_added",
            "node " + rec.name + " (" + rec.ip.str() + ", key " + crypto::to_base64(rec.public_key) + ") added",
            now_unix);
  tx.commit();
  note_node(rec.name, rec.ip, true);
  return rec;
}

std::optional<NodeRecord> CoordinatorStore::node_by_key(const crypto::PublicKey& key) {
  Tx tx(db_, Tx::Kind::read);  // the node row and its groups from one snapshot
  auto st = db_.prepare(sql({"SELECT ", kNodeCols, " FROM nodes WHERE public_key = ?"}));
  st.bind_blob(1, key);
  auto r = first_node(st);
  tx.commit();
  return r;
}

std::optional<NodeRecord> CoordinatorStore::node_by_name(const std::string& name) {
  Tx tx(db_, Tx::Kind::read);
  auto st = db_.prepare(sql({"SELECT ", kNodeCols, " FROM nodes WHERE name = ?"}));
  st.bind_text(1, name);
  auto r = first_node(st);
  tx.commit();
  return r;
}

std::vector<NodeRecord> CoordinatorStore::nodes() {
  Tx tx(db_, Tx::Kind::read);
  std::vector<NodeRecord> out;
  std::unordered_map<int64_t, size_t> index;
  auto st = db_.prepare(sql({"SELECT ", kNodeCols, " FROM nodes ORDER BY id"}));
  while (st.step()) {
    index[st.col_int(0)] = out.size();
    out.push_back(read_node_row(st));
  }
  // One query for every node's groups rather than one per node.
  auto g = db_.prepare("SELECT node_id, grp FROM node_groups ORDER BY node_id, grp");
  while (g.step())
    if (auto it = index.find(g.col_int(0)); it != index.end()) out[it->second].groups.push_back(g.col_text(1));
  std::vector<NodeRecord*> all;
  for (auto& n : out) all.push_back(&n);
  load_routes(std::move(all));
  tx.commit();
  return out;
}

void CoordinatorStore::add_revocation(const crypto::PublicKey& key, int64_t now_unix) {
  db_.prepare(
         "INSERT INTO revoked_keys (public_key, removed_unix) VALUES (?, ?)"
         " ON CONFLICT (public_key) DO UPDATE SET removed_unix = excluded.removed_unix")
      .bind_text(1, crypto::to_base64(key))
      .bind_int(2, now_unix)
      .run();
}

std::vector<crypto::PublicKey> CoordinatorStore::revocations(int64_t since_unix) {
  db_.prepare("DELETE FROM revoked_keys WHERE removed_unix < ?").bind_int(1, since_unix).run();
  std::vector<crypto::PublicKey> r;
  auto st = db_.prepare("SELECT public_key FROM revoked_keys ORDER BY removed_unix");
  while (st.step())
    if (auto k = crypto::parse_key(st.col_text(0))) r.push_back(*k);
  return r;
}

bool CoordinatorStore::remove_node(int64_t id) {
  Tx tx(db_);
  auto st = db_.prepare("SELECT name, ip FROM nodes WHERE id = ?");
  st.bind_int(1, id);
  if (!st.step()) return false;
  const std::string name = st.col_text(0);
  const auto ip = net::IpAddr::parse(st.col_text(1));
  const std::string what = name + " (" + st.col_text(1) + ")";
  // Explicit, not only ON DELETE CASCADE: correct even on a connection
  // that did not enable foreign keys.
  db_.prepare("DELETE FROM node_groups WHERE node_id = ?").bind_int(1, id).run();
  db_.prepare("DELETE FROM node_routes WHERE node_id = ?").bind_int(1, id).run();
  db_.prepare("DELETE FROM nodes WHERE id = ?").bind_int(1, id).run();
  const int64_t now = db_clock(db_);
  log_event("node_removed", "node " + what + " removed", now);
  tx.commit();
  if (ip) note_node(name, *ip, false);
  else forget_taken();
  return true;
}

bool CoordinatorStore::rename_node(int64_t id, const std::string& new_name) {
  if (!control::valid_node_name(new_name)) return false;
  Tx tx(db_);
  auto st = db_.prepare("SELECT name FROM nodes WHERE id = ?");
  st.bind_int(1, id);
  if (!st.step()) return false;
  const std::string old_name = st.col_text(0);
  if (old_name == new_name) return true;
  auto taken = db_.prepare("SELECT 1 FROM nodes WHERE name = ?");
  taken.bind_text(1, new_name);
  if (taken.step()) return false;
  db_.prepare("UPDATE nodes SET name = ? WHERE id = ?").bind_text(1, new_name).bind_int(2, id).run();
  const int64_t now = db_clock(db_);
  log_event("node_renamed", "node " + old_name + " renamed to " + new_name, now);
  tx.commit();
  if (taken_.loaded) {
    taken_.names.erase(old_name);
    taken_.names.insert(new_name);
  }
  return true;
}

void CoordinatorStore::set_endpoints(int64_t id, const std::vector<net::Endpoint>& eps) {
  db_.prepare("UPDATE nodes SET endpoints = ? WHERE id = ?").bind_text(1, encode_endpoints(eps)).bind_int(2, id).run();
}

void CoordinatorStore::touch(int64_t id, int64_t now_unix) {
  db_.prepare("UPDATE nodes SET last_seen = ? WHERE id = ?").bind_int(1, now_unix).bind_int(2, id).run();
}

// ---------------------------------------------------------------- invites

InviteRecord CoordinatorStore::create_invite(const InviteOptions& opts, const std::array<uint8_t, 32>& secret_hash,
                                             int64_t now_unix) {
  if (opts.uses != -1 && opts.uses < 1)
    throw std::invalid_argument("an invite allows 1 or more uses, or -1 for unlimited");
  for (const auto& g : opts.groups)
    if (g.empty() || g.find('\n') != std::string::npos)
      throw std::invalid_argument("a group name must be non-empty and on one line");

  Tx tx(db_);
  std::string id;
  // 64 random bits; a collision is astronomically unlikely, but cheap to rule out.
  for (int attempt = 0; id.empty(); ++attempt) {
    if (attempt == 8) throw Error("state database " + db_.path() + ": cannot find an unused invite id");
    std::array<uint8_t, kInviteIdBytes> raw{};
    rng_.fill(raw);
    std::string candidate = to_hex(raw);
    auto st = db_.prepare("SELECT 1 FROM invites WHERE id = ?");
    st.bind_text(1, candidate);
    if (!st.step()) id = std::move(candidate);
  }
  db_.prepare(
         "INSERT INTO invites (id, secret_hash, uses_left, used, expires, revoked, groups, ephemeral, name, created)"
         " VALUES (?, ?, ?, 0, ?, 0, ?, ?, ?, ?)")
      .bind_text(1, id)
      .bind_blob(2, secret_hash)
      .bind_int(3, opts.uses)
      .bind_int(4, opts.expires_unix)
      .bind_text(5, join(opts.groups, '\n', [](const std::string& g) { return g; }))
      .bind_int(6, opts.ephemeral ? 1 : 0)
      .bind_text(7, opts.name)
      .bind_int(8, now_unix)
      .run();
  std::string detail = "invite " + id + " created: " +
                       (opts.uses < 0 ? std::string("reusable") : std::to_string(opts.uses) + " use(s)") +
                       (opts.expires_unix ? ", expires " + std::to_string(opts.expires_unix) : std::string()) +
                       (opts.groups.empty() ? std::string() : ", groups " + join(opts.groups, ',', [](auto& g) {
                         return g;
                       }));
  log_event("invite_created", detail, now_unix);
  tx.commit();

  InviteRecord r;
  r.id = id;
  r.secret_hash = secret_hash;
  r.opts = opts;
  r.uses_left = opts.uses;
  r.created_unix = now_unix;
  return r;
}

std::vector<InviteRecord> CoordinatorStore::invites() {
  std::vector<InviteRecord> out;
  auto st = db_.prepare(sql({"SELECT ", kInviteCols, " FROM invites ORDER BY created, rowid"}));
  while (st.step()) out.push_back(read_invite_row(st));
  return out;
}

bool CoordinatorStore::revoke_invite(const std::string& id) {
  Tx tx(db_);
  auto st = db_.prepare("SELECT revoked FROM invites WHERE id = ?");
  st.bind_text(1, id);
  if (!st.step()) return false;
  if (st.col_int(0) == 0) {
    db_.prepare("UPDATE invites SET revoked = 1 WHERE id = ?").bind_text(1, id).run();
    log_event("invite_revoked", "invite " + id + " revoked", db_clock(db_));
  }
  tx.commit();
  return true;
}

// ---------------------------------------------------------------- events

void CoordinatorStore::log_event(const std::string& kind, const std::string& detail, int64_t now_unix) {
  db_.prepare("INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)")
      .bind_int(1, now_unix)
      .bind_text(2, kind)
      .bind_text(3, detail)
      .run();
}

std::vector<Event> CoordinatorStore::events(size_t limit) {
  std::vector<Event> out;
  auto st = db_.prepare("SELECT id, at, kind, detail FROM events ORDER BY id DESC LIMIT ?");
  st.bind_int(1, static_cast<int64_t>(limit));
  while (st.step()) out.push_back({st.col_int(0), st.col_int(1), st.col_text(2), st.col_text(3)});
  return out;
}

}  // namespace ovl::store
