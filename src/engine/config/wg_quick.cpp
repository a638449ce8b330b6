#include "engine/config/wg_quick.hpp"

#include <charconv>
#include <map>
#include <span>
#include <tuple>

namespace ovl::config {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
         c == '=';
}

// True if `s` holds a run of base64 long enough to be a key (44 characters,
// or a slightly damaged one): a key pasted into the wrong field.
bool looks_like_key(std::string_view s) {
  size_t run = 0;
  for (char c : s) {
    run = base64_char(c) ? run + 1 : 0;
    if (run >= 40) return true;
  }
  return false;
}

// User text for an error message: printable ASCII only, bounded length.
// Used for values that are not meant to be key material (addresses, ports,
// names); if one looks like a key anyway, it is not shown.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 64;
  if (looks_like_key(s)) return "(value hidden: it looks like key material)";
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) out += (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// A key name is echoed back only when it looks like one. The text before the
// first '=' may be a pasted base64 key (which ends in '='); those are longer
// and never get here.
bool echoable_name(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == ' '))
      return false;
  return true;
}

std::string shown_name(std::string_view key) {
  if (!echoable_name(key)) return "(name not shown)";
  std::string r;  // built by appends: GCC 12 warns falsely (-Wrestrict) on "'" + string
  r += '\'';
  r += key;
  r += '\'';
  return r;
}

// Decimal digits only (no sign, no spaces), at most `max`.
enum class Num { ok, bad, range };
Num parse_uint(std::string_view s, uint64_t min, uint64_t max, uint64_t& out) {
  if (s.empty()) return Num::bad;
  for (char c : s)
    if (c < '0' || c > '9') return Num::bad;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return Num::range;
  if (ec != std::errc() || p != s.data() + s.size()) return Num::bad;
  if (v < min || v > max) return Num::range;
  out = v;
  return Num::ok;
}

