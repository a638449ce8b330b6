// The node's path machinery on the daemon's loop: disco pings and pongs
// (nat::Prober), call-me-maybe through the coordinator, the once-a-second
// path decision per peer (nat::PathSelector) and, for one hard NAT, the
// birthday spray (nat::Spray) with its extra sockets.
#include "engine/io/daemon_impl.hpp"
#include "engine/io/system_env.hpp"
#include "engine/log.hpp"
#include "tun/exit_route.hpp"

namespace ovl::io {

using namespace std::chrono_literals;

namespace {

constexpr auto kCallEvery = 30s;      // call-me-maybe to a peer without a direct path
constexpr auto kCallAnswerGap = 3s;   // answer a peer's call unless we just called it

nat::Mapping parse_mapping(const std::string& s) {
  if (s == "endpoint-independent") return nat::Mapping::endpoint_independent;
  if (s == "endpoint-dependent") return nat::Mapping::endpoint_dependent;
  return nat::Mapping::unknown;
}

std::optional<net::Endpoint> first_public(const std::vector<net::Endpoint>& eps) {
  for (auto& e : eps)
    if (nat::classify(e.ip) == nat::PathKind::public_) return e;
  return std::nullopt;
}

asio::steady_timer::time_point at(std::chrono::nanoseconds t) {
  return asio::steady_timer::time_point(std::chrono::duration_cast<asio::steady_timer::duration>(t));
}

}  // namespace

bool Daemon::Impl::on_relay(const net::Endpoint& ep) const {
  return relay::is_virtual_endpoint(ep) && !nat::socket_id(ep);
}

std::optional<net::Endpoint> Daemon::Impl::real_endpoint(const net::Endpoint& ep) const {
  if (auto id = nat::socket_id(ep)) {
    auto it = spray_sockets.find(*id);
    if (it == spray_sockets.end()) return std::nullopt;
    return it->second->remote;
  }
  if (relay::is_virtual_endpoint(ep)) {
    if (relay_client && relay_client->configured()) return relay_client->relay_for(ep);
    return std::nullopt;
  }
  return ep;
}

std::vector<net::Endpoint> Daemon::Impl::own_candidates() const {
  std::vector<net::Endpoint> eps;
  if (discovery && discovery->reflexive()) eps.push_back(*discovery->reflexive());
  for (auto& e : lan_candidates()) eps.push_back(e);
  if (eps.size() > 16) eps.resize(16);
  return eps;
}

// ---- disco ----

void Daemon::Impl::send_disco(std::vector<nat::Prober::Send>& out) {
  for (auto& s : out)
    if (!send_spray_socket(s.to, s.bytes)) udp->send(s.to, s.bytes);
  out.clear();
}

void Daemon::Impl::on_disco(std::span<const uint8_t> d, const net::Endpoint& from) {
  if (!prober) return;
  std::vector<nat::Prober::Send> out;
  auto now = monotonic_now();
  auto key = prober->on_datagram(d, from, now, system_rng(), out);
  send_disco(out);
  run_prober();
  if (key) path_news(*key, now);
}

// A new best path (a first pong, a better one) is acted on now rather than
// at the next once-a-second check: it is what join -> direct time is made of.
void Daemon::Impl::path_news(const crypto::PublicKey& peer, std::chrono::nanoseconds now) {
  auto best = prober->best(peer, now);
  if (!best) return;
  auto& last = last_best[peer];
  if (last && *last == best->ep) return;
  last = best->ep;
  asio::post(io, [this] {
    if (!stopping) check_paths();
  });
}

void Daemon::Impl::run_prober() {
  if (!prober || stopping) return;
  std::vector<nat::Prober::Send> out;
  auto now = monotonic_now();
  if (prober->next_deadline() <= now) prober->on_timer(now, system_rng(), out);
  send_disco(out);
  prober_timer.expires_at(at(prober->next_deadline()));
  prober_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) run_prober();
  });
}

// ---- call-me-maybe ----

