// Fuzz target for the wg-quick config parser. Any input either parses into a
// config that satisfies the parser's promises, or yields an error that has a
// sane line number and never echoes key material.
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "engine/config/wg_quick.hpp"
#include "invariant.hpp"

namespace {

using ovl::fuzz::check;

bool base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
         c == '=';
}

// Messages may quote addresses and names, but never anything as long as a key.
bool no_key_material(std::string_view msg) {
  size_t run = 0;
  for (char c : msg) {
    run = base64_char(c) ? run + 1 : 0;
    if (run >= 40) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ovl;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  int lines = 1;
  for (char c : text) lines += c == '\n';

  auto r = config::parse_wg_quick(text);
  if (auto* e = std::get_if<config::ParseError>(&r)) {
    check(e->line >= 0 && e->line <= lines, "error line within the file");
    check(!e->message.empty(), "error has a message");
    check(no_key_material(e->message), "error message leaks key-like text");
    return 0;
  }
  const auto& cfg = std::get<config::WgQuickConfig>(r);
  for (const auto& w : cfg.warnings) {
    check(w.rfind("line ", 0) == 0, "warning names its line");
    check(no_key_material(w), "warning leaks key-like text");
  }
  const crypto::PublicKey own = crypto::public_from_private(cfg.private_key);
  std::set<crypto::PublicKey> keys;
  std::set<std::tuple<bool, std::array<uint8_t, 16>, uint8_t>> prefixes;
  int last_line = 0;
  for (const auto& p : cfg.peers) {
    check(p.public_key != own, "peer key differs from the interface's");
    check(keys.insert(p.public_key).second, "peer keys are unique");
    check(p.line > last_line && p.line <= lines, "peer lines increase");
    last_line = p.line;
    for (const auto& a : p.allowed_ips) {
      check(a.len <= (a.addr.v6 ? 128 : 32), "prefix length fits the family");
      check(a == a.masked(), "AllowedIPs are masked");
      check(prefixes.insert({a.addr.v6, a.addr.b, a.len}).second, "a prefix belongs to one peer, once");
    }
    if (p.endpoint) {
      check(!p.endpoint->empty(), "endpoint is not empty");
      auto colon = p.endpoint->rfind(':');
      check(colon != std::string::npos, "endpoint has a port");
      auto port = std::atoi(p.endpoint->c_str() + colon + 1);
      check(port >= 1 && port <= 65535, "endpoint port in range");
    }
  }
  for (const auto& a : cfg.addresses) check(a.len <= (a.addr.v6 ? 128 : 32), "address prefix length fits");
  for (const auto& d : cfg.dns) check(!d.empty(), "DNS entries are not empty");
  if (cfg.mtu) check(*cfg.mtu >= 68 && *cfg.mtu <= 65535, "MTU in range");
  return 0;
}
