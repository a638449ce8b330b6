#include "engine/io/system_env.hpp"

#include <chrono>

namespace ovl::io {

wg::Time monotonic_now() noexcept {
  return std::chrono::duration_cast<wg::Time>(std::chrono::steady_clock::now().time_since_epoch());
}

int64_t wall_clock_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

crypto::Rng& system_rng() {
  static crypto::SystemRng rng;
  return rng;
}

wg::DeviceEnv system_device_env() {
  wg::DeviceEnv env;
  env.rng = &system_rng();
  env.wall_ns = [] { return wall_clock_ns(); };
  return env;
}

}  // namespace ovl::io
