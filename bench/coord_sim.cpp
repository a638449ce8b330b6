#include "coord_sim.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "engine/control/messages.hpp"

namespace ovl::bench {

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {
int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The coordinator's JSON has sorted keys: a full map starts with its
// "peers" and a delta with its "remove" (or, when it carries the node's new
// filter, with that "filter"), and both end with "version" (a key no peer
// has). This lets a simulated node read a 1.5 MB map without parsing it; the
// smaller messages are searched for their "type".
constexpr const char* kFilterDelta = "{\"filter\":";

std::string message_type(const std::string& text) {
  if (text.rfind("{\"peers\":", 0) == 0) return "map";
  if (text.rfind("{\"remove\":", 0) == 0 || text.rfind(kFilterDelta, 0) == 0) return "delta";
  static const std::string key = "\"type\":\"";
  auto at = text.find(key);
  if (at == std::string::npos) return {};
  at += key.size();
  return text.substr(at, text.find('"', at) - at);
}

uint64_t message_version(const std::string& text) {
  auto at = text.rfind("\"version\":");
  return at == std::string::npos ? 0 : std::strtoull(text.c_str() + at + 10, nullptr, 10);
}
}  // namespace

SimFleet::SimFleet(uint16_t port, const crypto::PublicKey& coordinator, std::string invite_id,
                   std::string invite_secret)
    : port_(port), coordinator_(coordinator), invite_id_(std::move(invite_id)),
      invite_secret_(std::move(invite_secret)), rbuf_(256 << 10) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

SimFleet::~SimFleet() {
  for (auto& n : nodes)
    if (n->fd >= 0) ::close(n->fd);
  if (ep_ >= 0) ::close(ep_);
}

size_t SimFleet::add(const std::string& name) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port_);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only, always
  auto node = std::make_unique<SimNode>();
  node->fd = fd;
  node->name = name;
  node->connecting = true;
  size_t i = nodes.size();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 && errno != EINPROGRESS) {
    node->closed = true;
    node->error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    node->fd = -1;
    nodes.push_back(std::move(node));
    ++failed;
    return i;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = i;
  ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  nodes.push_back(std::move(node));
  ++in_flight;
  return i;
}

void SimFleet::want_write(SimNode& s, size_t i, bool on) {
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.u64 = i;
  ::epoll_ctl(ep_, EPOLL_CTL_MOD, s.fd, &ev);
}

void SimFleet::drop(SimNode& s, const std::string& why) {
  if (s.closed) return;
  s.closed = true;
  if (s.error.empty()) s.error = why;
  if (s.fd >= 0) {
    ::epoll_ctl(ep_, EPOLL_CTL_DEL, s.fd, nullptr);
    ::close(s.fd);
    s.fd = -1;
  }
  std::vector<uint8_t>().swap(s.out);
  s.ch.reset();
  if (!s.mapped) {
    --in_flight;
    ++failed;
  }
}

void SimFleet::flush(SimNode& s, size_t i) {
  while (s.out_off < s.out.size()) {
    ssize_t n = ::send(s.fd, s.out.data() + s.out_off, s.out.size() - s.out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return want_write(s, i, true);
      return drop(s, std::string("send: ") + std::strerror(errno));
    }
    s.out_off += static_cast<size_t>(n);
  }
  s.out.clear();
  s.out_off = 0;
  want_write(s, i, false);
}

void SimFleet::on_writable(SimNode& s, size_t i) {
  if (s.connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return drop(s, std::string("connect: ") + std::strerror(err));
    s.connecting = false;
    // A fresh key per node; the channel keeps its own copy.
    crypto::SecretKey key = crypto::generate_private_key(rng_);
    s.pub = crypto::public_from_private(key);
    s.ch = control::SecureChannel::client(key, coordinator_, rng_, wall_ns());
    control::Hello h;
    h.name = s.name;
    h.hostname = s.name;
    h.listen_port = 51820;
    h.invite_id = invite_id_;
    h.invite_secret = invite_secret_;
    s.ch->send(control::encode(h));
    s.out = s.ch->take_output();
    s.out_off = 0;
  }
  flush(s, i);
}

