#include "engine/config/toml_config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "engine/control/registry.hpp"
#include "engine/control/token.hpp"
#include "engine/net/ip.hpp"

namespace ovl::config {

namespace {

// Thrown inside the parser, turned into the ConfigError result.
struct Failure {
  ConfigError error;
};

// Text from the file as it appears in a message: printable ASCII as is,
// anything else as \xNN, long text cut short (messages are one line).
std::string shown(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

int line_of(const toml::source_region& r) { return static_cast<int>(r.begin.line); }

const char* type_name(const toml::node& v) {
  switch (v.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

size_t edit_distance(std::string_view a, std::string_view b) {
  if (a.size() > 64 || b.size() > 64) return 64;
  std::array<size_t, 65> prev{}, cur{};
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    prev = cur;
  }
  return prev[b.size()];
}

// One key of a section being read: its name, value and where it is.
struct Entry {
  std::string_view section;  // "" for the top level
  std::string_view key;
  const toml::node& value;
  int key_line;

  std::string what() const {
    std::string w = "'" + shown(key) + "'";
    if (!section.empty()) w += " in [" + std::string(section) + "]";
    return w;
  }
  [[noreturn]] void fail(const std::string& msg) const {
    int l = line_of(value.source());
    throw Failure{{l ? l : key_line, 0, msg}};
  }
  [[noreturn]] void wrong_type(const char* expected) const {
    fail(what() + " must be " + expected + ", not " + type_name(value));
  }

  std::string string() const {
    if (auto* s = value.as_string()) return s->get();
    wrong_type("a string");
  }
  bool boolean() const {
    if (auto* b = value.as_boolean()) return b->get();
    wrong_type("true or false");
  }
  uint16_t port() const {
    auto* i = value.as_integer();
    if (!i) wrong_type("an integer");
    int64_t p = i->get();
    if (p < 1 || p > 65535) fail(what() + " must be a port number from 1 to 65535, not " + std::to_string(p));
    return static_cast<uint16_t>(p);
  }
  std::string node_name() const {
    auto s = string();
    if (!control::valid_node_name(s))
      fail(what() + ": \"" + shown(s) + "\" is not a valid name (use a-z, 0-9 and '-', at most 63)");
    return s;
  }
  std::string interface_name() const {
    auto s = string();
    if (!valid_interface_name(s))
      fail(what() + ": \"" + shown(s) + "\" is not a valid interface name (1 to 15 of a-z A-Z 0-9 _=+.-)");
    return s;
  }
  std::string cidr() const {
    auto s = string();
    if (!valid_network_cidr(s))
      fail(what() + ": \"" + shown(s) + "\" is not an IPv4 prefix between /8 and /28, e.g. 100.83.0.0/16");
    return s;
  }
  std::string absolute_path() const {
    auto s = string();
    if (s.empty() || s.front() != '/') fail(what() + " must be an absolute path, not \"" + shown(s) + "\"");
    if (s.find('\0') != std::string::npos) fail(what() + " must not contain a NUL character");
    return s;
  }
  std::vector<std::string> endpoints() const {
    auto* arr = value.as_array();
    if (!arr) wrong_type("an array of strings, e.g. [\"203.0.113.1:51820\"]");
    if (arr->size() > control::kMaxTokenEndpoints)
      fail(what() + " has " + std::to_string(arr->size()) + " entries; at most " +
           std::to_string(control::kMaxTokenEndpoints) + " fit in an invite");
    std::vector<std::string> r;
    for (const toml::node& el : *arr) {
      Entry e{section, key, el, key_line};
      auto* s = el.as_string();
      if (!s) e.fail(what() + " must hold only strings, not " + type_name(el));
      if (!valid_advertise_endpoint(s->get()))
        e.fail(what() + ": \"" + shown(s->get()) + "\" is not IP:PORT, [IPv6]:PORT or an IP address");
      r.push_back(s->get());
    }
    return r;
  }
};

[[noreturn]] void unknown(const Entry& e, std::initializer_list<std::string_view> known) {
  std::string msg = "unknown ";
  bool section = e.section.empty() && e.value.is_table();
  if (section)
    msg += "section [" + shown(e.key) + "]";
  else
    msg += "key '" + shown(e.key) + "'" + (e.section.empty() ? "" : " in [" + std::string(e.section) + "]");
  // A likely typo, or a flag's spelling (listen-port for listen_port).
  std::string dashes(e.key);
  std::replace(dashes.begin(), dashes.end(), '-', '_');
  std::string_view best;
  size_t best_d = 3;
  for (auto k : known) {
    size_t d = edit_distance(dashes, k);
    if (d < best_d) best_d = d, best = k;
  }
  if (!best.empty()) msg += std::string("; did you mean '") + std::string(best) + "'?";
  throw Failure{{e.key_line ? e.key_line : line_of(e.value.source()), 0, msg}};
}

// toml++ 3.3 asserts (and in optimized clang builds assumes) that a table
// header's key starts with a key character; "[&" or "[\n" breaks that
// (marzer/tomlplusplus#294, fixed upstream after 3.3). A header only starts a
// line (after spaces or tabs; toml++ rejects other whitespace there), so
// every line that begins with '[' is checked before toml++ sees the text.
// Lines inside multi-line arrays or strings are checked too: that rejects
// only values no ovl key takes (nested arrays, strings with line breaks).
std::optional<ConfigError> unsafe_table_header(std::string_view text) {
  auto is_ws = [](char c) { return c == ' ' || c == '\t'; };
  auto key_start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '"' || c == '\'';
  };
  size_t pos = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  for (int line = 1; pos <= text.size(); ++line) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    size_t i = pos;
    while (i < end && is_ws(text[i])) ++i;
    if (i < end && text[i] == '[') {
      size_t j = i + 1;
      while (j < text.size() && is_ws(text[j])) ++j;
      if (j < text.size() && text[j] == '[') {
        ++j;
        while (j < text.size() && is_ws(text[j])) ++j;
      }
      if (j < text.size() && text[j] != ']' && !key_start(text[j]))
        return ConfigError{line, static_cast<int>(j - pos) + 1,
                           "Error while parsing table header: expected a key, saw '" + shown(text.substr(j, 1)) + "'"};
    }
    pos = end + 1;
  }
  return std::nullopt;
}

template <class F>
void each_key(const toml::table& t, std::string_view section, F&& f) {
  for (auto&& [k, v] : t) f(Entry{section, k.str(), v, line_of(k.source())});
}

void read_up(const toml::table& t, UpSettings& up) {
  each_key(t, "up", [&](const Entry& e) {
    if (e.key == "network") up.network = e.node_name();
    else if (e.key == "cidr") up.cidr = e.cidr();
    else if (e.key == "listen_port") up.listen_port = e.port();
    else if (e.key == "advertise_endpoints") up.advertise_endpoints = e.endpoints();
    else if (e.key == "name") up.name = e.node_name();
    else if (e.key == "interface") up.interface = e.interface_name();
    else unknown(e, {"network", "cidr", "listen_port", "advertise_endpoints", "name", "interface"});
  });
}

void read_join(const toml::table& t, JoinSettings& join) {
  each_key(t, "join", [&](const Entry& e) {
    if (e.key == "name") join.name = e.node_name();
    else if (e.key == "interface") join.interface = e.interface_name();
    else if (e.key == "listen_port") join.listen_port = e.port();
    else unknown(e, {"name", "interface", "listen_port"});
  });
}

void read_root(const toml::table& t, FileSettings& s) {
  each_key(t, "", [&](const Entry& e) {
    if (e.key == "state_dir") s.state_dir = e.absolute_path();
    else if (e.key == "verbose") s.verbose = e.boolean();
    else if (e.key == "up" || e.key == "join") {
      auto* sub = e.value.as_table();
      if (!sub) e.fail("'" + std::string(e.key) + "' must be a section ([" + std::string(e.key) + "]), not " +
                       type_name(e.value));
      if (e.key == "up") read_up(*sub, s.up);
      else read_join(*sub, s.join);
    } else {
      unknown(e, {"state_dir", "verbose", "up", "join"});
    }
  });
}

}  // namespace

std::variant<FileSettings, ConfigError> parse_toml_config(std::string_view text) {
  if (auto e = unsafe_table_header(text)) return *e;
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    // toml++ quotes what it saw; keep the message one printable line.
    std::string msg;
    for (char c : e.description()) {
      auto u = static_cast<unsigned char>(c);
      msg += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    return ConfigError{static_cast<int>(b.line), static_cast<int>(b.column), msg};
  }
  FileSettings s;
  try {
    read_root(root, s);
  } catch (const Failure& f) {
    return f.error;
  }
  return s;
}

std::string format_config_error(std::string_view file, const ConfigError& e) {
  std::string r(file);
  if (e.line > 0) {
    r += ":" + std::to_string(e.line);
    if (e.column > 0) r += ":" + std::to_string(e.column);
  }
  return r + ": " + e.message;
}

std::string toml_quote(std::string_view s) {
  std::string r = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': r += "\\\""; break;
      case '\\': r += "\\\\"; break;
      case '\n': r += "\\n"; break;
      case '\t': r += "\\t"; break;
      case '\r': r += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          r += buf;
        } else {
          r += ch;  // UTF-8 passes through
        }
    }
  }
  return r + "\"";
}

