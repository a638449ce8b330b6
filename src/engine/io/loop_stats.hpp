#pragma once
#include <cstdint>

namespace ovl::io {

// Per-loop I/O counters (datagrams and packets), for status and logs.
struct LoopStats {
  uint64_t udp_rx = 0, udp_tx = 0;
  uint64_t tun_rx = 0, tun_tx = 0;
  uint64_t udp_rx_errors = 0, udp_tx_errors = 0, tun_tx_errors = 0;
  uint64_t tun_rx_errors = 0;  // malformed offload packets from TUN, dropped
};

}  // namespace ovl::io
