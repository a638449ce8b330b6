// Sending all traffic through an exit node, the way wg-quick does for
// AllowedIPs = 0.0.0.0/0, ::/0, in the network namespace this process runs in
// (the same three rules for IPv4 and for IPv6, each family on its own, so an
// exit node of an older version that offers only IPv4 still carries that):
//
//   32760: lookup main suppress_prefixlength 0   every route of the main
//          table except its default: the LAN, the overlay, subnet routes
//   32761: not fwmark kMark lookup kTable        everything else that is not
//          ovl's own traffic: table kTable = "default dev ovl0"
//   32766: lookup main                          (the kernel's) ovl's own
//          marked sockets keep the original default route
//
// So the tunnel's UDP packets and the control link to the coordinator (their
// sockets carry SO_MARK kMark, see mark_socket) never enter the tunnel, and
// the LAN stays reachable directly.
//
// The rules outlive the process if it dies; they are harmless then (the
// table's route went with the TUN device, so the lookup falls through), and
// the next start removes them (remove_stale). Linux only.
#pragma once
#include <cstdint>

#include "tun/netlink.hpp"

namespace ovl::tun {

class ExitRoute {
 public:
  static constexpr uint32_t kMark = 0x6f766c;   // "ovl"
  static constexpr uint32_t kTable = 0x6f766c;  // 7304812
  static constexpr uint32_t kSuppressPriority = 32760;
  static constexpr uint32_t kTunnelPriority = 32761;

  ExitRoute() = default;
  ~ExitRoute();  // disables (never throws)
  ExitRoute(const ExitRoute&) = delete;
  ExitRoute& operator=(const ExitRoute&) = delete;

  // Routes the IPv4 default (when `v4`) and the IPv6 default (when `v6`)
  // through `tun`, and stops routing a family that is not asked for;
  // idempotent. Throws std::system_error; a family that failed is left off
  // (call again to retry) while the other keeps its state.
  void set(const Netlink::Link& tun, bool v4, bool v6);
  void disable() noexcept;
  bool enabled() const { return v4_ || v6_; }
  bool enabled(bool v6) const { return v6 ? v6_ : v4_; }

  // Deletes rules left by an earlier process that died.
  static void remove_stale() noexcept;

 private:
  void set_family(bool v6, bool on);
  void undo(bool v6) noexcept;

  Netlink nl_;
  Netlink::Link tun_;
  bool v4_ = false, v6_ = false;
};

// Sets SO_MARK kMark on a socket so that its packets bypass the exit route.
// Returns false (errno set) if the kernel refuses (no CAP_NET_ADMIN).
bool mark_socket(int fd) noexcept;

}  // namespace ovl::tun
