// The state directory as the CLI sees it: where the database, key files and
// API socket live, and the node's settings kept in the database.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/net/ip.hpp"
#include "store/db.hpp"

namespace ovl::cli {

struct StatePaths {
  std::string dir, db, node_key, coordinator_key;
  explicit StatePaths(const std::string& d)
      : dir(d), db(d + "/ovl.db"), node_key(d + "/node.key"), coordinator_key(d + "/coordinator.key") {}
};

// Creates the dir if needed, opens and migrates the database.
store::Db open_state(const StatePaths& p);

// Node settings (kv table).
std::optional<std::string> setting(store::Db& db, const std::string& key);
void set_setting(store::Db& db, const std::string& key, const std::string& value);

std::string join_endpoints(const std::vector<net::Endpoint>& eps);
std::vector<net::Endpoint> split_endpoints(const std::string& s);

// "90s", "30m", "24h", "7d", or plain seconds. nullopt if malformed.
std::optional<int64_t> parse_duration(const std::string& s);
std::string host_name();  // sanitized to a node name

// Relays: "IP:PORT", "[IPv6]:PORT" or a bare IP (kDefaultRelayPort), the
// same port the coordinator's embedded relay uses by default (51820 + 2).
inline constexpr uint16_t kDefaultRelayPort = 51822;
std::optional<net::Endpoint> parse_relay_endpoint(const std::string& s);
// The relay secret file: `given`, or STATE_DIR/relay.key.
struct GlobalOptions;
std::string relay_secret_path(const GlobalOptions& g, const std::string& given);

}  // namespace ovl::cli
