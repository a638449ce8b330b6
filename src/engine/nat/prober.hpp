// Direct-path probing with disco pings, sans-IO: for every peer, which of its
// candidate endpoints answer, how fast, and which one to use.
//
//   candidates  from the network map (public mapping, LAN addresses), from a
//               call-me-maybe, and peer-reflexive: a ping or pong from an
//               address we did not know teaches that address (we answer to
//               where packets really come from)
//   pinging     every candidate once a second for kFastFor after something
//               changed (new peer, new candidates, call-me-maybe, path lost);
//               afterwards the chosen path every kHeartbeat and the others
//               every kReprobe (kRetry while no path answers: a relayed
//               peer moves to a direct path within seconds of it opening)
//   alive       a pong from the pinged address within kAliveFor
//   choice      LAN before public, then lower RTT; a path in use is only
//               replaced by a better kind or a clearly lower RTT
//
// Time and randomness are passed in; the caller sends what this returns.
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/nat/disco.hpp"
#include "engine/net/ip.hpp"

namespace ovl::nat {

enum class PathKind { lan = 0, public_ = 1 };
const char* describe(PathKind k);  // "lan", "public"
// Private and link-local addresses (RFC 1918, RFC 4193, fe80::/10) are LAN.
PathKind classify(const net::IpAddr& ip);

class Prober {
 public:
  using Time = std::chrono::nanoseconds;
  static constexpr Time kFastFor = std::chrono::seconds(10);
  static constexpr Time kFastEvery = std::chrono::milliseconds(1000);
  static constexpr Time kHeartbeat = std::chrono::milliseconds(1500);
  static constexpr Time kReprobe = std::chrono::seconds(15);
  static constexpr Time kRetry = std::chrono::seconds(5);
  static constexpr Time kAliveFor = std::chrono::seconds(4);  // two heartbeats missed, and a margin
  static constexpr Time kPendingFor = std::chrono::seconds(5);
  static constexpr size_t kMaxCandidates = 16;  // per peer
  static constexpr size_t kMaxPending = 8192;   // outstanding pings, all peers (spray rounds included)
  static constexpr size_t kRecentPings = 256;   // per peer, for replay detection

  struct Send {
    net::Endpoint to;
    std::vector<uint8_t> bytes;
  };
  struct Path {
    net::Endpoint ep;
    PathKind kind = PathKind::public_;
    Time rtt{0};
  };
  struct CandidateView {
    net::Endpoint ep;
    PathKind kind;
    bool alive;
    std::optional<Time> rtt;
  };

  explicit Prober(const crypto::SecretKey& self);

  // The peer's candidates from the network map (online = the coordinator
  // sees it; offline peers are not pinged). New candidates start a fast phase.
  void set_peer(const crypto::PublicKey& peer, const std::vector<net::Endpoint>& candidates, bool online, Time now);
  void remove_peer(const crypto::PublicKey& peer);
  void drop_candidate(const crypto::PublicKey& peer, const net::Endpoint& ep);
  // More candidates (a call-me-maybe) and a fast phase starting now.
  void wake(const crypto::PublicKey& peer, const std::vector<net::Endpoint>& candidates, Time now);
  // One ping to `to` outside the candidate list (spray probes); a pong from
  // there makes it a candidate.
  void ping_once(const crypto::PublicKey& peer, const net::Endpoint& to, Time now, crypto::Rng& rng,
                 std::vector<Send>& out);

  void on_timer(Time now, crypto::Rng& rng, std::vector<Send>& out);
  Time next_deadline() const { return next_; }
  // A disco datagram from `from`. Answers pings (into `out`). Returns the
  // sender's key when it was an authentic message from a known peer.
  std::optional<crypto::PublicKey> on_datagram(std::span<const uint8_t> d, const net::Endpoint& from, Time now,
                                               crypto::Rng& rng, std::vector<Send>& out);

  // The path to use now, if one answers.
  std::optional<Path> best(const crypto::PublicKey& peer, Time now) const;
  // A path answered before and none does now.
  bool lost(const crypto::PublicKey& peer, Time now) const;
  // The peer ever answered a disco ping (it speaks disco).
  bool answered(const crypto::PublicKey& peer) const;
  bool has_candidate(const crypto::PublicKey& peer, const net::Endpoint& ep) const;
  std::vector<CandidateView> candidates(const crypto::PublicKey& peer, Time now) const;

 private:
  struct Candidate {
    net::Endpoint ep;
    PathKind kind = PathKind::public_;
    bool from_map = false;
    Time added{0}, last_ping{-1}, last_pong{-1};
    std::optional<Time> rtt;
    bool alive(Time now) const { return last_pong.count() >= 0 && now - last_pong < kAliveFor; }
  };
  struct Peer {
    crypto::SecretKey shared;
    bool key_ok = false;
    bool online = true;
    std::vector<Candidate> cands;
    Time fast_until{0};
    std::optional<net::Endpoint> chosen;
    bool ever_alive = false;
    // Transaction ids of the last kRecentPings pings answered: a captured
    // ping replayed (from any address) draws no pong and teaches nothing.
    std::vector<disco::TxId> recent;
    size_t recent_next = 0;
  };
  struct Pending {
    crypto::PublicKey peer;
    net::Endpoint to;
    Time sent;
  };

  Peer& peer_state(const crypto::PublicKey& peer);
  Candidate* add(Peer& p, const net::Endpoint& ep, bool from_map, Time now);
  void ping(const crypto::PublicKey& key, Peer& p, Candidate& c, Time now, crypto::Rng& rng, std::vector<Send>& out);
  void send(const crypto::PublicKey& key, const Peer& p, const disco::Message& m, const net::Endpoint& to,
            crypto::Rng& rng, std::vector<Send>& out);
  void choose(Peer& p, Time now);
  void expire_pending(Time now);

  crypto::SecretKey self_;
  crypto::PublicKey self_pub_{};
  std::map<crypto::PublicKey, Peer> peers_;
  std::map<disco::TxId, Pending> pending_;
  Time next_{0};
};

}  // namespace ovl::nat
