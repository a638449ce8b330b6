// Simulated nodes for the coordinator load tool: many control links in one
// process on one epoll loop, each a real SecureChannel over TCP speaking the
// same messages a node sends (handshake, hello with the invite, key
// confirmation). No TUN and no map kept: a simulated node remembers only the
// map version it holds and when a watched change reached it, so 10,000 of
// them fit in a few hundred MB.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/control/secure_channel.hpp"
#include "engine/crypto/keys.hpp"

namespace ovl::bench {

int64_t mono_ns();

struct SimNode {
  int fd = -1;
  std::unique_ptr<control::SecureChannel> ch;
  std::vector<uint8_t> out;  // bytes not yet written
  size_t out_off = 0;
  std::string name;
  crypto::PublicKey pub{};
  bool connecting = false, welcomed = false, mapped = false, closed = false;
  uint64_t version = 0;
  int64_t mark_ns = 0;    // when a delta holding the watched marker (or filter) arrived (0 = not yet)
  std::string error;      // the coordinator's error message, or why the link dropped
};

class SimFleet {
 public:
  // Every node connects to 127.0.0.1:port and enrolls with one (reusable)
  // invite: its id in hex and its secret in base64url, as in a hello.
  SimFleet(uint16_t port, const crypto::PublicKey& coordinator, std::string invite_id, std::string invite_secret);
  ~SimFleet();
  SimFleet(const SimFleet&) = delete;
  SimFleet& operator=(const SimFleet&) = delete;

  // Starts one node's connection; returns its index. Throws std::runtime_error
  // when no socket can be made (out of file descriptors).
  size_t add(const std::string& name);
  // Enrolls `n` more nodes, at most `window` handshakes in flight (the
  // coordinator sheds strangers above its pre-auth cap). False at `deadline_ns`.
  bool enroll(size_t n, size_t window, int64_t deadline_ns, const std::function<bool()>& abort);
  // Runs the loop until `done()` or the deadline; returns done().
  bool run_until(const std::function<bool()>& done, int64_t deadline_ns, const std::function<bool()>& abort);
  // Until every connected node holds the newest map version seen and nothing
  // arrived for `quiet_ms`: the coordinator has flushed everything.
  bool settle(int quiet_ms, int64_t deadline_ns, const std::function<bool()>& abort);
  // From now on, a node that receives a delta containing `marker` records
  // when (SimNode::mark_ns); clears earlier marks.
  void watch(std::string marker);
  // The same for a delta that carries the node's own filter (a "filter"
  // field: sent only to the links whose filter changed).
  void watch_filter();
  // Nodes that are linked (welcomed, holding a map, not closed).
  size_t linked() const;

  std::vector<std::unique_ptr<SimNode>> nodes;
  size_t enrolled = 0, failed = 0, in_flight = 0;
  uint64_t max_version = 0;
  uint64_t messages = 0, bytes_in = 0;
  int64_t last_rx_ns = 0;

 private:
  void poll_once(int timeout_ms);
  void on_writable(SimNode& s, size_t i);
  void on_readable(SimNode& s, size_t i);
  void on_message(SimNode& s, const std::string& text);
  void flush(SimNode& s, size_t i);
  void drop(SimNode& s, const std::string& why);
  void want_write(SimNode& s, size_t i, bool on);

  int ep_ = -1;
  uint16_t port_;
  crypto::PublicKey coordinator_;
  std::string invite_id_, invite_secret_;
  std::string marker_;
  bool watch_filter_ = false;
  crypto::SystemRng rng_;
  std::vector<uint8_t> rbuf_;
};

}  // namespace ovl::bench
