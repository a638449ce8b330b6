#include <doctest/doctest.h>

#include <string>

#include "engine/config/toml_config.hpp"

using namespace ovl;
using config::ConfigError;
using config::FileSettings;
using config::parse_toml_config;

namespace {

FileSettings ok(const std::string& text) {
  auto r = parse_toml_config(text);
  if (auto* e = std::get_if<ConfigError>(&r)) FAIL("unexpected error on line ", e->line, ": ", e->message);
  return std::get<FileSettings>(std::move(r));
}

ConfigError bad(const std::string& text) {
  auto r = parse_toml_config(text);
  if (std::holds_alternative<FileSettings>(r)) FAIL("parsed, but should have failed:\n", text);
  return std::get<ConfigError>(r);
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

const char* kFull = R"(# ovl.toml
state_dir = "/var/lib/ovl"
verbose = true

[up]            # also used by `coordinator`
network = "home"
cidr = "100.83.0.0/16"
listen_port = 51820
advertise_endpoints = ["203.0.113.1:51820", "[2001:db8::1]:51820", "198.51.100.7"]
name = "server"
interface = "ovl0"
relays = ["203.0.113.9:51822", "203.0.113.10"]
relay_secret_file = "/etc/ovl/relay.key"
advertise_exit_node = false
exit_node = "gw"

[join]
name = "laptop"
interface = "wg-ovl"
listen_port = 51821

[relay]
listen = "203.0.113.9:51822"
secret_file = "/etc/ovl/relay.key"
)";

}  // namespace

TEST_CASE("toml config: a full file") {
  auto s = ok(kFull);
  CHECK(s.state_dir == "/var/lib/ovl");
  CHECK(s.verbose == true);
  CHECK(s.up.network == "home");
  CHECK(s.up.cidr == "100.83.0.0/16");
  CHECK(s.up.listen_port == 51820);
  REQUIRE(s.up.advertise_endpoints.has_value());
  CHECK(*s.up.advertise_endpoints ==
        std::vector<std::string>{"203.0.113.1:51820", "[2001:db8::1]:51820", "198.51.100.7"});
  CHECK(s.up.name == "server");
  CHECK(s.up.interface == "ovl0");
  CHECK(s.join.name == "laptop");
  CHECK(s.join.interface == "wg-ovl");
  CHECK(s.join.listen_port == 51821);
  CHECK(s.up.relays == std::vector<std::string>{"203.0.113.9:51822", "203.0.113.10"});
  CHECK(s.up.relay_secret_file == "/etc/ovl/relay.key");
  CHECK(s.relay.listen == "203.0.113.9:51822");
  CHECK(s.relay.secret_file == "/etc/ovl/relay.key");
}

TEST_CASE("toml config: empty and partial files leave the rest unset") {
  CHECK(ok("") == FileSettings{});
  CHECK(ok("# only a comment\n\n") == FileSettings{});
  CHECK(ok("[up]\n[join]\n") == FileSettings{});
  auto s = ok("[join]\nlisten_port = 4000\n");
  CHECK(s.join.listen_port == 4000);
  CHECK(!s.join.name);
  CHECK(!s.state_dir);
  CHECK(s.up == config::UpSettings{});
  // Dotted keys and inline tables are the same TOML.
  CHECK(ok("up.listen_port = 7\n").up.listen_port == 7);
  CHECK(ok("join = { name = \"a\" }\n").join.name == "a");
  // An empty list is allowed (the default: this host's addresses).
  CHECK(ok("[up]\nadvertise_endpoints = []\n").up.advertise_endpoints == std::vector<std::string>{});
}

