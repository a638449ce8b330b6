// The node's cached network map, so it comes back up while the coordinator
// is away. One kv row holds the header (welcome, version) and each peer has
// a row of its own ("node.peer.<key>"), so a delta rewrites only the rows it
// touched instead of the whole map (1.5 MB at 10,000 nodes) per change.
//
// Older state dirs hold the whole map inside the header row; load_map reads
// both forms and the next full save converts.
#pragma once
#include <optional>

#include "engine/control/node_agent.hpp"
#include "store/db.hpp"

namespace ovl::store {

// Replaces the cached map with `st` (after a welcome or a full map): O(peers).
void save_map(Db& db, const control::NetState& st);
// Writes the header and the rows of the peers `ch` names, in one
// transaction. With ch.full it is save_map.
void save_map_changes(Db& db, const control::NetState& st, const control::MapChanges& ch);
// nullopt when nothing (or nothing readable) is cached.
std::optional<control::NetState> load_map(Db& db);

}  // namespace ovl::store
