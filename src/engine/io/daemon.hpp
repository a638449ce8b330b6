// The long-running ovl process: composes the roles a state directory holds.
//
//   node role         TUN + WireGuard device + UDP socket (PacketPlane), and a
//                     control link to the coordinator (NodeAgent) that keeps
//                     the device's peers equal to the network map
//   coordinator role  TCP control listener (Coordinator) over the Registry
//   always            the local API: a unix socket in the state dir that
//                     `ovl status`, `ovl invite`, ... talk JSON to
//
// Roles are composed, not inherited: each is present or absent. Everything
// runs on one asio thread. This header does not include asio.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/control/coordinator.hpp"
#include "engine/control/node_agent.hpp"
#include "engine/control/registry.hpp"
#include "engine/crypto/keys.hpp"
#include "engine/dns/resolv_conf.hpp"
#include "engine/net/ip.hpp"

namespace ovl::store {
class Db;
}

namespace ovl::io {

struct NodeRole {
  crypto::SecretKey key;
  std::string name;      // explicit name, "" = the invite's or the hostname
  std::string hostname;  // fallback name
  std::string tun_name = "ovl0";
  uint16_t listen_port = 51820;
  uint16_t mtu = 1420;
  crypto::PublicKey coordinator_key{};
  std::vector<net::Endpoint> coordinator_endpoints;
  std::optional<std::string> invite_id, invite_secret;  // joining
  bool enroll_only = false;  // `join --no-start`: stop once enrolled and the map is saved
  // How the host's resolver learns about NETWORK.ovl (engine/io/os_dns.hpp).
  dns::DnsMode dns_mode = dns::DnsMode::automatic;
};

struct CoordinatorRole {
  crypto::SecretKey key;
  uint16_t port = 51820;  // TCP control
  std::vector<net::Endpoint> advertise;
  control::Registry* registry = nullptr;
  int64_t ephemeral_grace_s = 180;
  // The embedded relay listens on UDP port + 2 with this secret (grants in
  // welcomes are MACs under it).
  std::optional<std::array<uint8_t, 32>> relay_secret;
  // Standalone relays (`ovl relay`) sharing that secret: the map lists them
  // before the embedded one.
  std::vector<net::Endpoint> relays;
};

struct DaemonOptions {
  std::string state_dir;
  store::Db* db = nullptr;  // node cache (kv); owned by the caller
  std::optional<NodeRole> node;
  std::optional<CoordinatorRole> coordinator;
  // Called once when the node is enrolled and has its address (join).
  std::function<void(const control::Welcome&)> on_enrolled;
};

// Where every node answers DNS for NAME.NETWORK.ovl (and short names):
// inside the overlay, never in a network range ovl hands out.
inline constexpr uint8_t kResolverAddress[4] = {100, 100, 100, 100};

// Node settings in the state dir's kv table that the daemon owns (the CLI
// writes them for `ovl up --advertise-exit-node / --exit-node`): the
// advertised routes, comma-separated, and the exit node's name or IP.
inline constexpr const char* kRoutesSetting = "node.routes";
inline constexpr const char* kExitNodeSetting = "node.exit_node";

// Exit codes of run().
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitRefused = 2;  // the coordinator refused to enroll us

class Daemon {
 public:
  // Binds every socket (throws std::system_error with a clear message if a
  // port is taken or the state dir already has a running daemon).
  explicit Daemon(DaemonOptions opts);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until SIGINT/SIGTERM, `ovl down`, or a fatal error; returns an exit code.
  int run();
  // Available with the coordinator role, before or during run().
  control::CreatedInvite create_invite(const control::InviteOptions& opts);
  const std::string& fatal_message() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Path of the local API socket inside a state dir.
std::string api_socket_path(const std::string& state_dir);

}  // namespace ovl::io
