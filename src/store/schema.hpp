// The state database's schema, as an ordered list of migrations.
//
// Step i moves a database from PRAGMA user_version i to i+1. Steps are only
// ever appended: a released step is never edited, because databases in the
// field have already run it.
#pragma once
#include <span>
#include <string_view>

namespace ovl::store {

std::span<const std::string_view> schema_migrations();
int schema_version();  // = schema_migrations().size()

}  // namespace ovl::store
