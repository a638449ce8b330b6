// Internal to the daemon: its state, shared by daemon.cpp (composition, the
// node's control link, applying the map), daemon_servers.cpp (coordinator
// TCP listener, local API socket) and daemon_api.cpp (local API requests).
#pragma once
#include <asio.hpp>

#include <deque>
#include <map>
#include <set>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/control/api_request.hpp"
#include "engine/control/coordinator.hpp"
#include "engine/control/node_agent.hpp"
#include "engine/io/daemon.hpp"
#include "engine/io/os_dns.hpp"
#include "engine/io/packet_plane.hpp"
#include "engine/io/relay_service.hpp"
#include "engine/io/udp_socket.hpp"
#include "engine/dns/responder.hpp"
#include "engine/nat/discovery.hpp"
#include "engine/nat/path.hpp"
#include "engine/nat/prober.hpp"
#include "engine/nat/spray.hpp"
#include "engine/relay/client.hpp"
#include "engine/relay/server.hpp"
#include "engine/wg/device.hpp"
#include "tun/exit_route.hpp"
#include "tun/forwarding.hpp"
#include "tun/tun_device.hpp"

namespace ovl::io {

using asio::ip::tcp;

// One accepted control connection (coordinator role). Kept small: a
// coordinator holds thousands. Reads go through one buffer shared by all
// links (Impl::control_rbuf), since the coordinator consumes bytes at once.
struct ControlConn {
  control::ConnId id = 0;
  tcp::socket sock;
  std::deque<std::vector<uint8_t>> wq;  // pending writes, in order
  size_t queued = 0;                    // bytes in wq
  size_t wq_off = 0;                    // bytes of wq.front() already written
  bool writing = false;
  bool close_after_flush = false;
  bool preauth = true;  // counted in Impl::preauth_count until its hello is accepted
  std::chrono::steady_clock::time_point accepted_at = std::chrono::steady_clock::now();
  explicit ControlConn(asio::io_context& io) : sock(io) {}
};

// A UDP socket that only answers STUN Binding requests: the coordinator's
// port when no node shares it, and the port above it that lets nodes tell
// how their NAT maps.
struct StunSocket {
  UdpSocket udp;
  asio::posix::stream_descriptor wait;
  net::Endpoint advertised;  // what SOURCE-ADDRESS says (classic clients)
  std::array<uint8_t, 2048> buf{};
  StunSocket(asio::io_context& io, uint16_t port, net::Endpoint adv) : udp(port), wait(io, udp.fd()), advertised(adv) {}
  ~StunSocket() { wait.release(); }
};

// One of the extra sockets the hard side of a birthday spray opens; the
// device reaches its remote through the virtual endpoint nat::socket_endpoint(id).
struct SpraySocket {
  uint32_t id;
  crypto::PublicKey peer;
  net::Endpoint remote;
  UdpSocket udp{0};
  asio::posix::stream_descriptor wait;
  SpraySocket(asio::io_context& io, uint32_t i, const crypto::PublicKey& p, const net::Endpoint& r)
      : id(i), peer(p), remote(r), wait(io, udp.fd()) {}
  ~SpraySocket() { wait.release(); }
};

// What a peer told us about its NAT in its last call-me-maybe.
struct PeerNat {
  bool heard = false;
  nat::Mapping mapping = nat::Mapping::unknown;
  bool udp = true;
  std::optional<net::Endpoint> public_ep;
  std::chrono::nanoseconds last_call_sent{-1};
};

struct Daemon::Impl : control::CoordinatorOutput {
  DaemonOptions opts;
  asio::io_context io{1};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  int exit_code = kExitOk;
  std::string fatal;
  bool stopping = false;

