// Birthday-paradox port spraying for one hard NAT, sans-IO.
//
// When one side maps endpoint-dependently ("hard": a new public port for every
// destination) and the other endpoint-independently ("easy": one public port
// behind a firewall that drops unsolicited inbound), neither side can guess
// the other's mapping toward it. So:
//   hard side  opens kSockets extra UDP sockets and sends one disco ping from
//              each to the easy side's public endpoint: kSockets random public
//              ports now forward replies from that endpoint;
//   easy side  sends disco pings to kPortsPerRound random ports of the hard
//              side's public IP per round (kRounds at most), which also opens
//              its own firewall toward each of them.
// A ping that lands on one of the hard side's ports reaches socket k; its
// pong (and the ping socket k answers with) travels the now-open path. With
// 256 of ~64512 ports open, one round of 1024 misses with probability
// (1 - 256/64512)^1024 ~ 1.7%, three rounds ~ 5e-6.
//
// Bounded: at most kSockets sockets for kWindow and kRounds * kPortsPerRound
// pings per attempt, only when both sides agree (each sends spray=true in a
// call-me-maybe and starts once it has sent and received one), and after a
// failed attempt the next waits kCooldown, doubling per failure up to 32x.
//
// Sockets are named to the WireGuard device by virtual endpoints in
// fd6f:766c:7279:73::/64 (inside ovl's never-routed fd6f:766c:7279::/48, as
// the relay's are): "socket k, toward its remote".
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/nat/discovery.hpp"
#include "engine/net/ip.hpp"

namespace ovl::nat {

net::Endpoint socket_endpoint(uint32_t id);
std::optional<uint32_t> socket_id(const net::Endpoint& ep);  // nullopt unless a socket endpoint

class Spray {
 public:
  using Time = std::chrono::nanoseconds;
  enum class Role { none, hard, easy };
  static constexpr int kSockets = 256;
  static constexpr int kPortsPerRound = 1024;
  static constexpr int kRounds = 3;
  static constexpr int kChunks = 8;  // a round is paced in chunks
  static constexpr Time kChunkEvery = std::chrono::milliseconds(100);
  static constexpr Time kRoundEvery = std::chrono::seconds(2);
  static constexpr Time kEasyDelay = std::chrono::milliseconds(500);  // the hard side's sockets go first
  static constexpr Time kWindow = std::chrono::seconds(8);
  static constexpr Time kOfferValid = std::chrono::seconds(10);
  static constexpr Time kSettle = std::chrono::seconds(1);
  static constexpr Time kCooldown = std::chrono::seconds(60);
  static constexpr uint16_t kPortLo = 1024;  // Linux NAT maps unprivileged ports into 1024..65535

  static Role role_for(Mapping self, Mapping peer);

  struct Actions {
    struct Open {
      crypto::PublicKey peer;
      net::Endpoint target;
    };
    struct Probe {
      crypto::PublicKey peer;
      net::Endpoint to;
    };
    struct Finished {
      crypto::PublicKey peer;
      bool success;
    };
    std::vector<Open> open;           // hard: open kSockets sockets, ping target from each
    std::vector<Probe> probe;         // easy: one disco ping each
    std::vector<Finished> finished;   // hard: keep only a socket in use
  };

  // Should we offer spraying to `peer` now? `peer_public` is the peer's
  // public endpoint (the hard side's IP matters to the easy side, the easy
  // side's endpoint to the hard side). True at most once per kOfferValid;
  // records the offer.
  bool should_offer(const crypto::PublicKey& peer, Role role, const net::Endpoint& peer_public, Time now);
  // The peer offered (or accepted). True when we should answer with our own
  // spray=true (we had not offered in this window).
  bool on_offer(const crypto::PublicKey& peer, Role role, const net::Endpoint& peer_public, Time now);
  // A direct path to the peer answers: stop.
  void succeeded(const crypto::PublicKey& peer, Time now);
  void forget(const crypto::PublicKey& peer) { peers_.erase(peer); }

  void on_timer(Time now, crypto::Rng& rng, Actions& out);
  Time next_deadline() const;
  // "" (never tried), "spraying", "failed", "succeeded".
  std::string state(const crypto::PublicKey& peer) const;

 private:
  struct Peer {
    Role role = Role::none;
    net::Endpoint peer_public;
    std::optional<Time> first_seen, offered, peer_offered;
    bool active = false;
    Time start{0}, next{0}, cooldown_until{0};
    int chunk = 0;  // chunks sent so far (easy side)
    int failures = 0;
    std::string outcome;
  };
  void finish(const crypto::PublicKey& key, Peer& p, bool success, Time now, Actions* out);
  std::map<crypto::PublicKey, Peer> peers_;
  std::vector<Actions::Finished> pending_finished_;  // ended outside on_timer
};

}  // namespace ovl::nat