void Daemon::Impl::call_peer(const crypto::PublicKey& peer, bool spray_offer) {
  control::CallMeMaybe c;
  c.peer = peer;
  c.endpoints = own_candidates();
  c.mapping = nat::describe(discovery ? discovery->mapping() : nat::Mapping::unknown);
  // The coordinator's own node has no STUN server to ask; it is reachable.
  c.udp = !discovery || discovery->reflexive().has_value();
  c.spray = spray_offer;
  auto bytes = agent->call_me_maybe(c);
  if (bytes.empty()) return;  // no link: the next check calls again
  link_write(std::move(bytes));
  peer_nat[peer].last_call_sent = monotonic_now();
}

void Daemon::Impl::maybe_call(const crypto::PublicKey& peer, std::chrono::nanoseconds now) {
  auto& pn = peer_nat[peer];
  if (pn.last_call_sent.count() >= 0 && now - pn.last_call_sent < kCallEvery) return;
  if (prober->best(peer, now)) return;
  call_peer(peer, false);
}

void Daemon::Impl::on_calls() {
  auto now = monotonic_now();
  for (auto& c : agent->take_calls()) {
    if (!peer_cfg.count(c.peer)) continue;  // not (yet) in our map
    auto& pn = peer_nat[c.peer];
    pn.heard = true;
    pn.mapping = parse_mapping(c.mapping);
    pn.udp = c.udp;
    pn.public_ep = first_public(c.endpoints);
    prober->wake(c.peer, c.endpoints, now);
    if (pn.last_call_sent.count() < 0 || now - pn.last_call_sent >= kCallAnswerGap) call_peer(c.peer, false);
    if (c.spray && discovery && pn.public_ep) {
      auto role = nat::Spray::role_for(discovery->mapping(), pn.mapping);
      if (spray.on_offer(c.peer, role, *pn.public_ep, now)) {
        log::info("%s: agreeing to a birthday spray (this side %s)", crypto::to_base64(c.peer).c_str(),
                  nat::describe(discovery->mapping()));
        call_peer(c.peer, true);
      }
      run_spray();
    }
  }
  run_prober();
}

std::string Daemon::Impl::relay_reason_for(const crypto::PublicKey& peer) const {
  if (discovery && !discovery->reflexive()) return "no UDP from this node (STUN unanswered)";
  auto it = peer_nat.find(peer);
  if (it == peer_nat.end() || !it->second.heard) return "";
  const auto& pn = it->second;
  if (!pn.udp) return "peer has no UDP";
  auto self = discovery ? discovery->mapping() : nat::Mapping::unknown;
  if (self == nat::Mapping::endpoint_dependent && pn.mapping == nat::Mapping::endpoint_dependent)
    return "both sides behind endpoint-dependent NAT";
  if (nat::Spray::role_for(self, pn.mapping) != nat::Spray::Role::none) {
    auto st = spray.state(peer);
    if (st == "spraying") return "one side behind endpoint-dependent NAT; trying a birthday spray";
    if (st == "failed") return "one side behind endpoint-dependent NAT; the birthday spray found no port";
    return "one side behind endpoint-dependent NAT";
  }
  return "";
}

// ---- path choice, once a second ----

// The reflexive address is re-checked every 25 s, and at once when the
// network changes under us: a local address came or went (a new Wi-Fi, a
// DHCP renumbering), or a direct path went silent (our NAT may have
// renumbered or dropped its mappings). Both are cheap to notice here, once
// a second; a STUN probe costs two small datagrams, and a path that goes
// silent asks once (at most every 5 s whatever the number of peers).
void Daemon::Impl::watch_network(bool path_lost, std::chrono::nanoseconds now) {
  auto lan = lan_candidates();
  bool lan_changed = lan != last_lan;
  if (lan_changed) {
    if (!last_lan.empty()) log::info("local addresses changed: checking the public address again");
    last_lan = lan;
  }
  bool ask = lan_changed || (path_lost && now - last_network_recheck >= std::chrono::seconds(5));
  if (!ask || !discovery) {
    if (lan_changed && agent->state().welcome) report_endpoints();
    return;
  }
  last_network_recheck = now;
  discovery->recheck(now);
  run_discovery();
  if (lan_changed && agent->state().welcome) report_endpoints();
}

