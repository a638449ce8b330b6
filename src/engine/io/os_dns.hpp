// Points the host's resolver at the overlay's DNS responder for the
// network's domain only, and takes that back: the OS side of
// engine/dns/resolv_conf (which holds the pure logic and explains the block).
//
//   resolved     `resolvectl dns IFACE 100.100.100.100`, `resolvectl domain
//                IFACE ~NETWORK.ovl` (a routing-only domain: only those names
//                go to us), undone by `resolvectl revert IFACE`; when the
//                process dies the TUN device goes and resolved forgets it.
//   resolv.conf  the marked block, written in place (open + write + truncate,
//                never rename: under `ip netns exec` /etc/resolv.conf is a
//                bind mount of /etc/netns/NS/resolv.conf, and renaming over a
//                mount point fails or would break the mount). Removed on a
//                clean exit; a block left by a crash is removed at the next
//                start (repair()) and replaced once the overlay is up. With
//                the block goes an `unreachable` route to the nameserver at a
//                high metric, so that after a crash queries to it fail at once
//                (glibc then asks the next nameserver) rather than time out.
//
// Failures are logged, never thrown once running: DNS integration must not
// take the tunnel down. The constructor throws std::runtime_error when an
// explicit --dns mode cannot be used safely.
#pragma once
#include <string>

#include "engine/dns/resolv_conf.hpp"

namespace ovl::io {

// Probes this host (network namespace of PID 1, systemd-resolved, what
// /etc/resolv.conf is).
dns::DnsHostFacts probe_dns_host(const std::string& resolv_conf_path);

class OsDns {
 public:
  explicit OsDns(dns::DnsMode mode, std::string resolv_conf_path = "/etc/resolv.conf");
  ~OsDns() { restore(); }
  OsDns(const OsDns&) = delete;
  OsDns& operator=(const OsDns&) = delete;

  dns::DnsMethod method() const { return method_; }
  // Removes a block a crashed run left behind (and its unreachable route to
  // `nameserver`), in any mode, where the file is ours to edit.
  void repair(const std::string& nameserver);
  // Routes `domain` to `nameserver` (an address on `iface`). Idempotent.
  void apply(const std::string& iface, const std::string& domain, const std::string& nameserver);
  // Undoes apply(). Idempotent.
  void restore();

 private:
  dns::DnsMethod method_ = dns::DnsMethod::none;
  std::string path_;
  std::string iface_;
  std::string nameserver_;
  bool applied_ = false;
  bool file_ok_ = false;  // resolv.conf is this host's / namespace's own to edit
};

}  // namespace ovl::io