TEST_CASE("toml config: unknown sections and keys name their line") {
  auto e = bad("[up]\nnetwork = \"a\"\nnetwrok = \"b\"\n");
  CHECK(e.line == 3);
  CHECK(has(e.message, "unknown key 'netwrok' in [up]"));
  CHECK(has(e.message, "did you mean 'network'"));

  e = bad("[up]\n\nlisten-port = 1\n");
  CHECK(e.line == 3);
  CHECK(has(e.message, "did you mean 'listen_port'"));

  e = bad("state_dir = \"/x\"\n\n[relais]\nport = 1\n");
  CHECK(e.line == 3);
  CHECK(has(e.message, "unknown section [relais]"));
  e = bad("[relay]\n\nport = 1\n");
  CHECK(e.line == 3);
  CHECK(has(e.message, "unknown key 'port' in [relay]"));
  CHECK(has(bad("[relay]\nsecretfile = \"/x\"\n").message, "did you mean 'secret_file'"));

  e = bad("verbose = true\nfoo = 1\n");
  CHECK(e.line == 2);
  CHECK(has(e.message, "unknown key 'foo'"));
  CHECK(!has(e.message, "did you mean"));
  CHECK(has(bad("[up]\nadvertise_endpoint = []\n").message, "did you mean 'advertise_endpoints'"));
  CHECK(has(bad("[jion]\n").message, "did you mean 'join'"));
  CHECK(!has(bad("[x]\n").message, "did you mean"));

  // A key that belongs to another section.
  e = bad("[join]\nname = \"a\"\nnetwork = \"b\"\n");
  CHECK(e.line == 3);
  CHECK(has(e.message, "unknown key 'network' in [join]"));

  // A sub-table inside a section.
  e = bad("[up]\nname = \"a\"\n[up.extra]\nx = 1\n");
  CHECK(e.line == 3);
  CHECK(has(e.message, "'extra' in [up]"));

  // Odd bytes in a key are escaped in the message.
  e = bad("\"a\\u0001b\" = 1\n");
  CHECK(e.line == 1);
  CHECK(has(e.message, "a\\x01b"));
}

TEST_CASE("toml config: wrong types name their line") {
  auto e = bad("[up]\nname = \"a\"\nlisten_port = \"51820\"\n");
  CHECK(e.line == 3);
  CHECK(has(e.message, "'listen_port' in [up] must be an integer, not a string"));

  e = bad("[join]\n\n\nname = 5\n");
  CHECK(e.line == 4);
  CHECK(has(e.message, "must be a string"));

  e = bad("verbose = \"yes\"\n");
  CHECK(e.line == 1);
  CHECK(has(e.message, "true or false"));

  e = bad("[up]\nlisten_port = 51820.0\n");
  CHECK(e.line == 2);
  CHECK(has(e.message, "not a float"));

  e = bad("[up]\nadvertise_endpoints = \"1.2.3.4:5\"\n");
  CHECK(e.line == 2);
  CHECK(has(e.message, "must be an array of strings"));

  // The element's own line in a multi-line array.
  e = bad("[up]\nadvertise_endpoints = [\n  \"1.2.3.4:5\",\n  7,\n]\n");
  CHECK(e.line == 4);
  CHECK(has(e.message, "only strings"));

  e = bad("up = 1\n");
  CHECK(e.line == 1);
  CHECK(has(e.message, "'up' must be a section"));
}