void Daemon::Impl::check_paths() {
  auto now = monotonic_now();
  int64_t wall = wall_clock_ns();
  bool path_lost = false;
  for (auto& s : device->status()) {
    auto cfg = peer_cfg.find(s.public_key);
    if (cfg == peer_cfg.end()) continue;
    const auto& key = s.public_key;
    auto best = prober->best(key, now);
    nat::PathSelector::Observation o;
    o.on_relay = s.endpoint && on_relay(*s.endpoint);
    o.session = s.has_session && s.last_handshake_unix_ns && wall - s.last_handshake_unix_ns < 180'000'000'000LL;
    o.rx_bytes = s.rx_bytes;
    o.tx_bytes = s.tx_bytes;
    auto direct = direct_candidate.find(key);
    o.have_direct = direct != direct_candidate.end();
    o.relay_ready = relay_client->ready();
    o.direct_alive = best.has_value();
    o.on_best = best && s.endpoint && *s.endpoint == best->ep;
    o.direct_lost = prober->lost(key, now);
    if (o.direct_lost && lost_paths.insert(key).second) path_lost = true;  // news only when it goes
    if (!o.direct_lost) lost_paths.erase(key);
    o.relay_reason = relay_reason_for(key);
    auto action = paths.decide(key, o, now);
    // Disco found a path and no session runs yet: handshake now. Waiting for
    // traffic would let a first initiation that the peer's firewall dropped
    // (before our pings opened it) cost WireGuard's 5 s retry.
    if (best && o.on_best && !o.session) device->probe(key, best->ep, now, *plane);
    switch (action) {
      case nat::PathSelector::Action::use_relay: {
        log::info("%s: %s; using the relay", crypto::to_base64(key).c_str(), paths.reason(key).c_str());
        wg::PeerConfig c = cfg->second;
        c.endpoint = relay_client->endpoint_for(key);
        device->set_peer(c, now);
        break;
      }
      case nat::PathSelector::Action::use_direct: {
        auto shown = real_endpoint(best->ep);
        log::info("%s: direct path %s (%s, %.1f ms)", crypto::to_base64(key).c_str(),
                  shown ? shown->str().c_str() : "?", nat::describe(best->kind),
                  std::chrono::duration<double, std::milli>(best->rtt).count());
        wg::PeerConfig c = cfg->second;
        c.endpoint = best->ep;
        device->set_peer(c, now);
        if (!o.session) device->probe(key, best->ep, now, *plane);  // handshake now, not on the next packet
        break;
      }
      case nat::PathSelector::Action::probe_direct:
        device->probe(key, direct->second, now, *plane);
        break;
      case nat::PathSelector::Action::none:
        break;
    }
    if (best) spray.succeeded(key, now);
    else last_best.erase(key);  // the next pong is news again
    auto pi = agent->state().peers.find(key);
    if (pi != agent->state().peers.end() && pi->second.online) {
      maybe_call(key, now);
      auto pn = peer_nat.find(key);
      if (!best && discovery && pn != peer_nat.end() && pn->second.heard && pn->second.public_ep) {
        auto role = nat::Spray::role_for(discovery->mapping(), pn->second.mapping);
        if (spray.should_offer(key, role, *pn->second.public_ep, now)) {
          log::info("%s: offering a birthday spray (this side %s)", crypto::to_base64(key).c_str(),
                    nat::describe(discovery->mapping()));
          call_peer(key, true);
        }
      }
    }
  }
  watch_network(path_lost, now);
  close_idle_spray_sockets();
  plane->rearm();
  run_spray();
  path_timer.expires_after(1s);
  path_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) check_paths();
  });
}

// ---- birthday spray ----

void Daemon::Impl::run_spray() {
  if (!prober || stopping) return;
  auto now = monotonic_now();
  nat::Spray::Actions a;
  spray.on_timer(now, system_rng(), a);
  std::vector<nat::Prober::Send> out;
  for (auto& o : a.open) open_spray_sockets(o.peer, o.target);
  for (auto& p : a.probe) prober->ping_once(p.peer, p.to, now, system_rng(), out);
  if (!a.probe.empty()) log::debug("spray: %zu probes", a.probe.size());
  send_disco(out);
  for (auto& f : a.finished)
    log::info("%s: birthday spray %s", crypto::to_base64(f.peer).c_str(), f.success ? "found a path" : "found no port");
  if (!a.finished.empty()) close_idle_spray_sockets();
  auto next = spray.next_deadline();
  if (next == nat::Spray::Time::max()) return;  // check_paths calls again
  spray_timer.expires_at(at(std::max(next, now)));
  spray_timer.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopping) run_spray();
  });
}

