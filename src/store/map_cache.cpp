#include "store/map_cache.hpp"

#include <nlohmann/json.hpp>

#include "engine/control/messages.hpp"
#include "store/kv.hpp"

namespace ovl::store {

namespace {

constexpr std::string_view kHeaderKey = "node.netstate";
constexpr std::string_view kPeerPrefix = "node.peer.";
constexpr std::string_view kPeerEnd = "node.peer/";  // '/' follows '.': the end of the prefix range

std::string peer_key(const crypto::PublicKey& k) { return std::string(kPeerPrefix) + crypto::to_base64(k); }

// The header: the state without its peers, marked so that loading knows the
// peers are in rows of their own.
std::string header_json(const control::NetState& st) {
  control::NetState h;
  h.welcome = st.welcome;
  h.version = st.version;
  h.filter = st.filter;  // the access policy this node enforces, kept across restarts
  auto j = nlohmann::json::parse(h.to_json());
  j["peer_rows"] = true;
  return j.dump();
}

void put_peer(Db& db, const control::PeerInfo& p) { kv_put(db, peer_key(p.public_key), control::encode_peer(p)); }

}  // namespace

void save_map(Db& db, const control::NetState& st) {
  Tx tx(db);
  db.prepare("DELETE FROM kv WHERE key >= ? AND key < ?").bind_text(1, kPeerPrefix).bind_text(2, kPeerEnd).run();
  for (auto& [k, p] : st.peers) put_peer(db, p);
  kv_put(db, kHeaderKey, header_json(st));
  tx.commit();
}

void save_map_changes(Db& db, const control::NetState& st, const control::MapChanges& ch) {
  if (ch.full) return save_map(db, st);
  Tx tx(db);
  for (auto& k : ch.removed) kv_erase(db, peer_key(k));
  for (auto& k : ch.upserted)
    if (auto it = st.peers.find(k); it != st.peers.end()) put_peer(db, it->second);
  kv_put(db, kHeaderKey, header_json(st));
  tx.commit();
}

std::optional<control::NetState> load_map(Db& db) {
  Tx tx(db, Tx::Kind::read);
  auto header = kv_get(db, kHeaderKey);
  if (!header) return std::nullopt;
  auto st = control::NetState::from_json(*header);
  if (!st) return std::nullopt;
  auto j = nlohmann::json::parse(*header, nullptr, false);
  if (j.is_object() && j.value("peer_rows", false)) {
    // All rows at once, read back through the delta decoder, which checks
    // every field as it does for the wire.
    std::string d = R"({"type":"delta","version":0,"remove":[],"upsert":[)";
    auto rows = db.prepare("SELECT value FROM kv WHERE key >= ? AND key < ?");
    rows.bind_text(1, kPeerPrefix).bind_text(2, kPeerEnd);
    bool first = true;
    while (rows.step()) {
      auto v = rows.col_blob(0);
      if (!first) d += ',';
      first = false;
      d.append(v.begin(), v.end());
    }
    d += "]}";
    auto m = control::decode(d);
    if (!m || !std::holds_alternative<control::Delta>(*m)) return std::nullopt;
    st->peers.clear();
    for (auto& p : std::get<control::Delta>(*m).upsert) st->peers[p.public_key] = p;
  }
  tx.commit();
  return st;
}

}  // namespace ovl::store
