// The configuration file: reading it, merging it with defaults and flags, and
// `ovl config show`.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"

namespace ovl::cli {

namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

// The whole file, or an error message.
std::optional<std::string> read_text(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st{};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    error = "is a directory";
    return std::nullopt;
  }
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      ::close(fd);
      error = "larger than 1 MiB";
      return std::nullopt;
    }
  }
  ::close(fd);
  return text;
}

bool given_flag(const GivenOptions& given, const char* long_name) { return given.count(long_name) > 0; }

// One line of `config show`.
struct Row {
  std::string key;
  nlohmann::json value;             // null: decided at run time (see `runtime`)
  config::Source source;
  const char* runtime = nullptr;    // what a null value means
};

std::string toml_value(const nlohmann::json& v) {
  if (v.is_string()) return config::toml_quote(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_array()) {
    std::string r = "[";
    for (size_t i = 0; i < v.size(); ++i) r += (i ? ", " : "") + toml_value(v[i]);
    return r + "]";
  }
  return v.dump();
}

nlohmann::json text_or_null(const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); }

}  // namespace

std::optional<ConfigFile> load_config_file(const std::optional<std::string>& path) {
  ConfigFile f;
  std::string p;
  if (path) {
    p = *path;
  } else {
    struct stat st{};
    if (::stat(config::kDefaultConfigPath, &st) != 0) return f;  // no file: only defaults and flags
    p = config::kDefaultConfigPath;
  }
  std::string error;
  auto text = read_text(p, error);
  if (!text) {
    std::fprintf(stderr, "ovl: cannot read config file %s: %s\n", p.c_str(), error.c_str());
    return std::nullopt;
  }
  auto r = config::parse_toml_config(*text);
  if (auto* e = std::get_if<config::ConfigError>(&r)) {
    std::fprintf(stderr, "ovl: %s\n", config::format_config_error(p, *e).c_str());
    return std::nullopt;
  }
  f.path = p;
  f.settings = std::get<config::FileSettings>(std::move(r));
  return f;
}

SettingSources apply_global_config(const ConfigFile& f, GlobalOptions& g, const GivenOptions& given) {
  SettingSources s;
  s["state_dir"] = config::apply_setting(g.state_dir, f.settings.state_dir, given_flag(given, "state-dir"));
  bool verbose = g.verbose > 0;
  s["verbose"] = config::apply_setting(verbose, f.settings.verbose, given_flag(given, "verbose"));
  if (s["verbose"] == config::Source::file) g.verbose = verbose ? 1 : 0;
  return s;
}

SettingSources apply_up_config(const ConfigFile& f, UpOptions& o, const GivenOptions& given) {
  const auto& up = f.settings.up;
  SettingSources s;
  s["up.network"] = config::apply_setting(o.network, up.network, given_flag(given, "network"));
  s["up.cidr"] = config::apply_setting(o.cidr, up.cidr, given_flag(given, "cidr"));
  s["up.listen_port"] = config::apply_setting(o.listen_port, up.listen_port, given_flag(given, "listen-port"));
  s["up.advertise_endpoints"] =
      config::apply_setting(o.advertise, up.advertise_endpoints, given_flag(given, "advertise-endpoint"));
  s["up.name"] = config::apply_setting(o.name, up.name, given_flag(given, "name"));
  s["up.interface"] = config::apply_setting(o.interface, up.interface, given_flag(given, "interface"));
  // Both only ever switch something on (or pick the exit node): the state
  // dir keeps them, and `ovl route withdraw` / `ovl set` change them back.
  s["up.advertise_exit_node"] = config::apply_setting(o.advertise_exit_node, up.advertise_exit_node,
                                                      given_flag(given, "advertise-exit-node"));
  std::string exit_node = o.exit_node.value_or("");
  std::optional<std::string> file_exit = up.exit_node;
  s["up.exit_node"] = config::apply_setting(exit_node, file_exit, given_flag(given, "exit-node"));
  if (!exit_node.empty()) o.exit_node = exit_node;
  s["up.dns"] = config::apply_setting(o.dns, up.dns, given_flag(given, "dns"));
  s["up.relays"] = config::apply_setting(o.relays, up.relays, given_flag(given, "relay"));
  s["up.relay_secret_file"] =
      config::apply_setting(o.relay_secret_file, up.relay_secret_file, given_flag(given, "relay-secret-file"));
  return s;
}

SettingSources apply_relay_config(const ConfigFile& f, RelayOptions& o, const GivenOptions& given) {
  const auto& relay = f.settings.relay;
  SettingSources s;
  s["relay.listen"] = config::apply_setting(o.listen, relay.listen, given_flag(given, "listen"));
  s["relay.secret_file"] = config::apply_setting(o.secret_file, relay.secret_file, given_flag(given, "secret-file"));
  return s;
}

