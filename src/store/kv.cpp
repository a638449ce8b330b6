#include "store/kv.hpp"

namespace ovl::store {

namespace {
std::span<const uint8_t> as_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
}  // namespace

std::optional<std::string> kv_get(Db& db, std::string_view key) {
  auto st = db.prepare("SELECT value FROM kv WHERE key = ?");
  st.bind_text(1, key);
  if (!st.step()) return std::nullopt;
  auto v = st.col_blob(0);
  return std::string(v.begin(), v.end());
}

void kv_put(Db& db, std::string_view key, std::string_view value) {
  Tx tx(db);
  // Stored as a BLOB: a cached map or a setting may be any bytes, and BLOBs
  // come back exactly as written (no text encoding rules).
  db.prepare("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
      .bind_text(1, key)
      .bind_blob(2, as_bytes(value))
      .run();
  tx.commit();
}

bool kv_erase(Db& db, std::string_view key) {
  Tx tx(db);
  db.prepare("DELETE FROM kv WHERE key = ?").bind_text(1, key).run();
  bool erased = db.changes() > 0;
  tx.commit();
  return erased;
}

}  // namespace ovl::store
