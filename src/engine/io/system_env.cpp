#include "engine/io/system_env.hpp"

#include <chrono>
#include <cstdlib>
#include <string_view>

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

Offloads offloads_from_env() {
  const char* v = std::getenv("OVL_OFFLOAD");
  if (!v || std::string_view(v) == "on" || !*v) return {};
  std::string_view s(v);
  auto has = [&](std::string_view w) {
    for (size_t pos = 0; pos <= s.size();) {
      size_t end = s.find(',', pos);
      if (end == std::string_view::npos) end = s.size();
      if (s.substr(pos, end - pos) == w) return true;
      pos = end + 1;
    }
    return false;
  };
  return {has("tso"), has("gso"), has("gro"), has("mt")};
}

}  // namespace ovl::io
