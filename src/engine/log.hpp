// Minimal leveled logging. Protocol code logs events, never secrets: keys are
// only ever printed as their public base64 form, tokens never.
#pragma once
#include <cstdio>
#include <string>
#include <utility>

namespace ovl::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

// Messages above this level are dropped. Set once at start-up by the CLI.
inline Level& threshold() {
  static Level l = Level::info;
  return l;
}
inline bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(threshold()); }

void write(Level l, const std::string& msg);
// Where messages go. The engine has no clock, so the program installs a sink
// that adds timestamps (the CLI does); the default prints "ovl LEVEL: msg".
using Sink = void (*)(Level, const std::string&);
void set_sink(Sink s);
const char* level_name(Level l);

// printf-style formatting into a std::string.
template <class... A>
std::string format(const char* fmt, A&&... a) {
  if constexpr (sizeof...(A) == 0) {
    return fmt;
  } else {
    int n = std::snprintf(nullptr, 0, fmt, a...);
    std::string s(n > 0 ? n : 0, '\0');
    std::snprintf(s.data(), s.size() + 1, fmt, a...);
    return s;
  }
}


template <class... A>
void error(const char* fmt, A&&... a) { if (enabled(Level::error)) write(Level::error, format(fmt, std::forward<A>(a)...)); }
template <class... A>
void warn(const char* fmt, A&&... a) { if (enabled(Level::warn)) write(Level::warn, format(fmt, std::forward<A>(a)...)); }
template <class... A>
void info(const char* fmt, A&&... a) { if (enabled(Level::info)) write(Level::info, format(fmt, std::forward<A>(a)...)); }
template <class... A>
void debug(const char* fmt, A&&... a) { if (enabled(Level::debug)) write(Level::debug, format(fmt, std::forward<A>(a)...)); }

}  // namespace ovl::log
