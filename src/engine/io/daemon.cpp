#include "engine/io/daemon.hpp"

#include <csignal>
#include <cstdlib>
#include <set>

#include "engine/io/daemon_impl.hpp"
#include "engine/io/interfaces.hpp"
#include "engine/io/system_env.hpp"
#include "engine/log.hpp"
#include "engine/nat/candidates.hpp"
#include "store/map_cache.hpp"

namespace ovl::io {

using namespace std::chrono_literals;

namespace {
net::IpAddr resolver_address() {
  return net::IpAddr::v4(kResolverAddress[0], kResolverAddress[1], kResolverAddress[2], kResolverAddress[3]);
}
constexpr auto kConnectTimeout = 5s;
constexpr auto kPingInterval = 15s;
constexpr auto kLinkDeadAfter = 45s;  // three pings unanswered
constexpr uint16_t kPersistentKeepalive = 25;
}  // namespace

std::string api_socket_path(const std::string& state_dir) { return state_dir + "/ovl.sock"; }

Daemon::Daemon(DaemonOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {
  Impl& d = *impl_;
  d.start_api();  // first: refuses to start a second daemon on the same state dir
  if (d.opts.coordinator) d.start_coordinator();
  if (d.opts.node) d.start_node();
}

Daemon::~Daemon() {
  if (impl_ && !impl_->api_path.empty()) ::unlink(impl_->api_path.c_str());
}

const std::string& Daemon::fatal_message() const { return impl_->fatal; }

control::CreatedInvite Daemon::create_invite(const control::InviteOptions& o) {
  if (!impl_->coord) throw std::runtime_error("this process does not run the coordinator");
  return impl_->coord->create_invite(o);
}

int Daemon::run() {
  Impl& d = *impl_;
  d.signals.async_wait([&d](const std::error_code& ec, int sig) {
    if (ec) return;
    log::info("%s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    d.stop(kExitOk);
  });
  d.io.run();
  return d.exit_code;
}

void Daemon::Impl::stop(int code, const std::string& why) {
  if (stopping) return;
  stopping = true;
  exit_code = code;
  if (!why.empty()) fatal = why;
  io.stop();
}

// ---- node role ----

namespace {
// OVL_TEST_REKEY_AFTER_S (1..120) shortens WireGuard's 120 s rekey interval.
// It exists for tests only (tests/e2e/test_soak.sh: real rekeys within a
// one-minute run) and says so in the log; it never lengthens the interval.
wg::DeviceOptions device_options() {
  wg::DeviceOptions o;
  if (const char* v = std::getenv("OVL_TEST_REKEY_AFTER_S")) {
    char* end = nullptr;
    long s = std::strtol(v, &end, 10);
    if (end != v && *end == 0 && s >= 1 && s <= 120) {
      o.rekey_after_time = std::chrono::seconds(s);
      log::warn("TEST ONLY: OVL_TEST_REKEY_AFTER_S=%ld, sessions are rekeyed every %ld s", s, s);
    } else {
      log::warn("ignoring OVL_TEST_REKEY_AFTER_S=\"%.16s\" (test-only; a whole number of seconds 1..120)", v);
    }
  }
  return o;
}
}  // namespace

void Daemon::Impl::start_node() {
  NodeRole& n = *opts.node;
  if (!n.enroll_only) {
    // First: an explicit --dns that cannot be honoured safely stops the start
    // here, and a block a crashed run left in resolv.conf goes at once (the
    // resolver it names is gone until the overlay is up again).
    os_dns = std::make_unique<OsDns>(n.dns_mode);
    os_dns->repair(resolver_address().str());
  }
  device = std::make_unique<wg::Device>(n.key, system_device_env(), device_options());
  uint64_t seed = 0;
  system_rng().fill({reinterpret_cast<uint8_t*>(&seed), sizeof seed});
  filter = std::make_unique<policy::Filter>(policy::Filter::kDefaultFlows, seed);
  udp = std::make_unique<UdpSocket>(n.listen_port);
  agent = std::make_unique<control::NodeAgent>(n.key, n.coordinator_key, n.name, n.hostname, udp->port());
  if (n.invite_id) agent->set_invite(*n.invite_id, n.invite_secret.value_or(""));
  agent->set_endpoints(lan_candidates(), std::nullopt);
  start_routes();

  // Come back up from the cached map: tunnels work while the coordinator is away.
  if (auto st = store::load_map(*opts.db); st && st->welcome) {
    log::info("restored the network map (version %llu, %zu nodes) from the cache",
              static_cast<unsigned long long>(st->version), st->peers.size());
    agent->restore(std::move(*st));
    if (!n.enroll_only) apply_map({true, {}, {}}, /*save=*/false);
  }
  connect_link();
}

void Daemon::Impl::start_data_plane(const control::Welcome& w) {
  if (plane) return;
  NodeRole& n = *opts.node;
  tun = std::make_unique<tun::TunDevice>(n.tun_name, n.mtu, offloads_from_env().tso);
  tun->add_address(net::Prefix{w.self.ip, w.network.cidr.len});
  // IPv6 inside the overlay: every node's address lies in subnet 0 of the
  // network's ULA /48, so one /64 on the device routes to all of them.
  if (w.self.ip6 && w.network.ula) tun->add_address(net::Prefix{*w.self.ip6, control::kOverlay6SubnetLen});
  // Peer names: queries to the resolver address arrive on TUN and are
  // answered from the network map.
  auto resolver = resolver_address();
  if (!w.network.cidr.contains(resolver)) tun->add_route(net::Prefix{resolver, 32});
  plane = std::make_unique<PacketPlane>(io, *device, *tun, *udp);
  plane->local_address = resolver;
  plane->local_service = [this, resolver](std::span<const uint8_t> pkt) {
    if (auto reply = dns.answer_ip_packet(pkt, resolver)) tun->write(*reply);
  };
  plane->other_udp = [this](std::span<uint8_t> d, const net::Endpoint& from) { on_other_udp(d, from); };
  relay_client = std::make_unique<relay::Client>(opts.node->key);
  prober = std::make_unique<nat::Prober>(n.key);
  plane->virtual_send = [this](const net::Endpoint& ep, std::span<const uint8_t> d) { send_via_relay(ep, d); };
  plane->filter = filter.get();
  plane->start();
  if (os_dns) os_dns->apply(tun->name(), w.network.domain, resolver.str());
  check_paths();
  try {
    sync_forwarding();
  } catch (const std::exception& e) {
    log::error("%s", e.what());  // the overlay itself works; routing through us does not
  }
  run_prober();
  run_spray();
  // The coordinator's own node reaches it over loopback, where STUN would
  // only say "127.0.0.1"; its interface addresses are its candidates.
  const auto& ce = n.coordinator_endpoints;
  if (!ce.empty() && !ce.front().ip.is_loopback()) {
    discovery = std::make_unique<nat::Discovery>(n.coordinator_endpoints.front());
    run_discovery();
  }
  log::info("overlay up: %s is %s on %s (%s)", w.self.name.c_str(), w.self.ip.str().c_str(), n.tun_name.c_str(),
            w.network.name.c_str());
}

// Work in proportion to what changed: a delta touching one peer configures
// that peer and writes its cache row, whatever the size of the network.
void Daemon::Impl::apply_map(const control::MapChanges& ch, bool save) {
  const auto& st = agent->state();
  if (!st.welcome) return;
  start_data_plane(*st.welcome);
  const auto& self = st.welcome->self.public_key;
  wg::Time now = monotonic_now();
  // Subnet routes go to one peer each (plan_routes looks at the whole map):
  // a change of one peer can move a route to another, so peers whose routes
  // moved are configured again too.
  auto routes_before = peer_routes;
  plan_routes();
  std::optional<std::vector<net::Prefix>> subnets;  // read from the kernel once, when first needed
  auto configure = [&](const crypto::PublicKey& key, const control::PeerInfo& p) {
    wg::PeerConfig c;
    c.public_key = key;
    c.allowed_ips = {net::Prefix{p.ip, static_cast<uint8_t>(p.ip.v6 ? 128 : 32)}};
    if (p.ip6) c.allowed_ips.push_back(net::Prefix{*p.ip6, 128});
    if (auto r = peer_routes.find(key); r != peer_routes.end())
      c.allowed_ips.insert(c.allowed_ips.end(), r->second.begin(), r->second.end());
    c.persistent_keepalive = kPersistentKeepalive;
    // Only hand the device a new endpoint when the map's candidates changed,
    // so a roamed-to address learned from real traffic is not overridden.
    auto prev = applied.find(key);
    if (prev == applied.end() || prev->second != p.endpoints) {
      if (!subnets) subnets = local_subnets({opts.node->tun_name});
      c.endpoint = nat::choose_endpoint(p.endpoints, st.welcome->self.endpoints, *subnets);
      applied[key] = p.endpoints;
      if (c.endpoint) direct_candidate[key] = *c.endpoint;
      else direct_candidate.erase(key);
    }
    device->set_peer(c, now);
    c.endpoint.reset();  // later changes of path keep the allowed IPs and keepalive
    peer_cfg[key] = c;
    prober->set_peer(key, p.endpoints, p.online, now);
    if (p.online) maybe_call(key, now);
  };
  auto forget = [&](const crypto::PublicKey& key) {
    if (!applied.erase(key)) return;
    device->remove_peer(key);
    peer_cfg.erase(key);
    direct_candidate.erase(key);
    paths.forget(key);
    prober->remove_peer(key);
    spray.forget(key);
    peer_nat.erase(key);
    last_best.erase(key);
  };
  // The DNS zone is rebuilt only when a name or address changed, not for
  // the frequent endpoint and online changes.
  bool names_changed = false;
  auto note_name = [&](const crypto::PublicKey& key, const control::PeerInfo* p) {
    auto it = dns_names.find(key);
    if (!p) {
      if (it != dns_names.end()) dns_names.erase(it), names_changed = true;
    } else if (it == dns_names.end() || it->second.first != p->name || it->second.second != p->ip) {
      dns_names[key] = {p->name, p->ip};
      names_changed = true;
    }
  };
  if (ch.full) {
    for (auto& [key, p] : st.peers) {
      note_name(key, &p);
      if (key != self) configure(key, p);
    }
    std::vector<crypto::PublicKey> gone;
    for (auto& [key, eps] : applied)
      if (key == self || !st.peers.count(key)) gone.push_back(key);
    for (auto& key : gone) forget(key);
    for (auto it = dns_names.begin(); it != dns_names.end();)
      if (st.peers.count(it->first)) ++it;
      else it = dns_names.erase(it), names_changed = true;
  } else {
    for (auto& key : ch.removed) {
      forget(key);
      note_name(key, nullptr);
    }
    for (auto& key : ch.upserted) {
      auto it = st.peers.find(key);
      if (it == st.peers.end()) continue;
      note_name(key, &it->second);
      if (key != self) configure(key, it->second);
    }
    std::set<crypto::PublicKey, control::KeyLess> moved;
    for (auto& [key, r] : routes_before)
      if (auto it = peer_routes.find(key); it == peer_routes.end() || it->second != r) moved.insert(key);
    for (auto& [key, r] : peer_routes)
      if (auto it = routes_before.find(key); it == routes_before.end() || it->second != r) moved.insert(key);
    for (auto& key : moved)
      if (auto it = st.peers.find(key); key != self && it != st.peers.end() && !ch.upserted.count(key))
        configure(key, it->second);
  }
  if (plane) plane->rearm();
  if (st.filter != applied_filter) {
    filter->set_rules(st.filter);
    applied_filter = st.filter;
    if (st.filter) log::info("access policy: %zu rule(s) admit traffic to this node", st.filter->rules.size());
    else log::info("access policy: none from the coordinator; all traffic is admitted");
  }
  // The per-source deny counters follow the peer set; most deltas only
  // update peers already counted (online state, endpoints), so an O(N)
  // rebuild happens only when a peer came or went.
  bool peers_changed = ch.full || !ch.removed.empty();
  for (auto& key : ch.upserted) {
    if (peers_changed) break;
    auto it = st.peers.find(key);
    peers_changed = key != self && it != st.peers.end() && !filter->has_source(it->second.ip);
  }
  if (peers_changed) {
    std::vector<net::IpAddr> sources;
    for (auto& [key, p] : st.peers)
      if (key != self) {
        sources.push_back(p.ip);
        if (p.ip6) sources.push_back(*p.ip6);  // denied IPv6 packets count for the peer too
      }
    filter->set_sources(sources);
  }
  run_prober();
  sync_os_routes();
  if (names_changed) {
    std::vector<dns::Record> names;
    for (auto& [key, p] : st.peers) {
      names.push_back({p.name, {p.ip}});
      if (p.ip6) names.back().addrs.push_back(*p.ip6);
    }
    dns.set_zone(st.welcome->network.domain, std::move(names));
  }
  if (ch.full && !st.welcome->relays.empty()) {
    relay_client->configure(st.welcome->relays, now);
    run_relay_client();
  }
  if (!save) return;
  try {
    store::save_map_changes(*opts.db, st, ch);
  } catch (const std::exception& e) {
    // A full or read-only disk must not take the running network down.
    log::warn("could not save the network map: %s", e.what());
  }
}

// Non-WireGuard datagrams on the node's port: STUN requests (when this host
// runs the coordinator on the same port) and answers to our own requests.
void Daemon::Impl::on_other_udp(std::span<uint8_t> d, const net::Endpoint& from) {
  if (nat::disco::is_disco(d)) return on_disco(d, from);
  if (relay::is_relay_message(d)) {
    if (!relay_client || !relay_client->configured()) return;  // no relay of ours: nobody to hear
    net::Endpoint src;
    bool was_ready = relay_client->ready();
    auto was = relay_client->relay();
    auto now = monotonic_now();
    auto inner = relay_client->on_message(d, from, now, src);
    if (!inner.empty()) {
      // The payload sits inside our receive buffer: hand it on in place.
      auto off = static_cast<size_t>(inner.data() - d.data());
      device->on_udp(d.subspan(off, inner.size()), src, monotonic_now(), *plane);
    } else if (was_ready != relay_client->ready() || !(was == relay_client->relay())) {
      if (relay_client->ready()) log::info("relay %s accepted this node", relay_client->relay().str().c_str());
      else log::warn("relay %s: %s", relay_client->relay().str().c_str(), relay_client->last_refusal());
      run_relay_client();  // a lost lease is renewed now, not at the next renewal
    } else if (relay_client->next_deadline() <= now) {
      run_relay_client();  // a challenge is answered at once
    }
    return;
  }
  if (!nat::is_stun(d)) return;
  if (opts.coordinator) {
    if (nat::parse_request(d)) {
      answer_stun(d, from, *udp, stun_advertised(udp->port()));
      return;
    }
  }
  auto r = nat::parse_response(d);
  if (r && discovery && discovery->on_response(*r, from, monotonic_now())) {
    log::info("public address %s (%s mapping)", discovery->reflexive() ? discovery->reflexive()->str().c_str() : "?",
              nat::describe(discovery->mapping()));
    report_endpoints();
  }
}

std::vector<net::Endpoint> Daemon::Impl::lan_candidates() const {
  std::vector<net::Endpoint> eps;
  for (auto& a : local_addresses({opts.node->tun_name})) eps.push_back({a, udp->port()});
  return eps;
}

net::Endpoint Daemon::Impl::stun_advertised(uint16_t port) const {
  net::Endpoint adv = opts.coordinator->advertise.empty() ? net::Endpoint{} : opts.coordinator->advertise.front();
  adv.port = port;
  return adv;
}

void Daemon::Impl::report_endpoints() {
  link_write(agent->set_endpoints(lan_candidates(), discovery ? discovery->reflexive() : std::nullopt));
  // Our mapping changed: tell every peer, so both sides probe the new one.
  for (auto& [key, pn] : peer_nat) pn.last_call_sent = std::chrono::nanoseconds(-1);
}

void Daemon::Impl::run_discovery() {
  std::vector<nat::Discovery::Send> out;
  discovery->on_timer(monotonic_now(), system_rng(), out);
  for (auto& s : out) udp->send(s.to, s.bytes);
  auto next = discovery->next_deadline();
  discovery_timer.expires_at(std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(next)));
  discovery_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) run_discovery();
  });
}

