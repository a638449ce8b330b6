// The real clock and randomness that protocol code is handed in production
// (tests and simulations hand it virtual ones instead).
#pragma once
#include <cstdint>

#include "engine/crypto/keys.hpp"
#include "engine/wg/device.hpp"

namespace ovl::io {

// steady_clock since its epoch: the `now` every engine call receives.
wg::Time monotonic_now() noexcept;
// Unix time in nanoseconds (system_clock).
int64_t wall_clock_ns() noexcept;
// The process-wide OS CSPRNG (stateless, so one instance serves everyone).
crypto::Rng& system_rng();
// DeviceEnv wired to system_rng() and wall_clock_ns().
wg::DeviceEnv system_device_env();

// Which data-plane offloads to try (each still falls back if the kernel says
// no). All on by default; OVL_OFFLOAD=off turns all off, OVL_OFFLOAD=tso,gso
// (a list of tso, gso, gro, mt) turns on only those. For tests of the fallback
// paths and for measuring what each one gives.
struct Offloads {
  bool tso = true;  // TUN virtio header + TSO/checksum offload, TCP coalescing on write
  bool gso = true;  // UDP_SEGMENT sends
  bool gro = true;  // UDP_GRO receives
  bool mt = true;   // crypto of a batch on worker threads too ("mt")
};
Offloads offloads_from_env();

}  // namespace ovl::io