  // --- node role ---
  std::unique_ptr<wg::Device> device;
  std::unique_ptr<UdpSocket> udp;
  std::unique_ptr<tun::TunDevice> tun;
  // After `tun`: destroyed before it, so resolved is reverted while the link exists.
  std::unique_ptr<OsDns> os_dns;
  std::unique_ptr<PacketPlane> plane;
  std::unique_ptr<policy::Filter> filter;            // access policy, enforced on received packets
  std::optional<policy::RuleSet> applied_filter;     // the rules last given to `filter`
  std::unique_ptr<control::NodeAgent> agent;
  std::map<crypto::PublicKey, std::vector<net::Endpoint>, control::KeyLess> applied;  // endpoints last given to device
  std::unique_ptr<tcp::socket> link;  // control link to the coordinator
  std::array<uint8_t, 65536> link_buf{};
  std::deque<std::vector<uint8_t>> link_wq;
  bool link_writing = false;
  asio::steady_timer link_timer{io};  // connect timeout, reconnect backoff
  asio::steady_timer ping_timer{io};
  int link_attempts = 0;
  size_t endpoint_index = 0;
  net::Endpoint current_endpoint;
  std::chrono::steady_clock::time_point last_rx{};
  bool enrolled_reported = false;
  std::unique_ptr<nat::Discovery> discovery;
  asio::steady_timer discovery_timer{io};
  std::unique_ptr<relay::Client> relay_client;
  asio::steady_timer relay_timer{io};
  nat::PathSelector paths;
  dns::Responder dns;
  asio::steady_timer path_timer{io};
  std::vector<net::Endpoint> last_lan;                // our interface addresses at the last check
  std::chrono::nanoseconds last_network_recheck{-10'000'000'000};
  std::set<crypto::PublicKey, control::KeyLess> lost_paths;  // peers whose direct path went silent
  std::map<crypto::PublicKey, wg::PeerConfig, control::KeyLess> peer_cfg;       // as last given to the device
  std::map<crypto::PublicKey, net::Endpoint, control::KeyLess> direct_candidate;  // chosen from the map
  std::map<crypto::PublicKey, std::pair<std::string, net::IpAddr>, control::KeyLess> dns_names;  // in the zone
  std::array<uint8_t, 65536 + 64> relay_out{};
  // Subnet routes and exit nodes (daemon_routes.cpp).
  std::string exit_node;                               // as configured: name or overlay IP, "" = none
  std::optional<crypto::PublicKey> exit_peer;          // the peer in use as exit node
  std::string exit_problem;                            // why exit_node is not in use
  std::vector<net::Prefix> tun_routes;                 // subnet routes we added to the TUN
  std::map<crypto::PublicKey, std::vector<net::Prefix>, control::KeyLess> peer_routes;  // routed to each peer
  std::unique_ptr<tun::ExitRoute> exit_route;
  std::unique_ptr<tun::Forwarding> forwarding;
  std::unique_ptr<nat::Prober> prober;  // disco pings and pongs, path choice
  asio::steady_timer prober_timer{io};
  nat::Spray spray;
  asio::steady_timer spray_timer{io};
  std::map<crypto::PublicKey, PeerNat, control::KeyLess> peer_nat;
  std::map<crypto::PublicKey, std::optional<net::Endpoint>, control::KeyLess> last_best;  // see path_news
  std::map<uint32_t, std::unique_ptr<SpraySocket>> spray_sockets;
  uint32_t next_spray_id = 1;
  std::array<uint8_t, 65536> spray_buf{};

  // --- coordinator role ---
  std::unique_ptr<control::Coordinator> coord;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::map<control::ConnId, std::unique_ptr<ControlConn>> conns;
  control::ConnId next_conn = 1;
  std::vector<uint8_t> control_rbuf = std::vector<uint8_t>(64 * 1024);
  size_t preauth_count = 0;
  asio::steady_timer delta_timer{io};
  bool delta_flush_scheduled = false;
  std::chrono::steady_clock::time_point last_delta_flush{};
  std::chrono::steady_clock::duration delta_gap{};
  asio::steady_timer ephemeral_timer{io};
  asio::steady_timer accept_retry{io};
  asio::steady_timer preauth_sweep{io};
  std::vector<std::unique_ptr<StunSocket>> stun_sockets;
  std::unique_ptr<RelayService> relay_service;  // the embedded relay
  asio::steady_timer revoke_timer{io};
  size_t revoke_cursor = 0;  // where the next round of REVOKEs starts

  // --- local API ---
  std::unique_ptr<asio::local::stream_protocol::acceptor> api;
  std::string api_path;

  explicit Impl(DaemonOptions o) : opts(std::move(o)) {}

  // daemon.cpp
  void start_node();
  void start_data_plane(const control::Welcome& w);
  void connect_link();
  void link_read();
  void link_write(std::vector<uint8_t> bytes);
  void link_failed(const std::string& why);
  void schedule_reconnect();
  void schedule_ping();
  // `save`: also write what changed to the cached map.
  void apply_map(const control::MapChanges& ch, bool save = true);
  void on_other_udp(std::span<uint8_t> d, const net::Endpoint& from);
  void run_discovery();
  void report_endpoints();
  std::vector<net::Endpoint> lan_candidates() const;  // interface addresses with our UDP port
  void watch_network(bool path_lost, std::chrono::nanoseconds now);  // STUN again when the network changed
  net::Endpoint stun_advertised(uint16_t port) const;  // SOURCE-ADDRESS for classic STUN clients
  void run_relay_client();
  void send_via_relay(const net::Endpoint& virtual_ep, std::span<const uint8_t> d);
  void stop(int code, const std::string& why = {});

  // daemon_routes.cpp
  void start_routes();                  // settings from the state dir, stale OS state removed
  void plan_routes();                   // peer_routes and exit_peer from the map
  void sync_os_routes();                // TUN routes, exit route, forwarding
  void sync_forwarding();               // throws std::runtime_error (nft, sysctl)
  void send_routes(std::vector<net::Prefix> routes);  // persist + tell the coordinator
  std::optional<nlohmann::json> handle_route_api(const control::ApiRequest& req);
  nlohmann::json route_list();
  nlohmann::json advertise_route(const std::string& prefix, bool withdraw);
  nlohmann::json set_exit_node(std::string node);
  nlohmann::json routes_status();
  // daemon_paths.cpp: disco, call-me-maybe, path choice, spraying
  void check_paths();
  void on_disco(std::span<const uint8_t> d, const net::Endpoint& from);
  void path_news(const crypto::PublicKey& peer, std::chrono::nanoseconds now);
  void send_disco(std::vector<nat::Prober::Send>& out);
  void run_prober();
  void run_spray();
  void on_calls();
  void call_peer(const crypto::PublicKey& peer, bool spray_offer);
  void maybe_call(const crypto::PublicKey& peer, std::chrono::nanoseconds now);
  std::vector<net::Endpoint> own_candidates() const;
  std::string relay_reason_for(const crypto::PublicKey& peer) const;
  bool on_relay(const net::Endpoint& ep) const;  // a relay's virtual endpoint (not a spray socket)
  std::optional<net::Endpoint> real_endpoint(const net::Endpoint& ep) const;  // what a virtual endpoint stands for
  bool send_spray_socket(const net::Endpoint& ep, std::span<const uint8_t> d);
  void open_spray_sockets(const crypto::PublicKey& peer, const net::Endpoint& target);
  void read_spray_socket(uint32_t id);
  void close_idle_spray_sockets();

  // daemon_servers.cpp
  void start_coordinator();
  void accept_control();
  void read_control(ControlConn& c);
  void flush_control(ControlConn& c);
  void drop_control(control::ConnId id);
  void write(control::ConnId c, std::span<const uint8_t> bytes) override;
  void write_owned(control::ConnId c, std::vector<uint8_t> bytes) override;
  // After any coordinator call that may have changed the map: flush its
  // pending delta soon (see daemon_servers.cpp for the pacing).
  void schedule_delta_flush();
  void close(control::ConnId c) override;
  void schedule_ephemeral();
  void resend_revocations();
  void sweep_preauth();
  void open_stun_socket(uint16_t port);
  void open_relay(uint16_t port);
  void read_stun(StunSocket& s);
  // Answers a STUN Binding request (true if `d` was one).
  bool answer_stun(std::span<const uint8_t> d, const net::Endpoint& from, UdpSocket& via, const net::Endpoint& adv);
  void start_api();
  void accept_api();

  // daemon_api.cpp
  nlohmann::json handle_api(const control::ApiRequest& req);
  nlohmann::json status_json();
  nlohmann::json handle_policy_api(const control::ApiRequest& req);
  nlohmann::json netcheck_json();
};

}  // namespace ovl::io
