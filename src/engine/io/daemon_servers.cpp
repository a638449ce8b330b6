// The daemon's listening sockets: the coordinator's TCP control port and the
// local API's unix socket.
#include <sys/stat.h>

#include "engine/io/daemon_impl.hpp"
#include "engine/io/system_env.hpp"
#include "engine/nat/stun.hpp"
#include "engine/log.hpp"

namespace ovl::io {

using namespace std::chrono_literals;

namespace {
constexpr size_t kMaxApiRequest = 64 * 1024;
constexpr size_t kMaxQueuedPerConn = 64 << 20;  // a stuck reader does not eat all memory
// Connections that have not completed the handshake and said hello: they
// get a deadline and a cap, so idle or dribbling sockets cannot pile up.
constexpr auto kPreauthTimeout = 10s;
constexpr size_t kMaxPreauth = 512;
}  // namespace

// ---- coordinator role ----

void Daemon::Impl::start_coordinator() {
  CoordinatorRole& c = *opts.coordinator;
  coord = std::make_unique<control::Coordinator>(*c.registry, c.key, system_rng(), [] { return wall_clock_ns(); },
                                                 c.advertise);
  acceptor = std::make_unique<tcp::acceptor>(io);
  std::error_code ec;
  tcp::endpoint ep(asio::ip::address_v6::any(), c.port);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::ip::v6_only(false), ec);
  if (ec) {  // no IPv6 on this host
    ep = tcp::endpoint(asio::ip::address_v4::any(), c.port);
    acceptor = std::make_unique<tcp::acceptor>(io);
    acceptor->open(ep.protocol());
  }
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  acceptor->bind(ep, ec);
  if (ec)
    throw std::system_error(ec, "cannot listen on TCP port " + std::to_string(c.port) + " for the coordinator");
  acceptor->listen();
  accept_control();
  schedule_ephemeral();
  sweep_preauth();
  // STUN on the coordinator's UDP port (unless this host's node already
  // listens there and answers it) and on the port above it.
  bool node_shares_port = opts.node && opts.node->listen_port == c.port;
  if (!node_shares_port) open_stun_socket(c.port);
  open_stun_socket(static_cast<uint16_t>(c.port + 1));
  if (c.relay_secret) open_relay(static_cast<uint16_t>(c.port + 2));
  log::info("coordinator listening on TCP port %u", static_cast<unsigned>(c.port));
}

static net::Endpoint to_endpoint(const tcp::endpoint& e) {
  auto a = e.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  net::Endpoint r;
  r.ip = *net::IpAddr::parse(a.to_string());
  r.port = e.port();
  return r;
}

void Daemon::Impl::accept_control() {
  auto c = std::make_unique<ControlConn>(io);
  auto* raw = c.get();
  acceptor->async_accept(raw->sock, [this, c = std::move(c)](const std::error_code& ec) mutable {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Out of file descriptors (or similar): retrying at once would spin.
      log::warn("accepting a control connection failed: %s", ec.message().c_str());
      accept_retry.expires_after(100ms);
      accept_retry.async_wait([this](const std::error_code& e) {
        if (!e) accept_control();
      });
      return;
    }
    size_t preauth = 0;
    for (auto& [id, conn] : conns) preauth += !coord->linked(id);
    std::error_code e2;
    auto remote = c->sock.remote_endpoint(e2);
    if (preauth >= kMaxPreauth) {
      c->sock.close(e2);  // too many strangers at once: shed the newest
    } else if (!e2) {
      c->sock.set_option(tcp::no_delay(true), e2);
      c->id = next_conn++;
      auto& ref = *c;
      conns[c->id] = std::move(c);
      coord->on_connect(ref.id, to_endpoint(remote));
      read_control(ref);
    }
    accept_control();
  });
}

void Daemon::Impl::read_control(ControlConn& c) {
  c.sock.async_read_some(asio::buffer(c.rbuf), [this, id = c.id](const std::error_code& ec, size_t n) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    if (ec) return drop_control(id);
    coord->on_bytes(id, {it->second->rbuf.data(), n}, *this);
    it = conns.find(id);  // the coordinator may have closed it
    if (it != conns.end() && !it->second->close_after_flush) read_control(*it->second);
  });
}

