#include "engine/log.hpp"

namespace ovl::log {

namespace {
void default_sink(Level l, const std::string& msg) {
  static const char* names[] = {"error", "warn", "info", "debug"};
  std::fprintf(stderr, "ovl %s: %s\n", names[static_cast<int>(l)], msg.c_str());
}
Sink& sink() {
  static Sink s = default_sink;
  return s;
}
}  // namespace

void set_sink(Sink s) { sink() = s ? s : default_sink; }
void write(Level l, const std::string& msg) { sink()(l, msg); }
const char* level_name(Level l) {
  static const char* names[] = {"error", "warn", "info", "debug"};
  return names[static_cast<int>(l)];
}

}  // namespace ovl::log
