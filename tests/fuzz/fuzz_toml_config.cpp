// Fuzz target for the ovl.toml parser. Any input either parses into settings
// that pass the same checks as the flags and survive a round trip through
// to_toml, or yields an error with a sane line number and a one-line message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/config/toml_config.hpp"
#include "engine/control/registry.hpp"
#include "invariant.hpp"

namespace {

using ovl::fuzz::check;

void check_name(const std::optional<std::string>& n) {
  if (n) check(ovl::control::valid_node_name(*n), "names are valid");
}
void check_ifname(const std::optional<std::string>& n) {
  if (n) check(ovl::config::valid_interface_name(*n), "interface names are valid");
}
void check_port(const std::optional<uint16_t>& p) {
  if (p) check(*p != 0, "ports are not 0");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ovl;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  int lines = 1;
  for (char c : text) lines += c == '\n';

  auto r = config::parse_toml_config(text);
  if (auto* e = std::get_if<config::ConfigError>(&r)) {
    check(e->line >= 0 && e->line <= lines + 1, "error line within the file");
    check(e->column >= 0, "error column is not negative");
    check(!e->message.empty(), "error has a message");
    auto msg = config::format_config_error("f.toml", *e);
    check(msg.find('\n') == std::string::npos, "error message is one line");
    return 0;
  }
  const auto& s = std::get<config::FileSettings>(r);
  if (s.state_dir) check(!s.state_dir->empty() && s.state_dir->front() == '/', "state_dir is absolute");
  check_name(s.up.network);
  check_name(s.up.name);
  check_name(s.join.name);
  check_ifname(s.up.interface);
  check_ifname(s.join.interface);
  check_port(s.up.listen_port);
  check_port(s.join.listen_port);
  if (s.up.cidr) check(config::valid_network_cidr(*s.up.cidr), "cidr is valid");
  if (s.up.advertise_endpoints)
    for (auto& ep : *s.up.advertise_endpoints) check(config::valid_advertise_endpoint(ep), "endpoints are valid");
  if (s.up.relays) {
    check(s.up.relays->size() <= config::kMaxConfiguredRelays, "bounded relay list");
    for (auto& ep : *s.up.relays) check(config::valid_advertise_endpoint(ep), "relay endpoints are valid");
  }
  if (s.relay.listen) check(config::valid_advertise_endpoint(*s.relay.listen), "relay listen is valid");
  for (auto* f : {&s.up.relay_secret_file, &s.relay.secret_file})
    if (*f) check(!(*f)->empty() && (*f)->front() == '/', "secret files are absolute");

  // What to_toml writes parses back to the same settings.
  auto again = config::parse_toml_config(config::to_toml(s));
  check(std::holds_alternative<config::FileSettings>(again), "to_toml output parses");
  check(std::get<config::FileSettings>(again) == s, "to_toml round-trips");
  return 0;
}
