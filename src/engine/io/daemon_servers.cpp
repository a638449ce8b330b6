// The daemon's listening sockets: the coordinator's TCP control port, its
// STUN and embedded relay UDP ports, and the local API's unix socket.
#include <sys/stat.h>

#include <algorithm>
#include <ctime>

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
// Deltas go out at most this often: a single change leaves at once (after
// the input already queued), a storm of joins is coalesced into a few
// broadcasts a second instead of one O(N) broadcast per join. The gap also
// grows to four times the CPU time the last broadcast took (~0.1 s for
// 10,000 links), so broadcasting takes at most a fifth of the loop, up to a
// second, well inside the 2 s a change may take to reach every node. CPU
// time, not wall time: on a machine shared with other work, wall time would
// stretch the gap and delay the next change for nothing.
constexpr auto kDeltaGap = 100ms;
constexpr auto kMaxDeltaGap = 1s;

std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}
}  // namespace

// ---- coordinator role ----

void Daemon::Impl::start_coordinator() {
  CoordinatorRole& c = *opts.coordinator;
  coord = std::make_unique<control::Coordinator>(*c.registry, c.key, system_rng(), [] { return wall_clock_ns(); },
                                                 c.advertise);
  coord->defer_deltas(true);
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
  // Marked like the node's own sockets (accepted links inherit the mark): a
  // coordinator host that uses an exit node still answers nodes directly.
  tun::mark_socket(acceptor->native_handle());
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
    std::error_code e2;
    auto remote = c->sock.remote_endpoint(e2);
    if (preauth_count >= kMaxPreauth) {
      c->sock.close(e2);  // too many strangers at once: shed the newest
    } else if (!e2) {
      c->sock.set_option(tcp::no_delay(true), e2);
      c->sock.non_blocking(true, e2);  // read_control reads after a readiness wait
      ++preauth_count;
      c->id = next_conn++;
      auto& ref = *c;
      conns[c->id] = std::move(c);
      coord->on_connect(ref.id, to_endpoint(remote));
      read_control(ref);
    }
    accept_control();
  });
}

// Waits for readability, then reads into the shared buffer: no link holds
// a read buffer of its own while idle.
void Daemon::Impl::read_control(ControlConn& c) {
  c.sock.async_wait(tcp::socket::wait_read, [this, id = c.id](const std::error_code& ec) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    if (ec) return drop_control(id);
    std::error_code rec;
    size_t n = it->second->sock.read_some(asio::buffer(control_rbuf), rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) return read_control(*it->second);
    if (rec) return drop_control(id);
    coord->on_bytes(id, {control_rbuf.data(), n}, *this);
    schedule_delta_flush();
    it = conns.find(id);  // the coordinator may have closed it
    if (it == conns.end()) return;
    if (it->second->preauth && coord->linked(id)) {
      it->second->preauth = false;
      --preauth_count;
    }
    if (!it->second->close_after_flush) read_control(*it->second);
  });
}

void Daemon::Impl::schedule_delta_flush() {
  if (!coord || delta_flush_scheduled || !coord->deltas_pending()) return;
  delta_flush_scheduled = true;
  auto run = [this] {
    delta_flush_scheduled = false;
    auto cpu = thread_cpu_time();
    coord->flush_deltas(*this);
    last_delta_flush = std::chrono::steady_clock::now();
    delta_gap = std::clamp<std::chrono::steady_clock::duration>(4 * (thread_cpu_time() - cpu), kDeltaGap, kMaxDeltaGap);
    schedule_delta_flush();  // links dropped while writing queued their departure
  };
  auto next = last_delta_flush + delta_gap;
  if (std::chrono::steady_clock::now() >= next) {
    asio::post(io, run);  // behind the input already queued: one delta for the burst
    return;
  }
  delta_timer.expires_at(next);
  delta_timer.async_wait([run](const std::error_code& ec) {
    if (!ec) run();
  });
}

