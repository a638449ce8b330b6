#include "engine/dns/resolv_conf.hpp"

namespace ovl::dns {
namespace {

// The lines of `text`, each with its line ending (the last may have none).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

bool blank(char c) { return c == ' ' || c == '\t'; }

// glibc's test for a keyword: the line starts with it and a blank follows.
bool keyword(std::string_view line, std::string_view kw) {
  return line.size() > kw.size() && line.substr(0, kw.size()) == kw && blank(line[kw.size()]);
}

std::vector<std::string> words_after(std::string_view line, size_t skip) {
  std::vector<std::string> out;
  size_t i = skip;
  while (i < line.size()) {
    while (i < line.size() && (blank(line[i]) || line[i] == '\n' || line[i] == '\r')) ++i;
    size_t s = i;
    while (i < line.size() && !blank(line[i]) && line[i] != '\n' && line[i] != '\r') ++i;
    if (i > s) out.emplace_back(line.substr(s, i - s));
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool hides(std::string_view line) { return keyword(line, "search") || keyword(line, "domain"); }

}  // namespace

ResolvConfView read_resolv_conf(std::string_view text) {
  ResolvConfView v;
  for (std::string_view line : lines_of(text)) {
    if (keyword(line, "nameserver")) {
      auto w = words_after(line, 10);
      if (!w.empty()) v.nameservers.push_back(w.front());
    } else if (keyword(line, "search")) {
      v.search = words_after(line, 6);
    } else if (keyword(line, "domain")) {
      auto w = words_after(line, 6);
      v.search.assign(w.begin(), w.begin() + (w.empty() ? 0 : 1));  // domain takes one name
    }
  }
  return v;
}

bool has_block(std::string_view text) {
  for (std::string_view line : lines_of(text))
    if (starts_with(line, kBlockBegin)) return true;
  return false;
}

std::string remove_block(std::string_view text) {
  const auto lines = lines_of(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (starts_with(line, kBlockBegin)) {
      size_t end = i + 1;
      while (end < lines.size() && !starts_with(lines[end], kBlockEnd) && !starts_with(lines[end], kBlockBegin)) ++end;
      // Only a complete block goes; an unterminated one loses just its marker.
      if (end < lines.size() && starts_with(lines[end], kBlockEnd)) i = end;
      continue;
    }
    if (starts_with(line, kHiddenPrefix)) {
      std::string_view orig = line.substr(kHiddenPrefix.size());
      // Only what add_block hid comes back; anything else keeps its prefix.
      if (hides(orig)) line = orig;
    }
    out += line;
  }
  return out;
}

std::string add_block(std::string_view text, std::string_view nameserver, std::string_view domain) {
  const std::string rest = remove_block(text);
  const ResolvConfView old = read_resolv_conf(rest);
  std::string out;
  out += kBlockBegin;
  out += ": peer names of ";
  out += domain;
  out += "; ovl removes this block when it stops\n";
  out += "nameserver ";
  out += nameserver;
  out += "\nsearch ";
  out += domain;
  for (const std::string& d : old.search)
    if (d != domain) out += " " + d;
  out += "\n";
  out += kBlockEnd;
  out += "\n";
  for (std::string_view line : lines_of(rest)) {
    if (hides(line)) out += kHiddenPrefix;
    out += line;
  }
  return out;
}

std::optional<DnsMode> parse_dns_mode(std::string_view s) {
  if (s == "auto") return DnsMode::automatic;
  if (s == "resolv.conf") return DnsMode::resolv_conf;
  if (s == "resolved") return DnsMode::resolved;
  if (s == "off") return DnsMode::off;
  return std::nullopt;
}

const char* dns_mode_name(DnsMode m) {
  switch (m) {
    case DnsMode::automatic: return "auto";
    case DnsMode::resolv_conf: return "resolv.conf";
    case DnsMode::resolved: return "resolved";
    case DnsMode::off: return "off";
  }
  return "?";
}

const char* dns_method_name(DnsMethod m) {
  switch (m) {
    case DnsMethod::resolv_conf: return "resolv.conf";
    case DnsMethod::resolved: return "resolved";
    case DnsMethod::none: return "off";
  }
  return "?";
}

std::variant<DnsChoice, std::string> choose_dns_method(DnsMode mode, const DnsHostFacts& f) {
  const bool resolved_ok = f.init_netns && f.resolved_running && f.resolvectl_found;
  // In the host's own namespace the file is the host's to configure (that is
  // what ovl is for); anywhere else only a file of that namespace's own.
  const bool file_ok = f.init_netns || !f.shares_host_resolv_conf;
  switch (mode) {
    case DnsMode::off:
      return DnsChoice{DnsMethod::none, "--dns off"};
    case DnsMode::resolved:
      if (!f.init_netns)
        return std::string("--dns resolved: this process runs in another network namespace than systemd-resolved; "
                           "refusing to change the host's resolver (use --dns resolv.conf or --dns off)");
      if (!f.resolved_running) return std::string("--dns resolved: systemd-resolved is not running");
      if (!f.resolvectl_found) return std::string("--dns resolved: resolvectl is not in PATH");
      return DnsChoice{DnsMethod::resolved, "--dns resolved"};
    case DnsMode::resolv_conf:
      if (!file_ok)
        return std::string("--dns resolv.conf: this process runs in a network namespace whose /etc/resolv.conf is "
                           "the host's own file; refusing to change it (create /etc/netns/NAME/resolv.conf before "
                           "`ip netns exec`, or use --dns off)");
      return DnsChoice{DnsMethod::resolv_conf, "--dns resolv.conf"};
    case DnsMode::automatic:
      if (resolved_ok && f.resolv_conf_is_resolved)
        return DnsChoice{DnsMethod::resolved, "systemd-resolved runs and manages /etc/resolv.conf"};
      if (file_ok) return DnsChoice{DnsMethod::resolv_conf, "no systemd-resolved in charge; editing /etc/resolv.conf"};
      return DnsChoice{DnsMethod::none,
                       "a network namespace sharing the host's /etc/resolv.conf: leaving the host's DNS alone"};
  }
  return DnsChoice{};
}

}  // namespace ovl::dns
