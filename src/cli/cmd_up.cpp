// `ovl up`, `ovl coordinator` and `ovl join`: set up or resume the state dir,
// then run the daemon in the foreground.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/state.hpp"
#include "engine/control/token.hpp"
#include "engine/io/daemon.hpp"
#include "engine/io/interfaces.hpp"
#include "engine/io/system_env.hpp"
#include "engine/log.hpp"
#include "store/coordinator_store.hpp"
#include "store/keyfile.hpp"

namespace ovl::cli {

namespace {

const char* kCoordKey = "node.coordinator_key";
const char* kCoordEndpoints = "node.coordinator_endpoints";
const char* kName = "node.name";
const char* kListenPort = "node.listen_port";
const char* kInterface = "node.interface";
const char* kEnrolled = "node.enrolled";
const char* kCoordPort = "coordinator.port";
const char* kAdvertise = "coordinator.advertise";

int64_t now_unix() { return io::wall_clock_ns() / 1000000000; }

std::string random_hex(size_t bytes) {
  std::vector<uint8_t> b(bytes);
  io::system_rng().fill(b);
  return control::hex(b);
}

// A random /16 inside 100.64.0.0/10 (CGNAT space, rarely used on LANs).
net::Prefix random_cidr() {
  // 100.100.0.0/16 stays free: 100.100.100.100 is where the in-overlay DNS
  // resolver will answer (issue 5).
  uint8_t second = static_cast<uint8_t>(64 + io::system_rng().uniform(63));
  if (second >= 100) ++second;
  return net::Prefix{net::IpAddr::v4(100, second, 0, 0), 16};
}

std::string when(int64_t unix_s) {
  char buf[64];
  time_t t = static_cast<time_t>(unix_s);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

struct Fail {
  int code;
  std::string msg;
};

// Creates the network, the coordinator's key and the first node.
control::NodeRecord create_network(const StatePaths& paths, store::Db& db, const UpOptions& o, uint16_t port,
                                   const std::vector<net::Endpoint>& advertise) {
  std::string name = o.network.empty() ? host_name() : o.network;
  if (!control::valid_node_name(name))
    throw Fail{kExitBadInput, "network name \"" + name + "\" is not valid (use a-z, 0-9 and '-')"};
  net::Prefix cidr = random_cidr();
  if (!o.cidr.empty()) {
    auto p = net::Prefix::parse(o.cidr);
    if (!p || p->addr.v6 || p->len < 8 || p->len > 28)
      throw Fail{kExitBadInput, "--cidr must be an IPv4 prefix between /8 and /28, e.g. 100.83.0.0/16"};
    cidr = p->masked();
  }
  auto coord_key = crypto::generate_private_key(io::system_rng());
  store::write_key_file(paths.coordinator_key, coord_key);
  store::CoordinatorStore reg(db);
  control::NetworkInfo info;
  info.id = random_hex(16);
  info.name = name;
  info.cidr = cidr;
  info.ula = control::random_ula(io::system_rng());
  info.created_unix = now_unix();
  reg.create_network(info);
  set_setting(db, kCoordPort, std::to_string(port));
  set_setting(db, kAdvertise, join_endpoints(advertise));
  set_setting(db, kCoordKey, crypto::to_base64(crypto::public_from_private(coord_key)));
  set_setting(db, kCoordEndpoints, join_endpoints({{net::IpAddr::v4(127, 0, 0, 1), port}}));
  if (o.coordinator_only) return {};
  auto node_key = store::load_or_create_key(paths.node_key, io::system_rng());
  std::string node_name = o.name.empty() ? host_name() : o.name;
  auto self = reg.add_node(crypto::public_from_private(node_key), node_name, now_unix());
  set_setting(db, kName, self.name);
  set_setting(db, kListenPort, std::to_string(port));
  set_setting(db, kInterface, o.interface);
  set_setting(db, kEnrolled, "1");
  return self;
}

std::vector<net::Endpoint> advertise_endpoints(const UpOptions& o, uint16_t port) {
  std::vector<net::Endpoint> r;
  for (auto& s : o.advertise) {
    auto e = net::Endpoint::parse(s);
    if (!e) {
      auto ip = net::IpAddr::parse(s);
      if (!ip) throw Fail{kExitBadInput, "--advertise-endpoint \"" + s + "\" is not IP:PORT"};
      e = net::Endpoint{*ip, port};
    }
    r.push_back(*e);
  }
  if (r.empty())
    for (auto& a : io::local_addresses({o.interface})) {
      r.push_back({a, port});
      if (r.size() == control::kMaxTokenEndpoints) break;
    }
  if (r.empty()) r.push_back({net::IpAddr::v4(127, 0, 0, 1), port});
  return r;
}

io::NodeRole node_role(const StatePaths& paths, store::Db& db) {
  io::NodeRole n;
  auto key = store::read_key_file(paths.node_key);
  if (!key) throw Fail{kExitFailure, "no node key in " + paths.dir + "; run `ovl up` or `ovl join` first"};
  n.key = *key;
  n.name = setting(db, kName).value_or("");
  n.hostname = host_name();
  n.listen_port = static_cast<uint16_t>(std::stoi(setting(db, kListenPort).value_or("51820")));
  n.tun_name = setting(db, kInterface).value_or("ovl0");
  auto ck = crypto::parse_key(setting(db, kCoordKey).value_or(""));
  if (!ck) throw Fail{kExitFailure, "the state dir has no coordinator key; join a network first"};
  n.coordinator_key = *ck;
  n.coordinator_endpoints = split_endpoints(setting(db, kCoordEndpoints).value_or(""));
  return n;
}

// `ovl up --advertise-exit-node / --exit-node`: stored as the daemon's own
// settings, so they last across restarts like `ovl route advertise` and
// `ovl set --exit-node`.
void apply_route_flags(store::Db& db, const UpOptions& o) {
  if (!o.advertise_exit_node && !o.exit_node) return;
  std::string routes = setting(db, io::kRoutesSetting).value_or("");
  bool offers_exit = o.advertise_exit_node || ("," + routes + ",").find(",0.0.0.0/0,") != std::string::npos;
  if (o.exit_node) {
    const std::string& e = *o.exit_node;
    bool none = e == "none";
    if (!none && !control::valid_node_name(e) && !net::IpAddr::parse(e))
      throw Fail{kExitBadInput, "--exit-node \"" + e + "\" is neither a node name nor an IP address"};
    if (!none && offers_exit)
      throw Fail{kExitBadInput,
                 "a node cannot offer itself as an exit node and use another one (withdraw with `ovl route withdraw "
                 "0.0.0.0/0`)"};
    set_setting(db, io::kExitNodeSetting, none ? "" : e);
  }
  if (o.advertise_exit_node && ("," + routes + ",").find(",0.0.0.0/0,") == std::string::npos)
    set_setting(db, io::kRoutesSetting, routes.empty() ? "0.0.0.0/0" : routes + ",0.0.0.0/0");
}

int run_daemon(io::DaemonOptions& opts, std::function<void(io::Daemon&)> before_run = {}) {
  io::Daemon d(std::move(opts));
  if (before_run) before_run(d);
  int rc = d.run();
  if (!d.fatal_message().empty()) std::fprintf(stderr, "ovl: %s\n", d.fatal_message().c_str());
  return rc;
}

}  // namespace

int cmd_up(const GlobalOptions& g, const UpOptions& o) {
  try {
    StatePaths paths(g.state_dir);
    auto db = open_state(paths);
    bool has_network = store::CoordinatorStore::has_network(db);
    bool is_member = setting(db, kEnrolled).value_or("") == "1";
    std::optional<control::NodeRecord> fresh;
    uint16_t port = o.listen_port;
    std::vector<net::Endpoint> advertise;
    if (!has_network && !is_member) {
      advertise = advertise_endpoints(o, port);
      fresh = create_network(paths, db, o, port, advertise);
      has_network = true;
    } else if (has_network) {
      port = static_cast<uint16_t>(std::stoi(setting(db, kCoordPort).value_or(std::to_string(port))));
      advertise = o.advertise.empty() ? split_endpoints(setting(db, kAdvertise).value_or(""))
                                      : advertise_endpoints(o, port);
      if (!o.advertise.empty()) set_setting(db, kAdvertise, join_endpoints(advertise));
    }
    store::CoordinatorStore reg(db);
    io::DaemonOptions opts;
    opts.state_dir = g.state_dir;
    opts.db = &db;
    if (has_network) {
      auto key = store::read_key_file(paths.coordinator_key);
      if (!key) throw Fail{kExitFailure, "coordinator key " + paths.coordinator_key + " is missing"};
      opts.coordinator = io::CoordinatorRole{*key, port, advertise, &reg};
      // The relays' shared secret: grants in welcomes are MACs under it.
      // Created with the network unless the user brings one (--relay-secret-file).
      std::string secret_path = relay_secret_path(g, o.relay_secret_file);
      std::optional<crypto::SecretKey> relay_key;
      if (o.relay_secret_file.empty()) relay_key = store::load_or_create_key(secret_path, io::system_rng());
      else relay_key = store::read_key_file(secret_path);
      if (!relay_key) throw Fail{kExitBadInput, "--relay-secret-file " + secret_path + " does not exist"};
      opts.coordinator->relay_secret = relay_key->b;
      for (auto& r : o.relays) {
        auto e = parse_relay_endpoint(r);
        if (!e) throw Fail{kExitBadInput, "--relay \"" + r + "\" is not IP:PORT, [IPv6]:PORT or an IP address"};
        opts.coordinator->relays.push_back(*e);
      }
    }
    if (!o.coordinator_only && (is_member || fresh)) {
      opts.node = node_role(paths, db);
      opts.node->dns_mode = dns::parse_dns_mode(o.dns).value_or(dns::DnsMode::automatic);
    }
    if (opts.node) apply_route_flags(db, o);
    else if (o.advertise_exit_node || o.exit_node)
      throw Fail{kExitBadInput, "--advertise-exit-node and --exit-node need a node (not `ovl coordinator`)"};

    return run_daemon(opts, [&](io::Daemon& d) {
      if (!fresh) return;
      auto net = reg.network();
      control::InviteOptions io_opts;
      io_opts.expires_unix = now_unix() + 24 * 3600;
      auto inv = d.create_invite(io_opts);
      if (g.json) {
        nlohmann::json j{{"network", net.name}, {"cidr", net.cidr.str()}, {"token", inv.token},
                         {"id", inv.record.id}, {"expires", inv.record.opts.expires_unix}};
        if (!o.coordinator_only) j["self"] = {{"name", fresh->name}, {"ip", fresh->ip.str()}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("network \"%s\" %s", net.name.c_str(), net.cidr.str().c_str());
        if (!o.coordinator_only) std::printf(" · this node: %s %s", fresh->name.c_str(), fresh->ip.str().c_str());
        std::printf("\ninvite (one use, valid until %s):\n  %s\njoin with: ovl join <invite>\n",
                    when(inv.record.opts.expires_unix).c_str(), inv.token.c_str());
      }
      std::fflush(stdout);
    });
  } catch (const Fail& f) {
    std::fprintf(stderr, "ovl: %s\n", f.msg.c_str());
    return f.code;
  }
}

int cmd_join(const GlobalOptions& g, const JoinOptions& o) {
  auto tok = control::decode_token(o.token);
  if (auto* e = std::get_if<control::TokenError>(&tok)) {
    std::fprintf(stderr, "ovl: invalid invite token: %s\n", control::describe(*e));
    return kExitBadInput;
  }
  auto& t = std::get<control::Token>(tok);
  if (!o.name.empty() && !control::valid_node_name(o.name)) {
    std::fprintf(stderr, "ovl: \"%s\" is not a valid node name (use a-z, 0-9 and '-', at most 63)\n", o.name.c_str());
    return kExitBadInput;
  }
  try {
    StatePaths paths(g.state_dir);
    auto db = open_state(paths);
    if (setting(db, kEnrolled).value_or("") == "1" || store::CoordinatorStore::has_network(db)) {
      std::fprintf(stderr,
                   "ovl: the state dir %s already belongs to a network; start it with `ovl up`, or join with "
                   "another --state-dir\n",
                   g.state_dir.c_str());
      return kExitBadInput;
    }
    store::load_or_create_key(paths.node_key, io::system_rng());
    set_setting(db, kCoordKey, crypto::to_base64(t.coordinator_key));
    set_setting(db, kCoordEndpoints, join_endpoints(t.endpoints));
    set_setting(db, kName, o.name);
    set_setting(db, kListenPort, std::to_string(o.listen_port));
    set_setting(db, kInterface, o.interface);

    io::DaemonOptions opts;
    opts.state_dir = g.state_dir;
    opts.db = &db;
    opts.node = node_role(paths, db);
    opts.node->invite_id = control::hex(t.invite_id);
    opts.node->invite_secret = crypto::to_base64url(t.secret);
    opts.node->enroll_only = o.no_start;
    opts.node->dns_mode = dns::parse_dns_mode(o.dns).value_or(dns::DnsMode::automatic);
    crypto::wipe(t.secret.data(), t.secret.size());
    bool json = g.json;
    opts.on_enrolled = [&db, json](const control::Welcome& w) {
      set_setting(db, kEnrolled, "1");
      set_setting(db, kName, w.self.name);
      if (json)
        std::printf("%s\n", nlohmann::json{{"network", w.network.name},
                                           {"name", w.self.name},
                                           {"ip", w.self.ip.str()},
                                           {"domain", w.network.domain}}
                                .dump()
                                .c_str());
      else
        std::printf("joined network \"%s\" as %s (%s)\n", w.network.name.c_str(), w.self.name.c_str(),
                    w.self.ip.str().c_str());
      std::fflush(stdout);
    };
    int rc = run_daemon(opts);
    if (rc == io::kExitRefused) return kExitBadInput;
    return rc;
  } catch (const Fail& f) {
    std::fprintf(stderr, "ovl: %s\n", f.msg.c_str());
    return f.code;
  }
}

}  // namespace ovl::cli
