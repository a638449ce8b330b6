// A WireGuard interface as a sans-IO state machine.
//
// The host (engine/io) feeds it UDP datagrams, packets read from TUN and the
// passage of time; it answers through an Output: datagrams to send and
// packets to write to TUN. It never touches a socket, a file or the clock.
//
// Buffer contract for the packet path (no allocation, encryption in place):
//  * on_tun(pkt): the kHeadroom bytes before pkt.data() and the kTailroom
//    bytes after pkt.data()+pkt.size() belong to the caller's buffer and may
//    be overwritten; the datagram handed to Output::send_udp lives there.
//  * on_udp(dgram): decrypted in place; the packet handed to
//    Output::write_tun points inside dgram.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"
#include "engine/wg/keypair.hpp"

namespace ovl::wg {

using Time = std::chrono::nanoseconds;  // monotonic, arbitrary epoch

inline constexpr size_t kHeadroom = 16;  // transport header
inline constexpr size_t kTailroom = 32;  // padding (<16) + tag (16)

struct PeerConfig {
  crypto::PublicKey public_key{};
  std::optional<crypto::SecretKey> preshared_key;
  std::vector<net::Prefix> allowed_ips;
  std::optional<net::Endpoint> endpoint;
  uint16_t persistent_keepalive = 0;  // seconds; 0 = off
};

struct PeerStatus {
  crypto::PublicKey public_key{};
  std::optional<net::Endpoint> endpoint;
  std::vector<net::Prefix> allowed_ips;
  int64_t last_handshake_unix_ns = 0;  // 0 = never
  uint64_t rx_bytes = 0, tx_bytes = 0;
  uint16_t persistent_keepalive = 0;
  bool has_session = false;
};

struct DeviceCounters {
  uint64_t rx_invalid = 0;        // garbage, bad MACs, failed decryption
  uint64_t rx_replayed = 0;       // transport counter already seen
  uint64_t rx_bad_source = 0;     // inner source not in the peer's allowed IPs
  uint64_t tx_no_route = 0;       // TUN packet to an address no peer owns
  uint64_t cookies_sent = 0;      // under-load cookie replies
  uint64_t handshakes_rate_limited = 0;
};

struct Keypair;

class Output {
 public:
  virtual ~Output() = default;
  virtual void send_udp(const net::Endpoint& to, std::span<const uint8_t> datagram) = 0;
  virtual void write_tun(std::span<const uint8_t> packet) = 0;
  // A transport message to `to` for the packet [pkt, pkt+len) (on_tun's
  // buffer contract), counter already taken from `kp`. The default seals it
  // in place now and calls send_udp. A host may instead copy kp's send key
  // and remote index and seal later (seal_transport in keypair.hpp), e.g. a
  // whole batch on several threads, as long as it does so before sending;
  // `kp` itself is only valid during this call.
  virtual void send_transport(const net::Endpoint& to, Keypair& kp, uint64_t counter, uint8_t* pkt, size_t len);
};

struct DeviceEnv {
  crypto::Rng* rng = nullptr;
  // Wall clock in Unix nanoseconds, for TAI64N timestamps and status only.
  std::function<int64_t()> wall_ns;
};

struct DeviceOptions {
  // Handshake messages per second above which the device considers itself
  // under load and answers initiations without a valid MAC2 with a cookie.
  uint32_t under_load_handshakes_per_sec = 128;
  // How old a session gets before its initiator rekeys (WireGuard's
  // REKEY_AFTER_TIME). Only tests change it: the soak test sets
  // OVL_TEST_REKEY_AFTER_S so that a one-minute run sees several real rekeys.
  Time rekey_after_time = kRekeyAfterTime;
};

class Device {
 public:
  Device(const crypto::SecretKey& private_key, DeviceEnv env, DeviceOptions opts = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const crypto::PublicKey& public_key() const;
  // Adds or replaces a peer (matched by public key). Replacing keeps sessions
  // unless the preshared key changed.
  void set_peer(const PeerConfig& cfg, Time now);
  bool remove_peer(const crypto::PublicKey& pk);
  size_t peer_count() const;

  // A datagram arrived on the WireGuard port from `from`.
  void on_udp(std::span<uint8_t> dgram, const net::Endpoint& from, Time now, Output& out);
  // Parallel decryption, in two steps. transport_recv_key: if `dgram` is a
  // transport message for a live session, copies that session's receive key
  // (the host then runs decrypt_transport on it, on any thread). Then, in
  // arrival order, on_opened_transport takes the message decrypted in place
  // with `key` (`authentic`: whether decrypt_transport succeeded) and does
  // everything on_udp would after decryption: replay window, session
  // confirmation, roaming, timers, allowed-IPs check, write_tun. A message
  // whose session changed in between is dropped, as on_udp would drop it.
  bool transport_recv_key(std::span<const uint8_t> dgram, Time now, crypto::SecretKey& key) const;
  void on_opened_transport(std::span<uint8_t> dgram, const crypto::SecretKey& key, bool authentic,
                           const net::Endpoint& from, Time now, Output& out);
  // An IP packet was read from TUN (see the buffer contract above).
  void on_tun(std::span<uint8_t> pkt, Time now, Output& out);
  // Sends a handshake initiation to `to` without changing the peer's
  // endpoint: a probe of another path. If the peer answers from there, the
  // authenticated answer moves the endpoint (roaming) to the probed path.
  // At most one probe per peer per second; false if none was sent.
  bool probe(const crypto::PublicKey& peer, const net::Endpoint& to, Time now, Output& out);
  // Run timers due at `now`.
  void on_timer(Time now, Output& out);
  // The earliest time on_timer has something to do (Time::max() if none).
  Time next_deadline() const;

  std::vector<PeerStatus> status() const;
  const DeviceCounters& counters() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// True if the first bytes look like a WireGuard message (types 1-4 with three
// reserved zero bytes): the node's single UDP port dispatches on this.
bool is_wireguard_message(std::span<const uint8_t> dgram);

}  // namespace ovl::wg