void Daemon::Impl::send_via_relay(const net::Endpoint& virtual_ep, std::span<const uint8_t> d) {
  if (send_spray_socket(virtual_ep, d)) return;
  net::Endpoint to;
  size_t n = relay_client->wrap(virtual_ep, d, relay_out, to);
  if (n) udp->send(to, {relay_out.data(), n});
}

void Daemon::Impl::run_relay_client() {
  auto now = monotonic_now();
  auto was = relay_client->relay();
  bool was_ready = relay_client->ready();
  for (auto& m : relay_client->on_timer(now)) udp->send(m.to, m.bytes);
  if (was_ready && (!(was == relay_client->relay()) || !relay_client->ready()))
    log::warn("relay %s does not answer; %s", was.str().c_str(),
              relay_client->ready() ? ("relayed traffic goes through " + relay_client->relay().str()).c_str()
                                    : "no relay holds this node's lease");
  relay_timer.expires_at(std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(relay_client->next_deadline())));
  relay_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) run_relay_client();
  });
}

void Daemon::Impl::connect_link() {
  NodeRole& n = *opts.node;
  if (n.coordinator_endpoints.empty()) return link_failed("no coordinator address known");
  net::Endpoint ep = n.coordinator_endpoints[endpoint_index++ % n.coordinator_endpoints.size()];
  current_endpoint = ep;
  link = std::make_unique<tcp::socket>(io);
  tcp::endpoint te(asio::ip::make_address(ep.ip.str()), ep.port);
  // Marked, so that with an exit node in use the control link still takes
  // the original route (tun/exit_route.hpp).
  std::error_code open_ec;
  link->open(te.protocol(), open_ec);
  if (!open_ec) tun::mark_socket(link->native_handle());
  log::debug("connecting to the coordinator at %s", ep.str().c_str());
  link_timer.expires_after(kConnectTimeout);
  link_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && link) link->close();  // the connect handler reports the timeout
  });
  link->async_connect(te, [this, ep](const std::error_code& ec) {
    link_timer.cancel();
    if (ec) return link_failed("cannot reach the coordinator at " + ep.str() + ": " + ec.message());
    link->set_option(tcp::no_delay(true));
    link_attempts = 0;
    last_rx = std::chrono::steady_clock::now();
    link_write(agent->on_connected(system_rng(), wall_clock_ns()));
    link_read();
    schedule_ping();
  });
}

