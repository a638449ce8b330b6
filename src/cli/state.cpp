#include "cli/state.hpp"

#include <unistd.h>

#include <charconv>

#include "engine/control/registry.hpp"
#include "store/keyfile.hpp"
#include "store/kv.hpp"

namespace ovl::cli {

store::Db open_state(const StatePaths& p) {
  store::ensure_state_dir(p.dir);
  return store::Db::open(p.db);  // creates (0600) and migrates
}

std::optional<std::string> setting(store::Db& db, const std::string& key) { return store::kv_get(db, key); }
void set_setting(store::Db& db, const std::string& key, const std::string& value) { store::kv_put(db, key, value); }

std::string join_endpoints(const std::vector<net::Endpoint>& eps) {
  std::string s;
  for (auto& e : eps) s += (s.empty() ? "" : ",") + e.str();
  return s;
}

std::vector<net::Endpoint> split_endpoints(const std::string& s) {
  std::vector<net::Endpoint> r;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    auto part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (auto e = net::Endpoint::parse(part)) r.push_back(*e);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return r;
}

std::optional<int64_t> parse_duration(const std::string& s) {
  if (s.empty()) return std::nullopt;
  int64_t mult = 1;
  std::string num = s;
  switch (s.back()) {
    case 's': mult = 1; num.pop_back(); break;
    case 'm': mult = 60; num.pop_back(); break;
    case 'h': mult = 3600; num.pop_back(); break;
    case 'd': mult = 86400; num.pop_back(); break;
    default: break;
  }
  int64_t v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || p != num.data() + num.size() || v <= 0 || v > (int64_t(1) << 40) / mult) return std::nullopt;
  return v * mult;
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return control::sanitize_node_name(buf);
}

}  // namespace ovl::cli