void Daemon::Impl::write(control::ConnId id, std::span<const uint8_t> bytes) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  ControlConn& c = *it->second;
  size_t queued = 0;
  for (auto& b : c.wq) queued += b.size();
  if (queued + bytes.size() > kMaxQueuedPerConn) {
    log::warn("control link %llu does not read its data; dropping it", static_cast<unsigned long long>(id));
    return drop_control(id);
  }
  c.wq.emplace_back(bytes.begin(), bytes.end());
  flush_control(c);
}

void Daemon::Impl::close(control::ConnId id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  it->second->close_after_flush = true;
  if (it->second->wq.empty() && !it->second->writing) drop_control(id);
}

void Daemon::Impl::flush_control(ControlConn& c) {
  if (c.writing || c.wq.empty()) return;
  c.writing = true;
  asio::async_write(c.sock, asio::buffer(c.wq.front()), [this, id = c.id](const std::error_code& ec, size_t) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    ControlConn& c = *it->second;
    c.writing = false;
    if (ec) return drop_control(id);
    c.wq.pop_front();
    if (c.wq.empty() && c.close_after_flush) return drop_control(id);
    flush_control(c);
  });
}

void Daemon::Impl::drop_control(control::ConnId id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  auto conn = std::move(it->second);
  conns.erase(it);
  std::error_code ignored;
  conn->sock.close(ignored);
  coord->on_disconnect(id, *this);
  // Handlers still queued for this socket find no entry in `conns` and return.
  asio::post(io, [c = std::shared_ptr<ControlConn>(std::move(conn))] {});
}

void Daemon::Impl::sweep_preauth() {
  auto now = std::chrono::steady_clock::now();
  std::vector<control::ConnId> stale;
  for (auto& [id, c] : conns)
    if (!coord->linked(id) && now - c->accepted_at > kPreauthTimeout) stale.push_back(id);
  for (auto id : stale) drop_control(id);
  preauth_sweep.expires_after(2s);
  preauth_sweep.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) sweep_preauth();
  });
}

void Daemon::Impl::schedule_ephemeral() {
  ephemeral_timer.expires_after(30s);
  ephemeral_timer.async_wait([this](const std::error_code& ec) {
    if (ec || stopping) return;
    coord->expire_ephemeral(opts.coordinator->ephemeral_grace_s, *this);
    schedule_ephemeral();
  });
}

// ---- STUN ----

void Daemon::Impl::open_stun_socket(uint16_t port) {
  try {
    stun_sockets.push_back(std::make_unique<StunSocket>(io, port, stun_advertised(port)));
    read_stun(*stun_sockets.back());
  } catch (const std::exception& e) {
    // Without it nodes still learn their mapping, just not how their NAT maps.
    log::warn("no STUN on UDP port %u: %s", static_cast<unsigned>(port), e.what());
  }
}

void Daemon::Impl::read_stun(StunSocket& s) {
  s.wait.async_wait(asio::posix::descriptor_base::wait_read, [this, &s](const std::error_code& ec) {
    if (ec) return;
    for (int i = 0; i < 64; ++i) {
      net::Endpoint from;
      ssize_t n = s.udp.recv(s.buf, from);
      if (n < 0) break;
      answer_stun({s.buf.data(), static_cast<size_t>(n)}, from, s.udp, s.advertised);
    }
    read_stun(s);
  });
}

bool Daemon::Impl::answer_stun(std::span<const uint8_t> d, const net::Endpoint& from, UdpSocket& via,
                               const net::Endpoint& adv) {
  if (!nat::is_stun(d)) return false;
  auto req = nat::parse_request(d);
  if (!req) return true;  // a response or junk: nothing to answer
  // An answer is at most ~4x a minimal request (84 bytes for a 20-byte
  // IPv6 request): too little to make the coordinator a useful amplifier.
  // A classic request for a change of address gets silence (see stun.cpp).
  auto resp = nat::binding_response(*req, from, adv);
  if (!resp.empty()) via.send(from, resp);
  return true;
}

// ---- embedded relay ----

