// The routing side of a subnet router / exit node, in the network namespace
// this process runs in: IPv4 forwarding on (and IPv6 forwarding when an IPv6
// route is approved), and an nftables table owned by ovl (`table inet ovl`,
// both families) that
//   * forwards from the overlay only to what an admin approved for this node
//     (everything of a family when it is an approved exit node for it,
//     nothing before approval),
//   * masquerades overlay sources (its IPv4 range and IPv6 ULA) leaving
//     through any other interface, so hosts on the subnet need no route back
//     to the overlay,
//   * clamps the MSS of TCP connections into the tunnel to its MTU.
// The table is replaced atomically on every change (one `nft -f -`
// transaction that also replaces a table left by a crashed run) and deleted
// on destruction; the forwarding sysctls are set back if this object turned
// them on. Needs the `nft` command (Debian package nftables).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::tun {

inline constexpr const char* kNftTable = "ovl";  // family inet (versions before IPv6 routes: ip)

// The whole `nft -f` script (pure; for tests too). `overlay` are the
// overlay's own ranges (IPv4, and the IPv6 ULA if any); `approved` this
// node's approved routes; 0.0.0.0/0 or ::/0 among them forwards everything of
// that family.
std::string forwarding_ruleset(const std::vector<net::Prefix>& overlay, const std::string& tun_name,
                               const std::vector<net::Prefix>& approved);

class Forwarding {
 public:
  Forwarding() = default;
  ~Forwarding();  // disable(), never throws
  Forwarding(const Forwarding&) = delete;
  Forwarding& operator=(const Forwarding&) = delete;

  // Turns forwarding on and installs (or replaces) the table. Does nothing
  // when the rules are unchanged. Throws std::runtime_error with a sentence
  // for the user (nft missing, nft refused the rules, sysctl not writable).
  void apply(const std::vector<net::Prefix>& overlay, const std::string& tun_name,
             const std::vector<net::Prefix>& approved);
  void disable() noexcept;
  bool active() const { return !applied_.empty(); }

  // Deletes ovl's table if a crashed run (or an older version: `table ip
  // ovl`) left one (quietly; no nft, no-op).
  static void remove_stale() noexcept;

 private:
  // A forwarding sysctl this object turned on, and what it was before.
  struct Sysctl {
    const char* path;
    const char* what;  // for messages
    std::optional<std::string> old;
  };
  void turn_on(Sysctl& s);
  void restore(Sysctl& s) noexcept;

  std::string applied_;
  std::string tun_name_;
  Sysctl ip_forward_{"/proc/sys/net/ipv4/ip_forward", "IPv4 forwarding", std::nullopt};
  Sysctl ip6_forward_{"/proc/sys/net/ipv6/conf/all/forwarding", "IPv6 forwarding", std::nullopt};
};

// Runs `nft` with `script` on stdin. Returns its exit status (127 if the
// command is missing) and its stderr in `err`.
int run_nft(const std::vector<std::string>& args, const std::string& script, std::string& err);

}  // namespace ovl::tun
