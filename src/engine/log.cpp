#include "engine/log.hpp"

namespace ovl::log {

void write(Level l, const std::string& msg) {
  static const char* names[] = {"error", "warn", "info", "debug"};
  std::fprintf(stderr, "ovl %s: %s\n", names[static_cast<int>(l)], msg.c_str());
}

}  // namespace ovl::log
