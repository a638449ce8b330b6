// Hex helpers for known-answer tests.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ovl::test {

inline std::vector<uint8_t> unhex(std::string_view s) {
  std::vector<uint8_t> out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int hi = -1;
  for (char c : s) {
    int v = nib(c);
    if (v < 0) continue;  // spaces and separators are allowed
    if (hi < 0) hi = v;
    else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

template <class C>
std::string hex(const C& bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

}  // namespace ovl::test