// Splits a comma-separated list; items are trimmed and empty items (a
// trailing comma) skipped.
std::vector<std::string_view> split_list(std::string_view v) {
  std::vector<std::string_view> out;
  for (;;) {
    auto comma = v.find(',');
    auto item = trim(v.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

bool host_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!host_char(c)) return false;
  return true;
}

// Endpoint: "host:port", "1.2.3.4:port" or "[v6]:port" (an IPv6 literal,
// optionally with a %zone). Returns an error message or empty.
std::string check_endpoint(std::string_view v) {
  std::string_view host, port;
  if (v.front() == '[') {
    auto close = v.find(']');
    if (close == std::string_view::npos) return "Endpoint " + quote(v) + " has '[' without ']'";
    host = v.substr(1, close - 1);
    auto rest = v.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return "Endpoint " + quote(v) + " needs a port after ']', as [addr]:port";
    port = rest.substr(1);
    auto pct = host.find('%');
    auto addr = host.substr(0, pct);
    auto ip = net::IpAddr::parse(addr);
    if (!ip || !ip->v6) return "Endpoint " + quote(v) + " has no valid IPv6 address inside [ ]";
    if (pct != std::string_view::npos && !valid_hostname(host.substr(pct + 1)))
      return "Endpoint " + quote(v) + " has a bad IPv6 zone";
  } else {
    auto colon = v.rfind(':');
    if (colon == std::string_view::npos) return "Endpoint " + quote(v) + " has no port (expected host:port)";
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return "Endpoint " + quote(v) + ": an IPv6 address needs brackets, as [addr]:port";
    if (!valid_hostname(host)) return "Endpoint " + quote(v) + " has a bad host name or address";
  }
  uint64_t p = 0;
  switch (parse_uint(port, 1, 65535, p)) {
    case Num::ok: return {};
    case Num::bad: return "Endpoint " + quote(v) + " has a bad port (expected 1-65535)";
    case Num::range: return "Endpoint " + quote(v) + " port is out of range (1-65535)";
  }
  return {};
}

enum class Section { none, interface, peer };

// Keys wg-quick acts on by running commands or touching routing tables; ovl
// does neither, so they are reported and skipped.
constexpr std::string_view kIgnored[] = {"Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig", "FwMark"};
constexpr std::string_view kInterfaceKeys[] = {"PrivateKey", "ListenPort", "Address", "MTU", "DNS"};
constexpr std::string_view kPeerKeys[] = {"PublicKey", "PresharedKey", "AllowedIPs", "Endpoint",
                                          "PersistentKeepalive"};

std::string_view canonical(std::string_view key, std::span<const std::string_view> names) {
  for (auto n : names)
    if (iequals(key, n)) return n;
  return {};
}

using PrefixKey = std::tuple<bool, std::array<uint8_t, 16>, uint8_t>;

class Parser {
 public:
  std::variant<WgQuickConfig, ParseError> run(std::string_view text);

 private:
  std::optional<ParseError> line(std::string_view raw);
  std::optional<ParseError> interface_key(std::string_view key, std::string_view value);
  std::optional<ParseError> peer_key(std::string_view key, std::string_view value);
  ParseError err(std::string msg) const { return ParseError{lineno_, std::move(msg)}; }
  void warn(const std::string& msg) { cfg_.warnings.push_back("line " + std::to_string(lineno_) + ": " + msg); }
  // Scalars may be set again (wg keeps the last value); say so.
  void note_repeat(int& seen_line, std::string_view key) {
    if (seen_line)
      warn(std::string(key) + " was already set on line " + std::to_string(seen_line) + "; the last value wins");
    seen_line = lineno_;
  }

  struct PeerState {
    int public_key_line = 0;
    int preshared_key_line = 0, endpoint_line = 0, keepalive_line = 0;
  };

  WgQuickConfig cfg_;
  int lineno_ = 0;
  Section section_ = Section::none;
  int interface_line_ = 0;
  int private_key_line_ = 0, listen_port_line_ = 0, mtu_line_ = 0;
  std::vector<PeerState> peer_state_;
  std::map<PrefixKey, size_t> prefix_owner_;  // masked AllowedIPs -> peer index
};

std::variant<WgQuickConfig, ParseError> Parser::run(std::string_view text) {
  // Editors on Windows may save a UTF-8 byte-order mark.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  for (;;) {
    ++lineno_;
    auto nl = text.find('\n');
    if (auto e = line(text.substr(0, nl))) return *e;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  lineno_ = 0;

  if (!interface_line_) return err("no [Interface] section");
  if (!private_key_line_) return ParseError{interface_line_, "[Interface] has no PrivateKey"};

  const crypto::PublicKey own = crypto::public_from_private(cfg_.private_key);
  std::map<crypto::PublicKey, int> seen;  // public key -> line it was first given on
  for (size_t i = 0; i < cfg_.peers.size(); ++i) {
    const auto& p = cfg_.peers[i];
    const int at = peer_state_[i].public_key_line;
    if (!at) return ParseError{p.line, "[Peer] has no PublicKey"};
    if (p.public_key == own) return ParseError{at, "peer PublicKey is this interface's own public key"};
    auto [it, fresh] = seen.emplace(p.public_key, at);
    if (!fresh)
      return ParseError{at, "duplicate peer: same PublicKey as the peer on line " + std::to_string(it->second)};
  }
  return std::move(cfg_);
}

std::optional<ParseError> Parser::line(std::string_view raw) {
  if (raw.find('\0') != std::string_view::npos) return err("line contains a NUL byte");
  auto hash = raw.find('#');
  auto s = trim(raw.substr(0, hash));
  if (s.empty()) return std::nullopt;

  if (s.front() == '[') {
    if (s.back() != ']') return err("malformed section header (expected [Interface] or [Peer])");
    auto name = trim(s.substr(1, s.size() - 2));
    if (iequals(name, "Interface")) {
      if (interface_line_)
        return err("second [Interface] section (the first is on line " + std::to_string(interface_line_) + ")");
      interface_line_ = lineno_;
      section_ = Section::interface;
    } else if (iequals(name, "Peer")) {
      WgQuickPeer p;
      p.line = lineno_;
      cfg_.peers.push_back(std::move(p));
      peer_state_.push_back({});
      section_ = Section::peer;
    } else {
      return err("unknown section [" + (echoable_name(name) ? std::string(name) : std::string("...")) +
                 "] (expected [Interface] or [Peer])");
    }
    return std::nullopt;
  }

  auto eq = s.find('=');
  if (eq == std::string_view::npos) return err("expected 'Key = Value'");
  auto key = trim(s.substr(0, eq));
  auto value = trim(s.substr(eq + 1));
  if (key.empty()) return err("missing key name before '='");
  if (section_ == Section::none)
    return err("key " + shown_name(key) + " is outside a section; put it under [Interface] or [Peer]");

  if (auto ign = canonical(key, kIgnored); !ign.empty()) {
    warn(std::string(ign) + " is ignored by ovl");
    return std::nullopt;
  }
  if (section_ == Section::interface) {
    if (!canonical(key, kPeerKeys).empty())
      return err(std::string(canonical(key, kPeerKeys)) + " belongs in a [Peer] section, not [Interface]");
    return interface_key(key, value);
  }
  if (!canonical(key, kInterfaceKeys).empty())
    return err(std::string(canonical(key, kInterfaceKeys)) + " belongs in the [Interface] section, not [Peer]");
  return peer_key(key, value);
}

std::optional<ParseError> Parser::interface_key(std::string_view key, std::string_view value) {
  auto name = canonical(key, kInterfaceKeys);
  if (name.empty()) {
    return err("unknown key " + shown_name(key) + " in [Interface]");
  }
  const bool is_list = name == "Address" || name == "DNS";
  if (value.empty() && !is_list) return err(std::string(name) + " has no value");

  if (name == "PrivateKey") {
    auto k = crypto::parse_secret(value);
    if (!k) return err("PrivateKey is not a valid base64 32-byte key");
    note_repeat(private_key_line_, name);
    cfg_.private_key = *k;
  } else if (name == "ListenPort") {
    // 0 asks for a random port, as in wg(8).
    uint64_t v = 0;
    switch (parse_uint(value, 0, 65535, v)) {
      case Num::bad: return err("ListenPort " + quote(value) + " is not a port number");
      case Num::range: return err("ListenPort " + quote(value) + " is out of range (0-65535)");
      case Num::ok: break;
    }
    note_repeat(listen_port_line_, name);
    cfg_.listen_port = static_cast<uint16_t>(v);
  } else if (name == "MTU") {
    uint64_t v = 0;
    switch (parse_uint(value, 68, 65535, v)) {
      case Num::bad: return err("MTU " + quote(value) + " is not a number");
      case Num::range: return err("MTU " + quote(value) + " is out of range (68-65535)");
      case Num::ok: break;
    }
    note_repeat(mtu_line_, name);
    cfg_.mtu = static_cast<uint32_t>(v);
  } else if (name == "Address") {
    for (auto item : split_list(value)) {
      auto p = net::Prefix::parse(item);
      if (!p) return err("Address " + quote(item) + " is not an IP address or CIDR prefix");
      cfg_.addresses.push_back(*p);  // host bits are the interface's own address: keep them
    }
  } else if (name == "DNS") {
    // wg-quick takes IP addresses as servers and anything else as search domains.
    for (auto item : split_list(value)) {
      if (!net::IpAddr::parse(item) && !valid_hostname(item))
        return err("DNS " + quote(item) + " is neither an IP address nor a search domain");
      cfg_.dns.emplace_back(item);
    }
  }
  return std::nullopt;
}

std::optional<ParseError> Parser::peer_key(std::string_view key, std::string_view value) {
  auto name = canonical(key, kPeerKeys);
  if (name.empty()) {
    return err("unknown key " + shown_name(key) + " in [Peer]");
  }
  const bool is_list = name == "AllowedIPs";
  if (value.empty() && !is_list) return err(std::string(name) + " has no value");
  const size_t idx = cfg_.peers.size() - 1;
  WgQuickPeer& peer = cfg_.peers.back();
  PeerState& st = peer_state_.back();

  if (name == "PublicKey") {
    auto k = crypto::parse_key(value);
    if (!k) return err("PublicKey is not a valid base64 32-byte key");
    note_repeat(st.public_key_line, name);
    peer.public_key = *k;
  } else if (name == "PresharedKey") {
    auto k = crypto::parse_secret(value);
    if (!k) return err("PresharedKey is not a valid base64 32-byte key");
    note_repeat(st.preshared_key_line, name);
    peer.preshared_key = *k;
  } else if (name == "AllowedIPs") {
    for (auto item : split_list(value)) {
      auto p = net::Prefix::parse(item);
      if (!p) return err("AllowedIPs " + quote(item) + " is not an IP address or CIDR prefix");
      // wg accepts host bits (10.0.0.1/24) and stores the network.
      const net::Prefix m = p->masked();
      auto [it, fresh] = prefix_owner_.emplace(PrefixKey{m.addr.v6, m.addr.b, m.len}, idx);
      if (!fresh) {
        if (it->second == idx) continue;  // listed twice for the same peer
        // WireGuard moves a prefix to the peer configured last; say so.
        warn("AllowedIPs " + m.str() + " is also listed by the peer on line " +
             std::to_string(cfg_.peers[it->second].line) + "; this later peer takes it");
        auto& old = cfg_.peers[it->second].allowed_ips;
        std::erase(old, m);
        it->second = idx;
      }
      peer.allowed_ips.push_back(m);
    }
  } else if (name == "Endpoint") {
    if (auto e = check_endpoint(value); !e.empty()) return err(e);
    note_repeat(st.endpoint_line, name);
    peer.endpoint = std::string(value);
  } else if (name == "PersistentKeepalive") {
    uint64_t v = 0;
    if (iequals(value, "off")) {
      v = 0;
    } else {
      switch (parse_uint(value, 0, 65535, v)) {
        case Num::bad: return err("PersistentKeepalive " + quote(value) + " is not a number of seconds or 'off'");
        case Num::range: return err("PersistentKeepalive " + quote(value) + " is out of range (0-65535)");
        case Num::ok: break;
      }
    }
    note_repeat(st.keepalive_line, name);
    peer.persistent_keepalive = static_cast<uint16_t>(v);
  }
  return std::nullopt;
}

}  // namespace

std::variant<WgQuickConfig, ParseError> parse_wg_quick(std::string_view text) { return Parser{}.run(text); }

}  // namespace ovl::config