void SimFleet::on_readable(SimNode& s, size_t i) {
  ssize_t n = ::recv(s.fd, rbuf_.data(), rbuf_.size(), 0);
  if (n == 0) return drop(s, "the coordinator closed the link");
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return drop(s, std::string("recv: ") + std::strerror(errno));
  }
  bytes_in += static_cast<uint64_t>(n);
  last_rx_ns = mono_ns();
  if (!s.ch) return drop(s, "data before the connection completed");
  std::vector<std::string> msgs;
  bool ok = s.ch->on_bytes({rbuf_.data(), static_cast<size_t>(n)}, msgs);
  for (auto& m : msgs) {
    on_message(s, m);
    if (s.closed) return;
  }
  if (!ok) return drop(s, "secure channel: " + s.ch->error());
  auto more = s.ch->take_output();
  if (!more.empty()) {
    s.out.insert(s.out.end(), more.begin(), more.end());
    flush(s, i);
  }
}

void SimFleet::on_message(SimNode& s, const std::string& text) {
  ++messages;
  std::string type = message_type(text);
  if (type == "welcome") {
    s.welcomed = true;
  } else if (type == "map" || type == "delta") {
    s.version = message_version(text);
    if (s.version > max_version) max_version = s.version;
    if (type == "map" && !s.mapped && s.welcomed) {
      s.mapped = true;
      --in_flight;
      ++enrolled;
    }
    if (type == "delta" && !s.mark_ns &&
        ((!marker_.empty() && text.find(marker_) != std::string::npos) ||
         (watch_filter_ && text.rfind(kFilterDelta, 0) == 0)))
      s.mark_ns = mono_ns();
  } else if (type == "error") {
    s.error = "refused: " + text;
    drop(s, s.error);
  }
}

void SimFleet::poll_once(int timeout_ms) {
  epoll_event evs[512];
  int n = ::epoll_wait(ep_, evs, 512, timeout_ms);
  for (int k = 0; k < n; ++k) {
    size_t i = evs[k].data.u64;
    SimNode& s = *nodes[i];
    if (s.closed) continue;
    if (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      if (s.connecting || (evs[k].events & EPOLLOUT)) on_writable(s, i);
      if (s.closed) continue;
    }
    if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(s, i);
  }
}

bool SimFleet::run_until(const std::function<bool()>& done, int64_t deadline_ns, const std::function<bool()>& abort) {
  while (!done()) {
    if (mono_ns() >= deadline_ns || abort()) return false;
    poll_once(10);
  }
  return true;
}

bool SimFleet::enroll(size_t n, size_t window, int64_t deadline_ns, const std::function<bool()>& abort) {
  size_t target = nodes.size() + n, first = nodes.size();
  while (nodes.size() < target || in_flight > 0) {
    while (nodes.size() < target && in_flight < window) add("sim-" + std::to_string(nodes.size()));
    if (mono_ns() >= deadline_ns || abort()) return false;
    poll_once(5);
  }
  (void)first;
  return true;
}

size_t SimFleet::linked() const {
  size_t c = 0;
  for (auto& s : nodes) c += s->mapped && !s->closed;
  return c;
}

bool SimFleet::settle(int quiet_ms, int64_t deadline_ns, const std::function<bool()>& abort) {
  return run_until(
      [&] {
        if (mono_ns() - last_rx_ns < int64_t(quiet_ms) * 1000000) return false;
        for (auto& s : nodes)
          if (s->mapped && !s->closed && s->version != max_version) return false;
        return true;
      },
      deadline_ns, abort);
}

void SimFleet::watch(std::string marker) {
  marker_ = std::move(marker);
  watch_filter_ = false;
  for (auto& s : nodes) s->mark_ns = 0;
}

void SimFleet::watch_filter() {
  marker_.clear();
  watch_filter_ = true;
  for (auto& s : nodes) s->mark_ns = 0;
}

}  // namespace ovl::bench