TEST_CASE("toml config: bad values name their line") {
  auto e = bad("[up]\nlisten_port = 70000\n");
  CHECK(e.line == 2);
  CHECK(has(e.message, "from 1 to 65535, not 70000"));
  CHECK(bad("[join]\nlisten_port = 0\n").line == 2);
  CHECK(bad("[join]\nlisten_port = -1\n").line == 2);
  CHECK(ok("[join]\nlisten_port = 65535\n").join.listen_port == 65535);
  CHECK(ok("[join]\nlisten_port = 1\n").join.listen_port == 1);

  for (const char* cidr : {"100.83.0.0", "100.83.0.0/7", "100.83.0.0/29", "fd00::/64", "banana", ""}) {
    CAPTURE(cidr);
    e = bad(std::string("[up]\ncidr = \"") + cidr + "\"\n");
    CHECK(e.line == 2);
    CHECK(has(e.message, "IPv4 prefix between /8 and /28"));
  }
  CHECK(ok("[up]\ncidr = \"10.0.0.0/8\"\n").up.cidr == "10.0.0.0/8");
  CHECK(ok("[up]\ncidr = \"10.0.0.0/28\"\n").up.cidr == "10.0.0.0/28");

  for (const char* name : {"", "UPPER", "-lead", "trail-", "has space", "dot.ted",
                           "a123456789012345678901234567890123456789012345678901234567890123"}) {
    CAPTURE(name);
    e = bad(std::string("\n[join]\nname = \"") + name + "\"\n");
    CHECK(e.line == 3);
    CHECK(has(e.message, "not a valid name"));
  }
  CHECK(bad("[up]\nnetwork = \"Home\"\n").line == 2);

  for (const char* ifname : {"", "a1234567890123456", "has space", "a/b", ".", ".."}) {
    CAPTURE(ifname);
    e = bad(std::string("[up]\ninterface = \"") + ifname + "\"\n");
    CHECK(e.line == 2);
    CHECK(has(e.message, "not a valid interface name"));
  }
  CHECK(ok("[up]\ninterface = \"a12345678901234\"\n").up.interface == "a12345678901234");

  for (const char* mode : {"auto", "resolv.conf", "resolved", "off"}) {
    CHECK(ok(std::string("[up]\ndns = \"") + mode + "\"\n").up.dns == mode);
    CHECK(ok(std::string("[join]\ndns = \"") + mode + "\"\n").join.dns == mode);
  }
  for (const char* mode : {"", "Auto", "systemd", "resolvconf"}) {
    CAPTURE(mode);
    e = bad(std::string("[join]\n\ndns = \"") + mode + "\"\n");
    CHECK(e.line == 3);
    CHECK(has(e.message, "is not a DNS mode (auto, resolv.conf, resolved or off)"));
  }

  for (const char* ep : {"example.com:51820", "1.2.3.4:0", "1.2.3.4:70000", "2001:db8::1:51820", ""}) {
    CAPTURE(ep);
    e = bad(std::string("[up]\nadvertise_endpoints = [\"1.2.3.4\",\n\"") + ep + "\"]\n");
    CHECK(e.line == 3);
    CHECK(has(e.message, "is not IP:PORT"));
  }
  e = bad("[up]\nadvertise_endpoints = [\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\", \"1.1.1.4\", \"1.1.1.5\", "
          "\"1.1.1.6\", \"1.1.1.7\", \"1.1.1.8\", \"1.1.1.9\"]\n");
  CHECK(e.line == 2);
  CHECK(has(e.message, "at most 8"));

  e = bad("[up]\nrelays = [\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\", \"1.1.1.4\", \"1.1.1.5\", "
          "\"1.1.1.6\", \"1.1.1.7\", \"1.1.1.8\", \"1.1.1.9\"]\n");
  CHECK(e.line == 2);
  CHECK(has(e.message, "at most 8 fit in a network map"));
  CHECK(has(bad("[up]\nrelays = [\"relay.example:1\"]\n").message, "is not IP:PORT"));
  CHECK(has(bad("[relay]\nlisten = \"0.0.0.0:99999\"\n").message, "is not IP:PORT"));
  CHECK(has(bad("[relay]\nlisten = 51822\n").message, "must be a string"));
  CHECK(has(bad("[relay]\nsecret_file = \"relay.key\"\n").message, "absolute path"));
  CHECK(has(bad("[up]\nrelay_secret_file = \"relay.key\"\n").message, "absolute path"));

  e = bad("state_dir = \"var/lib/ovl\"\n");
  CHECK(e.line == 1);
  CHECK(has(e.message, "absolute path"));
  CHECK(bad("state_dir = \"\"\n").line == 1);
}

