// CoordinatorStore: group membership and access policies.
#include "store/coordinator_store.hpp"

namespace ovl::store {

namespace {

int64_t db_now(Db& db) {
  auto t = db.prepare("SELECT CAST(strftime('%s', 'now') AS INTEGER)");
  return t.step() ? t.col_int(0) : 0;
}

std::string node_name(Db& db, int64_t id) {
  auto st = db.prepare("SELECT name FROM nodes WHERE id = ?");
  st.bind_int(1, id);
  return st.step() ? st.col_text(0) : std::string();
}

}  // namespace

bool CoordinatorStore::add_to_group(int64_t node_id, const std::string& group) {
  Tx tx(db_);
  const std::string name = node_name(db_, node_id);
  if (name.empty()) return false;
  db_.prepare("INSERT OR IGNORE INTO node_groups (node_id, grp) VALUES (?, ?)").bind_int(1, node_id).bind_text(2, group).run();
  if (db_.changes() == 0) return false;
  log_event("group_added", "node " + name + " added to group " + group, db_now(db_));
  tx.commit();
  return true;
}

bool CoordinatorStore::remove_from_group(int64_t node_id, const std::string& group) {
  Tx tx(db_);
  db_.prepare("DELETE FROM node_groups WHERE node_id = ? AND grp = ?").bind_int(1, node_id).bind_text(2, group).run();
  if (db_.changes() == 0) return false;
  log_event("group_removed", "node " + node_name(db_, node_id) + " removed from group " + group, db_now(db_));
  tx.commit();
  return true;
}

std::vector<policy::Policy> CoordinatorStore::policies() {
  std::vector<policy::Policy> out;
  auto st = db_.prepare("SELECT name, src, dst, proto, ports, created FROM policies ORDER BY created, rowid");
  while (st.step()) {
    policy::Policy p;
    p.name = st.col_text(0);
    auto from = policy::Selector::parse(st.col_text(1));
    auto to = policy::Selector::parse(st.col_text(2));
    auto proto = policy::parse_proto(st.col_text(3));
    const std::string ports = st.col_text(4);
    auto pr = ports.empty() ? std::optional<std::vector<policy::PortRange>>(std::vector<policy::PortRange>{})
                            : policy::parse_ports(ports);
    // Only this store writes the table, through add_policy(); a row it cannot
    // read was edited by hand and must not silently widen or vanish.
    if (!from || !to || !proto || !pr) throw Error("state database " + db_.path() + ": policy \"" + p.name + "\" is unreadable");
    p.from = *from;
    p.to = *to;
    p.proto = *proto;
    p.ports = std::move(*pr);
    p.created_unix = st.col_int(5);
    out.push_back(std::move(p));
  }
  return out;
}

bool CoordinatorStore::insert_policy(const policy::Policy& p) {
  db_.prepare("INSERT OR IGNORE INTO policies (name, src, dst, proto, ports, created) VALUES (?, ?, ?, ?, ?, ?)")
      .bind_text(1, p.name)
      .bind_text(2, p.from.str())
      .bind_text(3, p.to.str())
      .bind_text(4, policy::proto_name(p.proto))
      .bind_text(5, policy::format_ports(p.ports))
      .bind_int(6, p.created_unix)
      .run();
  return db_.changes() != 0;
}

bool CoordinatorStore::add_policy(const policy::Policy& p) {
  Tx tx(db_);
  if (!insert_policy(p)) return false;
  log_event("policy_added",
            "policy " + p.name + ": " + p.from.str() + " -> " + p.to.str() + " " + policy::proto_name(p.proto) +
                (p.ports.empty() ? std::string() : " ports " + policy::format_ports(p.ports)),
            p.created_unix);
  tx.commit();
  return true;
}

bool CoordinatorStore::remove_policy(const std::string& name) {
  Tx tx(db_);
  db_.prepare("DELETE FROM policies WHERE name = ?").bind_text(1, name).run();
  if (db_.changes() == 0) return false;
  log_event("policy_removed", "policy " + name + " removed", db_now(db_));
  tx.commit();
  return true;
}

}  // namespace ovl::store
