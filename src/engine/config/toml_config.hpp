// The ovl configuration file (TOML): settings of `ovl up`, `ovl coordinator`
// and `ovl join` that can live in a file instead of on the command line.
// Pure parsing and validation into plain structs; reading the file, and
// merging with built-in defaults and command-line flags, is the CLI's job
// (with apply_setting below deciding who wins).
//
//   state_dir = "/var/lib/ovl"    # --state-dir (absolute path)
//   verbose = false               # -v
//   [up]                          # `ovl up`; `ovl coordinator` uses the first four
//   network = "home"              # --network
//   cidr = "100.83.0.0/16"        # --cidr
//   listen_port = 51820           # --listen-port
//   advertise_endpoints = ["203.0.113.1:51820"]  # --advertise-endpoint
//   name = "server"               # --name
//   interface = "ovl0"            # -i/--interface
//   dns = "auto"                  # --dns: auto, resolv.conf, resolved or off
//   relays = ["203.0.113.9:51822"]  # --relay: standalone relays the map lists
//   relay_secret_file = "/var/lib/ovl/relay.key"  # --relay-secret-file
//   advertise_exit_node = true    # --advertise-exit-node (false: no change)
//   exit_node = "gw"              # --exit-node (a node name, an IP or "none")
//   [join]                        # `ovl join`
//   name = "laptop"
//   interface = "ovl0"
//   listen_port = 51820
//   dns = "auto"
//   [relay]                       # `ovl relay`
//   listen = "0.0.0.0:51822"      # --listen
//   secret_file = "/etc/ovl/relay.key"  # --secret-file
//
// Every value is checked as the flag's would be (a port is 1..65535, names
// are DNS labels, the CIDR is IPv4 /8../28, endpoints are IP[:PORT]); an
// unknown section or key, a wrong type or a bad value is an error naming its
// line.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ovl::config {

// At most this many standalone relays in [up] relays / --relay.
inline constexpr size_t kMaxConfiguredRelays = 8;

// Read when it exists and no --config is given.
inline constexpr const char* kDefaultConfigPath = "/etc/ovl/ovl.toml";

// [up]: `ovl up`; `ovl coordinator` uses network, cidr, listen_port and
// advertise_endpoints from here.
struct UpSettings {
  std::optional<std::string> network;
  std::optional<std::string> cidr;
  std::optional<uint16_t> listen_port;
  std::optional<std::vector<std::string>> advertise_endpoints;  // "IP:PORT" or "IP"
  std::optional<std::string> name;
  std::optional<std::string> interface;
  std::optional<std::string> dns;
  std::optional<std::vector<std::string>> relays;  // "IP:PORT" or "IP"
  std::optional<std::string> relay_secret_file;
  std::optional<bool> advertise_exit_node;
  std::optional<std::string> exit_node;  // node name, IP address or "none"
  bool operator==(const UpSettings&) const = default;
};

// [join]: `ovl join`.
struct JoinSettings {
  std::optional<std::string> name;
  std::optional<std::string> interface;
  std::optional<uint16_t> listen_port;
  std::optional<std::string> dns;
  bool operator==(const JoinSettings&) const = default;
};

// [relay]: `ovl relay`.
struct RelaySettings {
  std::optional<std::string> listen;  // "IP:PORT" or "IP"
  std::optional<std::string> secret_file;
  bool operator==(const RelaySettings&) const = default;
};

// A whole file; a field is set only when the file has the key.
struct FileSettings {
  std::optional<std::string> state_dir;
  std::optional<bool> verbose;
  UpSettings up;
  JoinSettings join;
  RelaySettings relay;
  bool operator==(const FileSettings&) const = default;
};

struct ConfigError {
  int line = 0;    // 1-based; 0 when about the whole file
  int column = 0;  // 1-based, for TOML syntax errors; 0 otherwise
  std::string message;
};

std::variant<FileSettings, ConfigError> parse_toml_config(std::string_view text);

// "FILE:LINE: message" (or "FILE:LINE:COLUMN: ..." / "FILE: ..."), for stderr.
std::string format_config_error(std::string_view file, const ConfigError& e);

// A TOML basic string literal: "..." with quotes, backslashes and control
// characters escaped.
std::string toml_quote(std::string_view s);

// The keys that are set, as a TOML document that parses back to the same
// FileSettings.
std::string to_toml(const FileSettings& s);

// Where an effective setting came from.
enum class Source { default_value, file, flag };
const char* source_name(Source s);  // "default", "file", "flag"

// Precedence: built-in default < file < flag. `value` holds the default, or
// the flag's value when the user gave the flag; the file's value replaces
// only a default.
template <class T>
Source apply_setting(T& value, const std::optional<T>& from_file, bool flag_given) {
  if (flag_given) return Source::flag;
  if (from_file) {
    value = *from_file;
    return Source::file;
  }
  return Source::default_value;
}

// Checks shared with the parser (the CLI may use them for flags too).
bool valid_interface_name(std::string_view name);  // 1..15 of a-zA-Z0-9_=+.-
bool valid_network_cidr(std::string_view cidr);    // IPv4 prefix, /8../28
bool valid_advertise_endpoint(std::string_view s); // IP:PORT, [IPv6]:PORT or a bare IP
bool valid_exit_node(std::string_view s);          // a node name, an IP address or "none"

}  // namespace ovl::config
