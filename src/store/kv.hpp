// A generic key/value table in the state database: the node role keeps its
// settings and its last network map here, so it can start without the
// coordinator. Values are arbitrary bytes held in a std::string.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "store/db.hpp"

namespace ovl::store {

std::optional<std::string> kv_get(Db& db, std::string_view key);
// Inserts or replaces, atomically (joins the caller's transaction if any).
void kv_put(Db& db, std::string_view key, std::string_view value);
// false if the key was not there.
bool kv_erase(Db& db, std::string_view key);

}  // namespace ovl::store