TEST_CASE("toml config: syntax errors carry toml++'s line and column") {
  auto e = bad("[up]\nlisten_port = 1\n[up\n");
  CHECK(e.line == 3);
  CHECK(e.column > 0);
  CHECK(!e.message.empty());

  e = bad("[up]\nname = \"a\"\nname = \"b\"\n");  // duplicate key
  CHECK(e.line == 3);

  e = bad("state_dir = \"/x\n");  // unterminated string
  CHECK(e.line == 1);

  e = bad("[up]\nlisten_port = \n");
  CHECK(e.line == 2);
}

TEST_CASE("toml config: table headers toml++ 3.3 cannot take are errors, not aborts") {
  // These reach an assertion in toml++'s parse_key (tomlplusplus#294).
  for (const char* text : {"[&", "[&up]\n", "[\n", "[ \t\n", "[[[1]]]\n", "[[=", "[[ \xc3\xa9]]\n"}) {
    CAPTURE(text);
    auto e = bad(text);
    CHECK(e.line == 1);
    CHECK(e.column > 1);
    CHECK(has(e.message, "table header"));
  }
  auto e = bad("[up]\nname = \"a\"\n\n   [*join]\n");
  CHECK(e.line == 4);
  CHECK(e.column == 5);
  // Headers that are fine: spaces, quoted keys, a byte order mark, CRLF.
  CHECK(ok("  [ up ]\nname = \"a\"\n").up.name == "a");
  CHECK(ok("[\"join\"]\r\nname = \"b\"\r\n").join.name == "b");
  CHECK(ok("\xEF\xBB\xBF[up]\nlisten_port = 2\n").up.listen_port == 2);
}

TEST_CASE("toml config: non-ASCII text only in comments and quoted values") {
  // Allowed: comments, and a string value after '=' (here a path).
  auto s = ok("# Z\xC3\xBCrich \xEF\xBB\x9F\nstate_dir = \"/srv/caf\xC3\xA9\"  # caf\xC3\xA9\n"
              "[up]\nname = 'a'\n");
  CHECK(s.state_dir == "/srv/caf\xC3\xA9");
  CHECK(ok("state_dir = '/srv/\xE2\x82\xAC'\n").state_dir == "/srv/\xE2\x82\xAC");
  // Where toml++ 3.3 would reach undefined behaviour: an error instead.
  for (const char* text : {"\xC3\xA9 = 1\n", "verbose = true \xC3\xA9\n", "verbose = true\xC3\xA9\n",
                           "\"\xC3\xA9\" = 1\n", "[\"\xC3\xA9\"]\n", "[up]\nname = \"a\"\n\"k\\\xC3\xA9\" = 1\n",
                           "up = { \"\xEF\xBB\x9F\" = 1 }\n", "a = [\"\xC3\xA9\"]\n",
                           "a = \"\"\"x\\\n \xC3\xA9\"\"\"\n", "a = \"\"\"\"\"\xC3\xA9\"\n",
                           // toml++ reads a bare value on through '=' and quotes
                           "pArt = 0o8=\"p'\xEF\xBB\x9F:", "a = 1979-05-27 07:32:00=\"\xC3\xA9\"\n",
                           "a = true=\"\xC3\xA9\"\n"}) {
    CAPTURE(text);
    auto e = bad(text);
    CHECK(e.line >= 1);
    CHECK(e.column >= 1);
  }
  auto e = bad("[up]\nname = \"a\"\n\n  \xC3\xA9 = 1\n");
  CHECK(e.line == 4);
  CHECK(e.column == 3);
  CHECK(has(e.message, "non-ASCII"));
  // '}' where an array expects a value (toml++ 3.3 asserts there).
  for (const char* text : {"a = [}\n", "a = [1, }\n", "a = [\n 1, # c\n\n }\n", "a = '''x'''\nb = [}\n"}) {
    CAPTURE(text);
    e = bad(text);
    CHECK(has(e.message, "saw '}'"));
  }
  CHECK(bad("[up]\nadvertise_endpoints = [\"1.2.3.4\",\n}\n").line == 3);
  CHECK(ok("[up]\nadvertise_endpoints = [\"1.2.3.4\", # c\n]\n").up.advertise_endpoints->size() == 1);
  CHECK(ok("up = { name = \"a\" }\n").up.name == "a");
  // An earlier error toml++ finds is reported first.
  e = bad("[up]\nname = = 1\n\xC3\xA9 = 1\n");
  CHECK(e.line == 2);
  CHECK(!has(e.message, "non-ASCII"));
}

