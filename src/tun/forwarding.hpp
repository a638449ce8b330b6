// The routing side of a subnet router / exit node, in the network namespace
// this process runs in: IPv4 forwarding on, and an nftables table owned by
// ovl (`table ip ovl`) that
//   * forwards from the overlay only to what an admin approved for this node
//     (everything when it is an approved exit node, nothing before approval),
//   * masquerades overlay sources leaving through any other interface, so
//     hosts on the subnet need no route back to the overlay,
//   * clamps the MSS of TCP connections into the tunnel to its MTU.
// The table is replaced atomically on every change (one `nft -f -`
// transaction that also replaces a table left by a crashed run) and deleted
// on destruction; ip_forward is set back if this object turned it on.
// Needs the `nft` command (Debian package nftables).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/net/ip.hpp"

namespace ovl::tun {

inline constexpr const char* kNftTable = "ovl";  // family ip

// The whole `nft -f` script (pure; for tests too). `approved` are this node's
// approved routes; 0.0.0.0/0 among them forwards everything.
std::string forwarding_ruleset(const net::Prefix& overlay, const std::string& tun_name,
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
  void apply(const net::Prefix& overlay, const std::string& tun_name, const std::vector<net::Prefix>& approved);
  void disable() noexcept;
  bool active() const { return !applied_.empty(); }

  // Deletes `table ip ovl` if a crashed run left one (quietly; no nft, no-op).
  static void remove_stale() noexcept;

 private:
  std::string applied_;
  std::optional<std::string> old_ip_forward_;  // set when we changed it
};

// Runs `nft` with `script` on stdin. Returns its exit status (127 if the
// command is missing) and its stderr in `err`.
int run_nft(const std::vector<std::string>& args, const std::string& script, std::string& err);

}  // namespace ovl::tun