void Daemon::Impl::open_relay(uint16_t port) {
  CoordinatorRole& c = *opts.coordinator;
  try {
    relay_socket = std::make_unique<RelaySocket>(io, port, *c.relay_secret);
  } catch (const std::exception& e) {
    log::warn("no relay: %s", e.what());
    return;
  }
  std::vector<net::Endpoint> eps;
  for (auto e : c.advertise) {
    e.port = port;
    eps.push_back(e);
  }
  if (!eps.empty()) coord->set_relays(*c.relay_secret, {eps.front()});
  coord->on_removed = [this](const crypto::PublicKey& k) { relay_socket->server.revoke(k); };
  read_relay();
  log::info("relay listening on UDP port %u", static_cast<unsigned>(port));
}

void Daemon::Impl::read_relay() {
  relay_socket->wait.async_wait(asio::posix::descriptor_base::wait_read, [this](const std::error_code& ec) {
    if (ec) return;
    RelaySocket& r = *relay_socket;
    std::vector<relay::Server::Out> out;
    auto now = monotonic_now();
    int64_t unix_now = wall_clock_ns() / 1000000000;
    for (int i = 0; i < 64; ++i) {
      net::Endpoint from;
      ssize_t n = r.udp.recv(r.buf, from);
      if (n < 0) break;
      r.server.on_datagram({r.buf.data(), static_cast<size_t>(n)}, from, now, unix_now, out);
      for (auto& o : out) r.udp.send(o.to, o.bytes);
      out.clear();
    }
    r.server.expire(now);
    read_relay();
  });
}

// ---- local API ----

void Daemon::Impl::start_api() {
  api_path = api_socket_path(opts.state_dir);
  using local = asio::local::stream_protocol;
  {
    // A live daemon answers on the socket; a stale file from a crash does not.
    local::socket probe(io);
    std::error_code ec;
    probe.connect(local::endpoint(api_path), ec);
    if (!ec) {
      api_path.clear();  // not ours: do not unlink it on the way out
      throw std::runtime_error("ovl is already running with state dir " + opts.state_dir + " (stop it with `ovl down`)");
    }
    ::unlink(api_path.c_str());
  }
  api = std::make_unique<local::acceptor>(io);
  mode_t old = ::umask(0177);  // the socket is created 0600: the API is for root
  std::error_code ec;
  api->open(local::endpoint(api_path).protocol(), ec);
  if (!ec) api->bind(local::endpoint(api_path), ec);
  ::umask(old);
  if (ec) {
    std::string p = api_path;
    api_path.clear();
    throw std::system_error(ec, "cannot create the local API socket " + p);
  }
  api->listen();
  accept_api();
}

namespace {
struct ApiSession : std::enable_shared_from_this<ApiSession> {
  asio::local::stream_protocol::socket sock;
  asio::streambuf in{kMaxApiRequest};
  std::string out;
  explicit ApiSession(asio::io_context& io) : sock(io) {}
};
}  // namespace

void Daemon::Impl::accept_api() {
  auto s = std::make_shared<ApiSession>(io);
  api->async_accept(s->sock, [this, s](const std::error_code& ec) {
    if (ec) {
      if (ec != asio::error::operation_aborted) accept_api();
      return;
    }
    asio::async_read_until(s->sock, s->in, '\n', [this, s](const std::error_code& ec, size_t n) {
      nlohmann::json resp;
      if (ec) {
        resp = {{"error", ec == asio::error::not_found ? "request too large" : "incomplete request"}};
      } else {
        std::string line(asio::buffers_begin(s->in.data()), asio::buffers_begin(s->in.data()) + n);
        auto req = control::parse_api_request(line);
        if (auto* bad = std::get_if<std::string>(&req)) {
          resp = {{"error", *bad}};
        } else {
          try {
            resp = handle_api(std::get<control::ApiRequest>(req));
          } catch (const std::exception& e) {  // e.g. the database refused a write
            resp = {{"error", e.what()}};
          }
        }
      }
      s->out = resp.dump() + "\n";
      asio::async_write(s->sock, asio::buffer(s->out), [s](const std::error_code&, size_t) {});
    });
    accept_api();
  });
}

}  // namespace ovl::io