TEST_CASE("toml config: error formatting") {
  CHECK(config::format_config_error("/etc/ovl/ovl.toml", {3, 0, "unknown key 'x' in [up]"}) ==
        "/etc/ovl/ovl.toml:3: unknown key 'x' in [up]");
  CHECK(config::format_config_error("f.toml", {3, 7, "expected ']'"}) == "f.toml:3:7: expected ']'");
  CHECK(config::format_config_error("f.toml", {0, 0, "too large"}) == "f.toml: too large");
}

TEST_CASE("toml config: exit node settings") {
  auto s = ok(kFull);
  CHECK(s.up.advertise_exit_node == false);
  CHECK(s.up.exit_node == "gw");
  for (const char* v : {"none", "100.83.0.7", "fd00::1", "vps-2"}) {
    CAPTURE(v);
    CHECK(ok(std::string("[up]\nexit_node = \"") + v + "\"\n").up.exit_node == v);
  }
  for (const char* v : {"", "Not A Name", "1.2.3.4:5"}) {
    CAPTURE(v);
    auto e = bad(std::string("[up]\n\nexit_node = \"") + v + "\"\n");
    CHECK(e.line == 3);
    CHECK(has(e.message, "neither a node name"));
  }
  auto e = bad("[up]\nadvertise_exit_node = \"yes\"\n");
  CHECK(e.line == 2);
  CHECK(has(e.message, "true or false"));
  CHECK(ok("[up]\nadvertise_exit_node = true\n").up.advertise_exit_node == true);
}

TEST_CASE("toml config: to_toml round-trips") {
  auto s = ok(kFull);
  CHECK(ok(config::to_toml(s)) == s);
  CHECK(config::to_toml(FileSettings{}).empty());

  FileSettings odd;
  odd.state_dir = "/tmp/we\"ird\\dir\n\x01\x7f/caf\xc3\xa9";
  odd.verbose = false;
  odd.join.listen_port = 9;
  CHECK(ok(config::to_toml(odd)) == odd);
  CHECK(config::toml_quote("a\"b\\c\td") == "\"a\\\"b\\\\c\\td\"");
  CHECK(config::toml_quote(std::string("\x00", 1)) == "\"\\u0000\"");
}

TEST_CASE("toml config: precedence is default < file < flag") {
  using config::Source;
  // No flag, no file: the default stays.
  uint16_t port = 51820;
  CHECK(config::apply_setting(port, std::optional<uint16_t>{}, false) == Source::default_value);
  CHECK(port == 51820);
  // The file replaces the default.
  CHECK(config::apply_setting(port, std::optional<uint16_t>{4000}, false) == Source::file);
  CHECK(port == 4000);
  // A flag the user gave wins over the file (value holds the flag's value).
  port = 5000;
  CHECK(config::apply_setting(port, std::optional<uint16_t>{4000}, true) == Source::flag);
  CHECK(port == 5000);
  // Even when the flag's value equals the default.
  std::string iface = "ovl0";
  CHECK(config::apply_setting(iface, std::optional<std::string>{"wg1"}, true) == Source::flag);
  CHECK(iface == "ovl0");
  // Lists: the file's list replaces the default, a flag's list replaces the file's.
  std::vector<std::string> adv;
  CHECK(config::apply_setting(adv, std::optional<std::vector<std::string>>{{"1.2.3.4:5"}}, false) == Source::file);
  CHECK(adv == std::vector<std::string>{"1.2.3.4:5"});
  CHECK(std::string(config::source_name(Source::default_value)) == "default");
  CHECK(std::string(config::source_name(Source::file)) == "file");
  CHECK(std::string(config::source_name(Source::flag)) == "flag");
}
