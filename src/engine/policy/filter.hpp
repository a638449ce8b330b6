// The receiving node's packet filter: applied to every packet the node
// decrypted, before it goes to TUN; sans-IO (time passed in), no allocation
// and no exceptions per packet.
//
// A received packet passes if
//   * a rule of the node's RuleSet admits it (source and destination address,
//     protocol, destination port), or
//   * it answers a flow this node opened: TCP/UDP with the ports swapped, an
//     ICMP echo reply to our request, or an ICMP error about a packet we sent
//     (so path MTU discovery keeps working), as long as the flow is in the
//     FlowTable (outbound() records flows; replies extend them), or
//   * it is a later fragment. Those carry no transport header to decide on;
//     the kernel cannot reassemble them without their first fragment, which
//     was decided on like any packet (and must hold the whole transport
//     header, see packet.hpp).
// Everything else is denied and counted (in total and per source address).
//
// Without a RuleSet (set_rules(nullopt): the coordinator sent no policy)
// every packet passes unexamined, as before policies existed.
//
// One Filter is used from one thread (the packet plane's); set_rules() comes
// from the control path on that same thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "engine/policy/flow_table.hpp"
#include "engine/policy/packet.hpp"
#include "engine/policy/policy.hpp"

namespace ovl::policy {

enum class Verdict : uint8_t { pass, reply, fragment, unfiltered, denied, malformed };
inline bool passes(Verdict v) { return v != Verdict::denied && v != Verdict::malformed; }

// How long a flow this node opened keeps admitting replies after its last
// packet (either way). Conservative next to conntrack's: a quiet flow that
// outlives them recovers as soon as this node sends again.
struct Timeouts {
  Time tcp = std::chrono::minutes(10);
  Time udp = std::chrono::minutes(2);
  Time icmp = std::chrono::seconds(30);
};

class Filter {
 public:
  static constexpr size_t kDefaultFlows = 8192;

  explicit Filter(size_t flow_capacity = kDefaultFlows, uint64_t flow_seed = 0, Timeouts t = {});

  // Replaces the rules (control path; may allocate). Flows are kept.
  void set_rules(std::optional<RuleSet> rules);
  bool enforcing() const { return enforcing_; }
  size_t rule_count() const { return rules_.size(); }

  // The addresses denied packets are counted for, one by one (the node's
  // peers). Counts of addresses that stay are kept.
  void set_sources(const std::vector<net::IpAddr>& sources);
  bool has_source(const net::IpAddr& a) const;

  // A packet this node sends into the overlay: records its flow. Never drops.
  void outbound(std::span<const uint8_t> pkt, Time now);
  // A packet received from the overlay.
  Verdict inbound(std::span<const uint8_t> pkt, Time now);

  uint64_t denied() const { return denied_; }  // denied + malformed
  uint64_t replies() const { return replies_; }  // passed only as replies
  uint64_t denied_from(const net::IpAddr& src) const;
  const FlowTable& flows() const { return flows_; }

 private:
  struct Compiled {
    std::vector<net::Prefix> dst;
    Proto proto = Proto::any;
    std::vector<PortRange> ports;
  };
  bool admits(const Compiled& r, const PacketInfo& p) const;
  bool rules_admit(const PacketInfo& p) const;
  Time timeout(uint8_t proto) const;
  void count_denied(const net::IpAddr& src);

  bool enforcing_ = false;
  std::vector<Compiled> rules_;
  // Rule sources: single addresses in a sorted index, wider prefixes
  // (network ranges, routed subnets) in a short list scanned in order.
  std::vector<std::pair<net::IpAddr, uint32_t>> by_host_;
  std::vector<std::pair<net::Prefix, uint32_t>> by_prefix_;
  FlowTable flows_;
  Timeouts timeouts_;
  std::vector<std::pair<net::IpAddr, uint64_t>> denied_by_src_;  // sorted
  uint64_t denied_ = 0, replies_ = 0;
};

}  // namespace ovl::policy