SettingSources apply_join_config(const ConfigFile& f, JoinOptions& o, const GivenOptions& given) {
  const auto& join = f.settings.join;
  SettingSources s;
  s["join.name"] = config::apply_setting(o.name, join.name, given_flag(given, "name"));
  s["join.interface"] = config::apply_setting(o.interface, join.interface, given_flag(given, "interface"));
  s["join.listen_port"] = config::apply_setting(o.listen_port, join.listen_port, given_flag(given, "listen-port"));
  s["join.dns"] = config::apply_setting(o.dns, join.dns, given_flag(given, "dns"));
  return s;
}

int cmd_config_show(const GlobalOptions& g, const ConfigFile& f, const SettingSources& global) {
  // The same merge `up` and `join` do, without flags of theirs.
  UpOptions up;
  JoinOptions join;
  RelayOptions relay;
  auto up_src = apply_up_config(f, up, {});
  auto join_src = apply_join_config(f, join, {});
  auto relay_src = apply_relay_config(f, relay, {});
  auto src = [](const SettingSources& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? config::Source::default_value : it->second;
  };
  const char* kHost = "the host name";
  std::vector<Row> top{
      {"state_dir", g.state_dir, src(global, "state_dir")},
      {"verbose", g.verbose > 0, src(global, "verbose")},
  };
  std::vector<Row> up_rows{
      {"network", text_or_null(up.network), src(up_src, "up.network"), kHost},
      {"cidr", text_or_null(up.cidr), src(up_src, "up.cidr"), "a random /16 inside 100.64.0.0/10"},
      {"listen_port", up.listen_port, src(up_src, "up.listen_port")},
      {"advertise_endpoints", up.advertise.empty() ? nlohmann::json() : nlohmann::json(up.advertise),
       src(up_src, "up.advertise_endpoints"), "this host's addresses"},
      {"name", text_or_null(up.name), src(up_src, "up.name"), kHost},
      {"interface", up.interface, src(up_src, "up.interface")},
      {"dns", up.dns, src(up_src, "up.dns")},
      {"relays", up.relays.empty() ? nlohmann::json() : nlohmann::json(up.relays), src(up_src, "up.relays"),
       "none (only the embedded relay)"},
      {"relay_secret_file", text_or_null(up.relay_secret_file), src(up_src, "up.relay_secret_file"),
       "STATE_DIR/relay.key"},
      {"advertise_exit_node", up.advertise_exit_node, src(up_src, "up.advertise_exit_node")},
      {"exit_node", up.exit_node ? nlohmann::json(*up.exit_node) : nlohmann::json(), src(up_src, "up.exit_node"),
       "as set with ovl set --exit-node"},
  };
  std::vector<Row> join_rows{
      {"name", text_or_null(join.name), src(join_src, "join.name"), kHost},
      {"interface", join.interface, src(join_src, "join.interface")},
      {"listen_port", join.listen_port, src(join_src, "join.listen_port")},
      {"dns", join.dns, src(join_src, "join.dns")},
  };
  std::vector<Row> relay_rows{
      {"listen", relay.listen, src(relay_src, "relay.listen")},
      {"secret_file", text_or_null(relay.secret_file), src(relay_src, "relay.secret_file"), "STATE_DIR/relay.key"},
  };

  if (g.json) {
    auto obj = [](const std::vector<Row>& rows) {
      nlohmann::json j = nlohmann::json::object();
      for (auto& r : rows) j[r.key] = {{"value", r.value}, {"source", config::source_name(r.source)}};
      return j;
    };
    nlohmann::json j = obj(top);
    j["config_file"] = text_or_null(f.path);
    j["up"] = obj(up_rows);
    j["join"] = obj(join_rows);
    j["relay"] = obj(relay_rows);
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }

  std::string out = "# Effective settings of ovl up, coordinator ([up]), join ([join]) and relay ([relay]).\n";
  if (f.path.empty())
    out += std::string("# Config file: none (") + config::kDefaultConfigPath + " does not exist).\n";
  else
    out += "# Config file: " + f.path + "\n";
  out += "# After each value: where it comes from (default, file or flag).\n\n";
  auto lines = [&out](const std::vector<Row>& rows) {
    for (auto& r : rows) {
      if (r.value.is_null())
        out += "# " + r.key + ": " + r.runtime + "  # " + config::source_name(r.source) + "\n";
      else
        out += r.key + " = " + toml_value(r.value) + "  # " + config::source_name(r.source) + "\n";
    }
  };
  lines(top);
  out += "\n[up]\n";
  lines(up_rows);
  out += "\n[join]\n";
  lines(join_rows);
  out += "\n[relay]\n";
  lines(relay_rows);
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace ovl::cli