void Daemon::Impl::write(control::ConnId id, std::span<const uint8_t> bytes) {
  write_owned(id, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

void Daemon::Impl::write_owned(control::ConnId id, std::vector<uint8_t> bytes) {
  auto it = conns.find(id);
  if (it == conns.end() || bytes.empty()) return;
  ControlConn& c = *it->second;
  // Called from inside the coordinator, which still holds this link's
  // state: a link that must go is dropped from the loop, not from here.
  auto drop_later = [this, id] { asio::post(io, [this, id] { drop_control(id); }); };
  if (c.queued + bytes.size() > kMaxQueuedPerConn) {
    log::warn("control link %llu does not read its data; dropping it", static_cast<unsigned long long>(id));
    return drop_later();
  }
  if (!c.writing && c.wq.empty()) {
    // The common case, a link that keeps up: straight into the socket, no
    // queue entry and no completion handler (a broadcast does this 10,000
    // times). The socket is non-blocking; what does not fit is queued.
    std::error_code ec;
    size_t n = c.sock.write_some(asio::buffer(bytes), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return drop_later();
    if (ec) n = 0;
    if (n == bytes.size()) {
      if (c.close_after_flush) drop_later();
      return;
    }
    c.wq_off = n;  // the rest of a megabyte map is not moved, just pointed past
  }
  c.queued += bytes.size();
  c.wq.push_back(std::move(bytes));
  flush_control(c);
}

void Daemon::Impl::close(control::ConnId id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  it->second->close_after_flush = true;
  // Not dropped from here: the coordinator is still in the middle of this
  // link's call (an error message just written straight to the socket).
  if (it->second->wq.empty() && !it->second->writing) asio::post(io, [this, id] { drop_control(id); });
}

void Daemon::Impl::flush_control(ControlConn& c) {
  if (c.writing || c.wq.empty()) return;
  c.writing = true;
  auto& front = c.wq.front();
  asio::const_buffer buf(front.data() + c.wq_off, front.size() - c.wq_off);
  asio::async_write(c.sock, buf, [this, id = c.id](const std::error_code& ec, size_t) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    ControlConn& c = *it->second;
    c.writing = false;
    if (ec) return drop_control(id);
    c.queued -= c.wq.front().size();
    c.wq_off = 0;
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
  if (conn->preauth) --preauth_count;
  std::error_code ignored;
  conn->sock.close(ignored);
  coord->on_disconnect(id, *this);
  schedule_delta_flush();
  // Handlers still queued for this socket find no entry in `conns` and return.
  asio::post(io, [c = std::shared_ptr<ControlConn>(std::move(conn))] {});
}

void Daemon::Impl::sweep_preauth() {
  auto now = std::chrono::steady_clock::now();
  std::vector<control::ConnId> stale;
  for (auto& [id, c] : conns)
    if (c->preauth && now - c->accepted_at > kPreauthTimeout) stale.push_back(id);
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
    schedule_delta_flush();
    schedule_ephemeral();
  });
}

// ---- STUN ----

void Daemon::Impl::open_stun_socket(uint16_t port) {
  try {
    stun_sockets.push_back(std::make_unique<StunSocket>(io, port, stun_advertised(port)));
    tun::mark_socket(stun_sockets.back()->udp.fd());
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
  // Configured relays come first (nodes prefer the first that answers); the embedded
  // one is listed after them, or alone by default.
  std::vector<net::Endpoint> relays = c.relays;
  try {
    net::Endpoint listen{net::IpAddr{}, port};
    relay_service = std::make_unique<RelayService>(io, listen, *c.relay_secret, stun_advertised(port));
    relay_service->start();
    tun::mark_socket(relay_service->fd());  // never into the tunnel of an exit node
    if (!c.advertise.empty()) {
      net::Endpoint e = c.advertise.front();
      e.port = port;
      relays.push_back(e);
    }
    log::info("relay listening on UDP port %u", static_cast<unsigned>(port));
  } catch (const std::exception& e) {
    log::warn("no embedded relay: %s", e.what());
  }
  // A removed node loses its relays at once: the embedded one directly, the
  // standalone ones by a REVOKE under the shared secret (sent three times,
  // since UDP may drop one; relays never answer it).
  coord->on_removed = [this](const crypto::PublicKey& k) {
    if (relay_service) relay_service->server().revoke(k);
    const auto& ext = opts.coordinator->relays;
    if (ext.empty() || stun_sockets.empty()) return;
    auto msg = relay::make_revoke(*opts.coordinator->relay_secret, k, static_cast<uint64_t>(wall_clock_ns() / 1000000000));
    for (int i = 0; i < 3; ++i)
      for (auto& ep : ext) stun_sockets.front()->udp.send(ep, msg);
  };
  if (!relays.empty()) {
    coord->set_relays(*c.relay_secret, relays);
    resend_revocations();
  }
}

// Relays forget revocations when they restart, and one that was down when a
// node was removed never heard of it: every removed node whose relay grant
// may still be valid (Coordinator::revoked_keys) is revoked again in the
// embedded relay at start, and sent to the standalone relays every
// kRevokeResendEvery, at most kRevokesPerRound messages a round.
void Daemon::Impl::resend_revocations() {
  constexpr auto kRevokeResendEvery = 30s;
  constexpr size_t kRevokesPerRound = 1024;
  auto keys = coord->revoked_keys();
  if (relay_service)
    for (auto& k : keys) relay_service->server().revoke(k);
  const auto& ext = opts.coordinator->relays;
  if (!keys.empty() && !ext.empty() && !stun_sockets.empty()) {
    const uint64_t now = static_cast<uint64_t>(wall_clock_ns() / 1000000000);
    const size_t n = std::min(keys.size(), std::max<size_t>(1, kRevokesPerRound / ext.size()));
    for (size_t i = 0; i < n; ++i) {
      auto msg = relay::make_revoke(*opts.coordinator->relay_secret, keys[(revoke_cursor + i) % keys.size()], now);
      for (auto& ep : ext) stun_sockets.front()->udp.send(ep, msg);
    }
    revoke_cursor = (revoke_cursor + n) % keys.size();
  }
  revoke_timer.expires_after(kRevokeResendEvery);
  revoke_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) resend_revocations();
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
          schedule_delta_flush();  // remove and rename change the map
        }
      }
      s->out = resp.dump() + "\n";
      asio::async_write(s->sock, asio::buffer(s->out), [s](const std::error_code&, size_t) {});
    });
    accept_api();
  });
}

}  // namespace ovl::io
