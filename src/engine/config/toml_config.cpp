#include "engine/config/toml_config.hpp"
#include "engine/dns/resolv_conf.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdint>
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

// Edits (insert, delete, replace, swap two neighbours) from a to b.
size_t edit_distance(std::string_view a, std::string_view b) {
  constexpr size_t kMax = 32;
  if (a.size() > kMax || b.size() > kMax) return SIZE_MAX;
  std::array<std::array<size_t, kMax + 1>, kMax + 1> d{};
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
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
  std::string dns_mode() const {
    auto s = string();
    if (!dns::parse_dns_mode(s))
      fail(what() + ": \"" + shown(s) + "\" is not a DNS mode (auto, resolv.conf, resolved or off)");
    return s;
  }
  std::string cidr() const {
    auto s = string();
    if (!valid_network_cidr(s))
      fail(what() + ": \"" + shown(s) + "\" is not an IPv4 prefix between /8 and /28, e.g. 100.83.0.0/16");
    return s;
  }
  std::string exit_node() const {
    auto s = string();
    if (!valid_exit_node(s))
      fail(what() + ": \"" + shown(s) + "\" is neither a node name, an IP address nor \"none\"");
    return s;
  }
  std::string absolute_path() const {
    auto s = string();
    if (s.empty() || s.front() != '/') fail(what() + " must be an absolute path, not \"" + shown(s) + "\"");
    if (s.find('\0') != std::string::npos) fail(what() + " must not contain a NUL character");
    return s;
  }
  std::string endpoint() const {
    auto s = string();
    if (!valid_advertise_endpoint(s)) fail(what() + ": \"" + shown(s) + "\" is not IP:PORT, [IPv6]:PORT or an IP address");
    return s;
  }
  // At most `max` entries (`why` says where they must fit).
  std::vector<std::string> endpoints(size_t max = control::kMaxTokenEndpoints, const char* why = "in an invite") const {
    auto* arr = value.as_array();
    if (!arr) wrong_type("an array of strings, e.g. [\"203.0.113.1:51820\"]");
    if (arr->size() > max)
      fail(what() + " has " + std::to_string(arr->size()) + " entries; at most " + std::to_string(max) + " fit " + why);
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
  size_t best_d = SIZE_MAX;
  for (auto k : known) {
    size_t d = edit_distance(dashes, k);
    if (d <= std::max<size_t>(1, k.size() / 3) && d < best_d) best_d = d, best = k;
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

// Two more toml++ 3.3 defects, found by fuzzing, are kept away the same way:
//
// 1. It classifies non-ASCII characters outside strings with a generated
//    table that reaches __builtin_unreachable() for many of them
//    (U+00A1..U+0499, U+2D6E..U+3167, U+FE36..U+FEFE): undefined behaviour
//    on "é = 1", "a = 1 é" or a quoted key "é". It does so for any character
//    it reads outside a string or comment, in quoted keys, and in multi-line
//    strings after a line-ending backslash. No ovl key or value needs
//    non-ASCII text except a path in a string value, so non-ASCII bytes are
//    let through only in comments and in single-line strings ("..." or
//    '...') that follow '=' on their line, after blanks only (a string
//    toml++ reads as a key cannot: it stops at such an '=' with an error
//    first).
// 2. In an array, a '}' right after '[' or ',' (across blanks, line breaks
//    and comments) reaches parse_value with a broken precondition.
//
// toml++ reads a bare value (a number, date, bool...) up to whitespace, ']',
// '}', ',' or '#' before judging it, quotes and '=' included (and on past a
// space followed by a digit, for a date-time); a bare key up to the first
// character that cannot be in one. Such runs are tracked so
// that a quote inside one does not count as a string. Multi-line strings
// ("""...""", '''...''') are not tracked: from the first one on, any
// non-ASCII byte, and any '}' after '[' or ',' anywhere, is an error. That
// rejects only values no ovl key takes.
std::optional<ConfigError> unsafe_text(std::string_view text) {
  enum class State { normal, bare_key, bare_value, comment, basic, literal } st = State::normal;
  char last = '\n';           // last byte on this line outside strings, not counting blanks ('a': a bare run)
  char last_token = '\n';     // last byte outside strings and comments, not counting blanks and line breaks
  bool value_string = false;  // the current string follows '='
  bool tracked = true;        // false after a multi-line string opened
  int line = 1;
  size_t line_start = 0;
  auto error = [&](size_t at, const std::string& msg) {
    int col = 1;
    for (size_t k = line_start; k < at; ++k) col += (static_cast<unsigned char>(text[k]) & 0xC0) != 0x80;
    return ConfigError{line, col, msg};
  };
  auto non_ascii = [&](size_t at) {
    return error(at, "non-ASCII text (" + shown(text.substr(at, 1)) +
                         ") is only allowed in a comment or in a quoted value after '='");
  };
  auto brace = [&](size_t at) {
    return error(at, std::string("expected a value, saw '}' after '") + last_token + "'");
  };
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  auto key_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  for (size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0; i < text.size(); ++i) {
    char c = text[i];
    bool ascii = static_cast<unsigned char>(c) < 0x80;
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    }
    if (!tracked) {
      if (!ascii) return non_ascii(i);
      if (c == '}' && (last_token == '[' || last_token == ',')) return brace(i);
      if (!blank(c)) last_token = c;
      continue;
    }
    // The end of a bare run: this byte is read afresh below.
    if (st == State::bare_key && !key_char(c)) st = State::normal;
    if (st == State::bare_value && (blank(c) || c == ']' || c == '}' || c == ',' || c == '#')) {
      // A date, a space and a digit: toml++ reads on, as a date-time.
      bool date_time = c == ' ' && i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '9';
      if (!date_time) st = State::normal;
    }
    switch (st) {
      case State::bare_key:
      case State::bare_value:
        if (!ascii) return non_ascii(i);
        last_token = c;
        break;
      case State::normal:
        if (!ascii) return non_ascii(i);
        if (c == '#') {
          st = State::comment;
        } else if (c == '"' || c == '\'') {
          if (text.substr(i, 3) == std::string_view(c == '"' ? "\"\"\"" : "'''")) {
            tracked = false;
            last_token = c;
          } else {
            value_string = last == '=';
            st = c == '"' ? State::basic : State::literal;
          }
        } else if (c == '}' && (last_token == '[' || last_token == ',')) {
          return brace(i);
        } else if (c == '\n') {
          last = '\n';
        } else if (blank(c)) {
          // not significant
        } else if (c == '=' || c == '[' || c == ']' || c == '{' || c == '}' || c == ',' || c == '.') {
          last = last_token = c;
        } else {
          // After '=', '[' or ',' toml++ may read a value; anywhere else a key.
          bool value = last_token == '=' || last_token == '[' || last_token == ',';
          st = value ? State::bare_value : State::bare_key;
          last = 'a';
          last_token = c;
        }
        break;
      case State::comment:
        if (c == '\n') st = State::normal, last = '\n';
        break;
      case State::basic:
      case State::literal:
        if (c == '\n') {
          st = State::normal, last = '\n';  // toml++ rejects it; just keep counting lines
        } else if (c == (st == State::basic ? '"' : '\'')) {
          st = State::normal, last = last_token = c;
        } else if (!ascii && !value_string) {
          return non_ascii(i);
        } else if (c == '\\' && st == State::basic && i + 1 < text.size() && text[i + 1] != '\n') {
          // The escaped byte: not a closing quote. (A non-ASCII one is an
          // invalid escape toml++ stops at, but in a key it reads it first.)
          ++i;
          if (static_cast<unsigned char>(text[i]) >= 0x80 && !value_string) return non_ascii(i);
        }
        break;
    }
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
    else if (e.key == "advertise_exit_node") up.advertise_exit_node = e.boolean();
    else if (e.key == "exit_node") up.exit_node = e.exit_node();
    else if (e.key == "dns") up.dns = e.dns_mode();
    else if (e.key == "relays") up.relays = e.endpoints(kMaxConfiguredRelays, "in a network map");
    else if (e.key == "relay_secret_file") up.relay_secret_file = e.absolute_path();
    else unknown(e, {"network", "cidr", "listen_port", "advertise_endpoints", "name", "interface", "dns", "relays",
                     "relay_secret_file", "advertise_exit_node", "exit_node"});
  });
}

void read_relay(const toml::table& t, RelaySettings& relay) {
  each_key(t, "relay", [&](const Entry& e) {
    if (e.key == "listen") relay.listen = e.endpoint();
    else if (e.key == "secret_file") relay.secret_file = e.absolute_path();
    else unknown(e, {"listen", "secret_file"});
  });
}

void read_join(const toml::table& t, JoinSettings& join) {
  each_key(t, "join", [&](const Entry& e) {
    if (e.key == "name") join.name = e.node_name();
    else if (e.key == "interface") join.interface = e.interface_name();
    else if (e.key == "listen_port") join.listen_port = e.port();
    else if (e.key == "dns") join.dns = e.dns_mode();
    else unknown(e, {"name", "interface", "listen_port", "dns"});
  });
}

void read_root(const toml::table& t, FileSettings& s) {
  each_key(t, "", [&](const Entry& e) {
    if (e.key == "state_dir") s.state_dir = e.absolute_path();
    else if (e.key == "verbose") s.verbose = e.boolean();
    else if (e.key == "up" || e.key == "join" || e.key == "relay") {
      auto* sub = e.value.as_table();
      if (!sub) e.fail("'" + std::string(e.key) + "' must be a section ([" + std::string(e.key) + "]), not " +
                       type_name(e.value));
      if (e.key == "up") read_up(*sub, s.up);
      else if (e.key == "join") read_join(*sub, s.join);
      else read_relay(*sub, s.relay);
    } else {
      unknown(e, {"state_dir", "verbose", "up", "join", "relay"});
    }
  });
}

ConfigError toml_error(const toml::parse_error& e) {
  const auto& b = e.source().begin;
  // toml++ quotes what it saw; keep the message one printable line.
  std::string msg;
  for (char c : e.description()) {
    auto u = static_cast<unsigned char>(c);
    msg += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return ConfigError{static_cast<int>(b.line), static_cast<int>(b.column), msg};
}

// Only for text unsafe_table_header and unsafe_text accept.
std::optional<ConfigError> toml_parse_error(std::string_view text) {
  try {
    (void)toml::parse(text);
  } catch (const toml::parse_error& e) {
    return toml_error(e);
  }
  return std::nullopt;
}

}  // namespace

std::variant<FileSettings, ConfigError> parse_toml_config(std::string_view text) {
  // Text toml++ 3.3 would mishandle is rejected first; but when toml++
  // finds an error in the lines before it, that one is reported.
  auto unsafe = unsafe_table_header(text);
  if (auto e = unsafe_text(text); e && (!unsafe || e->line < unsafe->line)) unsafe = e;
  if (unsafe) {
    // The lines before it are safe for toml++. An error it finds there that
    // does not move when blank lines are appended is not an artefact of the
    // cut (like an array left open).
    size_t start = 0;
    for (int l = 1; l < unsafe->line; ++l) start = text.find('\n', start) + 1;
    std::string before(text.substr(0, start));
    auto e1 = toml_parse_error(before);
    if (e1 && e1->line < unsafe->line) {
      auto e2 = toml_parse_error(before + "\n\n");
      if (e2 && e2->line == e1->line && e2->column == e1->column) return *e1;
    }
    return *unsafe;
  }
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    return toml_error(e);
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
  auto list = [&r](const char* k, const std::optional<std::vector<std::string>>& v) {
    if (!v) return;
    r += std::string(k) + " = [";
    for (size_t i = 0; i < v->size(); ++i) r += (i ? ", " : "") + toml_quote((*v)[i]);
    r += "]\n";
  };
  str("state_dir", s.state_dir);
  if (s.verbose) r += std::string("verbose = ") + (*s.verbose ? "true" : "false") + "\n";
  if (s.up != UpSettings{}) {
    r += "\n[up]\n";
    str("network", s.up.network);
    str("cidr", s.up.cidr);
    port("listen_port", s.up.listen_port);
    list("advertise_endpoints", s.up.advertise_endpoints);
    str("name", s.up.name);
    str("interface", s.up.interface);
    str("dns", s.up.dns);
    list("relays", s.up.relays);
    str("relay_secret_file", s.up.relay_secret_file);
    if (s.up.advertise_exit_node)
      r += std::string("advertise_exit_node = ") + (*s.up.advertise_exit_node ? "true" : "false") + "\n";
    str("exit_node", s.up.exit_node);
  }
  if (s.join != JoinSettings{}) {
    r += "\n[join]\n";
    str("name", s.join.name);
    str("interface", s.join.interface);
    port("listen_port", s.join.listen_port);
    str("dns", s.join.dns);
  }
  if (s.relay != RelaySettings{}) {
    r += "\n[relay]\n";
    str("listen", s.relay.listen);
    str("secret_file", s.relay.secret_file);
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

bool valid_exit_node(std::string_view s) {
  return s == "none" || control::valid_node_name(std::string(s)) || net::IpAddr::parse(s).has_value();
}

}  // namespace ovl::config