void Daemon::Impl::link_read() {
  link->async_read_some(asio::buffer(link_buf), [this](const std::error_code& ec, size_t n) {
    if (ec) {
      // A coordinator that hangs up on our initiation could not decrypt it:
      // it does not hold the key the invite pinned. For a join that is final.
      if (agent->handshake_pending() && !agent->state().welcome)
        return stop(kExitRefused, "the coordinator at " + current_endpoint.str() +
                                      " did not complete the handshake: it does not hold the key this invite pins "
                                      "(a token for another network, or not an ovl coordinator)");
      return link_failed(ec == asio::error::eof ? "the coordinator closed the link" : ec.message());
    }
    last_rx = std::chrono::steady_clock::now();
    std::vector<uint8_t> out;
    bool ok = agent->on_bytes({link_buf.data(), n}, out);
    if (!out.empty()) link_write(std::move(out));
    if (agent->take_map_changed()) {
      auto changes = agent->take_changes();
      if (opts.on_enrolled && !enrolled_reported && agent->state().welcome) {
        enrolled_reported = true;
        opts.on_enrolled(*agent->state().welcome);
      }
      if (opts.node->enroll_only) {
        // Save the map only once the full map arrived with the welcome.
        if (agent->state().version > 0 || agent->state().peers.size() > 0) {
          store::save_map(*opts.db, agent->state());
          return stop(kExitOk);
        }
      } else {
        apply_map(changes);
      }
    }
    if (plane) on_calls();  // after the map: a call may name a peer that just joined
    if (auto& r = agent->refused()) {
      // A refused join is bad input (exit 2); a coordinator that cannot
      // store it right now ("unavailable") is a failure worth retrying.
      bool refused_input = !agent->state().welcome && r->code != "unavailable";
      return stop(refused_input ? kExitRefused : kExitFailure, r->message);
    }
    if (!ok) return link_failed(agent->last_error());
    link_read();
  });
}

