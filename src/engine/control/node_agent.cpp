#include "engine/control/node_agent.hpp"

#include <nlohmann/json.hpp>

#include "engine/log.hpp"

namespace ovl::control {

std::string NetState::to_json() const {
  nlohmann::json j;
  if (welcome) j["welcome"] = nlohmann::json::parse(encode(*welcome));
  FullMap m;
  m.version = version;
  for (auto& [k, p] : peers) m.peers.push_back(p);
  m.filter = filter;
  j["map"] = nlohmann::json::parse(encode(m));
  return j.dump();
}

std::optional<NetState> NetState::from_json(std::string_view s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  NetState st;
  if (auto w = j.find("welcome"); w != j.end()) {
    auto m = decode(w->dump());
    if (!m || !std::holds_alternative<Welcome>(*m)) return std::nullopt;
    st.welcome = std::get<Welcome>(*m);
  }
  if (auto mj = j.find("map"); mj != j.end()) {
    auto m = decode(mj->dump());
    if (!m || !std::holds_alternative<FullMap>(*m)) return std::nullopt;
    auto& fm = std::get<FullMap>(*m);
    st.version = fm.version;
    for (auto& p : fm.peers) st.peers[p.public_key] = p;
    st.filter = fm.filter;
  }
  return st;
}

NodeAgent::NodeAgent(const crypto::SecretKey& node_key, const crypto::PublicKey& coordinator_key, std::string name,
                     std::string hostname, uint16_t listen_port)
    : key_(node_key), coordinator_(coordinator_key), name_(std::move(name)), hostname_(std::move(hostname)),
      listen_port_(listen_port) {}

void NodeAgent::set_invite(const std::string& id, const std::string& secret) {
  invite_id_ = id;
  invite_secret_ = secret;
}

std::vector<uint8_t> NodeAgent::set_endpoints(std::vector<net::Endpoint> lan, std::optional<net::Endpoint> reflexive) {
  if (lan == endpoints_ && reflexive == reflexive_) return {};
  endpoints_ = std::move(lan);
  reflexive_ = std::move(reflexive);
  if (!linked()) return {};  // the next hello carries them
  ch_->send(encode(EndpointsUpdate{endpoints_, reflexive_}));
  return ch_->take_output();
}

std::vector<uint8_t> NodeAgent::set_routes(std::vector<net::Prefix> routes) {
  if (routes == routes_) return {};
  routes_ = std::move(routes);
  if (!linked()) return {};
  ch_->send(encode(RoutesUpdate{routes_}));
  return ch_->take_output();
}

std::vector<uint8_t> NodeAgent::on_connected(crypto::Rng& rng, int64_t wall_ns) {
  ch_ = SecureChannel::client(key_, coordinator_, rng, wall_ns);
  welcomed_ = false;
  Hello h;
  h.name = name_;
  h.hostname = hostname_;
  h.listen_port = listen_port_;
  h.endpoints = endpoints_;
  h.reflexive = reflexive_;
  h.routes = routes_;
  hello_routes_ = routes_;
  if (invite_id_) {
    h.invite_id = invite_id_;
    h.invite_secret = invite_secret_;
  }
  ch_->send(encode(h));
  return ch_->take_output();
}

bool NodeAgent::on_bytes(std::span<const uint8_t> in, std::vector<uint8_t>& to_write) {
  if (!ch_) return false;
  std::vector<std::string> msgs;
  bool ok = ch_->on_bytes(in, msgs);
  for (auto& text : msgs) {
    std::string why;
    auto m = decode(text, &why);
    if (!m) {
      last_error_ = "malformed message from the coordinator: " + why;
      return false;
    }
    handle(*m);
    if (refused_) return false;
  }
  auto out = ch_->take_output();
  to_write.insert(to_write.end(), out.begin(), out.end());
  if (!ok) {
    // A handshake that fails means the server does not hold the key the
    // token pinned (or the stream was tampered with).
    last_error_ = ch_->established() ? ch_->error()
                                     : "the coordinator could not be authenticated (" + ch_->error() +
                                           "); it does not hold the key this token pins";
  }
  return ok;
}

void NodeAgent::on_disconnected() {
  ch_.reset();
  welcomed_ = false;
}

std::vector<uint8_t> NodeAgent::ping() {
  if (!linked()) return {};
  ch_->send(encode(Ping{}));
  return ch_->take_output();
}

std::vector<uint8_t> NodeAgent::call_me_maybe(const CallMeMaybe& c) {
  if (!linked()) return {};
  ch_->send(encode(c));
  return ch_->take_output();
}

void NodeAgent::handle(const Message& m) {
  if (auto* w = std::get_if<Welcome>(&m)) {
    state_.welcome = *w;
    welcomed_ = true;
    // Routes changed while the hello was on its way: send the new set now
    // (on_bytes writes it out with the rest).
    if (routes_ != hello_routes_) ch_->send(encode(RoutesUpdate{routes_}));
    invite_id_.reset();  // enrolled: the invite is spent
    invite_secret_.reset();
    map_changed_ = true;
    changes_ = {true, {}, {}};
  } else if (auto* fm = std::get_if<FullMap>(&m)) {
    state_.peers.clear();
    for (auto& p : fm->peers) state_.peers[p.public_key] = p;
    state_.version = fm->version;
    state_.filter = fm->filter;
    map_changed_ = true;
    changes_ = {true, {}, {}};
  } else if (auto* d = std::get_if<Delta>(&m)) {
    for (auto& k : d->remove) {
      state_.peers.erase(k);
      if (!changes_.full) {
        changes_.upserted.erase(k);
        changes_.removed.insert(k);
      }
    }
    for (auto& p : d->upsert) {
      state_.peers[p.public_key] = p;
      if (!changes_.full) {
        changes_.removed.erase(p.public_key);
        changes_.upserted.insert(p.public_key);
      }
    }
    if (d->filter) state_.filter = d->filter;
    state_.version = d->version;
    map_changed_ = true;
    if (state_.welcome) {  // our own record may have changed (rename)
      auto self = state_.peers.find(state_.welcome->self.public_key);
      if (self != state_.peers.end()) state_.welcome->self = self->second;
    }
  } else if (auto* c = std::get_if<CallMeMaybe>(&m)) {
    if (calls_.size() < 256) calls_.push_back(*c);  // bounded until the daemon takes them
  } else if (auto* e = std::get_if<ErrorMsg>(&m)) {
    refused_ = *e;
    last_error_ = e->message;
  }
}

}  // namespace ovl::control