std::string to_toml(const FileSettings& s) {
  std::string r;
  auto str = [&r](const char* k, const std::optional<std::string>& v) {
    if (v) r += std::string(k) + " = " + toml_quote(*v) + "\n";
  };
  auto port = [&r](const char* k, const std::optional<uint16_t>& v) {
    if (v) r += std::string(k) + " = " + std::to_string(*v) + "\n";
  };
  str("state_dir", s.state_dir);
  if (s.verbose) r += std::string("verbose = ") + (*s.verbose ? "true" : "false") + "\n";
  if (s.up != UpSettings{}) {
    r += "\n[up]\n";
    str("network", s.up.network);
    str("cidr", s.up.cidr);
    port("listen_port", s.up.listen_port);
    if (s.up.advertise_endpoints) {
      r += "advertise_endpoints = [";
      for (size_t i = 0; i < s.up.advertise_endpoints->size(); ++i)
        r += (i ? ", " : "") + toml_quote((*s.up.advertise_endpoints)[i]);
      r += "]\n";
    }
    str("name", s.up.name);
    str("interface", s.up.interface);
  }
  if (s.join != JoinSettings{}) {
    r += "\n[join]\n";
    str("name", s.join.name);
    str("interface", s.join.interface);
    port("listen_port", s.join.listen_port);
  }
  return r;
}

const char* source_name(Source s) {
  switch (s) {
    case Source::file: return "file";
    case Source::flag: return "flag";
    default: return "default";
  }
}

bool valid_interface_name(std::string_view name) {
  // As the kernel takes them (IFNAMSIZ 16 with the NUL), and as src/tun checks.
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '=' ||
           c == '+' || c == '.' || c == '-';
  });
}

bool valid_network_cidr(std::string_view cidr) {
  if (cidr.find('/') == std::string_view::npos) return false;
  auto p = net::Prefix::parse(cidr);
  return p && !p->addr.v6 && p->len >= 8 && p->len <= 28;
}

bool valid_advertise_endpoint(std::string_view s) {
  return net::Endpoint::parse(s).has_value() || net::IpAddr::parse(s).has_value();
}

}  // namespace ovl::config