void Daemon::Impl::link_write(std::vector<uint8_t> bytes) {
  if (bytes.empty() || !link) return;
  link_wq.push_back(std::move(bytes));
  if (link_writing) return;
  link_writing = true;
  auto step = std::make_shared<std::function<void()>>();
  *step = [this, step] {
    if (link_wq.empty() || !link) {
      link_writing = false;
      return;
    }
    asio::async_write(*link, asio::buffer(link_wq.front()), [this, step](const std::error_code& ec, size_t) {
      if (ec) {
        link_writing = false;
        link_wq.clear();
        return;  // the read side reports the failure
      }
      link_wq.pop_front();
      (*step)();
    });
  };
  (*step)();
}

void Daemon::Impl::link_failed(const std::string& why) {
  if (stopping) return;
  if (link) {
    std::error_code ignored;
    link->close(ignored);
  }
  link_wq.clear();
  ping_timer.cancel();
  agent->on_disconnected();
  // Not enrolled yet (a join): nothing useful can run without the
  // coordinator, so give up after a while with the reason instead of hanging.
  if (!agent->state().welcome && link_attempts >= 5)
    return stop(kExitFailure, "giving up on joining: " + why);
  if (link_attempts == 0) log::warn("control link down: %s; tunnels keep running, reconnecting", why.c_str());
  else log::debug("control link: %s", why.c_str());
  schedule_reconnect();
}

void Daemon::Impl::schedule_reconnect() {
  // 1, 2, 4, ... 30 s, with jitter so a restarted coordinator is not hit by
  // every node in the same millisecond.
  int shift = std::min(link_attempts++, 5);
  auto base = std::chrono::milliseconds(std::min(1000 << shift, 30000));
  auto delay = base / 2 + std::chrono::milliseconds(system_rng().uniform(static_cast<uint32_t>(base.count() / 2 + 1)));
  link_timer.expires_after(delay);
  link_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) connect_link();
  });
}

void Daemon::Impl::schedule_ping() {
  ping_timer.expires_after(kPingInterval);
  ping_timer.async_wait([this](const std::error_code& ec) {
    if (ec || stopping || !link) return;
    if (std::chrono::steady_clock::now() - last_rx > kLinkDeadAfter) return link_failed("the coordinator stopped answering");
    link_write(agent->ping());
    schedule_ping();
  });
}

}  // namespace ovl::io
