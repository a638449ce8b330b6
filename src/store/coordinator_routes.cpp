// CoordinatorStore: subnet routes and exit nodes (table node_routes, schema v2).
#include <unordered_map>

#include "engine/control/routes.hpp"
#include "store/coordinator_store.hpp"

namespace ovl::store {

void CoordinatorStore::load_routes(std::vector<control::NodeRecord*> nodes) {
  if (nodes.empty()) return;
  std::unordered_map<int64_t, control::NodeRecord*> by_id;
  for (auto* n : nodes) by_id[n->id] = n;
  // One query for all nodes; the table is small (a few prefixes per node).
  auto st = db_.prepare("SELECT node_id, prefix, advertised, approved FROM node_routes");
  while (st.step()) {
    auto it = by_id.find(st.col_int(0));
    if (it == by_id.end()) continue;
    auto p = net::Prefix::parse(st.col_text(1));
    if (!p) continue;  // not written by us; ignore rather than fail the whole map
    if (st.col_int(2)) it->second->advertised_routes.push_back(*p);
    if (st.col_int(3)) it->second->approved_routes.push_back(*p);
  }
  for (auto* n : nodes) {
    control::normalize_routes(n->advertised_routes);
    control::normalize_routes(n->approved_routes);
  }
}

void CoordinatorStore::set_advertised_routes(int64_t id, const std::vector<net::Prefix>& routes) {
  Tx tx(db_);
  auto exists = db_.prepare("SELECT 1 FROM nodes WHERE id = ?");
  exists.bind_int(1, id);
  if (!exists.step()) return;
  db_.prepare("UPDATE node_routes SET advertised = 0 WHERE node_id = ?").bind_int(1, id).run();
  auto up = db_.prepare(
      "INSERT INTO node_routes (node_id, prefix, advertised) VALUES (?, ?, 1)"
      " ON CONFLICT (node_id, prefix) DO UPDATE SET advertised = 1");
  for (const auto& p : routes) {
    up.reset();
    up.bind_int(1, id).bind_text(2, p.masked().str()).run();
  }
  db_.prepare("DELETE FROM node_routes WHERE node_id = ? AND advertised = 0 AND approved = 0").bind_int(1, id).run();
  tx.commit();
}

bool CoordinatorStore::set_route_approved(int64_t id, const net::Prefix& prefix, bool approved, int64_t now_unix) {
  Tx tx(db_);
  auto st = db_.prepare("SELECT name FROM nodes WHERE id = ?");
  st.bind_int(1, id);
  if (!st.step()) return false;
  const std::string name = st.col_text(0);
  const std::string p = prefix.masked().str();
  db_.prepare(
         "INSERT INTO node_routes (node_id, prefix, approved) VALUES (?, ?, ?)"
         " ON CONFLICT (node_id, prefix) DO UPDATE SET approved = excluded.approved")
      .bind_int(1, id)
      .bind_text(2, p)
      .bind_int(3, approved ? 1 : 0)
      .run();
  db_.prepare("DELETE FROM node_routes WHERE node_id = ? AND advertised = 0 AND approved = 0").bind_int(1, id).run();
  log_event(approved ? "route_approved" : "route_unapproved", "route " + p + " of node " + name +
                                                                   (approved ? " approved" : " unapproved"),
            now_unix);
  tx.commit();
  return true;
}

}  // namespace ovl::store