bool Daemon::Impl::send_spray_socket(const net::Endpoint& ep, std::span<const uint8_t> d) {
  auto id = nat::socket_id(ep);
  if (!id) return false;
  auto it = spray_sockets.find(*id);
  if (it != spray_sockets.end()) it->second->udp.send(it->second->remote, d);
  return true;  // a closed socket's packets are dropped, like a dead path's
}

void Daemon::Impl::open_spray_sockets(const crypto::PublicKey& peer, const net::Endpoint& target) {
  auto now = monotonic_now();
  std::vector<nat::Prober::Send> out;
  int opened = 0;
  for (int i = 0; i < nat::Spray::kSockets; ++i) {
    uint32_t id = next_spray_id++;
    try {
      spray_sockets[id] = std::make_unique<SpraySocket>(io, id, peer, target);
      tun::mark_socket(spray_sockets[id]->udp.fd());  // like the main socket: never into an exit node's tunnel
    } catch (const std::exception& e) {
      log::warn("spray: could only open %d sockets: %s", opened, e.what());
      break;
    }
    ++opened;
    read_spray_socket(id);
    prober->ping_once(peer, nat::socket_endpoint(id), now, system_rng(), out);
  }
  send_disco(out);
  log::info("%s: birthday spray, %d sockets toward %s", crypto::to_base64(peer).c_str(), opened, target.str().c_str());
}

void Daemon::Impl::read_spray_socket(uint32_t id) {
  auto it = spray_sockets.find(id);
  if (it == spray_sockets.end()) return;
  it->second->wait.async_wait(asio::posix::descriptor_base::wait_read, [this, id](const std::error_code& ec) {
    if (ec || stopping) return;
    auto s = spray_sockets.find(id);
    if (s == spray_sockets.end()) return;
    const auto vep = nat::socket_endpoint(id);
    for (int i = 0; i < 64; ++i) {
      net::Endpoint from;
      ssize_t n = s->second->udp.recv(spray_buf, from);
      if (n < 0) {
        if (n == -EAGAIN || n == -EWOULDBLOCK) break;
        continue;
      }
      if (!(from == s->second->remote)) continue;  // the socket exists for one remote only
      std::span<uint8_t> d(spray_buf.data(), static_cast<size_t>(n));
      if (nat::disco::is_disco(d)) {
        std::vector<nat::Prober::Send> out;
        auto now = monotonic_now();
        auto key = prober->on_datagram(d, vep, now, system_rng(), out);
        send_disco(out);
        if (key) path_news(*key, now);
      } else if (wg::is_wireguard_message(d)) {
        device->on_udp(d, vep, monotonic_now(), *plane);
      }
      if (spray_sockets.find(id) == spray_sockets.end()) return;
    }
    plane->rearm();
    run_prober();
    read_spray_socket(id);
  });
}

// Sockets of a spray that is over and that no live path uses are closed (and
// forgotten as candidates).
void Daemon::Impl::close_idle_spray_sockets() {
  auto now = monotonic_now();
  std::map<crypto::PublicKey, std::vector<nat::Prober::CandidateView>, control::KeyLess> cands;
  for (auto it = spray_sockets.begin(); it != spray_sockets.end();) {
    auto& s = *it->second;
    if (spray.state(s.peer) == "spraying") {
      ++it;
      continue;
    }
    auto [c, fresh] = cands.try_emplace(s.peer);
    if (fresh) c->second = prober->candidates(s.peer, now);
    auto vep = nat::socket_endpoint(s.id);
    bool alive = false;
    for (auto& v : c->second) alive = alive || (v.ep == vep && v.alive);
    if (alive) {
      ++it;
      continue;
    }
    prober->drop_candidate(s.peer, vep);
    it = spray_sockets.erase(it);
  }
}

}  // namespace ovl::io
